"""A Snapshot -> Prometheus text exposition format 0.0.4.

House style (client_python's): `# HELP` then `# TYPE` for every family, even one with no samples
yet; label names sorted; label values escaped (backslash, double quote, newline); counters end in
`_total`; floats as Go prints them (`+Inf`, `-Inf`, `NaN`). Samples are sorted, so two scrapes of
the same state are byte-identical (the golden test relies on it).

Rendering shows what the snapshot holds: /metrics renders Aggregator.scrape_snapshot, in which flow
series younger than the new-series window hold 0 (series.py: increase() cannot see a first sample).
"""

from __future__ import annotations

import math

from .aggregate import Snapshot
from .record import REJECT_REASONS
from .series import CONVERSATIONS, EXTERNAL_PEER, FLOW, HOST, INTERNET, POLICY, SERVICE, label_values

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# (series-store families, counter index, metric name, label names in key order, help): a metric's
# series come from one family or more (the conversations: between local hosts, with an external end).
FLOW_METRICS = (
    ((FLOW,), 0, "netviz_flow_bytes_total", ("src_subnet", "dst_subnet", "proto"),
     "Bytes of counted flow records (times the sampling rate) by source and destination subnet (external: in no configured subnet) and protocol."),
    ((FLOW,), 1, "netviz_flow_packets_total", ("src_subnet", "dst_subnet", "proto"),
     "Packets of counted flow records (times the sampling rate) by source and destination subnet and protocol."),
    ((FLOW,), 2, "netviz_flows_total", ("src_subnet", "dst_subnet", "proto"),
     "Flow records counted, by source and destination subnet and protocol."),
    ((HOST,), 0, "netviz_host_bytes_total", ("subnet", "host", "name", "direction"),
     "Bytes sent and received by each local host (an address in a configured subnet); name is its configured name, else the address."),
    ((INTERNET,), 0, "netviz_host_internet_bytes_total", ("subnet", "host", "name", "direction"),
     "Bytes each local host sent to (sent) and received from (received) external addresses: its internet usage."),
    ((EXTERNAL_PEER,), 0, "netviz_external_bytes_total", ("peer", "direction"),
     "Bytes between local hosts and each external address; outbound is local to peer, inbound peer to local."),
    ((SERVICE,), 0, "netviz_service_bytes_total", ("proto", "port", "service"),
     "Bytes by well-known server port (destination port if well known, else source port, else other)."),
    (CONVERSATIONS, 0, "netviz_conversation_bytes_total", ("src", "src_subnet", "dst", "dst_subnet", "proto", "port", "service"),
     "Bytes src sent to dst (host addresses, local or external) by protocol and well-known server port; "
     "budgets flow_exporter.series_budgets.local_conversations and external_conversations, the least recently "
     "updated of a full one evicted."),
    (CONVERSATIONS, 1, "netviz_conversation_packets_total", ("src", "src_subnet", "dst", "dst_subnet", "proto", "port", "service"),
     "Packets src sent to dst by protocol and well-known server port."),
    ((POLICY,), 0, "netviz_policy_violation_bytes_total",
     ("rule", "src", "src_subnet", "dst", "dst_subnet", "proto", "port", "service"),
     "Bytes of conversations a policy rule forbids (network.toml [[policy]]): src started them towards dst "
     "(replies to a conversation dst started are allowed); an external end is `external`."),
)

