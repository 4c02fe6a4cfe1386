"""Each dashboard's health row lists the firing netviz alerts about what it shows, and only those.

Grafana's alert list (public/app/plugins/panel/alertlist/UnifiedAlertList.tsx, `filterRules`)
keeps a rule when its name contains the panel's `alertName` (case-insensitive) and its state is
one the state filter enables. `grafana_lists` is a stand-in of that filter, run over the rules
netviz generates: no Grafana runs here.
"""

from __future__ import annotations

import pytest

import dashboards
from alerts import CARETTA_GROUP, DEVICE_GROUP, FLOW_GROUP, AlertRulesConfig, alert_names
from tests.dashboards.dashboard_exprs import panels

BOARDS = {
    "netviz-network-flows": (dashboards.render_network_flows, "Collector health", (FLOW_GROUP, DEVICE_GROUP)),
    "netviz-pod-topology": (dashboards.render_pod_topology, "Caretta health", (CARETTA_GROUP,)),
}


def alert_list(board: dict) -> dict:
    (found,) = [p for p in panels(board) if p["type"] == "alertlist"]
    return found


def grafana_lists(options: dict, rule_name: str, state: str) -> bool:
    """Stand-in of Grafana's alert list filter for one Prometheus rule in `state`."""
    if options.get("alertName") and options["alertName"].lower() not in rule_name.lower():
        return False
    wanted = {"firing": "firing", "pending": "pending", "inactive": "normal"}[state]
    return bool(options["stateFilter"].get(wanted))


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_the_alert_list_is_in_the_health_row(uid):
    render, row_title, _ = BOARDS[uid]
    board = render()
    top = board["panels"]
    rows = [i for i, p in enumerate(top) if p["type"] == "row"]
    (row,) = [i for i in rows if top[i]["title"] == row_title]
    end = next((i for i in rows if i > row), len(top))
    assert alert_list(board) in top[row + 1 : end]


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_the_alert_list_shows_its_groups_firing_and_pending_alerts_only(uid):
    render, _, groups = BOARDS[uid]
    options = alert_list(render())["options"]
    names = alert_names(AlertRulesConfig())
    assert all(names[g] for g in groups)
    for g, members in names.items():
        for name in members:
            assert grafana_lists(options, name, "firing") == (g in groups), (uid, name)
            assert grafana_lists(options, name, "pending") == (g in groups), (uid, name)
            assert not grafana_lists(options, name, "inactive"), (uid, name)
    # Every rules source: netviz's rules live in a Prometheus, not in Grafana.
    assert options["datasource"] is None and options["dashboardAlerts"] is False and options["alertInstanceLabelFilter"] == ""
    assert options["viewMode"] == "list" and options["showInstances"] is True


def test_the_filter_stand_in_can_refuse():
    assert not grafana_lists({"alertName": "NetvizFlow", "stateFilter": {"firing": True}}, "NetvizCarettaAgentsMissing", "firing")
    assert grafana_lists({"alertName": "netvizflow", "stateFilter": {"firing": True}}, "NetvizFlowExporterDown", "firing")
