""""Network Flows": what crosses the router, from pfSense's NetFlow via GoFlow2 and the flow exporter.

GoFlow2 has no per-flow metrics (FACTS): netviz's flow exporter turns GoFlow2's JSON records into
bounded counters (tests/CONTRACTS.md). Bytes over the selected range come from hourly rollups of
those counters (dashboards/rollups.py: recording rules joined to the raw series at both ends);
rates over time are `rate(...[$__rate_interval]) * 8` in bits/s. The
"Collector health" row reads GoFlow2's own metrics (netsampler/goflow2 metrics/metrics.go:
`goflow2_flow_traffic_packets_total{remote_ip,local_ip,local_port,type}`,
`goflow2_flow_decoder_error_total{router,name}`, `goflow2_flow_process_nf_errors_total{router,error}`,
`goflow2_flow_dropped_packets_total{remote_ip,local_ip,local_port}`) and the exporter's self metrics.
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard

from alerts.names import FLOW_ALERTS_PREFIX
from netviz_config.schema import SERIES_FAMILIES

from . import rollups, style
from .config import DashboardConfig, copy_labels, edge_width_text, keep_marked, selector, with_edge_width
from .devices import HOSTS as HOST_BYTES
from .devices import INTERNET, new_devices
from .names import HOST_INFO, left_join, with_name

TITLE = "Network Flows"
FILENAME = "netviz-network-flows.json"

FLOW_BYTES = "netviz_flow_bytes_total"
EXTERNAL_BYTES = "netviz_external_bytes_total"
SERVICE_BYTES = "netviz_service_bytes_total"
CONVERSATION_BYTES = "netviz_conversation_bytes_total"
KUBERNETES_NODE_INFO = "netviz_kubernetes_node_info"
EXTERNAL = "external"  # the subnet label of an address in no configured subnet (CONTRACTS)


def _over_range(cfg: DashboardConfig, metric: str, *matchers: str) -> str:
    """Bytes per series of `metric` over the range: from the hourly rollups for the flow metrics
    (dashboards/rollups.py), raw `increase()` for the exporter's own counters."""
    if cfg.rollups and metric in rollups.ROLLED_UP:
        return rollups.over_range(cfg.flow_exporter_selector, metric, *matchers, interval=cfg.rollup_interval)
    return f"increase({metric}{selector(cfg.flow_exporter_selector, *matchers)}[$__range])"


def _bits_per_second(cfg: DashboardConfig, metric: str, *matchers: str) -> str:
    return f"rate({metric}{selector(cfg.flow_exporter_selector, *matchers)}[$__rate_interval])"


def _rate(sel: str, metric: str, *matchers: str) -> str:
    return f"rate({metric}{selector(sel, *matchers)}[$__rate_interval])"


# ---- traffic ---------------------------------------------------------------------------------


def subnet_sent(cfg: DashboardConfig) -> str:
    return f"sum by (src_subnet) ({_bits_per_second(cfg, FLOW_BYTES)}) * 8"


def subnet_received(cfg: DashboardConfig) -> str:
    return f"sum by (dst_subnet) ({_bits_per_second(cfg, FLOW_BYTES)}) * 8"


def inter_vlan(cfg: DashboardConfig) -> str:
    """Bytes per (source subnet, destination subnet) over the range; configured subnets only."""
    return (
        "sum by (src_subnet, dst_subnet) ("
        + _over_range(cfg, FLOW_BYTES, f'src_subnet!="{EXTERNAL}"', f'dst_subnet!="{EXTERNAL}"')
        + ")"
    )


def protocols(cfg: DashboardConfig) -> str:
    return f"sum by (proto) ({_over_range(cfg, FLOW_BYTES)})"


def top_talkers(cfg: DashboardConfig) -> str:
    """Local hosts by bytes sent plus received over the range, each with its name (network.toml's,
    else reverse DNS, else the address: `_with_name`)."""
    return _with_name(cfg, f"topk({cfg.top_n}, sum by (host, subnet) ({_over_range(cfg, HOST_BYTES)}))", HOST_BYTES, "host")


