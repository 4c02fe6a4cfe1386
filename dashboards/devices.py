"""Your devices in PromQL: which are new, and how much each uses the internet. One expression each,
for both the Network Flows panels and the alerts (NetvizFlowNewDevice, NetvizFlowInternetVolume).

A device is an address of your subnets (a `netviz_host_bytes_total` series). It is new when it
has series within `window` (now back), had none in the `lookback` before that, and is not named in
network.toml (`netviz_host_info{source="config"}`: [[hosts]] and the Kubernetes nodes). Presence
is what counts, not values, so the things that restart never make an old device look new:
- an exporter restart drops every series and brings back the same ones (their counters reset):
  they were there in the look-back;
- a Prometheus restart leaves a gap in every series, and the look-back still holds their samples
  from before it;
- Prometheus without its history (a new install, storage lost, netviz's rules just added) cannot
  tell old from new: the expression says nothing until the hosts' rollup snapshots
  (dashboards/rollups.py, which the look-back reads) reach back over the whole look-back
  (`and on () ...offset lookback`), rather than call every device new.

Internet usage is `netviz_host_internet_bytes_total` (the exporter's `internet_usage` family: each
local host's bytes with external addresses, sent and received).

Every row carries the device's name (`names.with_name`: DNS or network.toml, else its address).
"""

from __future__ import annotations

from . import rollups
from .config import selector
from .names import HOST_INFO, with_name

HOSTS = "netviz_host_bytes_total"
INTERNET = "netviz_host_internet_bytes_total"
CONFIGURED = 'source="config"'


def new_devices(sel: str, window: str, lookback: str, recent: str = "") -> str:
    """(host, subnet, name) of each device first seen within `window` and not in the `lookback` before it.

    Seen within `window` is read from the raw series; for a long window (a dashboard's range) give
    `recent` (the rollup interval): the window is then read from the hosts' hourly snapshots, and
    only `recent` from the raw series."""
    raw = f"{HOSTS}{selector(sel)}"
    # The look-back reads the hosts' rollup snapshots, one sample per host and rollup interval (a
    # week of raw samples would be read at every evaluation).
    snapshots = f"{rollups.last_name(HOSTS)}{selector(sel)}"
    if recent:
        seen_now = f"group by (host, subnet) (present_over_time({snapshots}[{window}]) or present_over_time({raw}[{recent}]))"
    else:
        seen_now = f"group by (host, subnet) (present_over_time({raw}[{window}]))"
    seen_before = f"group by (host) (present_over_time({snapshots}[{lookback}] offset {window}))"
    configured = f"group by (host) ({HOST_INFO}{selector(sel, CONFIGURED)})"
    history = f"group (present_over_time({snapshots}[{rollups.SNAPSHOT_LOOKBACK}] offset {lookback}))"
    new = f"(({seen_now} unless on (host) {seen_before}) unless on (host) {configured}) and on () {history}"
    # Over a dashboard's range, the name join's right side lists every host seen in the window, so
    # the look-back (a read of `lookback` of snapshots) is not evaluated twice (names.with_name).
    return with_name(sel, new, addresses=f"group by (host) ({seen_now})" if recent else None)


def internet_total(sel: str, window: str, *matchers: str) -> str:
    """Bytes each local host exchanged with external addresses within `window`, sent plus received."""
    return f"sum by (host, subnet) (increase({INTERNET}{selector(sel, *matchers)}[{window}]))"


def internet_over_limit(sel: str, window: str, default_limit: int, limits: dict[str, int]) -> str:
    """Hosts whose internet usage within `window` is above their limit: `limits` {address: bytes}
    for those with their own (0: none), `default_limit` for the rest (0: none). A `limit` label
    says which applied (in bytes)."""
    clauses = []
    own = sorted(limits)
    if default_limit:
        others = f'host!~"{"|".join(_regex_escape(a) for a in own)}"' if own else ""
        clauses.append((internet_total(sel, window, others), default_limit))
    for address in own:
        if limits[address]:
            clauses.append((internet_total(sel, window, f'host="{address}"'), limits[address]))
    if not clauses:
        return ""
    over = " or ".join(f'label_replace({usage} > {limit}, "limit", "{limit}", "", "")' for usage, limit in clauses)
    return with_name(sel, over)


def _regex_escape(address: str) -> str:
    """An address inside a PromQL regex (a double-quoted string): dots literal."""
    return address.replace(".", "\\\\.")
