"""`python -m alerts`: the rules as a rule file for a Prometheus netviz does not manage, the same
unit tests passing on what it prints."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.alerts import rule_cases
from tests.synth import DEFAULT_CONFIG, REPO


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alerts", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_prints_a_rule_file_that_passes_the_unit_tests():
    proc = cli("--config", str(DEFAULT_CONFIG))
    assert proc.returncode == 0, proc.stderr
    tested = rule_cases.run(proc.stdout)
    assert "SUCCESS" in tested.stdout


def test_selectors_and_config_reach_the_file(tmp_path):
    config = tmp_path / "network.toml"
    config.write_text(DEFAULT_CONFIG.read_text() + '\n[alerts]\ncaretta_agents_missing_for = "20m"\n')
    out = tmp_path / "netviz-alerts.yml"
    proc = cli("--config", str(config), "--out", str(out), "--caretta-selector", 'job="kubernetes-pods", app="caretta"')
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    (rule,) = yaml.safe_load(out.read_text())["groups"][1]["rules"]
    assert rule["expr"] == '(count(up{job="kubernetes-pods", app="caretta"} == 1) or vector(0)) < 5'
    assert rule["for"] == "20m"


def test_bad_selector_and_bad_config_are_refused_by_name(tmp_path):
    proc = cli("--goflow2-selector", "job=goflow2")
    assert proc.returncode == 2
    assert "goflow2_selector must be PromQL label matchers without braces" in proc.stderr
    config = tmp_path / "network.toml"
    config.write_text(DEFAULT_CONFIG.read_text() + "\n[alerts]\nseries_budget_percent = 0\n")
    proc = cli("--config", str(config))
    assert proc.returncode == 1
    assert "alerts.series_budget_percent: expected a whole percentage between 1 and 100, but 0 was provided" in proc.stderr