def external_destinations(cfg: DashboardConfig) -> str:
    """External peers by bytes exchanged (both directions) over the range, with their names."""
    return _with_name(cfg, f"topk({cfg.top_n}, sum by (peer) ({_over_range(cfg, EXTERNAL_BYTES)}))", EXTERNAL_BYTES, "peer")


def services(cfg: DashboardConfig) -> str:
    return f"topk({cfg.top_n}, sum by (service, proto, port) ({_over_range(cfg, SERVICE_BYTES)}))"


# ---- names and the network map ---------------------------------------------------------------
# Names beside addresses: dashboards/names.py.


def _with_name(cfg: DashboardConfig, expr: str, metric: str, address_label: str, name_label: str = "name",
               *matchers: str) -> str:
    """`expr`, bytes of `metric` over the range by `address_label` (one of its labels), with the
    address's name in `name_label`. From the rollups, the join's right side covers every address
    `expr` can hold (rollups.addresses), so `expr` is evaluated once, not twice (names.with_name)."""
    return with_name(cfg.flow_exporter_selector, expr, address_label, name_label, _addresses(cfg, metric, address_label, *matchers))


def _addresses(cfg: DashboardConfig, metric: str, label: str, *matchers: str) -> str | None:
    if cfg.rollups and metric in rollups.ROLLED_UP:
        return rollups.addresses(cfg.flow_exporter_selector, metric, label, *matchers)
    return None


def _conversations(cfg: DashboardConfig, local: bool) -> str:
    """Bytes per conversation series over the range, protocols `$proto`, with an end in `$subnet`:
    local = both ends in configured subnets, else exactly one end external. Each series is read
    once (disjoint selectors), and "an end in `$subnet`" is a label mark, not a second read."""
    proto = 'proto=~"$proto"'
    src_local, dst_local = f'src_subnet!="{EXTERNAL}"', f'dst_subnet!="{EXTERNAL}"'
    if local:
        ends = [(src_local, dst_local)]
    else:
        ends = [(f'src_subnet="{EXTERNAL}"', dst_local), (src_local, f'dst_subnet="{EXTERNAL}"')]
    parts = " or ".join(_over_range(cfg, CONVERSATION_BYTES, proto, *matchers) for matchers in ends)
    return _with_an_end_in("$subnet", f"({parts})")


MARK = "netviz_end_in_subnet"  # a temporary label: summed away by every caller


def _with_an_end_in(subnets: str, expr: str) -> str:
    """The series of `expr` whose src_subnet or dst_subnet matches the regex `subnets`: each
    matching end marks the series (label_replace leaves a series it does not match alone), and the
    marked ones are kept. The mark goes with the caller's `sum by`."""
    marked = expr
    for end in ("src_subnet", "dst_subnet"):
        marked = f'label_replace({marked}, "{MARK}", "1", "{end}", "{subnets}")'
    return keep_marked(marked, MARK)


def map_conversations(cfg: DashboardConfig) -> str:
    """The conversations the map draws, bytes per (src, dst) over the range (services summed): the
    busiest `map_local_conversations` between local hosts and the busiest `map_external_conversations`
    with an external peer, so the busiest external peers are on the map and a flood of them is not."""
    by = "src, dst, src_subnet, dst_subnet"
    local = f"topk({cfg.map_local_conversations}, sum by ({by}) ({_conversations(cfg, True)}) > 0)"
    external = f"topk({cfg.map_external_conversations}, sum by ({by}) ({_conversations(cfg, False)}) > 0)"
    return f"({local} or {external})"


