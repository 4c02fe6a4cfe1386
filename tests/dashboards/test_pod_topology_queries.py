"""K8s Pod Topology's queries, evaluated by a real Prometheus over Caretta-format data.

A tiny HTTP server serves one Caretta agent's /metrics (tests/dashboards/caretta_fixture.py:
nine links between workloads of five namespaces and six kinds, both roles, an external client,
an external server, a node) and changes it twice: links grow, then the agent restarts and every
gauge drops. Prometheus scrapes every phase. Each dashboard expression is then evaluated at the
last sample with `$__range` 1 ms longer than the span of the stored samples (Prometheus 3's ranges
leave out a sample at their start: dashboard_exprs.window), so every sample counts, and the only
extrapolation is over that millisecond: each series' increase is its bytes x (span + 1) / span
(dashboard_exprs.increase_over), its rate its bytes / span, and every value is asserted to that.
"""

from __future__ import annotations

import time

import pytest

import dashboards
from dashboards import DashboardConfig
from tests.dashboards import caretta_fixture as cf
from tests.dashboards.dashboard_exprs import (expressions, increase_over, leftover_variables, rate_over, regex_value,
                                              substitute, target, window)
from tests.support.prometheus import promtool

JOB = "caretta"
BOARD = dashboards.render_pod_topology(DashboardConfig(caretta_selector=f'job="{JOB}"'))


