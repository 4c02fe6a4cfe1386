"""Two records on one line, as the real GoFlow2 v2.2.6 writes them under load, and the counter of
records that missed the fast path.

GoFlow2's file transport writes each record and its newline with two write() calls, and its two
decoding workers run at once: `{A}{B}` then, at once or after other lines, an empty line. Seen with
the real GoFlow2 (tests/e2e/test_real_collector.py drives it under load); here the byte pattern
itself, so every case is exact.
"""

import json

from flow_exporter.mapping import FIELD_NAMES
from tests.flow_exporter.helpers import DEFAULTS, aggregator, goflow2_line, metrics, value

BYTES = dict(src_subnet="kubernetes", dst_subnet="storage", proto="TCP")


def counted(agg) -> dict:
    m = metrics(agg)
    return {
        "bytes": value(m, "netviz_flow_bytes_total", **BYTES),
        "records": value(m, "netviz_flow_exporter_records_total"),
        "rejected": sum(v for (n, _), v in m.items() if n == "netviz_flow_exporter_records_rejected_total"),
        "glued": value(m, "netviz_flow_exporter_glued_lines_total"),
        "fallback": value(m, "netviz_flow_exporter_records_fallback_total"),
    }


def test_a_glued_line_counts_both_records_and_its_stray_newline_is_no_reject():
    agg = aggregator()
    agg.ingest([goflow2_line(bytes=1) + goflow2_line(bytes=10), b""])
    assert counted(agg) == {"bytes": 11, "records": 2, "rejected": 0, "glued": 1, "fallback": 0}


def test_the_stray_newline_may_come_later_even_in_another_batch():
    agg = aggregator()
    agg.ingest([goflow2_line(bytes=1) + goflow2_line(bytes=10) + goflow2_line(bytes=100), goflow2_line(bytes=1000)])
    agg.ingest([b"", goflow2_line(bytes=10000), b""])
    assert counted(agg) == {"bytes": 11111, "records": 5, "rejected": 0, "glued": 1, "fallback": 0}


def test_an_empty_line_no_glued_line_owes_is_still_rejected():
    agg = aggregator()
    agg.ingest([goflow2_line(bytes=1) + goflow2_line(bytes=10), b"", b""])
    assert counted(agg) == {"bytes": 11, "records": 3, "rejected": 1, "glued": 1, "fallback": 0}
    m = metrics(agg)
    assert value(m, "netviz_flow_exporter_records_rejected_total", reason="empty_line") == 1


def test_a_new_writer_owes_no_newline_of_the_last_one():
    agg = aggregator()
    agg.ingest([goflow2_line(bytes=1) + goflow2_line(bytes=10)])  # the writer died before its newline
    agg.note_reopen()
    agg.ingest([b""])
    assert counted(agg)["rejected"] == 1


def test_glued_junk_is_rejected_piece_by_piece_never_a_crash():
    agg = aggregator()
    agg.ingest([b"{nope}{" + goflow2_line(bytes=5)[1:], b"", b"{}{}"])
    c = counted(agg)
    assert c["bytes"] == 5 and c["glued"] == 2
    assert c["records"] == 4 and c["rejected"] == 3  # {nope}, {}, {}; the two stray newlines owed


def test_records_off_the_fast_path_are_counted_as_fallback_and_still_counted():
    agg = aggregator()
    everything = {**DEFAULTS, "type": "NETFLOW_V9", "etype": "IPv4", "out_if": 1}  # GoFlow2 without the mapping
    agg.ingest([
        goflow2_line(bytes=1),
        json.dumps(everything, separators=(",", ":")).encode(),
        json.dumps({k: DEFAULTS[k] for k in FIELD_NAMES}).encode(),  # spaces after ':' and ','
        b"not json",
    ])
    c = counted(agg)
    assert c["fallback"] == 2 and c["rejected"] == 1 and c["records"] == 4
    assert c["bytes"] == 1 + 2 * DEFAULTS["bytes"]


def test_without_the_fast_path_every_valid_record_is_a_fallback():
    agg = aggregator(fast_path=False)
    agg.ingest([goflow2_line(bytes=1), goflow2_line(bytes=2) + goflow2_line(bytes=3), b""])
    assert counted(agg) == {"bytes": 6, "records": 3, "rejected": 0, "glued": 1, "fallback": 3}