# Per-family self metrics: (name, type, help, column of Snapshot.families' (family, series, budget,
# evictions) rows). Every family of netviz_config.schema SERIES_FAMILIES has a row each.
FAMILY_METRICS = (
    ("netviz_flow_exporter_family_series", "gauge", "Flow series exported now, by family.", 1),
    ("netviz_flow_exporter_family_series_limit", "gauge",
     "Series budget of each family (flow_exporter.series_budgets); a full family evicts only its own series.", 2),
    ("netviz_flow_exporter_family_evictions_total", "counter",
     "Flow series evicted by family: its least recently updated, because it was over its budget.", 3),
)


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value) -> str:
    """Integers as integers; floats the way Go's strconv does for Prometheus."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _header(out: list, name: str, kind: str, help_text: str) -> None:
    out.append(f"# HELP {name} {escape_help(help_text)}\n# TYPE {name} {kind}\n")


def _labels(pairs) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sorted(pairs)) + "}"


def render(snap: Snapshot) -> bytes:
    by_family: dict[str, list] = {}
    for key, counters in snap.series:
        by_family.setdefault(key[0], []).append((label_values(key), counters))
    out: list[str] = []
    for families, index, name, label_names, help_text in FLOW_METRICS:
        _header(out, name, "counter", help_text)
        samples = [
            (_labels(zip(label_names, values)), counters[index])
            for family in families
            for values, counters in by_family.get(family, ())
        ]
        samples.sort()
        out.extend(f"{name}{labels} {format_value(value)}\n" for labels, value in samples)

    def single(name, kind, help_text, value, labels=()):
        _header(out, name, kind, help_text)
        out.append(f"{name}{_labels(labels)} {format_value(value)}\n")

    single("netviz_flow_exporter_records_total", "counter",
           "Input records read (valid or not; a glued line counts each record in it).", snap.records)
    single("netviz_flow_exporter_records_fallback_total", "counter",
           "Valid records not in the exact shape GoFlow2 prints with netviz's mapping, parsed the slow way "
           "(json.loads). 0 when GoFlow2 runs with the mapping.", snap.fallback)
    single("netviz_flow_exporter_glued_lines_total", "counter",
           "Input lines holding several records with no newline between them (GoFlow2's file transport with "
           "more than one worker); each record in them was read.", snap.glued_lines)
    _header(out, "netviz_flow_exporter_records_rejected_total", "counter",
            "Input lines skipped because they are not a valid flow record, by reason.")
    for reason in sorted(REJECT_REASONS):
        out.append(f'netviz_flow_exporter_records_rejected_total{{reason="{reason}"}} {snap.rejected[reason]}\n')
    single("netviz_flow_exporter_records_duplicate_total", "counter",
           "Valid records not counted because the same flow is counted from another interface (count-once rule).",
           snap.duplicates)
    single("netviz_flow_exporter_records_untrusted_total", "counter",
           "Valid records skipped because their NetFlow sender (GoFlow2's sampler_address) is not one of "
           "goflow2.netflow_senders.", snap.untrusted)
    single("netviz_flow_exporter_records_unmapped_interface_total", "counter",
           "Records counted whose in_if is 0 or no subnet's netflow_if_index, so they could not be deduplicated.",
           snap.unmapped_interface)
    single("netviz_flow_exporter_series", "gauge", "Flow series exported now, all families.", snap.series_count)
    single("netviz_flow_exporter_series_limit", "gauge",
           "Most flow series the exporter exports: the sum of the families' budgets (flow_exporter.series_budgets).",
           snap.series_limit)
    single("netviz_flow_exporter_evictions_total", "counter",
           "Flow series evicted, all families (each family evicts its own least recently updated beyond its budget).",
           snap.evictions)
    for name, kind, help_text, column in FAMILY_METRICS:
        _header(out, name, kind, help_text)
        out.extend(f'{name}{{family="{row[0]}"}} {row[column]}\n' for row in sorted(snap.families))
    single("netviz_flow_exporter_new_series", "gauge",
           "Flow series created less than flow_exporter.new_series_zero_window ago, exported at 0 until then "
           "(so that every scraper's increase() counts their first flows).", snap.new_series)
    single("netviz_flow_exporter_last_record_timestamp_seconds", "gauge",
           "time_received_ns of the newest valid record, in seconds since the epoch (0 before the first).",
           snap.newest_ns / 1e9 if snap.newest_ns else 0)
    single("netviz_flow_exporter_input_reopens_total", "counter",
           "Times the input was opened again after its writer went away (FIFO) or it was replaced (file).",
           snap.input_reopens)
    return "".join(out).encode("utf-8")


# ---- names (flow_exporter/names.py) ---------------------------------------------------------------

NAME_LOOKUP_HELP = {
    "name": "a name, shown",
    "no_name": "NXDOMAIN or no PTR record",
    "invalid_name": "a name refused (length, characters, or an address)",
    "failed": "SERVFAIL, REFUSED, another error or a malformed reply",
    "timeout": "no reply within names.timeout",
    "unreachable": "no DNS server, or it could not be reached",
}


def render_names(info_rows, stats: dict, kubernetes_nodes=()) -> bytes:
    """`netviz_host_info` (one series per named address: NameResolver.info), the Kubernetes nodes
    ((address, node name) pairs of the config) and the resolver's self metrics. Every lookup outcome
    is present from the first scrape."""
    out: list[str] = []
    _header(out, "netviz_kubernetes_node_info", "gauge",
            "1 for each Kubernetes node of network.toml (kubernetes.nodes): its address and node name, so a "
            "dashboard can tell nodes from other hosts (Network map links them to K8s Pod Topology).")
    out.extend(f"netviz_kubernetes_node_info{_labels((('host', host), ('node', node)))} 1\n"
               for host, node in sorted(kubernetes_nodes))
    _header(out, "netviz_host_info", "gauge",
            "1 for each named address: its name from network.toml (source config) or reverse DNS (source dns). "
            "Join on host to show names beside addresses.")
    out.extend(f"netviz_host_info{_labels((('host', host), ('name', name), ('source', source)))} 1\n"
               for host, name, source in info_rows)
    _header(out, "netviz_flow_exporter_name_lookups_total", "counter",
            "Reverse DNS lookups answered, by outcome: " + "; ".join(f"{k}: {v}" for k, v in NAME_LOOKUP_HELP.items()) + ".")
    for outcome in sorted(stats["outcomes"]):
        out.append(f'netviz_flow_exporter_name_lookups_total{{outcome="{outcome}"}} {stats["outcomes"][outcome]}\n')
    _header(out, "netviz_flow_exporter_name_requests_dropped_total", "counter",
            "Addresses not queued for a reverse lookup because the queue (names.queue_size) was full; "
            "they are asked for at a later scrape.")
    out.append(f"netviz_flow_exporter_name_requests_dropped_total {stats['dropped']}\n")
    _header(out, "netviz_flow_exporter_names_queued", "gauge", "Addresses waiting for a reverse lookup now.")
    out.append(f"netviz_flow_exporter_names_queued {stats['queued']}\n")
    _header(out, "netviz_flow_exporter_names_cached", "gauge",
            "Reverse lookup answers remembered now (names and no-names; at most names.cache_size).")
    out.append(f"netviz_flow_exporter_names_cached {stats['cached']}\n")
    return "".join(out).encode("utf-8")


def render_http(stats: dict) -> bytes:
    """The HTTP server's own metrics (server.HttpServer.stats): every close reason from the start."""
    out: list[str] = []
    _header(out, "netviz_flow_exporter_http_connections", "gauge",
            "HTTP connections open now (reading a request, queued or being answered).")
    out.append(f"netviz_flow_exporter_http_connections {stats['open']}\n")
    _header(out, "netviz_flow_exporter_http_connections_limit", "gauge",
            "Most HTTP connections held at once (flow_exporter.http_max_connections).")
    out.append(f"netviz_flow_exporter_http_connections_limit {stats['max_connections']}\n")
    _header(out, "netviz_flow_exporter_http_requests_total", "counter", "HTTP requests answered (this scrape not yet).")
    out.append(f"netviz_flow_exporter_http_requests_total {stats['answered']}\n")
    _header(out, "netviz_flow_exporter_http_connections_closed_total", "counter",
            "HTTP connections closed unanswered, by reason: timeout (no whole request within "
            "flow_exporter.http_request_timeout), too_large (request header over 8 KiB), over_limit (the oldest "
            "unfinished request, closed for a new connection), busy (answered 503 at once: every worker busy).")
    for reason, closed in stats["closed"].items():
        out.append(f'netviz_flow_exporter_http_connections_closed_total{{reason="{reason}"}} {closed}\n')
    return "".join(out).encode("utf-8")