def map_nodes(cfg: DashboardConfig) -> str:
    """One row per address at an end of a drawn conversation: id and detail__address (the address),
    title (its name, else the address), subtitle (its subnet, or external), detail__kubernetes_node
    (the node name, for Kubernetes nodes only: the row's link to K8s Pod Topology); its value (the
    node's main stat) is the bytes it sent and received in the drawn conversations over the range.
    The name and the node come in one left join (names.left_join)."""
    conversations = map_conversations(cfg)
    ends = [copy_labels(conversations, [("id", f"{end}"), ("subtitle", f"{end}_subnet")]) for end in ("src", "dst")]
    nodes = f"sum by (id, subtitle) ({ends[0]} or {ends[1]})"
    sel = selector(cfg.flow_exporter_selector)
    names = f"max by (id, title) ({copy_labels(f'{HOST_INFO}{sel}', [('id', 'host'), ('title', 'name')])})"
    k8s = copy_labels(f"max by (host, node) ({KUBERNETES_NODE_INFO}{sel})", [("id", "host"), ("detail__kubernetes_node", "node")])
    k8s = f"max by (id, detail__kubernetes_node) ({k8s})"
    # {id, title[, detail__kubernetes_node]} for each named address and each node.
    known = (f"({names} * on (id) group_left (detail__kubernetes_node) {k8s}) or on (id) {names}"
             f" or on (id) {copy_labels(k8s, [('title', 'id')])}")
    ends_seen = [_addresses(cfg, CONVERSATION_BYTES, end, 'proto=~"$proto"') for end in ("src", "dst")]
    # From the rollups: every address at an end of a conversation the range holds (names.left_join).
    seen = None if None in ends_seen else (
        "group by (id) (" + " or ".join(copy_labels(a, [("id", end)]) for a, end in zip(ends_seen, ("src", "dst"))) + ")")
    named = left_join(nodes, "id", "title, detail__kubernetes_node", f"({known})", "title", seen)
    return copy_labels(named, [("detail__address", "id")])


def map_edges(cfg: DashboardConfig) -> str:
    """One row per drawn conversation: id (src->dst), source, target, thickness (1-4 by bytes); its
    value (the edge's main stat) is the bytes src sent to dst over the range."""
    edges = copy_labels(map_conversations(cfg), [("source", "src"), ("target", "dst")])
    edges = f'sum by (id, source, target) (label_join({edges}, "id", "->", "src", "dst"))'
    return with_edge_width(cfg, edges)


def top_conversations(cfg: DashboardConfig) -> str:
    """The busiest conversations over the range, by (src, dst, proto, service), with both names."""
    by = "src, dst, proto, service"
    both = f"{_conversations(cfg, True)} or {_conversations(cfg, False)}"
    top = f"topk({cfg.top_n}, sum by ({by}) ({both}))"
    proto = 'proto=~"$proto"'
    named = _with_name(cfg, top, CONVERSATION_BYTES, "src", "src_name", proto)
    return _with_name(cfg, named, CONVERSATION_BYTES, "dst", "dst_name", proto)


# ---- policy ----------------------------------------------------------------------------------

POLICY_BYTES = "netviz_policy_violation_bytes_total"


def policy_violations(cfg: DashboardConfig) -> str:
    """Bytes of each conversation a segmentation rule forbids, over the range, with both names."""
    by = "rule, src, src_subnet, dst, dst_subnet, proto, port, service"
    broken = f"sum by ({by}) ({_over_range(cfg, POLICY_BYTES)}) > 0"
    return _with_name(cfg, _with_name(cfg, broken, POLICY_BYTES, "src", "src_name"), POLICY_BYTES, "dst", "dst_name")


# ---- devices ---------------------------------------------------------------------------------


def new_devices_in_range(cfg: DashboardConfig) -> str:
    if cfg.rollups:
        return new_devices(cfg.flow_exporter_selector, "$__range", cfg.new_device_lookback, cfg.rollup_interval)
    return new_devices(cfg.flow_exporter_selector, "$__range", cfg.new_device_lookback)