def _metrics_server_class():
    """tests/support's tiny exposition server (its module was renamed http -> metrics_server)."""
    try:
        from tests.support.metrics_server import MetricsServer
    except ImportError:
        from tests.support.http import MetricsServer
    return MetricsServer


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    """(prometheus, eval time, range in ms) after every phase of agent A was scraped."""
    MetricsServer = _metrics_server_class()
    from tests.support.prometheus import PrometheusServer

    agent = MetricsServer(cf.exposition(cf.phase_values(cf.AGENT_A, 0))).start()
    prom = PrometheusServer({"scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [agent.address]}]}]})
    try:
        prom.start()
        prom.wait_for_scrape(JOB, count=1)
        for phase in range(1, cf.PHASES):
            agent.set_text(cf.exposition(cf.phase_values(cf.AGENT_A, phase)))
            prom.wait_for_scrape(JOB, after=time.time())
        stamps = sorted({float(ts) for s in prom.query(f'caretta_links_observed{{job="{JOB}"}}[10m]') for ts, _ in s["values"]})
        assert len(stamps) >= cf.PHASES, f"expected at least {cf.PHASES} scrapes, got {stamps}"
        span_ms = round((stamps[-1] - stamps[0]) * 1000)
        yield prom, stamps[-1], span_ms
    finally:
        prom.stop()
        agent.stop()


def _values(**selected) -> dict[str, str]:
    base = {"namespace": ".*", "kind": ".*", "workload": ".*", "port": ".*"}
    base.update({k: regex_value(*v) for k, v in selected.items()})
    return base


def _run(scraped, expr: str, **selected) -> list[dict]:
    prom, at, span_ms = scraped
    text = substitute(expr, {"__range": window(span_ms), **_values(**selected)})
    assert not leftover_variables(text), leftover_variables(text)
    return prom.query(text, time=at)


EXPECTED = cf.expected_bytes(cf.AGENT_A)
FIRST = {link: values[0] for link, values in cf.AGENT_A}  # each series' first sample


def _measured(link, span_ms, how=increase_over) -> float:
    """What increase() (or rate()) over window(span_ms) returns for one link series."""
    return how(EXPECTED[link], FIRST[link], span_ms)


def _link_total(client, server, span_ms, how=increase_over) -> float:
    return sum(_measured(link, span_ms, how) for link in EXPECTED if link.client == client and link.server == server)


def _node_total(workload, span_ms, links=None, how=increase_over) -> float:
    return sum(_measured(link, span_ms, how) for link in EXPECTED
               if workload in (link.client, link.server) and (links is None or link in links))


def test_every_series_is_extrapolated_by_the_extra_millisecond_only():
    # The model holds for the fixture: no series is near its zero point (counters are never
    # extrapolated below zero), so every increase is its bytes x (span + 1) / span.
    for link in EXPECTED:
        assert _measured(link, 2000) == pytest.approx(EXPECTED[link] * 2001 / 2000, rel=1e-12), link


def test_fixture_is_valid_exposition_text():
    for phase in range(cf.PHASES):
        promtool("check", "metrics", input=cf.exposition(cf.phase_values(cf.AGENT_A, phase)))


def test_edges_main_stat_is_the_bytes_of_both_directions_over_the_range(scraped):
    span_ms = scraped[2]
    rows = _run(scraped, target(BOARD, "Service map", "edges")["expr"])
    edges = {(r["metric"]["source"], r["metric"]["target"]): r for r in rows}
    pairs = {(l.client, l.server) for l in EXPECTED}
    assert len(rows) == len(edges) == len(pairs), f"one row per client->server pair expected: {rows}"
    for client, server in pairs:
        row = edges[(client.id, server.id)]
        assert set(row["metric"]) == {"id", "source", "target", "thickness"}, row["metric"]
        assert row["metric"]["id"] == f"{client.id}->{server.id}"
        # THEN the value (the edge's main stat) is every byte both sockets sent, across the restart
        assert float(row["value"][1]) == pytest.approx(_link_total(client, server, span_ms), rel=1e-12), (client, server)
    # cart -> postgres: (60-10) + 20 MiB from the client, (150-50) + 40 MiB from the server
    assert _link_total(cf.CART, cf.POSTGRES, span_ms) == pytest.approx(210 * cf.MiB * (span_ms + 1) / span_ms, rel=1e-12)
    assert float(edges[(cf.CART.id, cf.POSTGRES.id)]["value"][1]) == pytest.approx(
        210 * cf.MiB * (span_ms + 1) / span_ms, rel=1e-12)


def test_edges_thickness_steps_with_bytes(scraped):
    rows = _run(scraped, target(BOARD, "Service map", "edges")["expr"])
    thickness = {(r["metric"]["source"], r["metric"]["target"]): r["metric"]["thickness"] for r in rows}
    assert thickness[(cf.FRONTEND.id, cf.COREDNS.id)] == "1"  # 12 kB
    assert thickness[(cf.FRONTEND.id, cf.CART.id)] == "2"  # 6.5 MB
    assert thickness[(cf.CART.id, cf.POSTGRES.id)] == "3"  # 210 MiB
    assert thickness[(cf.BACKUP.id, cf.OBJECT_STORE.id)] == "4"  # 12 GiB


def test_nodes_are_workloads_with_name_namespace_kind_and_bytes(scraped):
    span_ms = scraped[2]
    rows = _run(scraped, target(BOARD, "Service map", "nodes")["expr"])
    nodes = {r["metric"]["id"]: r for r in rows}
    workloads = {w for l in EXPECTED for w in (l.client, l.server)}
    assert len(rows) == len(nodes) == len(workloads) == 9
    for w in workloads:
        row = nodes[w.id]
        assert row["metric"] == {
            "id": w.id, "title": w.name, "subtitle": w.namespace, "secondarystat": w.kind, "detail__kind": w.kind,
        }
        assert float(row["value"][1]) == pytest.approx(_node_total(w, span_ms), rel=1e-12), w


def test_every_edge_end_is_a_node(scraped):
    nodes = {r["metric"]["id"] for r in _run(scraped, target(BOARD, "Service map", "nodes")["expr"])}
    for r in _run(scraped, target(BOARD, "Service map", "edges")["expr"]):
        assert {r["metric"]["source"], r["metric"]["target"]} <= nodes


@pytest.mark.parametrize(
    "selected, pairs",
    [
        ({"workload": ["cart"]}, {(cf.FRONTEND, cf.CART), (cf.CART, cf.POSTGRES)}),
        ({"namespace": ["data"]}, {(cf.CART, cf.POSTGRES), (cf.BACKUP, cf.OBJECT_STORE)}),
        ({"kind": ["CronJob", "DaemonSet"]}, {(cf.BACKUP, cf.OBJECT_STORE), (cf.NODE_AGENT, cf.KUBELET)}),
        ({"port": ["443"]}, {(cf.VISITOR, cf.FRONTEND), (cf.BACKUP, cf.OBJECT_STORE)}),
        ({"namespace": ["shop"], "kind": ["StatefulSet"]}, set()),
        ({"namespace": ["shop"], "workload": ["frontend"], "port": ["53"]}, {(cf.FRONTEND, cf.COREDNS)}),
    ],
)
def test_variables_filter_links_by_either_end(scraped, selected, pairs):
    span_ms = scraped[2]
    edges = _run(scraped, target(BOARD, "Service map", "edges")["expr"], **selected)
    assert {(r["metric"]["source"], r["metric"]["target"]) for r in edges} == {(c.id, s.id) for c, s in pairs}
    nodes = _run(scraped, target(BOARD, "Service map", "nodes")["expr"], **selected)
    assert {r["metric"]["id"] for r in nodes} == {w.id for p in pairs for w in p}
    shown = {l for l in EXPECTED if (l.client, l.server) in pairs}
    for r in nodes:  # a node's bytes count only the shown links
        w = next(w for p in pairs for w in p if w.id == r["metric"]["id"])
        assert float(r["value"][1]) == pytest.approx(_node_total(w, span_ms, shown), rel=1e-12)


def test_top_workloads_by_throughput_is_bits_per_second_over_the_range(scraped):
    _, _, span_ms = scraped
    rows = _run(scraped, target(BOARD, "Top workloads by throughput")["expr"])
    got = {(r["metric"]["namespace"], r["metric"]["workload"], r["metric"]["kind"]): float(r["value"][1]) for r in rows}
    workloads = {w for l in EXPECTED for w in (l.client, l.server)}
    assert set(got) == {(w.namespace, w.name, w.kind) for w in workloads}
    for w in workloads:
        # rate() over the window: bytes / span exactly (the millisecond's extrapolation cancels)
        expected = _node_total(w, span_ms, how=rate_over) * 8
        assert expected == pytest.approx(sum(v for l, v in EXPECTED.items() if w in (l.client, l.server)) * 8 / (span_ms / 1000),
                                         rel=1e-12)
        assert got[(w.namespace, w.name, w.kind)] == pytest.approx(expected, rel=1e-9), w
    top_two = sorted(got, key=got.get, reverse=True)[:2]  # the 12 GiB backup, at both of its ends
    assert set(top_two) == {("data", "backup", "CronJob"), ("external", "s3.example.net", "external")}


def test_top_connections_lists_links_with_their_bytes(scraped):
    span_ms = scraped[2]
    factor = (span_ms + 1) / span_ms  # the extra millisecond of the window, extrapolated
    rows = _run(scraped, target(BOARD, "Top connections")["expr"])
    got = {(r["metric"]["client_name"], r["metric"]["server_name"], r["metric"]["server_port"]): float(r["value"][1]) for r in rows}
    assert got[("frontend", "cart", "8080")] == pytest.approx(6_500_000 * factor, rel=1e-12)
    # only the server side is observed
    assert got[("203.0.113.7", "frontend", "443")] == pytest.approx(1_100_000 * factor, rel=1e-12)
    # only the client side is observed
    assert got[("backup", "s3.example.net", "443")] == pytest.approx(12 * cf.GiB * factor, rel=1e-12)
    assert len(got) == len({(l.client, l.server, l.port) for l in EXPECTED})


def test_agents_scraped_counts_the_agent(scraped):
    rows = _run(scraped, target(BOARD, "Caretta agents scraped")["expr"])
    assert [float(r["value"][1]) for r in rows] == [1.0]


def _variable_values(scraped, name: str, **selected) -> set[str]:
    """Run a variable's query and extract values as Grafana does (query_result lines + regex)."""
    import re

    var = next(v for v in BOARD["templating"]["list"] if v["name"] == name)
    e = next(e for e in expressions(BOARD) if e.variable is var)
    rows = _run(scraped, e.expr, **selected)
    if var.get("regex"):
        pattern = re.compile(var["regex"].strip("/"))
        lines = ["{" + ", ".join(f'{k}="{v}"' for k, v in sorted(r["metric"].items())) + "} " + r["value"][1] for r in rows]
        return {m.group(1) for line in lines for m in [pattern.search(line)] if m}
    label = var["query"].rsplit(",", 1)[1].strip(" )")
    return {r["metric"][label] for r in rows}


def test_variables_list_both_ends(scraped):
    assert _variable_values(scraped, "namespace") == {"shop", "data", "kube-system", "external", "monitoring", "node"}
    assert _variable_values(scraped, "kind") == {"Deployment", "StatefulSet", "CronJob", "DaemonSet", "external", "node"}
    assert _variable_values(scraped, "kind", namespace=["data"]) == {"StatefulSet", "CronJob"}
    assert _variable_values(scraped, "workload", namespace=["shop"]) == {"frontend", "cart"}
    assert _variable_values(scraped, "port") == {"8080", "5432", "53", "443", "10250"}


@pytest.fixture(scope="module")
def two_agents():
    """Prometheus scraping two agents (two targets of one job), each through three phases."""
    from tests.support.prometheus import PrometheusServer

    MetricsServer = _metrics_server_class()
    agents = {node: MetricsServer(cf.exposition(cf.phase_values(links, 0))).start() for node, links in cf.TWO_AGENTS.items()}
    prom = PrometheusServer({"scrape_configs": [
        {"job_name": JOB, "static_configs": [{"targets": [a.address for a in agents.values()]}]},
    ]})
    try:
        prom.start()
        prom.wait_for_scrape(JOB, count=2)
        for phase in range(1, cf.PHASES):
            for node, server in agents.items():
                server.set_text(cf.exposition(cf.phase_values(cf.TWO_AGENTS[node], phase)))
            prom.wait_for_scrape(JOB, after=time.time(), count=2)
        prom.wait_for_scrape(JOB, after=time.time(), count=2)
        yield prom, time.time()
    finally:
        prom.stop()
        for server in agents.values():
            server.stop()


def test_edges_sum_every_agent_and_both_roles(two_agents):
    prom, at = two_agents
    text = substitute(target(BOARD, "Service map", "edges")["expr"], {"__range": "5m", **_values()})
    rows = prom.query(text, time=at)
    assert len(rows) == 1 and rows[0]["metric"]["id"] == f"{cf.CART.id}->{cf.POSTGRES.id}", rows
    edge = float(rows[0]["value"][1])
    # THEN the edge is the sum of the three series: two client sides (one per agent) and the server side
    per_series = prom.query(f'increase(caretta_links_observed{{job="{JOB}"}}[5m])', time=at)
    assert len(per_series) == 3 and len({s["metric"]["instance"] for s in per_series}) == 2
    assert edge == pytest.approx(sum(float(s["value"][1]) for s in per_series), rel=1e-12)
    # and close to the fixture's bytes (increase() extrapolates a little: the agents' scrapes are
    # not aligned with the window, so no exact equality here; the single-agent tests assert bytes)
    truth = sum(cf.increase(list(v)) for links in cf.TWO_AGENTS.values() for _, v in links)
    assert truth == 30 * cf.MiB + 25 * cf.MiB + 200 * cf.MiB
    assert edge == pytest.approx(truth, rel=0.5)


def test_every_expression_of_the_dashboard_returns_data(scraped):
    # No query goes unevaluated: each panel target and variable query answers over the fixture.
    found = expressions(BOARD)
    assert len(found) == 9, [e.where for e in found]
    for e in found:
        assert _run(scraped, e.expr), f"{e.where} returned nothing"
