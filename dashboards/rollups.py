"""Hourly rollups: what the dashboards read over long ranges, pre-aggregated by recording rules.

`increase(counter[$__range])` reads every raw sample of the range: a week of the conversation and
peer families is 260 million samples (issue 21: 61 s of Prometheus time for Network Flows). So for
each flow metric a panel sums over its range, one rule group (`netviz-rollups`, every
`monitoring.prometheus.rollup_interval`, 1h) records two series per key (the metric's own labels,
plus the labels the scrape-job selector names, so the dashboards' selectors still match them):

- `netviz:<metric>:rollup_increase` (the tiles): what each key grew by since the previous
  evaluation, the difference of the newest values an interval apart, per raw series (a reset is a
  series' own); `increase()` within the interval where that is no growth (a reset) or there is no
  value an interval before (a series born, or a scrape gap longer than the interval, which would
  otherwise count the whole counter). Consecutive tiles add up to the difference of the values
  at their ends exactly: no `increase()` extrapolation;
- `netviz:<metric>:rollup_last` (the snapshots): each key's newest value within the interval, to
  join the tiles to the raw series at both ends of a range (and to tell which hosts were seen,
  dashboards/devices.py);

and one heartbeat, `netviz:rollups:evaluated` (1 at each evaluation).

`over_range` is bytes per key over the dashboard's range, (from, to], built from three parts:

    tiles   the tiles evaluated within the range: they cover (t0, tN], t0 the evaluation before
            `from` and tN the newest, one sample per key and interval;
    recent  raw now minus the snapshot at tN: (tN, to];
    head    raw at `from` minus the snapshot at t0: (t0, from], taken off again.

The parts are added up as one vector (each told apart by a `part` label), so a key missing from
a part adds nothing: a series born after `from` has no head, one that ended before now no recent
part. A counter reset within `recent` or `head` (at most an interval each) counts what that
series added since the reset there. Unless the rollups cover the range (a heartbeat within a few
intervals before `from` and before now: not so on a new install, with rules added to a running
Prometheus, or with rules that stopped), the tiles and the snapshots are left out, and the parts
are the raw ends alone: raw now minus raw at `from` (or raw now, after a reset or for a series born
in the range: it starts at 0, flow_exporter/series.py); a key whose series ended within the range
then has no value now, so it shows once the rollups cover it.

Cost: the tiles read one sample per key and interval, the rest one per key, so a week costs a
fraction of a week of raw samples. What stays is a per-series cost in each TSDB block between the
query's earliest and latest time, paid by every selector of the query, instant ones too (the engine
opens one querier over that whole span, promql/engine.go populateSeries): an over_range has seven
reads of its family, so each copy of it in a query counts. PromQL evaluates both sides of every
`or` (rangeEval) and shares no subexpression, so no part may read the raw range, the fallback for
a new install is an `and` on the one-series heartbeat, not an `or` with a second copy of the
expression, and the names join on `addresses` rather than on a second copy.

`from` is Grafana's `${__from:date:seconds}` (an instant query runs at `to`).
"""

from __future__ import annotations

from flow_exporter.exposition import FLOW_METRICS

from alerts.names import ROLLUP_GROUP

from netviz_config import checks

from .config import _split_matchers, selector

FROM = "${__from:date:seconds}"
# How far back the "New devices" history looks for a snapshot (dashboards/devices.py).
SNAPSHOT_LOOKBACK = "1d"
# How many rollup intervals back from `from` and from now over_range looks for the newest snapshot
# and heartbeat: one evaluation Prometheus missed (a restart) is tolerated. No more: Prometheus
# reads each series of every selector in a query once per TSDB block between the query's earliest
# and latest time, so a look-back of a day made a 1-hour range cost what a day does.
LOOKBACK_INTERVALS = 3

# The flow metrics a panel sums over its range, and each one's labels (the exporter's own list).
ROLLED_UP = ("netviz_flow_bytes_total", "netviz_host_bytes_total", "netviz_host_internet_bytes_total",
             "netviz_external_bytes_total", "netviz_service_bytes_total", "netviz_conversation_bytes_total",
             "netviz_policy_violation_bytes_total")
LABELS = {name: labels for _families, _index, name, labels, _help in FLOW_METRICS if name in ROLLED_UP}
assert set(LABELS) == set(ROLLED_UP), "a rolled-up metric the exporter does not export"


HEARTBEAT = "netviz:rollups:evaluated"
"""1 at each evaluation of the group: tells the dashboards whether the rollups reach back to a
range's start. No labels: it says the same whichever scrape job a panel selects."""


def _base(metric: str) -> str:
    return metric.removeprefix("netviz_").removesuffix("_total")


def increase_name(metric: str) -> str:
    """The tiles: `increase()` over each rollup interval."""
    return f"netviz:{_base(metric)}:rollup_increase"


def last_name(metric: str) -> str:
    """The snapshots: the raw sum at each evaluation."""
    return f"netviz:{_base(metric)}:rollup_last"