def internet_usage(cfg: DashboardConfig, direction: str = "") -> str:
    """Bytes each local host exchanged with the internet over the panel's range, with its name:
    sent, received, or (no direction) both."""
    matcher = f'direction="{direction}"' if direction else ""
    usage = f"sum by (host, subnet) ({_over_range(cfg, INTERNET, matcher)}) > 0"
    return _with_name(cfg, usage, INTERNET, "host", "name", matcher)


def _internet_usage_table(cfg: DashboardConfig, title: str, period: str, time_from: str):
    """Per device: sent, received and both, over `time_from` (a Grafana relative range such as now/M)."""
    columns = dashboard.DataTransformerConfig(
        id_val="organize",
        options={"excludeByName": {}, "indexByName": {},
                 "renameByName": {"Value #A": "sent", "Value #B": "received", "Value #C": "total"}},
    )
    return style.table(
        title,
        f"Bytes each device of your subnets exchanged with the internet (external addresses) {period}: "
        "sent, received and both, with its name (network.toml's, else reverse DNS, else the address). "
        "NetvizFlowInternetVolume alerts on a rolling window (alerts.internet_volume_window).",
        style.BYTES,
        [style.table_query(internet_usage(cfg, "sent"), "A"), style.table_query(internet_usage(cfg, "received"), "B"),
         style.table_query(internet_usage(cfg), "C")],
        transformations=[dashboard.DataTransformerConfig(id_val="merge", options={}), columns],
        sort_by="total",
        width=12,
    ).time_from(time_from)


# ---- collector health ------------------------------------------------------------------------


def netflow_packets_per_exporter(cfg: DashboardConfig) -> str:
    """UDP datagrams GoFlow2 received per exporting device (NetFlow packets per exporter)."""
    return f"sum by (remote_ip, type) ({_rate(cfg.goflow2_selector, 'goflow2_flow_traffic_packets_total')})"


def decoder_errors(cfg: DashboardConfig) -> str:
    return f"sum by (router, name) ({_rate(cfg.goflow2_selector, 'goflow2_flow_decoder_error_total')})"


def netflow_errors(cfg: DashboardConfig) -> str:
    return f"sum by (router, error) ({_rate(cfg.goflow2_selector, 'goflow2_flow_process_nf_errors_total')})"


def dropped_packets(cfg: DashboardConfig) -> str:
    return f"sum by (remote_ip) ({_rate(cfg.goflow2_selector, 'goflow2_flow_dropped_packets_total')})"


def records_read(cfg: DashboardConfig) -> str:
    return f"sum({_rate(cfg.flow_exporter_selector, 'netviz_flow_exporter_records_total')})"


def records_duplicate(cfg: DashboardConfig) -> str:
    return f"sum({_rate(cfg.flow_exporter_selector, 'netviz_flow_exporter_records_duplicate_total')})"


def records_unmapped(cfg: DashboardConfig) -> str:
    return f"sum({_rate(cfg.flow_exporter_selector, 'netviz_flow_exporter_records_unmapped_interface_total')})"


def records_untrusted(cfg: DashboardConfig) -> str:
    return f"sum({_rate(cfg.flow_exporter_selector, 'netviz_flow_exporter_records_untrusted_total')})"


def input_reopens(cfg: DashboardConfig) -> str:
    return f"sum({_over_range(cfg, 'netviz_flow_exporter_input_reopens_total')})"


def records_rejected(cfg: DashboardConfig) -> str:
    return f"sum by (reason) ({_rate(cfg.flow_exporter_selector, 'netviz_flow_exporter_records_rejected_total')})"


# Per family (netviz_config.schema SERIES_FAMILIES): each family has a
# budget of its own and evicts only its own series, so a total beside a total sum cannot say which
# budget is full. max by (family), not sum: two replicas of one exporter job would double a budget.
def exporter_series(cfg: DashboardConfig) -> str:
    return f"max by (family) (netviz_flow_exporter_family_series{selector(cfg.flow_exporter_selector)})"


def exporter_series_limit(cfg: DashboardConfig) -> str:
    return f"max by (family) (netviz_flow_exporter_family_series_limit{selector(cfg.flow_exporter_selector)})"


