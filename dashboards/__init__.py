"""netviz's Grafana dashboards, as code (grafana-foundation-sdk).

    from dashboards import render_all, DashboardConfig
    files = render_all()          # {"netviz-pod-topology.json": "<json text>", ...}
    files = render_all(DashboardConfig(caretta_selector='job="caretta-agents"'))

`render_pod_topology()` / `render_network_flows()` return one dashboard as a dict. The output is
deterministic (sorted keys, fixed panel ids), so the same config always gives the same bytes.
`python -m dashboards` writes `render_all()` into dashboards/rendered/ (committed).
"""

from __future__ import annotations

from typing import Optional

from . import network_flows, pod_topology, style
from .config import DashboardConfig

__all__ = [
    "DashboardConfig",
    "render_all",
    "render_pod_topology",
    "render_network_flows",
    "POD_TOPOLOGY_FILE",
    "NETWORK_FLOWS_FILE",
    "to_json",
]

POD_TOPOLOGY_FILE = pod_topology.FILENAME
NETWORK_FLOWS_FILE = network_flows.FILENAME


def render_pod_topology(config: Optional[DashboardConfig] = None) -> dict:
    """"K8s Pod Topology" as Grafana dashboard JSON data (uid `netviz-pod-topology` by default)."""
    return style.to_dict(pod_topology.build(config or DashboardConfig()))


def render_network_flows(config: Optional[DashboardConfig] = None) -> dict:
    """"Network Flows" as Grafana dashboard JSON data (uid `netviz-network-flows` by default)."""
    return style.to_dict(network_flows.build(config or DashboardConfig()))


def to_json(dashboard: dict) -> str:
    """A dashboard as the file text netviz ships: what dashboards/rendered/ holds, byte for byte."""
    return style.to_json(dashboard)


def render_all(config: Optional[DashboardConfig] = None) -> dict[str, str]:
    """Every dashboard as {file name: JSON text}: what a ConfigMap's `data` or a folder holds."""
    return {
        POD_TOPOLOGY_FILE: to_json(render_pod_topology(config)),
        NETWORK_FLOWS_FILE: to_json(render_network_flows(config)),
    }
