"""alerts/: the rules are made from the dashboards' config and network.toml's [alerts], and each
alert carries what a user needs (severity, summary, description, a runbook entry that exists).

What the rules do on series is tested with promtool (tests/alerts/rule_cases.py, run on the
synthesized rule file by tests/stacks/test_alert_rules_promtool.py)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from alerts import (CARETTA_ALERTS_PREFIX, CARETTA_GROUP, DEVICE_GROUP, FLOW_ALERTS_PREFIX, FLOW_GROUP, ROLLUP_GROUP,
                    AlertRulesConfig, rule_groups)
from dashboards import DashboardConfig, rollups
from netviz_config.schema import Alerts
from tests.support.prometheus import promtool

REPO = Path(__file__).resolve().parent.parent.parent
README = (REPO / "README.md").read_text()

# Which setting is which alert's `for` (the test's own reading of the config's documentation).
FOR_SETTINGS = {
    "NetvizFlowCollectorDown": "collector_down_for",
    "NetvizFlowExporterDown": "exporter_down_for",
    "NetvizFlowRecordsStopped": "records_stopped_for",
    "NetvizFlowRecordsRejected": "records_rejected_for",
    "NetvizFlowUnmappedInterface": "unmapped_interface_for",
    "NetvizFlowPolicyViolation": "policy_violation_for",
    "NetvizFlowNewDevice": None,  # fires while a device is new (alerts.new_device_window), no `for`
    "NetvizFlowInternetVolume": None,  # fires while its window holds more than the limit, no `for`
    "NetvizFlowUntrustedSender": "untrusted_sender_for",
    "NetvizFlowSeriesBudgetFull": "series_budget_for",
    "NetvizFlowSeriesEvicted": "series_evicted_for",
    "NetvizFlowDecoderErrors": "decoder_errors_for",
    "NetvizCarettaAgentsMissing": "caretta_agents_missing_for",
}


def rules(cfg: AlertRulesConfig = AlertRulesConfig(expected_caretta_agents=5)) -> dict[str, dict]:
    return {r["alert"]: {**r, "group": g["name"]} for g in rule_groups(cfg) for r in g["rules"] if "alert" in r}


def github_anchor(heading: str) -> str:
    """How GitHub links a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def readme_section(title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.M | re.S)
    assert m, f"README has no section {title!r}"
    return m.group(1)


def test_the_alerts_the_issue_asks_for():
    assert set(rules()) == set(FOR_SETTINGS)


def test_names_say_which_dashboard_lists_them():
    for name, rule in rules().items():
        prefix = {FLOW_GROUP: FLOW_ALERTS_PREFIX, DEVICE_GROUP: FLOW_ALERTS_PREFIX, CARETTA_GROUP: CARETTA_ALERTS_PREFIX}[rule["group"]]
        assert name.startswith(prefix), name


def test_every_alert_has_severity_summary_description_and_its_runbook():
    base = Alerts().runbook_url
    for name, rule in rules().items():
        assert rule["labels"] == {"severity": "critical"} or rule["labels"] == {"severity": "warning"}, name
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}, name
        assert rule["annotations"]["summary"].strip() and len(rule["annotations"]["description"]) > 80, name
        assert rule["annotations"]["runbook_url"] == f"{base}#{name.lower()}"


def test_every_runbook_anchor_is_an_entry_of_the_readmes_alerts_section():
    section = readme_section("Alerts")
    headings = {github_anchor(h): h for h in re.findall(r"^### (.+)$", section, re.M)}
    for name, rule in rules().items():
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor in headings, f"{name}: README's Alerts section has no heading linking as #{anchor}"
        entry = section.split(f"### {headings[anchor]}\n", 1)[1].split("\n### ", 1)[0]
        for part in ("**What it means**", "**What to do**"):
            assert part in entry, f"{name}: its README entry lacks {part}"


def test_troubleshooting_points_at_every_alert_entry():
    troubleshooting = README.split("## Troubleshooting", 1)[1]
    for name in rules():
        assert f"(#{name.lower()})" in troubleshooting, f"Troubleshooting has no row linking to #{name.lower()}"


def test_the_runbook_base_is_configurable():
    cfg = AlertRulesConfig(settings=Alerts(runbook_url="https://git.home.arpa/netviz/README.md"))
    for name, rule in rules(cfg).items():
        assert rule["annotations"]["runbook_url"] == f"https://git.home.arpa/netviz/README.md#{name.lower()}"


def test_the_dashboards_selectors_reach_every_rule():
    selectors = DashboardConfig(
        caretta_selector='job="kubernetes-pods", app="caretta"',
        goflow2_selector='job="collector"',
        flow_exporter_selector='job="fx", cluster="home"',
    )
    found = rules(AlertRulesConfig(selectors=selectors, expected_caretta_agents=3))
    text = json.dumps(found)
    for default in ('job="goflow2"', 'job="flow-exporter"', 'job="caretta"'):
        assert default not in text
    for name, rule in found.items():
        if rule["group"] == CARETTA_GROUP:
            assert 'up{job="kubernetes-pods", app="caretta"}' in rule["expr"], name
        else:
            assert 'job="collector"' in rule["expr"] or 'job="fx", cluster="home"' in rule["expr"], name


