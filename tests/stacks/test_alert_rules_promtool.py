"""The alerting rules netviz synthesizes pass the real promtool: `check rules`, then `test rules`
with a firing and a quiet case for every alert (tests/alerts/rule_cases.py).

The rule file tested is the synthesized one as Prometheus will read it: in managed (and adopt)
mode the file the prometheus chart writes into its ConfigMap, rendered by the real Helm from the
platform stack's values (chart stand-in, tests/support/prometheus_chart.py); in
prometheus-operator mode the groups of the synthesized PrometheusRules. Terraform's own reading of
the same values is tested in test_terraform_reads_synthesized.py.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from netviz_constructs.alerting_rules import RULE_FILE, RULE_FILE_PATH
from tests.alerts import rule_cases
from tests.alerts.rule_cases import CASES, EXPORTER, RUNBOOK, alert, alert_names, case
from tests.support.prometheus_chart import render_synthesized_files
from tests.synth import config_text, synth


@pytest.fixture(scope="module")
def managed_rule_file(synthesized) -> str:
    return render_synthesized_files(synthesized)[RULE_FILE]


def prometheus_rules_file(out) -> str:
    """The synthesized PrometheusRules' groups as one rule file (what the operator hands Prometheus)."""
    groups = [
        group
        for r in out.resources("platform", "kubernetes_manifest").values()
        if r["manifest"]["kind"] == "PrometheusRule"
        for group in r["manifest"]["spec"]["groups"]
    ]
    return yaml.safe_dump({"groups": groups}, sort_keys=False)


def test_managed_rule_file_passes_check_and_unit_tests(managed_rule_file):
    proc = rule_cases.run(managed_rule_file)
    assert "SUCCESS" in proc.stdout, proc.stdout + proc.stderr


def test_prometheus_reads_the_rule_file(prometheus_yml):
    assert RULE_FILE_PATH in yaml.safe_load(prometheus_yml)["rule_files"]


def test_operator_prometheus_rules_pass_check_and_unit_tests(tmp_path):
    out = synth(config_text() + '\n[monitoring]\nmode = "prometheus-operator"\n', outdir=str(tmp_path))
    proc = rule_cases.run(prometheus_rules_file(out))
    assert "SUCCESS" in proc.stdout, proc.stdout + proc.stderr


def test_every_alert_fires_in_a_case_and_stays_quiet_in_others(managed_rule_file):
    names = alert_names(managed_rule_file)
    assert len(names) == 13
    fired = {name for c in CASES for firing in c["expect"].values() for name in firing}
    assert fired == set(names)
    for name in names:  # `run` checks every alert at every eval time: quiet wherever not expected
        assert any(name not in firing for c in CASES for firing in c["expect"].values()), name


def _broken(text: str, alert_name: str, replace: tuple = (), **changes) -> str:
    """The rule file with `alert_name` changed: keys replaced (`changes`), and in its expression each
    (old, new) of `replace` (every old must be there)."""
    rules = yaml.safe_load(text)
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert_name:
                rule.update(changes)
                for old, new in replace:
                    assert old in rule["expr"], (alert_name, old)
                    rule["expr"] = rule["expr"].replace(old, new)
    return yaml.safe_dump(rules, sort_keys=False)


