"""Prometheus text format: exact bytes (golden), escaping, and `promtool check metrics`."""

import os
import subprocess

from flow_exporter.aggregate import Snapshot
from flow_exporter.exposition import escape_help, escape_label_value, format_value, render
from flow_exporter.record import REJECT_REASONS
from flow_exporter.series import HOST
from netviz_config.schema import SERIES_FAMILIES
from tests.flow_exporter.helpers import FakeClock, aggregator, goflow2_line, parse_exposition
from tests.support.tools import require_tool

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "small.prom")


def small_state(clock=None):
    agg = aggregator(clock=clock)
    agg.ingest([
        goflow2_line(bytes=1500, packets=2, in_if=2),  # the opt1 copy of a lan flow: duplicate
        goflow2_line(bytes=1500, packets=2, in_if=1),
        goflow2_line(src_addr="10.0.20.100", dst_addr="2606:4700::1111", proto="UDP", src_port=40000,
                     dst_port=53, bytes=80, packets=1, sampling_rate=10, in_if=1),
        b"",
        b"{oops",
    ])
    return agg


def small_exposition() -> bytes:
    return render(small_state().snapshot())


def test_small_exposition_matches_the_golden_bytes():
    # The golden file was checked by hand (values, sorting, HELP/TYPE order). If this fails after an
    # intended change, read the diff, then update golden/small.prom deliberately.
    with open(GOLDEN, "rb") as f:
        assert small_exposition() == f.read()


def test_scrapes_show_new_series_at_zero_then_the_golden_bytes():
    # What /metrics serves: until the new-series window (60 s with the config's defaults) has passed,
    # every flow series at 0 (increase() cannot see a first sample: flow_exporter/series.py), self
    # metrics as they are, the new ones counted; from then on exactly the golden bytes.
    with open(GOLDEN, "rb") as f:
        golden = f.read()
    flow_lines = [line for line in golden.splitlines(keepends=True)
                  if line.startswith(b"netviz_") and not line.startswith(b"netviz_flow_exporter_")]
    zeroed = golden.replace(b"netviz_flow_exporter_new_series 0\n",
                            b"netviz_flow_exporter_new_series %d\n" % (len(flow_lines)))
    for line in flow_lines:
        zeroed = zeroed.replace(line, line.rsplit(b" ", 1)[0] + b" 0\n")
    assert zeroed != golden
    clock = FakeClock()
    agg = small_state(clock)
    assert render(agg.scrape_snapshot()) == zeroed
    clock.advance(59.999)
    assert render(agg.scrape_snapshot()) == zeroed
    clock.advance(0.001)
    assert render(agg.scrape_snapshot()) == golden
    assert render(agg.scrape_snapshot()) == golden


def test_rendering_is_deterministic():
    assert small_exposition() == small_exposition()


def test_every_rejected_reason_exists_from_the_first_scrape():
    body = render(aggregator().snapshot())
    samples = parse_exposition(body)
    for reason in REJECT_REASONS:
        assert samples[("netviz_flow_exporter_records_rejected_total", frozenset({("reason", reason)}))] == 0
    assert samples[("netviz_flow_exporter_series", frozenset())] == 0
    assert samples[("netviz_flow_exporter_series_limit", frozenset())] == sum(f.default_budget for f in SERIES_FAMILIES)
    # every family is announced even without samples, HELP before TYPE
    lines = body.decode().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# TYPE "):
            assert lines[i - 1].startswith("# HELP " + line.split()[2] + " ")


def test_label_values_and_help_are_escaped_and_labels_sorted():
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert escape_help("a\\b\nc") == "a\\\\b\\nc"
    assert [format_value(v) for v in (3, 0.5, float("inf"), float("-inf"), float("nan"))] == ["3", "0.5", "+Inf", "-Inf", "NaN"]
    snap = Snapshot(
        series=[((HOST, 'sub"net', "10.0.0.1", "we\\ird\nname", "sent"), (7,))],
        records=1, rejected=dict.fromkeys(REJECT_REASONS, 0), duplicates=0, unmapped_interface=0,
        series_count=1, series_limit=10, evictions=0, families=[(HOST, 1, 10, 0)], new_series=0, newest_ns=0,
        input_reopens=0, fallback=0, glued_lines=0, untrusted=0,
    )
    body = render(snap).decode()
    assert ('netviz_host_bytes_total{direction="sent",host="10.0.0.1",name="we\\\\ird\\nname",'
            'subnet="sub\\"net"} 7\n') in body


def promtool_check(body: bytes) -> subprocess.CompletedProcess:
    promtool = require_tool("promtool")
    return subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)


def test_promtool_accepts_the_exposition():
    first_scrape = render(small_state().scrape_snapshot())
    for body in (render(aggregator().snapshot()), small_exposition(), first_scrape):
        result = promtool_check(body)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout + result.stderr == b""  # no lint warnings either


def test_promtool_would_catch_a_broken_exposition():
    # Proves the check above can fail: a counter without _total is a lint error.
    result = promtool_check(b"# HELP x_bytes b\n# TYPE x_bytes counter\nx_bytes 1\n")
    assert result.returncode != 0
