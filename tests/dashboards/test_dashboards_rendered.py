"""The committed JSON is what the code renders; both dashboards keep their contract.

Contract: stable uids and titles, a Prometheus datasource variable every query uses, a
description and a unit on every panel, the exact panel titles of issue 4, and the Node Graph
fed by instant table queries `nodes` and `edges` with no transformation (FACTS).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import dashboards
from dashboards import DashboardConfig
from tests.dashboards.dashboard_exprs import expressions, panel_by_title, panels

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RENDERED = os.path.join(REPO, "dashboards", "rendered")


def test_committed_json_equals_what_the_code_renders():
    rendered = dashboards.render_all()
    assert sorted(rendered) == sorted(n for n in os.listdir(RENDERED) if n.endswith(".json")), (
        "dashboards/rendered/ holds other files than render_all() produces: run `python -m dashboards`"
    )
    for name, text in rendered.items():
        with open(os.path.join(RENDERED, name), encoding="utf-8") as f:
            assert f.read() == text, f"dashboards/rendered/{name} is stale: run `python -m dashboards` and commit"


@pytest.mark.parametrize("seed", ["0", "1", "12345"])
def test_rendering_is_deterministic_across_processes(seed):
    # Another interpreter with another hash seed renders the same bytes (the CLI's --check).
    env = {**os.environ, "PYTHONHASHSEED": seed}
    proc = subprocess.run([sys.executable, "-m", "dashboards", "--check"], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_render_api_returns_json_text_and_dicts():
    files = dashboards.render_all()
    assert set(files) == {"netviz-pod-topology.json", "netviz-network-flows.json"}
    assert json.loads(files["netviz-pod-topology.json"]) == dashboards.render_pod_topology()
    assert json.loads(files["netviz-network-flows.json"]) == dashboards.render_network_flows()
    assert all(text.endswith("}\n") for text in files.values())


def test_uids_and_titles_are_stable():
    assert dashboards.render_pod_topology()["uid"] == "netviz-pod-topology"
    assert dashboards.render_pod_topology()["title"] == "K8s Pod Topology"
    assert dashboards.render_network_flows()["uid"] == "netviz-network-flows"
    assert dashboards.render_network_flows()["title"] == "Network Flows"


@pytest.mark.parametrize("render", [dashboards.render_pod_topology, dashboards.render_network_flows])
def test_every_panel_has_description_unit_and_the_datasource_variable(render):
    board = render()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel.get("description", "").strip(), f"panel {panel['title']!r} has no description"
        if panel["type"] == "alertlist":
            # It lists alert rules (tests/dashboards/test_alert_lists.py), no datasource query.
            assert "targets" not in panel and "datasource" not in panel, panel["title"]
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for t in panel["targets"]:
            assert t["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        if panel["type"] == "nodeGraph":
            assert panel["options"]["edges"]["mainStatUnit"] == "bytes"
            assert panel["options"]["nodes"]["mainStatUnit"] == "bytes"
        else:
            assert panel["fieldConfig"]["defaults"].get("unit"), f"panel {panel['title']!r} has no unit"
    for v in board["templating"]["list"]:
        if v["type"] == "query":
            assert v["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, v["name"]


def test_pod_topology_node_graph_follows_the_node_graph_contract():
    board = dashboards.render_pod_topology()
    graph = [p for p in panels(board) if p["type"] == "nodeGraph"]
    assert len(graph) == 1
    graph = graph[0]
    assert not graph.get("transformations"), "the node graph must not rely on transformations (FACTS)"
    targets = {t["refId"]: t for t in graph["targets"]}
    assert set(targets) == {"nodes", "edges"}
    for t in targets.values():
        assert t["format"] == "table" and t["instant"] is True and t["range"] is False
    for name in ("id", "title", "subtitle", "detail__kind"):
        assert f'"{name}"' in targets["nodes"]["expr"], f"nodes query makes no {name} label"
    for name in ("id", "source", "target", "thickness"):
        assert f'"{name}"' in targets["edges"]["expr"], f"edges query makes no {name} label"
    assert "increase(caretta_links_observed" in targets["edges"]["expr"]
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource", "namespace", "kind", "workload", "port"]
    for title in ("Top workloads by throughput", "Top connections"):
        panel_by_title(board, title)


def test_network_flows_has_the_panels_of_issue_4_with_their_units():
    board = dashboards.render_network_flows()
    units = {p["title"]: p.get("fieldConfig", {}).get("defaults", {}).get("unit") for p in panels(board)}
    assert units["Top talkers"] == "bytes"
    assert units["Protocol breakdown"] == "bytes"
    assert units["Inter-VLAN traffic"] == "bytes"
    assert units["External destinations"] == "bytes"
    assert units["Traffic sent by subnet"] == "bps" and units["Traffic received by subnet"] == "bps"
    matrix = panel_by_title(board, "Inter-VLAN traffic")
    grouping = [t for t in matrix["transformations"] if t["id"] == "groupingToMatrix"]
    assert grouping and grouping[0]["options"]["rowField"] == "src_subnet" and grouping[0]["options"]["columnField"] == "dst_subnet"
    rows = [p for p in board["panels"] if p["type"] == "row"]
    assert [r["title"] for r in rows] == ["Collector health", "Policy", "Devices"]
    after_row = board["panels"][board["panels"].index(rows[0]) + 1 : board["panels"].index(rows[1])]
    health = " ".join(t["expr"] for p in after_row for t in p.get("targets", []))
    for metric in (
        "goflow2_flow_traffic_packets_total",
        "goflow2_flow_decoder_error_total",
        "netviz_flow_exporter_records_total",
        "netviz_flow_exporter_records_rejected_total",
        "netviz_flow_exporter_family_series",
        "netviz_flow_exporter_family_series_limit",
        "netviz_flow_exporter_family_evictions_total",
        "netviz_flow_exporter_records_untrusted_total",
    ):
        assert metric in health, f"Collector health row does not show {metric}"
    policy = board["panels"][board["panels"].index(rows[1]) + 1 : board["panels"].index(rows[2])]
    assert [p["title"] for p in policy] == ["Policy violations"]
    devices = {p["title"]: p for p in board["panels"][board["panels"].index(rows[2]) + 1 :]}
    assert list(devices) == ["New devices", "Internet usage by device", "Internet usage by device today"]
    # the internet usage tables: this calendar month so far and today so far (Grafana's relative ranges)
    assert devices["Internet usage by device"]["timeFrom"] == "now/M"
    assert devices["Internet usage by device today"]["timeFrom"] == "now/d"
    for title in ("Internet usage by device", "Internet usage by device today"):
        assert units[title] == "bytes"
        assert [t["refId"] for t in devices[title]["targets"]] == ["A", "B", "C"]
        assert "merge" in [t["id"] for t in devices[title]["transformations"]]
    assert "netviz_policy_violation_bytes_total" in policy[0]["targets"][0]["expr"]


def test_config_selectors_reach_every_query():
    cfg = DashboardConfig(
        caretta_selector='job="caretta-agents"', goflow2_selector='job="collector"', flow_exporter_selector='job="fx", cluster="home"'
    )
    topo = dashboards.render_pod_topology(cfg)
    for e in expressions(topo):
        assert 'job="caretta-agents"' in e.expr, e.where
    flows = dashboards.render_network_flows(cfg)
    for e in expressions(flows):
        assert ('job="fx", cluster="home"' in e.expr) != ('job="collector"' in e.expr), e.where


def test_config_can_drop_selectors():
    board = dashboards.render_network_flows(DashboardConfig(flow_exporter_selector="", goflow2_selector=""))
    assert "job=" not in json.dumps(board)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"caretta_selector": "job=caretta"}, "caretta_selector must be PromQL label matchers without braces such as job=\"caretta\", but 'job=caretta' was provided"),
        ({"pod_topology_uid": "has space"}, "pod_topology_uid must be 1-40 letters, digits, '-' or '_', but 'has space' was provided"),
        ({"top_n": 0}, "top_n must be between 1 and 100, but 0 was provided"),
        ({"edge_width_factor": 1}, "edge_width_factor must be a whole number of at least 2, but 1 was provided"),
        ({"edge_width_from": 0}, "edge_width_from must be a byte count of at least 1, but 0 was provided"),
    ],
)
def test_config_errors_name_the_bad_value(kwargs, message):
    with pytest.raises(ValueError) as e:
        DashboardConfig(**kwargs)
    assert message in str(e.value)


def test_network_flows_opens_with_the_network_map_whose_kubernetes_nodes_link_to_pod_topology():
    cfg = DashboardConfig()
    board = dashboards.render_network_flows(cfg)
    top = sorted((p for p in board["panels"] if p["type"] != "row"), key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
    assert [(p["title"], p["type"]) for p in top[:2]] == [("Network map", "nodeGraph"), ("Top conversations", "table")]
    graph = top[0]
    targets = {t["refId"]: t for t in graph["targets"]}
    for name in ("id", "title", "subtitle", "detail__address", "detail__kubernetes_node"):
        assert f'"{name}"' in targets["nodes"]["expr"], f"nodes query makes no {name} label"
    assert "netviz_host_info" in targets["nodes"]["expr"] and "netviz_kubernetes_node_info" in targets["nodes"]["expr"]
    # the node's menu: a link on the kubernetes node field, to K8s Pod Topology filtered to that node
    (override,) = [o for o in graph["fieldConfig"]["overrides"] if o["matcher"]["options"] == "detail__kubernetes_node"]
    (link,) = [p["value"] for p in override["properties"] if p["id"] == "links"][0]
    assert link["url"].startswith(f"/d/{cfg.pod_topology_uid}/?")
    assert "var-kind=node" in link["url"] and "var-workload=${__value.raw}" in link["url"]  # Caretta's kind for a node (FACTS)
    topology = [v["name"] for v in dashboards.render_pod_topology(cfg)["templating"]["list"]]
    assert {"kind", "workload"} <= set(topology)
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource", "subnet", "proto"]
