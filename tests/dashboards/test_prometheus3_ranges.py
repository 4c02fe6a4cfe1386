"""What changed for netviz's queries between Prometheus 2 (Debian's 2.42, which the tests used
before) and Prometheus 3 (v3.14.0, what the pinned chart deploys), shown on the real v3 server.

1. Ranges are left-open, (t - d, t]: a sample exactly at the range start is not selected. The
   dashboard tests' exact windows moved to `dashboard_exprs.window()`, and their expected values
   to `increase_over()` / `rate_over()`, checked here against the server.
2. A scrape whose Content-Type is missing is refused (Prometheus 2 read it as text): the flow
   exporter's /metrics must send one (tests/e2e checks the real exporter is scraped up).
"""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from tests.dashboards.dashboard_exprs import increase_over, rate_over, window



def _text(values: dict[str, int]) -> str:
    return "# TYPE c_total counter\n" + "".join(f'c_total{{k="{k}"}} {v}\n' for k, v in sorted(values.items()))


@pytest.fixture(scope="module")
def counters():
    """Two counters, scraped at 1 s: `zero` goes 0 -> 400 -> 1000, `busy` 500 -> 900 -> 1500."""
    from tests.support.http import MetricsServer
    from tests.support.prometheus import PrometheusServer

    phases = [{"zero": 0, "busy": 500}, {"zero": 400, "busy": 900}, {"zero": 1000, "busy": 1500}]
    target = MetricsServer(_text(phases[0])).start()
    prom = PrometheusServer({"scrape_configs": [{"job_name": "c", "static_configs": [{"targets": [target.address]}]}]})
    try:
        prom.start()
        prom.wait_for_scrape("c")
        for phase in phases[1:]:
            target.set_text(_text(phase))
            prom.wait_for_scrape("c", after=time.time())
        rows = prom.query('c_total{k="busy"}[1m]')
        stamps = [float(t) for t, _ in rows[0]["values"]]
        values = [float(v) for _, v in rows[0]["values"]]
        # the samples of the three phases: the last sample of phase 0 and the first of 1 and 2
        first = max(i for i, v in enumerate(values) if v == 500)
        yield prom, stamps[first:], {"zero": [0.0, 400.0, 1000.0], "busy": [500.0, 900.0, 1500.0]}
    finally:
        prom.stop()
        target.stop()


def _by_k(rows) -> dict[str, float]:
    return {r["metric"]["k"]: float(r["value"][1]) for r in rows}


def test_a_range_exactly_the_span_of_the_samples_leaves_the_first_out(counters):
    prom, stamps, _ = counters
    start, end = stamps[0], stamps[-1]
    span_ms = round((end - start) * 1000)
    # Prometheus 2 returned every sample of [start, end]; Prometheus 3 leaves out the one at start
    selected = prom.query(f'c_total{{k="busy"}}[{span_ms}ms]', time=end)
    assert [float(v) for _, v in selected[0]["values"]][0] != 500.0
    assert len(selected[0]["values"]) == len(stamps) - 1
    # ... and a rate over exactly one scrape interval has one sample: no result at all
    last_interval_ms = round((stamps[-1] - stamps[-2]) * 1000)
    assert prom.query(f"rate(c_total[{last_interval_ms}ms])", time=end) == []


def test_a_range_one_millisecond_longer_selects_every_sample_and_extrapolates_as_modelled(counters):
    prom, stamps, values = counters
    start, end = stamps[0], stamps[-1]
    span_ms = round((end - start) * 1000)
    selected = prom.query(f'c_total{{k="busy"}}[{window(span_ms)}]', time=end)
    assert len(selected[0]["values"]) == len(stamps)
    increase = _by_k(prom.query(f"increase(c_total[{window(span_ms)}])", time=end))
    rate = _by_k(prom.query(f"rate(c_total[{window(span_ms)}])", time=end))
    for k, (first, *_rest, last) in values.items():
        assert increase[k] == pytest.approx(increase_over(last - first, first, span_ms), rel=1e-12), k
        assert rate[k] == pytest.approx(rate_over(last - first, first, span_ms), rel=1e-12), k
    # a counter from 0 is not extrapolated (never below zero): its increase is exact
    assert increase["zero"] == pytest.approx(1000, rel=1e-12)
    # one from above 0 is, by exactly the extra millisecond; its rate is then exact
    assert increase["busy"] == pytest.approx(1000 * (span_ms + 1) / span_ms, rel=1e-12)
    assert rate["busy"] == pytest.approx(1000 / (span_ms / 1000), rel=1e-12)


class _NoContentType(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = b"# TYPE x gauge\nx 1\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_target_without_content_type_is_refused_one_with_the_exporters_is_scraped(start_prometheus):
    from flow_exporter.exposition import CONTENT_TYPE
    from tests.support.http import MetricsServer

    bare = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoContentType)
    threading.Thread(target=bare.serve_forever, daemon=True).start()
    good = MetricsServer("# TYPE x gauge\nx 1\n")
    good.CONTENT_TYPE = CONTENT_TYPE  # what the flow exporter sends
    good.start()
    try:
        prom = start_prometheus({"scrape_configs": [
            {"job_name": "bare", "static_configs": [{"targets": [f"127.0.0.1:{bare.server_address[1]}"]}]},
            {"job_name": "exporter-type", "static_configs": [{"targets": [good.address]}]},
        ]})
        [t] = prom.wait_for_targets("bare", health="down")
        assert "Content-Type" in t["lastError"], t["lastError"]
        prom.wait_for_targets("exporter-type", health="up")
    finally:
        bare.shutdown()
        bare.server_close()
        good.stop()