def exporter_evictions(cfg: DashboardConfig) -> str:
    return f"sum by (family) ({_rate(cfg.flow_exporter_selector, 'netviz_flow_exporter_family_evictions_total')})"


def newest_record_age(cfg: DashboardConfig) -> str:
    return f"time() - max(netviz_flow_exporter_last_record_timestamp_seconds{selector(cfg.flow_exporter_selector)})"


def _matrix() -> dashboard.DataTransformerConfig:
    """Rows: source subnet; columns: destination subnet; cells: bytes (0 where none flowed)."""
    return dashboard.DataTransformerConfig(
        id_val="groupingToMatrix",
        options={"rowField": "src_subnet", "columnField": "dst_subnet", "valueField": "Value", "emptyValue": "zero"},
    )


def variables(cfg: DashboardConfig) -> list:
    return [
        style.datasource_variable(),
        style.query_variable(
            "subnet",
            "Subnet",
            f"label_values({HOST_BYTES}{selector(cfg.flow_exporter_selector)}, subnet)",
            description="Network map and Top conversations: show conversations with an end in these subnets.",
        ),
        style.query_variable(
            "proto",
            "Protocol",
            f"label_values({FLOW_BYTES}{selector(cfg.flow_exporter_selector)}, proto)",
            description="Network map and Top conversations: show conversations over these protocols.",
        ),
    ]