def _keys(sel: str, metric: str) -> str:
    """The labels a rollup keeps: the metric's own, and those the selector matches on."""
    selected = [m.split("=")[0].rstrip("!~").strip() for m in _split_matchers(sel)]
    return ", ".join(dict.fromkeys([*selected, *LABELS[metric]]))


def rules(sel: str, interval: str) -> list[dict]:
    """The recording rules of the rollup group, for the flow exporter's selector `sel`, evaluated
    every `interval` (monitoring.prometheus.rollup_interval)."""
    out = [{"record": HEARTBEAT, "expr": "vector(1)"}]
    for metric in ROLLED_UP:
        raw, keys = f"{metric}{selector(sel)}", _keys(sel, metric)
        value = f"last_over_time({raw}[{interval}])"
        before = f"last_over_time({raw}[{interval}] offset {interval})"
        # The difference of the two newest values, per raw series (a reset is a series' own), then
        # summed per key: consecutive tiles add up to the snapshots' difference exactly. Where that
        # is not a growth (a reset) or there is no value an interval before (a series born, or a
        # scrape gap longer than the interval, which would count the whole counter), increase()
        # within the interval instead.
        grown = f"(({value} - {before}) >= 0) or increase({raw}[{interval}])"
        out.append({"record": increase_name(metric), "expr": f"sum by ({keys}) ({grown})"})
        out.append({"record": last_name(metric), "expr": f"sum by ({keys}) ({value})"})
    return out


def group(sel: str, interval: str = "1h") -> dict:
    return {"name": ROLLUP_GROUP, "interval": interval, "rules": rules(sel, interval)}


def lookback(interval: str) -> str:
    """How far back the newest snapshot and heartbeat are looked for, rollups every `interval`."""
    return checks.duration_text(LOOKBACK_INTERVALS * checks.seconds(interval))


def history(interval: str = "1h") -> str:
    """Non-empty when the rollups cover the whole range: the group's heartbeat has a sample within
    `lookback` before `from` (they reach back to it) and before now (they still run: rules that
    stopped leave no snapshot to take from now, which would count the whole counter). One series,
    where the keys' snapshots would be thousands, read by every copy of every panel's expression."""
    within = lookback(interval)
    return (f"(count(last_over_time({HEARTBEAT}[{within}] @ {FROM})) > 0)"
            f" and on () (count(last_over_time({HEARTBEAT}[{within}])) > 0)")


def over_range(sel: str, metric: str, *matchers: str, interval: str = "1h") -> str:
    """Bytes per key of `metric` over the dashboard's range, from the rollups made every `interval`
    (module docstring)."""
    keys, m, within = _keys(sel, metric), selector(sel, *matchers), lookback(interval)
    now = f"sum by ({keys}) ({metric}{m})"
    at_from = f"sum by ({keys}) ({metric}{m} @ {FROM})"
    # Without the rollups at both ends the tiles and the snapshots are left out, so the parts add
    # up to the raw ends alone: now minus `from` (the `and` costs one instant of the heartbeat, not
    # a second copy of the expression, as `or` would: PromQL evaluates both sides of either).
    reaches = f"({history(interval)})"
    tiles = f"(sum_over_time({increase_name(metric)}{m}[$__range]) and on () {reaches})"
    last = f"(last_over_time({last_name(metric)}{m}[{within}]) and on () {reaches})"
    last_at_from = f"(last_over_time({last_name(metric)}{m}[{within}] @ {FROM}) and on () {reaches})"
    # The parts, each once, told apart by a `part` label and added up: a key missing from a part
    # (no tiles yet, no value at `from`) simply adds nothing.
    parts = " or ".join(f'label_replace({expr}, "part", "{name}", "", "")' for name, expr in (
        ("tiles", tiles),
        ("recent", _since(now, last)),
        ("head", f"-{_since(at_from, last_at_from)}"),
    ))
    # Below 0 only for a key that ended within the range while the rollups do not cover it: it had
    # a value at `from` and none now, and shows once the rollups cover the range.
    return f"sum without (part) ({parts}) >= 0"


def addresses(sel: str, metric: str, label: str, *matchers: str) -> str:
    """One series (value 1) per value of `label` among the keys `over_range(sel, metric, *matchers)`
    can give bytes: those with a snapshot within the range (their tiles) and those live now (the
    recent part). A key only at `from` has none left after the head is taken off. The right side
    of a name join that needs no second copy of the panel's expression (names.with_name): two
    reads, where a copy is seven."""
    m = selector(sel, *matchers)
    return (f"(group by ({label}) (last_over_time({last_name(metric)}{m}[$__range]))"
            f" or group by ({label}) ({metric}{m}))")


def _since(later: str, earlier: str) -> str:
    """What a counter added from `earlier` to `later`: their difference, or, where it dropped (the
    exporter restarted) or had no earlier value (a new series, from 0), the later value."""
    return f"((({later} - {earlier}) >= 0) or {later})"
