""""K8s Pod Topology": who talks to whom inside the cluster, from Caretta's eBPF agents.

Caretta's one metric, `caretta_links_observed`, is a gauge of the bytes a TCP socket has *sent*
since its agent started, one series per (client workload, server workload, server port, role)
and agent. Role 1 is the client's socket (bytes client -> server), role 2 the server's socket
(bytes server -> client) (pkg/caretta/links_tracer.go: `currentLinks[link] += throughput.BytesSent`
keyed by role). So:
  * bytes over a range are `increase(...[$__range])`: increase() treats a drop as an agent restart
    and adds the value after it, where a plain difference would go negative;
  * the two roles are the two directions of one link, never the same bytes twice: a link's total
    is the sum over roles; a link with one end outside the cluster has only the observed side;
  * every agent exports only what its node saw, so several agents may report the same link
    (replicas on several nodes): sums run over all of them (`instance` is aggregated away).
"""

from __future__ import annotations

from alerts.names import CARETTA_ALERTS_PREFIX

from . import style
from .config import DashboardConfig, copy_labels, edge_width_text, keep_marked, selector, with_edge_width

METRIC = "caretta_links_observed"
TITLE = "K8s Pod Topology"
FILENAME = "netviz-pod-topology.json"

# Which end of a link a variable filters on: a link is shown when either end matches them all.
_ENDS = ("client", "server")


PORT_FILTER = 'server_port=~"$port"'  # the server's port, whichever end is selected


def _end_filter(end: str) -> str:
    return f'{end}_namespace=~"$namespace", {end}_kind=~"$kind", {end}_name=~"$workload", {PORT_FILTER}'


def _links(cfg: DashboardConfig, function: str, end: str) -> str:
    """`function` (increase/rate) over the range of the links whose `end` matches the variables."""
    return f"{function}({METRIC}{selector(cfg.caretta_selector, _end_filter(end))}[$__range])"


MARK = "netviz_end_selected"  # temporary labels: summed away by every caller


def links_bytes(cfg: DashboardConfig) -> str:
    """Bytes per link series over the range, for links with an end that matches every variable:
    each series is read once, and each end whose namespace, kind and name (joined into one label,
    Kubernetes names hold no `;`) match marks it (a selector per end would read every series twice
    when both match, as with All)."""
    marked = f"increase({METRIC}{selector(cfg.caretta_selector, PORT_FILTER)}[$__range])"
    for end in _ENDS:
        joined = f'label_join({marked}, "{MARK}_{end}", ";", "{end}_namespace", "{end}_kind", "{end}_name")'
        marked = f'label_replace({joined}, "{MARK}", "1", "{MARK}_{end}", "($namespace);($kind);($workload)")'
    return keep_marked(marked, MARK)


def nodes_query(cfg: DashboardConfig) -> str:
    """One row per workload at either end of a shown link: id, title, subtitle, secondarystat,
    detail__kind; its value (the first numeric column, the node's main stat) is the bytes it
    sent and received on the shown links over the range."""
    links = links_bytes(cfg)
    per_end = [
        copy_labels(
            links,
            [
                ("id", f"{end}_id"),
                ("title", f"{end}_name"),
                ("subtitle", f"{end}_namespace"),
                ("secondarystat", f"{end}_kind"),
                ("detail__kind", f"{end}_kind"),
            ],
        )
        for end in _ENDS
    ]
    return f"sum by (id, title, subtitle, secondarystat, detail__kind) ({per_end[0]} or {per_end[1]}) > 0"


def edges_bytes(cfg: DashboardConfig) -> str:
    """Bytes per (client workload -> server workload) over the range, both directions summed."""
    labelled = copy_labels(links_bytes(cfg), [("source", "client_id"), ("target", "server_id")])
    labelled = f'label_join({labelled}, "id", "->", "client_id", "server_id")'
    return f"(sum by (id, source, target) ({labelled}) > 0)"


def edges_query(cfg: DashboardConfig) -> str:
    """One row per edge: id, source, target, thickness (1-4 by bytes); value = bytes over range."""
    return with_edge_width(cfg, edges_bytes(cfg))


def workloads_throughput(cfg: DashboardConfig) -> str:
    """Average bits/s each selected workload sent plus received over the range, top N."""
    per_end = [
        copy_labels(
            _links(cfg, "rate", end),
            [("workload", f"{end}_name"), ("namespace", f"{end}_namespace"), ("kind", f"{end}_kind")],
        )
        for end in _ENDS
    ]
    return f"topk({cfg.top_n}, sum by (namespace, workload, kind) ({per_end[0]} or {per_end[1]}) * 8)"