@pytest.mark.parametrize(
    "alert_name, changes",
    [
        ("NetvizCarettaAgentsMissing", {"expr": '(count(up{job="caretta"} == 1) or vector(0)) < 4'}),
        ("NetvizFlowRecordsStopped", {"for": "0s"}),
        ("NetvizFlowCollectorDown", {"labels": {"severity": "warning"}}),
        # the rules of issue 20, each with the wrong direction, subnet or host:
        ("NetvizFlowPolicyViolation", {"replace": [("sum by (rule, src, src_subnet, dst, dst_subnet)", "sum by (rule, src_subnet, dst_subnet)")]}),
        ("NetvizFlowNewDevice", {"replace": [("[7d] offset 1h", "[1h] offset 1h")]}),  # a short memory: restarts look new
        ("NetvizFlowNewDevice", {"replace": [(' unless on (host) group by (host) (netviz_host_info{job="flow-exporter", source="config"})', "")]}),
        ("NetvizFlowNewDevice", {"replace": [(" and on () group (present_over_time(netviz:host_bytes:rollup_last", " or on () group (present_over_time(netviz:host_bytes:rollup_last")]}),
        ("NetvizFlowInternetVolume", {"replace": [('netviz_host_internet_bytes_total{job="flow-exporter"', 'netviz_host_internet_bytes_total{job="flow-exporter", direction="received"')]}),
        ("NetvizFlowInternetVolume", {"replace": [("sum by (host, subnet) (increase(netviz_host_internet_bytes_total{job=\"flow-exporter\", host!~", "sum by (subnet) (increase(netviz_host_internet_bytes_total{job=\"flow-exporter\", host!~")]}),
        ("NetvizFlowInternetVolume", {"replace": [(", host!~", ", host=~")]}),  # the default for the hosts with their own
    ],
)
def test_the_unit_tests_fail_on_a_changed_rule(managed_rule_file, alert_name, changes):
    proc = rule_cases.run(_broken(managed_rule_file, alert_name, **changes), check=False)
    assert proc.returncode != 0
    assert f"alertname: {alert_name}" in proc.stdout + proc.stderr


CUSTOM = """
[alerts]
runbook_url = "https://git.home.arpa/netviz/README.md"
records_stopped_after = "30m"
records_stopped_for = "0s"
series_budget_percent = 50
series_budget_for = "2m"
caretta_agents_missing_for = "3m"
"""


def test_configured_thresholds_and_for_durations_are_the_ones_evaluated(tmp_path):
    out = synth(config_text() + CUSTOM, outdir=str(tmp_path))
    text = render_synthesized_files(out)[RULE_FILE]
    base = "https://git.home.arpa/netviz/README.md#"

    def custom(a: dict) -> dict:
        a = copy.deepcopy(a)
        a["exp_annotations"]["runbook_url"] = a["exp_annotations"]["runbook_url"].replace(RUNBOOK, base)
        return a

    stopped = custom(alert(
        "NetvizFlowRecordsStopped",
        {"severity": "critical"},
        "No NetFlow record for more than 30m.",
        "The netviz flow exporter has read no flow record received in the last 30m while GoFlow2 is up: pfSense "
        "stopped exporting, NetFlow no longer reaches GoFlow2, or GoFlow2's records no longer reach the exporter. "
        "The Network Flows dashboard looks like a quiet network, but it is not measuring.",
    ))
    budget = custom(alert(
        "NetvizFlowSeriesBudgetFull",
        {**EXPORTER, "family": "hosts", "severity": "warning"},
        "The flow exporter's hosts series budget is 60% full.",
        f"The flow exporter {EXPORTER['instance']} holds 60% of its hosts budget (flow_exporter.series_budgets.hosts; "
        "alert at 50%) for 2m: when full, that family evicts its least recently updated series.",
    ))
    agents = custom(alert(
        "NetvizCarettaAgentsMissing",
        {"severity": "warning"},
        "4 of 5 Caretta agents are scraped.",
        'Prometheus scrapes 4 Caretta agent(s) (job="caretta") successfully, but kubernetes.nodes in network.toml '
        "lists 5 nodes, for 3m: the links seen on the other nodes are missing from the K8s Pod Topology dashboard.",
    ))
    healthy = rule_cases.healthy()
    newest = rule_cases.exporter_series("netviz_flow_exporter_last_record_timestamp_seconds")
    series = rule_cases.family_series("netviz_flow_exporter_family_series", "hosts")
    agent = f"up{rule_cases._labels(rule_cases.agent(1))}"
    cases = [
        case("records stop at minute 10: 30m, not 15m, without a record", {**healthy, newest: "0x9 600x51"},
             {30: {}, 40: {}, 41: {"NetvizFlowRecordsStopped": [stopped]}}),
        case("60% of the hosts budget for 2m", {**healthy, series: "6x10 1200x50"}, {11: {}, 13: {"NetvizFlowSeriesBudgetFull": [budget]}}),
        case("an agent missing for 3m", {**healthy, agent: "1x10 0x50"}, {13: {}, 14: {"NetvizCarettaAgentsMissing": [agents]}}),
    ]
    proc = rule_cases.run(text, cases)
    assert "SUCCESS" in proc.stdout, proc.stdout + proc.stderr
