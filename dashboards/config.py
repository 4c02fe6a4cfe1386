"""The one object that drives both dashboards: selectors, uids, defaults.

Like a monitoring mixin's `_config`: every query takes its scrape-job selector from here, so a
deployment whose jobs are named differently renders matching dashboards by passing its own
`DashboardConfig` to `render_all(config)`.
"""

from __future__ import annotations

import math

import re
from dataclasses import dataclass

from netviz_config import checks

_MATCHER = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"$')
_UID = re.compile(r"^[a-zA-Z0-9_-]{1,40}$")


@dataclass(frozen=True, kw_only=True)
class DashboardConfig:
    """Selectors and identities of netviz's dashboards.

    Selectors are PromQL label matchers without braces, e.g. `job="caretta"`, or "" for none;
    several matchers are joined by commas (`job="caretta",cluster="home"`).
    """

    caretta_selector: str = 'job="caretta"'
    """Selects Caretta's agents (every DaemonSet pod, scraped one by one). Default `job="caretta"`."""

    goflow2_selector: str = 'job="goflow2"'
    """Selects the GoFlow2 collector's own `/metrics`. Default `job="goflow2"`."""

    flow_exporter_selector: str = 'job="flow-exporter"'
    """Selects the flow exporter (flow records -> Prometheus). Default `job="flow-exporter"` (the scrape job netviz_constructs/flow_collector.py defines)."""

    pod_topology_uid: str = "netviz-pod-topology"
    """Stable uid of "K8s Pod Topology": links and bookmarks survive re-imports."""

    network_flows_uid: str = "netviz-network-flows"
    """Stable uid of "Network Flows"."""

    default_time_from: str = "now-1h"
    """Time range a dashboard opens with (`now-1h`); node-graph edges are bytes over this range."""

    refresh: str = "1m"
    """Auto-refresh interval a dashboard opens with."""

    top_n: int = 10
    """Rows in the "top" tables and bars (top talkers, connections, workloads, destinations)."""

    edge_width_from: int = 1024**2
    """Bytes over the range at which a node-graph edge steps from width 1 to 2 (1 MiB). It steps to
    3 at `edge_width_factor` times that (100 MiB) and to 4 at that factor squared times it (about
    9.8 GiB): a byte count cannot be a stroke width, so edges get one of four widths, in geometric
    steps so that PromQL computes an edge's width from its bytes' logarithm (with_edge_width)."""

    edge_width_factor: int = 100
    """The factor between an edge's width steps (100)."""

    map_local_conversations: int = 50
    """Conversations between local hosts drawn on "Network map": the busiest over the range."""

    map_external_conversations: int = 10
    """Conversations with external peers drawn on "Network map": the busiest over the range, so the
    busiest external peers are on it and a scan of thousands of addresses is not."""

    rollups: bool = True
    """Read what Network Flows sums over its range from the hourly rollups netviz's rule group
    `netviz-rollups` records (dashboards/rollups.py): a sample per key and hour, not per scrape. False:
    raw `increase()` only, for a Prometheus that does not load netviz's rules."""

    rollup_interval: str = "1h"
    """The rollups' interval (network.toml `monitoring.prometheus.rollup_interval`): what "New
    devices" reads from the raw series, the rest of its range coming from the rollups."""

    new_device_lookback: str = "7d"
    """"New devices" lists hosts first seen in the range and not in this long before it
    (network.toml `alerts.new_device_lookback`, as NetvizFlowNewDevice)."""

    tags: tuple[str, ...] = ("netviz",)
    """Tags of both dashboards (Grafana's dashboard search filters by them)."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("caretta_selector", "goflow2_selector", "flow_exporter_selector"):
            value = getattr(self, name)
            for matcher in _split_matchers(value):
                if not _MATCHER.match(matcher):
                    problems.append(
                        f'{name} must be PromQL label matchers without braces such as job="caretta", '
                        f"but {value!r} was provided"
                    )
                    break
        for name in ("pod_topology_uid", "network_flows_uid"):
            value = getattr(self, name)
            if not _UID.match(value):
                problems.append(f"{name} must be 1-40 letters, digits, '-' or '_', but {value!r} was provided")
        if not 1 <= self.top_n <= 100:
            problems.append(f"top_n must be between 1 and 100, but {self.top_n} was provided")
        for name in ("map_local_conversations", "map_external_conversations"):
            if not 1 <= getattr(self, name) <= 500:
                problems.append(f"{name} must be between 1 and 500, but {getattr(self, name)} was provided")
        if checks.duration(self.rollup_interval):
            problems.append(f"rollup_interval must be a Prometheus duration such as 1h, but {self.rollup_interval!r} was provided")
        if checks.duration(self.new_device_lookback):  # netviz_config's check: Prometheus' units
            problems.append(f"new_device_lookback must be a Prometheus duration such as 7d, but {self.new_device_lookback!r} was provided")
        if not (isinstance(self.edge_width_from, int) and self.edge_width_from >= 1):
            problems.append(f"edge_width_from must be a byte count of at least 1, but {self.edge_width_from!r} was provided")
        if not (isinstance(self.edge_width_factor, int) and self.edge_width_factor >= 2):
            problems.append(f"edge_width_factor must be a whole number of at least 2, but {self.edge_width_factor!r} was provided")
        if problems:
            raise ValueError("; ".join(problems))


def _split_matchers(selector: str) -> list[str]:
    """Split `a="x",b=~"y,z"` on the commas between matchers (not those inside quotes)."""
    parts, current, quoted, escaped = [], "", False, False
    for ch in selector:
        if escaped:
            current, escaped = current + ch, False
            continue
        if ch == "\\":
            current, escaped = current + ch, True
            continue
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(current.strip())
            current = ""
            continue
        current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def selector(*matchers: str) -> str:
    """`{a,b}` from matcher strings, skipping empty ones: `metric + selector(cfg.x, 'role="1"')`."""
    return "{" + ", ".join(m for m in matchers if m) + "}"


def with_edge_width(cfg: DashboardConfig, edges: str) -> str:
    """Node-graph edges `edges` (one series per `id`, the value its bytes) with label `thickness`,
    "1" to "4": 1 below edge_width_from bytes, one more at each edge_width_factor times that. The
    width is the bytes' logarithm in that base, clamped, so a step falls within a rounding error of
    its byte count (one copy of `edges`; a comparison per step
    would evaluate it once per width: PromQL shares no subexpression), made a label by
    count_values and joined back to the bytes (a second copy)."""
    steps = f"floor(ln(({edges}) / {cfg.edge_width_from}) / {math.log(cfg.edge_width_factor)!r})"
    width = f'count_values by (id) ("thickness", clamp({steps} + 2, 1, 4))'
    return f"({edges}) * on (id) group_left (thickness) {width}"


def edge_width_steps(cfg: DashboardConfig) -> tuple[int, int, int]:
    """The bytes at which an edge's width steps to 2, 3 and 4."""
    return tuple(cfg.edge_width_from * cfg.edge_width_factor**k for k in range(3))


