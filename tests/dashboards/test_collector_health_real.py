"""Network Flows' "Collector health" panels over the real GoFlow2 v2.2.6's /metrics.

The goflow2 pod as synthesized (tests/support/goflow2.py CollectorPod; STAND-IN: the pod itself),
scraped by a real Prometheus 3 through the platform stack's own `goflow2` job. A second real
GoFlow2 on loopback, started with a one-place queue (`?workers=1&queue_size=1`), is a second pod of
that job: flooded, it drops datagrams, the only way to make GoFlow2 count drops.
Datagrams of every kind are sent in a warm-up (so every series exists, and Prometheus has sampled
it), then known numbers of each: softflowd's real NetFlow, datagrams that are no NetFlow, and
NetFlow data from a new exporter whose templates GoFlow2 has not seen. Each panel query, evaluated
over exactly that window (dashboard_exprs.window: every series starts above 0 there, so rate() is
the growth over the samples' span), must show what was sent, by the labels it groups by.
"""

from __future__ import annotations

import time

import pytest

import dashboards
from tests.dashboards.dashboard_exprs import leftover_variables, rate_over, substitute, target
from tests.dashboards.dashboard_exprs import window as range_window
from tests.support.goflow2 import CollectorPod, Goflow2, NetflowSender, collector_scrape_jobs, metric_sum, pod_from_synth

BOARD = dashboards.render_network_flows()  # default selectors: job="goflow2"
GOOD, JUNK, NO_TEMPLATE, FLOOD = 6, 3, 2, 60
NOT_NETFLOW = b"\x00\x2anot a netflow datagram"


@pytest.fixture(scope="module")
def health(synthesized, tmp_path_factory):
    from tests.support.flowgen import softflowd_stream
    from tests.support.prometheus import PrometheusServer

    stream = softflowd_stream(tmp_path_factory.mktemp("stream"), 900)
    work = tmp_path_factory.mktemp("health")
    spec, files = pod_from_synth(synthesized)
    with CollectorPod(spec, files) as pod, \
            Goflow2(work / "tiny-queue.jsonl", listen_query="workers=1&queue_size=1") as tiny, \
            NetflowSender(["softflowd", "newcomer", "junk"], source_ip=pod.network.node_ip) as sender, \
            NetflowSender(["flood"]) as flooder:
        pod.init()
        pod.start_collector()
        pod.start_exporter()
        jobs = collector_scrape_jobs(synthesized, pod, work, extra_pods=[("goflow2-tiny", "127.0.0.1", {"metrics": tiny.http_port})])
        prom = PrometheusServer({"scrape_configs": jobs}).start()
        to = (pod.network.pod_ip, pod.netflow_port)
        sent = {"next": 0}

        def good(n):
            first = sent["next"]
            sender.send("softflowd", stream.datagrams[first:first + n], to, decoded=pod.decoded, base=pod.decoded())
            sent["next"] += n

        def junk(n):
            sender.send("junk", [NOT_NETFLOW] * n, to, decoded=pod.decoded, base=pod.decoded())

        def newcomer(n):  # data without templates: datagrams 1.. carry none
            sender.send("newcomer", stream.datagrams[1:1 + n], to, decoded=pod.decoded, base=pod.decoded())

        def flood(n) -> int:
            """n datagrams at once at the one-place queue; how many it dropped."""
            before = metric_sum(tiny.metrics(), "goflow2_flow_dropped_packets_total")
            flooder.send("flood", [stream.datagrams[0]] * n, ("127.0.0.1", tiny.netflow_port))
            from tests.support.goflow2 import wait_until

            def settled():  # every datagram either decoded or dropped
                m = tiny.metrics()
                return metric_sum(m, "goflow2_flow_decoding_time_seconds_count") + metric_sum(
                    m, "goflow2_flow_dropped_packets_total") == flooder.sent
            wait_until("the tiny-queue GoFlow2 to decode or drop every datagram", settled)
            return metric_sum(tiny.metrics(), "goflow2_flow_dropped_packets_total") - before

        try:
            prom.wait_for_targets("goflow2", count=2)
            good(1), junk(1), newcomer(1)
            assert flood(FLOOD) > 0, "the one-place queue dropped nothing: no drop series to test"
            prom.wait_for_scrape("goflow2", after=time.time(), count=2)
            start = time.time()
            good(GOOD), junk(JUNK), newcomer(NO_TEMPLATE)
            dropped = flood(FLOOD)
            end = time.time()
            prom.wait_for_scrape("goflow2", after=end, count=2)
            yield prom, pod, tiny, (start, end), dropped
        finally:
            prom.stop()