def build(cfg: DashboardConfig):
    board = style.new_dashboard(
        TITLE,
        cfg.network_flows_uid,
        "Traffic between your subnets/VLANs and the internet, from pfSense NetFlow (softflowd -> GoFlow2 -> netviz flow exporter).",
        cfg,
    ).variables(variables(cfg))
    r = style.range_query
    layout = style.Layout(board)
    # Added above the older panels with ids of their own (style.Layout.panel), so those keep theirs.
    layout.panel(
        style.nodegraph(
            "Network map",
            "Who talks to whom over the selected time range. Nodes are hosts (title: name from network.toml, "
            "else from reverse DNS, else the address; subtitle: subnet; the address in the details) and the "
            "busiest external peers; edges are conversations, an arrow from the sender, with the bytes sent "
            f"over the range as main stat, thicker above {edge_width_text(cfg)}. Shows the "
            f"{cfg.map_local_conversations} busiest conversations between local hosts and the "
            f"{cfg.map_external_conversations} busiest with external peers, of the chosen protocols, with an "
            "end in the chosen subnets. A Kubernetes node's menu links to K8s Pod Topology for that node.",
            map_nodes(cfg),
            map_edges(cfg),
            node_unit=style.BYTES,
            edge_unit=style.BYTES,
            width=14,
            height=16,
            field_links={"detail__kubernetes_node": [{
                "title": "K8s Pod Topology of this node",
                "url": f"/d/{cfg.pod_topology_uid}/?var-kind=node&var-workload=${{__value.raw}}&${{__url_time_range}}",
            }]},
        ),
        panel_id=100,
    )
    layout.panel(
        style.table(
            "Top conversations",
            "The busiest conversations over the selected time range: who sent to whom (names as on the map, "
            "else the address), over which protocol and service (the well-known server port's name, else "
            "\"other\"), and how many bytes. The other direction of a conversation is a row of its own. "
            "Filtered like the map.",
            style.BYTES,
            [style.table_query(top_conversations(cfg))],
            sort_by="Value",
            width=10,
            height=16,
        ),
        panel_id=101,
    )
    layout.panel(
        style.timeseries(
            "Traffic sent by subnet",
            "Bits per second leaving each subnet (\"external\" = the internet and any address outside "
            "your configured subnets), as seen in NetFlow, sampling rate applied.",
            style.BITS_PER_SECOND,
            [r(subnet_sent(cfg), "{{src_subnet}}")],
            stack=True,
        )
    )
    layout.panel(
        style.timeseries(
            "Traffic received by subnet",
            "Bits per second arriving in each subnet (\"external\" = leaving for the internet).",
            style.BITS_PER_SECOND,
            [r(subnet_received(cfg), "{{dst_subnet}}")],
            stack=True,
        )
    )
    layout.panel(
        style.table(
            "Inter-VLAN traffic",
            "Bytes between your subnets over the selected time range: a row per source subnet, a column "
            "per destination subnet. Traffic to and from the internet is under \"External destinations\".",
            style.BYTES,
            [style.table_query(inter_vlan(cfg))],
            transformations=[_matrix()],
            width=12,
        )
    )
    layout.panel(
        style.piechart(
            "Protocol breakdown",
            "Share of bytes per IP protocol (TCP, UDP, ICMP...) over the selected time range, all subnets.",
            style.BYTES,
            [style.instant_query(protocols(cfg), "{{proto}}")],
            width=12,
        )
    )
    layout.panel(
        style.table(
            "Top talkers",
            "Local hosts that sent plus received the most bytes over the selected time range, each with "
            "its name beside its address: network.toml's, else reverse DNS's (netviz_host_info), else the "
            "address again.",
            style.BYTES,
            [style.table_query(top_talkers(cfg))],
            sort_by="Value",
        )
    )
    layout.panel(
        style.table(
            "External destinations",
            "Internet addresses your network exchanged the most bytes with (both directions) over the "
            "selected time range, each with its reverse DNS name beside it (else the address again).",
            style.BYTES,
            [style.table_query(external_destinations(cfg))],
            sort_by="Value",
        )
    )
    layout.panel(
        style.bargauge(
            "Top services",
            "Bytes per well-known server port (https, dns, ...; \"other\" for the rest) over the selected time range.",
            style.BYTES,
            [style.instant_query(services(cfg), "{{service}} ({{proto}}/{{port}})")],
            width=24,
        )
    )
    layout.row("Collector health")
    layout.panel(
        style.alert_list(
            "Flow alerts",
            "netviz's alerts on this pipeline that are firing or pending (README \"Alerts\"): GoFlow2 or the "
            "exporter down, NetFlow stopped, records rejected, of an unknown interface or from an untrusted "
            "sender, the series cap, "
            "decoder errors. Empty means none: the panels below say how healthy the collector is.",
            FLOW_ALERTS_PREFIX,
        )
    )
    layout.panel(
        style.timeseries(
            "NetFlow packets per exporter",
            "UDP datagrams GoFlow2 receives per exporting device (remote_ip) and protocol. Flat zero "
            "means pfSense (softflowd) sends nothing or a firewall drops it.",
            style.PACKETS_PER_SECOND,
            [r(netflow_packets_per_exporter(cfg), "{{remote_ip}} ({{type}})")],
            width=8,
        )
    )
    layout.panel(
        style.timeseries(
            "Collector errors and drops",
            "GoFlow2 decoder errors per exporter, NetFlow processing errors by kind (template_not_found "
            "right after a restart is normal until the exporter resends its templates) and datagrams "
            "dropped before decoding.",
            style.PER_SECOND,
            [
                r(decoder_errors(cfg), "decoder error {{name}} from {{router}}", "A"),
                r(netflow_errors(cfg), "NetFlow {{error}} from {{router}}", "B"),
                r(dropped_packets(cfg), "dropped from {{remote_ip}}", "C"),
            ],
            width=8,
        )
    )
    layout.panel(
        style.timeseries(
            "Exporter records",
            "Flow records the netviz flow exporter reads per second; those it does not count because "
            "the same flow was already counted on another interface; those it counts without "
            "knowing their interface (should be 0 when every monitored pfSense interface has its "
            "netflow_if_index in network.toml, else flows between two monitored subnets count twice); "
            "and those from a NetFlow sender not in goflow2.netflow_senders, never counted (should be 0: "
            "\"NetFlow packets per exporter\" shows who sends).",
            style.RECORDS_PER_SECOND,
            [
                r(records_read(cfg), "read", "A"),
                r(records_duplicate(cfg), "duplicate (not counted)", "B"),
                r(records_unmapped(cfg), "interface unknown (counted)", "C"),
                r(records_untrusted(cfg), "untrusted sender (not counted)", "D"),
            ],
            width=8,
        )
    )
    layout.panel(
        style.timeseries(
            "Rejected records by reason",
            "Records the exporter refused, per second, by reason (invalid_json, missing_field, ...). "
            "Anything above zero means GoFlow2's output is not what the exporter expects.",
            style.RECORDS_PER_SECOND,
            [r(records_rejected(cfg), "{{reason}}")],
            width=8,
        )
    )
    layout.panel(
        style.timeseries(
            "Exporter series",
            f"Flow series the exporter holds, per family ({', '.join(f.name for f in SERIES_FAMILIES)}), "
            "each against its own budget (flow_exporter.series_budgets). A family at its "
            "budget evicts its own least recently updated series, whose counters then restart; the other "
            "families keep theirs.",
            style.COUNT,
            [r(exporter_series(cfg), "{{family}}", "A"), r(exporter_series_limit(cfg), "{{family}} budget", "B")],
            width=8,
        )
    )
    layout.panel(
        style.timeseries(
            "Series evictions",
            "Series evicted per second, per family, because that family was at its budget. Sustained "
            "evictions of a family mean its budget is too low for your traffic (raise it in "
            f"flow_exporter.series_budgets); {' and '.join(f.name for f in SERIES_FAMILIES if f.open_ended)} "
            "also evict under a scan or a spoofed flood, which is what their budgets are for.",
            style.PER_SECOND,
            [r(exporter_evictions(cfg), "{{family}}")],
            width=8,
        )
    )
    layout.panel(
        style.stat(
            "Newest flow record age",
            "Seconds since the newest flow record the exporter read was received by GoFlow2. It grows "
            "when NetFlow stops arriving; softflowd exports a flow only when it expires (its timeouts).",
            style.SECONDS,
            [style.instant_query(newest_record_age(cfg), "age")],
            width=12,
        )
    )
    layout.panel(
        style.stat(
            "Input reopens",
            "How often over the selected time range the exporter had to open GoFlow2's output again "
            "(GoFlow2 restarted, or the FIFO was replaced). Each is a moment when records may be lost.",
            style.COUNT,
            [style.instant_query(input_reopens(cfg), "reopens")],
            width=12,
        )
    )
    layout.row("Policy")
    layout.panel(
        style.table(
            "Policy violations",
            "Conversations that broke a segmentation rule of network.toml ([[policy]]) over the selected time "
            "range: the rule, who started the conversation (src) towards whom (dst), over which protocol and "
            "service, and how many bytes. Replies to a conversation the other side started are allowed. An "
            "external end shows as \"external\". Empty is good: every rule held.",
            style.BYTES,
            [style.table_query(policy_violations(cfg))],
            sort_by="Value",
            width=24,
            height=8,
        )
    )
    layout.row("Devices")
    layout.panel(
        style.table(
            "New devices",
            "Addresses of your subnets first seen in the selected time range that were not seen in the "
            f"{cfg.new_device_lookback} before it and are not in network.toml ([[hosts]], Kubernetes nodes), with "
            "their subnet and name (reverse DNS, else the address). Empty until Prometheus holds that much "
            "history: it cannot tell new from old before. NetvizFlowNewDevice alerts on the last "
            "alerts.new_device_window.",
            style.COUNT,
            [style.table_query(new_devices_in_range(cfg))],
            transformations=[dashboard.DataTransformerConfig(
                id_val="organize", options={"excludeByName": {"Value": True}, "indexByName": {}, "renameByName": {}})],
            width=24,
            height=6,
        )
    )
    layout.panel(_internet_usage_table(cfg, "Internet usage by device", "this calendar month so far", "now/M"))
    layout.panel(_internet_usage_table(cfg, "Internet usage by device today", "today so far", "now/d"))
    return board
