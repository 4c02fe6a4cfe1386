"""One line of GoFlow2 JSON -> a `Record`, or the reason it was rejected.

Two paths that must agree:

* the fast path, `FAST_LINE`, matches the exact bytes GoFlow2 prints with our mapping
  (`mapping.FIELDS`, in that order, `"key":value` joined by `,`, no spaces:
  producer/proto/messages.go). It is one anchored regular expression, about four times faster than
  `json.loads`, inlined in the aggregator's loop, and it only ever says "this line is a valid
  record" or "not sure": a line it does not match goes to `parse_line`. The property tests in
  tests/flow_exporter feed the same lines to an aggregator with and without the fast path and
  require identical metrics.
* `parse_line` / `parse_strict` is the reference: `json.loads`, then the checks below; any other
  layout (whitespace, other key orders, extra fields, GoFlow2's default all-fields output) is fine.

Address validity is not checked here but where addresses are classified (`settings.Classifier`),
once per distinct address string, for both parsers alike.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple, Union

from .mapping import FIELD_NAMES

# Every reason a line can be rejected, in the order they are checked. All are exported from the
# first scrape (as 0), so a dashboard or alert never has to guess whether a series exists.
REJECT_REASONS: tuple[str, ...] = (
    "line_too_long",
    "empty_line",
    "invalid_json",
    "missing_field",
    "wrong_type",
    "negative_value",
    "invalid_address",
)

# Longer lines are rejected (and never buffered whole: see reader.LineSplitter). A GoFlow2 record with
# every field printed is under 1.5 KiB; with our mapping about 200 bytes.
MAX_LINE_BYTES = 8192

U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1
U16_MAX = 2**16 - 1


class Record(NamedTuple):
    """A flow record as read, before sampling is applied. Field order = `mapping.FIELDS`."""

    time_received_ns: int
    sampling_rate: int
    bytes: int
    packets: int
    src_addr: str
    dst_addr: str
    proto: str
    src_port: int
    dst_port: int
    in_if: int
    sampler_address: str


# The type of each field and the largest value that type holds (GoFlow2's protobuf types).
_SCHEMA: tuple[tuple[str, type, int], ...] = (
    ("time_received_ns", int, U64_MAX),
    ("sampling_rate", int, U64_MAX),
    ("bytes", int, U64_MAX),
    ("packets", int, U64_MAX),
    ("src_addr", str, 0),
    ("dst_addr", str, 0),
    ("proto", str, 0),
    ("src_port", int, U16_MAX),
    ("dst_port", int, U16_MAX),
    ("in_if", int, U32_MAX),
    ("sampler_address", str, 0),
)
assert tuple(name for name, _, _ in _SCHEMA) == FIELD_NAMES == Record._fields

# The fast path (used in aggregate.Aggregator.ingest): the exact bytes GoFlow2 prints for our mapping.
# It matches bytes, not text, to save decoding every line, and it accepts a strict subset of what
# parse_strict accepts:
# - integers without leading zeros; at most 19 digits, always below 2**64, at most 9 for in_if,
#   always below 2**32, and ports spelled 0..65535 by the pattern itself, so no range checks remain;
# - addresses of the characters of IPv4/IPv6 text forms only: no backslash, so no JSON escape can
#   hide in them (whether it is really an address is decided later, for both paths alike);
# - a protocol name of letters and digits.
_U64 = rb"(0|[1-9][0-9]{0,18})"
_U32 = rb"(0|[1-9][0-9]{0,8})"
_PORT = rb"(0|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_ADDR = rb'"([0-9A-Fa-f.:]{2,45})"'
_PROTO = rb'"([A-Za-z0-9]{0,16})"'
_PATTERNS = {
    "time_received_ns": _U64,
    "sampling_rate": _U64,
    "bytes": _U64,
    "packets": _U64,
    "src_addr": _ADDR,
    "dst_addr": _ADDR,
    "proto": _PROTO,
    "src_port": _PORT,
    "dst_port": _PORT,
    "in_if": _U32,
    "sampler_address": _ADDR,
}
FAST_LINE = re.compile(b"{" + b",".join(b'"' + name.encode() + b'":' + _PATTERNS[name] for name in FIELD_NAMES) + b"}")
# The longest line FAST_LINE can match is far below MAX_LINE_BYTES, so it never skips that check.
FAST_LINE_MAX_BYTES = 2 + sum(len(name) + 3 for name in FIELD_NAMES) + 9 + 4 * 19 + 3 * 47 + 18 + 2 * 5 + 9


def parse_strict(text: str) -> Union[Record, str]:
    """The record on `text`, or the reason (one of REJECT_REASONS) it is not one."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and integers over Python's 4300-digit limit;
        # RecursionError a line of 8000 `[`.
        return "invalid_json"
    if not isinstance(obj, dict):
        return "wrong_type"
    for name in FIELD_NAMES:
        if name not in obj:
            return "missing_field"
    values = [obj[name] for name in FIELD_NAMES]
    # `type(v) is int` on purpose: JSON true/false load as bool, a subclass of int, and 1.0 as float.
    for value, (_, kind, _) in zip(values, _SCHEMA):
        if type(value) is not kind:
            return "wrong_type"
    for value, (_, kind, _) in zip(values, _SCHEMA):
        if kind is int and value < 0:
            return "negative_value"
    for value, (_, kind, largest) in zip(values, _SCHEMA):
        if kind is int and value > largest:
            return "wrong_type"  # does not fit GoFlow2's field type (a port above 65535...)
    return Record(*values)


def parse_line(line: bytes) -> Union[Record, str]:
    """One input line (without its newline) -> Record, or reject reason (the reference path).

    The order of checks is the order of REJECT_REASONS (the address check comes later)."""
    if len(line) > MAX_LINE_BYTES:
        return "line_too_long"
    if not line.strip():
        return "empty_line"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_json"
    return parse_strict(text)


assert FAST_LINE_MAX_BYTES < MAX_LINE_BYTES
