"""Every PromQL expression of a rendered dashboard, and Grafana's variables substituted in it.

Grafana interpolates before Prometheus sees a query: `$__range` becomes a duration such as
`3600s`, `$__rate_interval` likewise, and a multi-value regex variable becomes its value (`.*`
for All, `(a|b)` for two values). `substitute` does the same with values the test chooses, then
`leftover_variables` proves nothing was missed (label_replace's `$1` is not a variable).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Optional

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)*\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class Expr:
    where: str  # "panel 'Top talkers' refId A" or "variable namespace"
    expr: str  # PromQL with Grafana variables still in it
    panel: Optional[dict] = None
    target: Optional[dict] = None
    variable: Optional[dict] = None


def panels(board: dict) -> Iterator[dict]:
    """Every panel, including those nested in collapsed rows."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", []) or []


def panel_by_title(board: dict, title: str) -> dict:
    found = [p for p in panels(board) if p.get("title") == title]
    assert len(found) == 1, f"expected one panel titled {title!r}, found {len(found)}"
    return found[0]


def target(board: dict, title: str, ref_id: str = "A") -> dict:
    found = [t for t in panel_by_title(board, title).get("targets", []) if t.get("refId") == ref_id]
    assert len(found) == 1, f"panel {title!r} has no single target {ref_id!r}"
    return found[0]


def variable_promql(query: str) -> str:
    """The PromQL inside a Grafana Prometheus variable query."""
    m = re.fullmatch(r"\s*query_result\((.*)\)\s*", query, re.S)
    if m:
        return m.group(1)
    m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", query, re.S)
    if m:
        return m.group(1)
    raise AssertionError(f"unexpected variable query form: {query!r}")


def expressions(board: dict) -> list[Expr]:
    out = []
    for panel in panels(board):
        for t in panel.get("targets", []) or []:
            out.append(Expr(f"panel {panel.get('title')!r} refId {t.get('refId')}", t["expr"], panel=panel, target=t))
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"] if isinstance(variable["query"], str) else variable["query"]["query"]
            out.append(Expr(f"variable {variable['name']}", variable_promql(query), variable=variable))
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace `$name` / `${name}` for every name in `values`; others are left (and caught)."""

    def replace(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        return values[name] if name in values else m.group(0)

    return _VARIABLE.sub(replace, expr)


def leftover_variables(expr: str) -> list[str]:
    return [m.group(0) for m in _VARIABLE.finditer(expr)]


def regex_value(*values: str) -> str:
    """What Grafana puts for a multi-value regex variable: `.*` for All (our allValue), else (a|b)."""
    if not values:
        return ".*"
    if len(values) == 1:
        return re.escape(values[0])
    return "(" + "|".join(re.escape(v) for v in values) + ")"


# Values that make every expression a complete PromQL query, for promtool.
PROMTOOL_VALUES = {
    "__range": "3600s",
    "__rate_interval": "2m",
    "__interval": "30s",
    "__from": "1764000000",  # ${__from:date:seconds}: the range's start, Unix seconds (dashboards/rollups.py)
    "namespace": ".*",
    "kind": ".*",
    "workload": ".*",
    "port": ".*",
    "subnet": ".*",  # Network Flows: the map's and Top conversations' filters
    "proto": ".*",
}


# ---- Prometheus 3's ranges ----------------------------------------------------------------------
# Prometheus 3 selects the samples of a range `[d]` evaluated at t from (t - d, t]: a sample at
# exactly t - d is left out (Prometheus 2 selected [t - d, t], both ends; 3.0's release notes:
# "range selectors are now left-open"). So the tests' old window, `$__range` = exactly the span
# from the first to the last sample, now misses the first sample: increase() loses the first step
# and rate() over one scrape interval has one sample, hence no result
# (tests/dashboards/test_prometheus3_ranges.py shows both on the real server).
# The tests use a range RANGE_SLACK_MS longer than that span instead, which selects every sample,
# and compute what increase() and rate() then return exactly (promql/functions.go
# extrapolatedRate, v3.14.0): the first sample lies RANGE_SLACK_MS after the range start, well
# within 1.1 x the average spacing, so the increase is extrapolated over those milliseconds too,
# except that a counter is never extrapolated below zero: one that starts at 0 gets no start
# extrapolation at all. The last sample is at the evaluation time: nothing to extrapolate there.
RANGE_SLACK_MS = 1


def window(span_ms: int) -> str:
    """The range to put in `$__range` / `$__rate_interval` for samples `span_ms` apart."""
    return f"{span_ms + RANGE_SLACK_MS}ms"


def range_start(at: float, span_ms: int) -> str:
    """`${__from:date:seconds}` of that window ending at `at`: its start, in Unix seconds."""
    return f"{at - (span_ms + RANGE_SLACK_MS) / 1000:.3f}"


def increase_over(delta: float, first: float, span_ms: int) -> float:
    """increase() over `window(span_ms)` at the last sample, for a counter that grew by `delta`
    (resets included) from its first sample `first`, `span_ms` before the last."""
    to_start = RANGE_SLACK_MS
    if delta > 0 and first >= 0:
        to_start = min(to_start, span_ms * first / delta)  # never extrapolated below zero
    return delta * (span_ms + to_start) / span_ms


def rate_over(delta: float, first: float, span_ms: int) -> float:
    """rate() over `window(span_ms)`: increase_over() per second of the range."""
    return increase_over(delta, first, span_ms) / ((span_ms + RANGE_SLACK_MS) / 1000)
