"""One line -> a record or the reason it is rejected (record.parse_line, the reference path)."""

import json

import pytest

from flow_exporter.record import MAX_LINE_BYTES, REJECT_REASONS, Record, parse_line
from tests.flow_exporter.helpers import DEFAULTS, goflow2_line


def with_fields(**changes) -> bytes:
    obj = {**DEFAULTS, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not ...}).encode()


def test_a_goflow2_line_parses_to_its_record():
    assert parse_line(goflow2_line()) == Record(**DEFAULTS)


def test_other_layouts_of_the_same_record_parse_the_same():
    # spaces, another key order, GoFlow2's default all-fields output with extra fields
    spaced = json.dumps(dict(reversed(list(DEFAULTS.items())))).encode()
    extra = json.dumps({**DEFAULTS, "type": "NETFLOW_V9", "etype": "IPv4", "out_if": 1, "as_path": []}).encode()
    assert parse_line(spaced) == Record(**DEFAULTS)
    assert parse_line(extra) == Record(**DEFAULTS)
    assert parse_line(goflow2_line() + b"\r") == Record(**DEFAULTS)


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"", "empty_line"),
        (b"   \t", "empty_line"),
        (b"x" * (MAX_LINE_BYTES + 1), "line_too_long"),
        (b" " * (MAX_LINE_BYTES + 1), "line_too_long"),
        (b"not json", "invalid_json"),
        (b'{"bytes": 1', "invalid_json"),
        (b"\xff\xfe{}", "invalid_json"),  # not UTF-8
        (b"\xef\xbb\xbf" + goflow2_line(), "invalid_json"),  # UTF-8 BOM
        (b"[" * 5000 + b"]" * 5000, "line_too_long"),
        (b"[" * 4000, "invalid_json"),  # deep nesting: RecursionError inside json, not a crash
        (b'{"bytes": ' + b"9" * 5000 + b"}", "invalid_json"),  # over Python's int digit limit
        (b"[]", "wrong_type"),
        (b'"a string"', "wrong_type"),
        (b"42", "wrong_type"),
        (b"{}", "missing_field"),
        (with_fields(in_if=...), "missing_field"),
        (with_fields(src_addr=...), "missing_field"),
        (with_fields(bytes="1000"), "wrong_type"),
        (with_fields(bytes=1000.0), "wrong_type"),
        (with_fields(bytes=True), "wrong_type"),
        (with_fields(bytes=None), "wrong_type"),
        (with_fields(src_addr=167772160), "wrong_type"),
        (with_fields(proto=6), "wrong_type"),
        (with_fields(src_port=65536), "wrong_type"),
        (with_fields(in_if=2**32), "wrong_type"),
        (with_fields(bytes=2**64), "wrong_type"),
        (with_fields(bytes=-1), "negative_value"),
        (with_fields(sampling_rate=-100), "negative_value"),
        (with_fields(dst_port=-1), "negative_value"),
        (b'{"bytes": NaN}', "missing_field"),
    ],
)
def test_bad_lines_are_rejected_with_their_reason(line, reason):
    assert reason in REJECT_REASONS
    assert parse_line(line) == reason


def test_the_largest_values_of_each_type_are_accepted():
    rec = parse_line(with_fields(bytes=2**64 - 1, src_port=65535, dst_port=0, in_if=2**32 - 1))
    assert isinstance(rec, Record)
    assert (rec.bytes, rec.src_port, rec.dst_port, rec.in_if) == (2**64 - 1, 65535, 0, 2**32 - 1)