def edge_width_text(cfg: DashboardConfig) -> str:
    """The steps for the panels' descriptions: "1 MiB, 100 MiB and 9.8 GiB"."""
    def iec(b: int) -> str:
        for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
            if b < 1024 or unit == "TiB":
                return f"{b:.1f}".removesuffix(".0") + f" {unit}"
            b /= 1024
    first, second, third = (iec(b) for b in edge_width_steps(cfg))
    return f"{first}, {second} and {third}"


def keep_marked(expr: str, mark: str) -> str:
    """The series of `expr` that carry label `mark` (set to "1" by a label_replace whose regex
    matched): a filter on an expression's labels that reads it once (PromQL has no other; a second
    selector would read the series again)."""
    return f'({expr} and on ({mark}) label_replace(vector(1), "{mark}", "1", "", ""))'


def copy_labels(expr: str, mapping: list[tuple[str, str]]) -> str:
    """Nest label_replace(..., dst, "$1", src, "(.*)") for each (dst, src): copy src into dst (the
    node graphs' id, title, subtitle ... columns from the metrics' own labels)."""
    for dst, src in mapping:
        expr = f'label_replace({expr}, "{dst}", "$1", "{src}", "(.*)")'
    return expr


SELECTOR_FIELDS = ("caretta_selector", "goflow2_selector", "flow_exporter_selector")
"""The scrape-job selectors a command line may override (`python -m dashboards`, `python -m alerts`)."""


def add_selector_arguments(parser) -> None:
    """`--caretta-selector` and the others on an argparse parser, defaulting to DashboardConfig's."""
    defaults = DashboardConfig()
    for name in SELECTOR_FIELDS:
        parser.add_argument(
            "--" + name.replace("_", "-"),
            default=getattr(defaults, name),
            help=f"PromQL label matchers of that scrape job (default: {getattr(defaults, name)}; '' for none)",
        )


def config_from_arguments(parser, args) -> DashboardConfig:
    """The DashboardConfig of the parsed selector arguments; a bad selector is the parser's error."""
    try:
        return DashboardConfig(**{name: getattr(args, name) for name in SELECTOR_FIELDS})
    except ValueError as e:
        parser.error(str(e))