def top_connections(cfg: DashboardConfig) -> str:
    """Bytes per (client, server, port) over the range, both directions, top N."""
    return (
        f"topk({cfg.top_n}, sum by (client_namespace, client_name, client_kind, server_namespace, server_name, "
        f"server_kind, server_port) ({links_bytes(cfg)}))"
    )


def agents_reporting(cfg: DashboardConfig) -> str:
    return f"sum(up{selector(cfg.caretta_selector)})"


def _either_end(cfg: DashboardConfig, dst: str, field: str, extra: dict[str, str]) -> str:
    """A variable's values: label `field` of either end of a link, as label `dst`."""
    parts = []
    for end in _ENDS:
        matchers = ", ".join(f'{end}_{k}=~"{v}"' for k, v in extra.items())
        series = f"{METRIC}{selector(cfg.caretta_selector, matchers)}"
        parts.append(f'label_replace({series}, "{dst}", "$1", "{end}_{field}", "(.*)")')
    return f"query_result(count by ({dst}) ({parts[0]} or {parts[1]}))"


def variables(cfg: DashboardConfig) -> list:
    return [
        style.datasource_variable(),
        style.query_variable(
            "namespace",
            "Namespace",
            _either_end(cfg, "namespace", "namespace", {}),
            regex='/namespace="([^"]*)"/',
            description="Show links with an end in these namespaces.",
        ),
        style.query_variable(
            "kind",
            "Kind",
            _either_end(cfg, "kind", "kind", {"namespace": "$namespace"}),
            regex='/kind="([^"]*)"/',
            description="Show links with an end of these kinds (Deployment, StatefulSet, DaemonSet, node, external...).",
        ),
        style.query_variable(
            "workload",
            "Workload",
            _either_end(cfg, "workload", "name", {"namespace": "$namespace", "kind": "$kind"}),
            regex='/workload="([^"]*)"/',
            description="Show links with an end in these workloads.",
        ),
        style.query_variable(
            "port",
            "Server port",
            f"label_values({METRIC}{selector(cfg.caretta_selector)}, server_port)",
            description="Show links to these server ports.",
        ),
    ]


def build(cfg: DashboardConfig):
    board = style.new_dashboard(
        TITLE,
        cfg.pod_topology_uid,
        "Which Kubernetes workloads talk to which, and how much, from Caretta's eBPF agents.",
        cfg,
    ).variables(variables(cfg))
    layout = style.Layout(board)
    layout.panel(
        style.nodegraph(
            "Service map",
            "Workloads (title: name, subtitle: namespace, below the main stat: kind) joined by the TCP "
            "links Caretta saw. A node's main stat and an edge's main stat are the bytes sent and "
            "received over the selected time range, both directions summed; edges are thicker above "
            f"{edge_width_text(cfg)}. Click a node for its kind and links. The graph shows every "
            "link with an end matching the variables, so the neighbours of a chosen workload show too.",
            nodes_query(cfg),
            edges_query(cfg),
            node_unit=style.BYTES,
            edge_unit=style.BYTES,
        )
    )
    layout.panel(
        style.bargauge(
            "Top workloads by throughput",
            "The workloads that sent plus received the most, as the average rate over the selected time "
            "range (bytes x 8 / range). A workload counts every shown link it is an end of.",
            style.BITS_PER_SECOND,
            [style.instant_query(workloads_throughput(cfg), "{{workload}} ({{namespace}}, {{kind}})")],
        )
    )
    layout.panel(
        style.table(
            "Top connections",
            "The busiest client -> server links over the selected time range: bytes in both directions, "
            "summed over every agent that saw them and over agent restarts.",
            style.BYTES,
            [style.table_query(top_connections(cfg))],
            sort_by="Value",
        )
    )
    layout.row("Caretta health")
    layout.panel(
        style.stat(
            "Caretta agents scraped",
            "How many Caretta agents (one per node) Prometheus scrapes successfully now. A node whose "
            "agent is missing contributes no links, so its traffic is absent from the map.",
            style.COUNT,
            [style.instant_query(agents_reporting(cfg), "agents")],
            width=8,
            height=6,
        )
    )
    layout.panel(
        style.alert_list(
            "Caretta alerts",
            "netviz's alerts on the Caretta agents that are firing or pending (README \"Alerts\"): fewer "
            "agents scraped than network.toml has nodes. Empty means none.",
            CARETTA_ALERTS_PREFIX,
            width=16,
        )
    )
    return board