def _window(prom, expr: str, sending: tuple[float, float]) -> tuple[float, int, float]:
    """(eval time, span ms, value there) from `expr`'s last sample before the sending to its first after."""
    (series,) = prom.query(f"{expr}[5m]")
    samples = [(float(t), float(v)) for t, v in series["values"]]
    t0, v0 = max((t, v) for t, v in samples if t < sending[0])
    t1 = min(t for t, _ in samples if t > sending[1])
    return t1, round((t1 - t0) * 1000), v0


def _panel(prom, title: str, ref_id: str, at: float, span_ms: int) -> dict:
    expr = substitute(target(BOARD, title, ref_id)["expr"], {"__rate_interval": range_window(span_ms)})
    assert not leftover_variables(expr)
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in prom.query(expr, time=at)}


def test_netflow_packets_per_exporter_counts_every_datagram_by_sender_and_type(health):
    prom, pod, tiny, start, _ = health
    raw = f'goflow2_flow_traffic_packets_total{{job="goflow2",instance="{pod.address("metrics")}"}}'
    at, span_ms, first = _window(prom, raw, start)
    got = _panel(prom, "NetFlow packets per exporter", "A", at, span_ms)
    mine = {k: v for k, v in got.items() if dict(k)["remote_ip"] == pod.network.node_ip}
    assert mine == {(("remote_ip", pod.network.node_ip), ("type", "netflow")):
                    pytest.approx(rate_over(GOOD + JUNK + NO_TEMPLATE, first, span_ms), rel=1e-9)}


def test_collector_errors_count_junk_and_missing_templates_by_router(health):
    prom, pod, tiny, start, _ = health
    instance = f'job="goflow2",instance="{pod.address("metrics")}"'
    at, span_ms, first = _window(prom, f"goflow2_flow_decoder_error_total{{{instance}}}", start)
    decoder = _panel(prom, "Collector errors and drops", "A", at, span_ms)
    # GoFlow2 counts a missing template as a decoder error too (metrics/decoder.go)
    assert decoder == {(("name", "netflow"), ("router", pod.network.node_ip)):
                       pytest.approx(rate_over(JUNK + NO_TEMPLATE, first, span_ms), rel=1e-9)}
    at, span_ms, first = _window(prom, f"goflow2_flow_process_nf_errors_total{{{instance}}}", start)
    netflow = _panel(prom, "Collector errors and drops", "B", at, span_ms)
    assert netflow == {(("error", "template_not_found"), ("router", pod.network.node_ip)):
                       pytest.approx(rate_over(NO_TEMPLATE, first, span_ms), rel=1e-9)}


def test_collector_drops_are_counted_by_sender(health):
    prom, pod, tiny, start, dropped = health
    at, span_ms, first = _window(prom, 'goflow2_flow_dropped_packets_total{job="goflow2"}', start)
    got = _panel(prom, "Collector errors and drops", "C", at, span_ms)
    assert got == {(("remote_ip", "127.0.0.1"),): pytest.approx(rate_over(dropped, first, span_ms), rel=1e-9)}


def test_every_goflow2_expression_of_the_dashboard_returns_data(health):
    from tests.dashboards.dashboard_exprs import expressions

    prom, pod, tiny, sending, _ = health
    windows = [_window(prom, f'goflow2_flow_traffic_packets_total{{instance="{pod.address("metrics")}"}}', sending),
               _window(prom, 'goflow2_flow_dropped_packets_total{job="goflow2"}', sending)]
    at = max(w[0] for w in windows)  # a window holding both targets' samples around the sending
    span_ms = round(max(at - (w[0] - w[1] / 1000) for w in windows) * 1000)
    found = [e for e in expressions(BOARD) if "goflow2_" in e.expr]
    assert len(found) == 4, [e.where for e in found]
    for e in found:
        text = substitute(e.expr, {"__rate_interval": range_window(span_ms)})
        assert prom.query(text, time=at), f"{e.where} returned nothing"