@pytest.mark.parametrize(
    "selectors",
    [
        DashboardConfig(caretta_selector='job="kubernetes-pods", app="caretta"', goflow2_selector='job="collector"',
                        flow_exporter_selector='job="fx", cluster="home"'),
        DashboardConfig(caretta_selector="", goflow2_selector="", flow_exporter_selector=""),
    ],
)
def test_rules_with_other_selectors_still_pass_promtool(tmp_path, selectors):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"groups": rule_groups(AlertRulesConfig(selectors=selectors))}))  # JSON is YAML
    proc = promtool("check", "rules", str(path))
    rollup_rules = len(rollups.rules(selectors.flow_exporter_selector, "1h"))  # two per rolled-up metric, the heartbeat
    assert rollup_rules == 2 * len(rollups.ROLLED_UP) + 1
    assert f"SUCCESS: {len(FOR_SETTINGS) + rollup_rules} rules found" in proc.stdout


def test_every_for_duration_is_its_setting():
    with_for = {name: setting for name, setting in FOR_SETTINGS.items() if setting}
    durations = [f"{n}m" for n in range(21, 21 + len(with_for))]
    settings = Alerts(**dict(zip(with_for.values(), durations)))
    found = rules(AlertRulesConfig(settings=settings))
    for name, setting in with_for.items():
        assert found[name]["for"] == getattr(settings, setting), name


def test_thresholds_are_the_settings():
    cfg = AlertRulesConfig(settings=Alerts(records_stopped_after="1h30m", series_budget_percent=75), expected_caretta_agents=7)
    found = rules(cfg)
    assert "[1h30m]" in found["NetvizFlowRecordsStopped"]["expr"] and "> 5400)" in found["NetvizFlowRecordsStopped"]["expr"]
    assert found["NetvizFlowSeriesBudgetFull"]["expr"].endswith(">= 0.75")
    assert found["NetvizCarettaAgentsMissing"]["expr"].endswith("< 7")


def test_the_node_count_comes_from_the_config(tmp_path):
    import netviz_config

    from tests.synth import config_text

    text = config_text().replace('  { name = "k8s-node-3", address = "10.0.20.103" },\n  { name = "k8s-node-4", address = "10.0.20.104" },\n', "")
    path = tmp_path / "network.toml"
    path.write_text(text)
    config = netviz_config.load(str(path))
    cfg = AlertRulesConfig.of(config, DashboardConfig())
    assert cfg.expected_caretta_agents == 3
    assert rules(cfg)["NetvizCarettaAgentsMissing"]["expr"].endswith("< 3")


@pytest.mark.parametrize("interval, window", [("30s", "5m"), ("1m", "5m"), ("1m30s", "6m"), ("2m", "8m"), ("100s", "400s")])
def test_rate_windows_hold_four_scrapes_and_five_minutes(interval, window):
    found = rules(AlertRulesConfig(scrape_interval=interval))
    counting = {name: rule for name, rule in found.items() if name != "NetvizFlowInternetVolume"}  # a volume per day
    windows = {w for rule in counting.values() for w in re.findall(r"increase\([^\[]*\[([^\]]+)\]", rule["expr"])}
    assert windows == {window}


def test_the_counting_window_and_the_internet_volume_window_are_their_settings():
    found = rules(AlertRulesConfig(settings=Alerts(count_window="10m", internet_volume_window="30d")))
    for name, rule in found.items():
        windows = set(re.findall(r"increase\([^\[]*\[([^\]]+)\]", rule["expr"]))
        assert windows <= ({"30d"} if name == "NetvizFlowInternetVolume" else {"10m"}), (name, windows)
    assert "[30d]" in found["NetvizFlowInternetVolume"]["expr"]


def test_alerts_can_be_switched_off_and_the_rollups_stay():
    # the dashboards read the rollups whether or not anyone is alerted
    assert [g["name"] for g in rule_groups(AlertRulesConfig(settings=Alerts(enabled=False)))] == [ROLLUP_GROUP]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"expected_caretta_agents": 0}, "expected_caretta_agents must be at least 1, but 0 was provided"),
        ({"scrape_interval": "30 seconds"}, "scrape_interval must be a Prometheus duration such as 30s, but '30 seconds' was provided"),
    ],
)
def test_config_errors_name_the_bad_value(kwargs, message):
    with pytest.raises(ValueError) as e:
        AlertRulesConfig(**kwargs)
    assert message in str(e.value)


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        AlertRulesConfig().scrape_interval = "1m"  # type: ignore[misc]


def test_the_new_device_alert_runs_in_a_group_of_its_own_every_ten_minutes_or_twice_per_window():
    # its look-back reads a week of the hosts' series: not at every evaluation interval
    groups = {g["name"]: g for g in rule_groups(AlertRulesConfig())}
    assert [r["alert"] for r in groups[DEVICE_GROUP]["rules"]] == ["NetvizFlowNewDevice"]
    assert groups[DEVICE_GROUP]["interval"] == "10m" and "interval" not in groups[FLOW_GROUP]
    short = {g["name"]: g for g in rule_groups(AlertRulesConfig(settings=Alerts(new_device_window="10m")))}
    assert short[DEVICE_GROUP]["interval"] == "5m"
