"""The shape of the user's network, as frozen dataclasses.

Every field carries its documentation and, where needed, a check. `loader.py` walks these
classes to read and validate a TOML file, so adding a setting is adding one field here.

Standard library only: the flow exporter reads the same file inside a stock Python image.
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from typing import Optional

from . import checks

# GoFlow2: the pinned image and the release it is built from. Tag v2.2.6 of netsampler/goflow2 is
# commit c9824f41; its release CI tags images with the short commit (Makefile DOCKER_TAGS, ABBREV).
# The tests build this release from its Go module (tests/support/go_tools.py) and run it.
GOFLOW2_RELEASE = "v2.2.6"
GOFLOW2_IMAGE = "netsampler/goflow2:c9824f4"

# The prometheus-community `prometheus` chart and the Prometheus it deploys: its Chart.yaml at tag
# prometheus-29.27.0 has appVersion v3.14.0 (the server image tag defaults to it). The tests build
# that Prometheus release from its Go module and run it.
PROMETHEUS_CHART_VERSION = "29.27.0"
PROMETHEUS_CHART_APP_VERSION = "v3.14.0"


def setting(default=checks.REQUIRED, *, doc: str, check=None, factory=None):
    """A config field. `default=REQUIRED` makes it mandatory; `check(value) -> str|None`
    returns what was expected when the value is wrong."""
    meta = {"doc": doc, "check": check}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    if default is checks.REQUIRED:
        return field(metadata={**meta, "required": True})
    return field(default=default, metadata=meta)


@dataclass(frozen=True, kw_only=True)
class Subnet:
    """A VLAN or subnet. Flow metrics group traffic by `name`."""

    name: str = setting(doc="Label used in dashboards, e.g. `servers`.", check=checks.label_value)
    cidr: str = setting(doc="The network, e.g. `10.0.20.0/24`.", check=checks.network)
    vlan_id: Optional[int] = setting(None, doc="802.1Q VLAN id, shown in docs only.", check=checks.vlan_id)
    pfsense_interface: Optional[str] = setting(
        None,
        doc="pfSense interface name on this subnet (`lan`, `opt1`, ...). softflowd exports the "
        "flows it sees there; leave unset for subnets pfSense does not route.",
        check=checks.pfsense_interface,
    )
    netflow_if_index: Optional[int] = setting(
        None,
        doc="Interface index softflowd reports for that interface (NetFlow INPUT_SNMP, GoFlow2 "
        "`in_if`). Lets the flow exporter count a flow seen on two interfaces once.",
        check=checks.non_negative,
    )


@dataclass(frozen=True, kw_only=True)
class Host:
    """A device worth naming in dashboards (top talkers)."""

    name: str = setting(doc="Display name, e.g. `truenas`.", check=checks.label_value)
    address: str = setting(doc="Its IP address.", check=checks.ip_address)
    internet_volume_limit: str = setting(
        "",
        doc="NetvizFlowInternetVolume: this host's own limit on its bytes with the internet within "
        "[alerts] internet_volume_window (e.g. `500GB` for a NAS that backs up to the cloud; 0: never). "
        "Empty: [alerts] internet_volume_limit.",
        check=checks.optional_byte_size,
    )


# `proto` label values of the flow exporter (flow_exporter/aggregate.py KNOWN_PROTOCOLS): what a
# policy rule may be narrowed to.
PROTOCOLS = ("TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "GRE", "ESP", "AH", "IGMP", "IPIP", "OSPF", "PIM", "VRRP", "L2TP")


@dataclass(frozen=True, kw_only=True)
class PolicyRule:
    """A segmentation rule: `from_subnet` may not start a conversation with `to_subnet` (README
    "Policy"). Replies to a conversation the other side started are allowed."""

    name: str = setting(doc="The rule's name, shown in its alert and panel, e.g. `iot-not-to-storage`.", check=checks.label_value)
    from_subnet: str = setting(doc="A subnet's name, or `external` (the internet).", check=checks.label_value)
    to_subnet: str = setting(doc="A subnet's name, or `external`.", check=checks.label_value)
    proto: str = setting("", doc="Narrow the rule to one protocol (TCP, UDP, ICMP, ...); empty: every protocol.",
                         check=checks.optional_one_of(*PROTOCOLS))
    port: int = setting(0, doc="Narrow the rule to one server port (e.g. 2049); 0: every port.", check=checks.between(0, 65535))


@dataclass(frozen=True, kw_only=True)
class KubernetesNode:
    name: str = setting(doc="Node name as `kubectl get nodes` shows it.", check=checks.node_name)
    address: str = setting(doc="The node's IP address (must be in a configured subnet).", check=checks.ip_address)


@dataclass(frozen=True, kw_only=True)
class Kubernetes:
    kubeconfig: str = setting("~/.kube/config", doc="Path of the kubeconfig the providers use.", check=checks.non_empty)
    context: str = setting("", doc="kubeconfig context; empty uses the file's current context.")
    nodes: tuple[KubernetesNode, ...] = setting(doc="Every node of the cluster.", check=checks.at_least_one)


@dataclass(frozen=True, kw_only=True)
class Pfsense:
    address: str = setting(doc="pfSense address NetFlow comes from and SSH goes to.", check=checks.ip_address)
    ssh_user: str = setting("admin", doc="SSH user (its shell must run commands passed by SSH).", check=checks.non_empty)
    ssh_port: int = setting(22, doc="SSH port.", check=checks.tcp_port)
    manage_softflowd: bool = setting(
        False,
        doc="Let `cdktf deploy platform` configure softflowd on pfSense over SSH (needs ssh_host_key). "
        "Off: follow the README's manual steps instead.",
    )
    ssh_host_key: str = setting(
        "",
        doc="pfSense's SSH host public key, pinned (`ssh-keyscan -t ed25519 10.0.20.1`, without the "
        "host name), e.g. `ssh-ed25519 AAAA...`. Required with manage_softflowd.",
        check=checks.ssh_public_key,
    )
    ssh_private_key_file: str = setting(
        "",
        doc="Private key file for SSH; empty uses the running ssh-agent. The key is read by "
        "Terraform at deploy time and never written to the synthesized JSON.",
    )


@dataclass(frozen=True, kw_only=True)
class Caretta:
    namespace: str = setting("caretta", doc="Namespace of the Caretta agents.", check=checks.dns_label)
    release_name: str = setting("caretta", doc="Helm release name.", check=checks.helm_release_name)
    chart_repository: str = setting("https://helm.groundcover.com/", doc="Helm repository of the chart.", check=checks.url)
    chart_version: str = setting("0.0.16", doc="Chart version (0.0.16 is the last published).", check=checks.version)
    cpu_request: str = setting("50m", doc="CPU request per agent.", check=checks.cpu_quantity)
    memory_request: str = setting("100Mi", doc="Memory request per agent.", check=checks.memory_quantity)
    cpu_limit: str = setting("200m", doc="CPU limit per agent.", check=checks.cpu_quantity)
    memory_limit: str = setting(
        "512Mi",
        doc="Memory limit per agent. On kernels >= 6.1 the eBPF maps are charged to the pod, "
        "and ~100Mi is OOM-killed (caretta issue #78).",
        check=checks.memory_quantity,
    )
    poll_interval_seconds: int = setting(5, doc="How often agents read their eBPF maps.", check=checks.positive)


@dataclass(frozen=True, kw_only=True)
class Goflow2:
    namespace: str = setting("goflow2", doc="Namespace of the collector.", check=checks.dns_label)
    image: str = setting(
        GOFLOW2_IMAGE,
        doc=f"Collector image, pinned. `c9824f4` is the build of release {GOFLOW2_RELEASE} (upstream's "
        "CI tags images with the short commit; a `v2.2.6` tag is unconfirmed).",
        check=checks.pinned_image,
    )
    netflow_port: int = setting(2055, doc="UDP port the collector listens on inside the pod.", check=checks.tcp_port)
    netflow_node_port: int = setting(32055, doc="Fixed NodePort pfSense sends NetFlow to.", check=checks.node_port)
    metrics_port: int = setting(8080, doc="Collector's own metrics and `/__health`.", check=checks.tcp_port)
    collector_node: str = setting(
        "",
        doc="Node whose address pfSense exports to, and where the collector pod runs (its NodePort keeps "
        "the sender's address only on the pod's own node: externalTrafficPolicy Local); empty picks the "
        "first node. Must be the node's name as `kubectl get nodes` shows it (its kubernetes.io/hostname "
        "label).",
    )
    check_collector_node: bool = setting(
        True,
        doc="Look the collector node up at plan time (a node labelled kubernetes.io/hostname=<collector_node>) "
        "and stop with what is missing when it is not there. Turn off only if the lookup misreports your cluster.",
    )
    netflow_senders: tuple[str, ...] = setting(
        factory=tuple,
        doc="Addresses whose NetFlow counts: pfSense's, and any other exporter you run. Empty: "
        "pfsense.address alone. Records from any other sender are counted as untrusted and skipped.",
        check=checks.ip_addresses,
    )


@dataclass(frozen=True)
class SeriesFamily:
    """One family of the flow exporter's series, held under a budget of its own."""

    name: str
    """Key in `[flow_exporter.series_budgets]` and value of the `family` label of the exporter's
    per-family self metrics."""
    series_per_key: int
    """Series one key of the family exports (a subnet pair: bytes, packets and flows)."""
    default_budget: int
    doc: str
    open_ended: bool = False
    """Keyed by external addresses, so any scan or spoofed flood can fill it: eviction there is
    expected on an internet-facing network (alerts.rules alerts on it being full, not on evicting)."""


# The flow exporter's series families: each is held under its own budget, and evicts only its own
# least recently updated series when full, so a flood of external addresses cannot push out a host
# or subnet-pair series. Adding a family is adding a line here: its budget setting, the budget's
# check, and the exporter's store and self metrics follow from it (the exporter then only needs the
# code that builds its keys and the metrics it renders, flow_exporter/exposition.py).
SERIES_FAMILIES = (
    SeriesFamily("subnet_pairs", 3, 1500,
                 "Series of netviz_flow_bytes_total, _packets_total and netviz_flows_total: one key per "
                 "(source subnet, destination subnet, proto) is three series. Bounded by the config: "
                 "(subnets + 1)^2 x 15 protocol labels x 3 (720 for the shipped three subnets)."),
    SeriesFamily("hosts", 1, 2000,
                 "Series of netviz_host_bytes_total: one per local address and direction."),
    SeriesFamily("services", 1, 500,
                 "Series of netviz_service_bytes_total: one per (proto, well-known port), at most 213."),
    SeriesFamily("external_peers", 1, 6000,
                 "Series of netviz_external_bytes_total: one per external address and direction. The "
                 "open-ended family: a scan or spoofed flood fills it and evicts only here.", open_ended=True),
    SeriesFamily("local_conversations", 2, 4000,
                 "Series of netviz_conversation_bytes_total and _packets_total between two local hosts: one "
                 "key per (source address, destination address, proto, service port) is two series. Bounded "
                 "by the hosts you have, so a flood from outside never evicts them."),
    SeriesFamily("external_conversations", 2, 4000,
                 "Series of netviz_conversation_bytes_total and _packets_total with an external end. "
                 "Open-ended like external_peers (a flood makes a conversation per spoofed source): a full "
                 "family evicts its least recently updated conversations, never another family's series.",
                 open_ended=True),
    SeriesFamily("internet_usage", 1, 2000,
                 "Series of netviz_host_internet_bytes_total: one per local address and direction, its traffic "
                 "with external addresses (the internet). Bounded by your hosts, like hosts."),
    SeriesFamily("policy_violations", 1, 1000,
                 "Series of netviz_policy_violation_bytes_total: one per (policy rule, source host, destination host, "
                 "proto, service port) that broke it; an external end counts as one (`external`). Bounded by your "
                 "rules and hosts."),
)

SeriesBudgets = make_dataclass(
    "SeriesBudgets",
    [(f.name, int, setting(f.default_budget, doc=f"{f.doc} Default {f.default_budget}, at least {f.series_per_key}.",
                           check=checks.at_least(f.series_per_key)))
     for f in SERIES_FAMILIES],
    frozen=True,
    kw_only=True,
    namespace={
        "__doc__": "Most series each family of the flow exporter exports (one key per SERIES_FAMILIES entry).",
        "__module__": __name__,
        "as_dict": lambda self: {f.name: getattr(self, f.name) for f in SERIES_FAMILIES},
        "total": property(lambda self: sum(getattr(self, f.name) for f in SERIES_FAMILIES)),
    },
)


@dataclass(frozen=True, kw_only=True)
class FlowExporter:
    image: str = setting("python:3.11.14-alpine3.22", doc="Stock Python image the exporter runs in.", check=checks.pinned_image)
    port: int = setting(9108, doc="HTTP port of `/metrics` and `/healthz`.", check=checks.tcp_port)
    series_budgets: SeriesBudgets = setting(
        factory=SeriesBudgets,
        doc="Series budget of each family (" + ", ".join(f.name for f in SERIES_FAMILIES) + "). A full family "
        "evicts its own least recently updated series, never another family's.",
    )
    new_series_zero_window: str = setting(
        "",
        doc="How long a new (or re-created) flow series is exported at 0 before its value, so that every "
        "scraper (two Prometheus servers, a curl) takes a 0 sample first and increase() counts its first "
        "flows; they show up this much later. Empty: twice monitoring.prometheus.scrape_interval. At "
        "least that scrape interval (and of any other Prometheus' scraping the exporter).",
        check=checks.optional_duration,
    )
    http_max_connections: int = setting(
        256,
        doc="Most HTTP connections the exporter holds open at once; one more closes the oldest that has not "
        "sent a whole request yet (a scrape sends its request at once). Each costs a socket and a few KiB, "
        "never a thread.",
        check=checks.between(16, 65536),
    )
    http_request_timeout: str = setting(
        "5s",
        doc="How long a connection may take to send its whole request before it is closed.",
        check=checks.positive_duration,
    )

    # Keys that no longer exist, and what replaced them (the loader's message for them).
    replaced_keys = {
        "max_series": "replaced by the per-family [flow_exporter.series_budgets] table "
        "(" + ", ".join(f"{f.name} = {f.default_budget}" for f in SERIES_FAMILIES) + ")",
    }


@dataclass(frozen=True, kw_only=True)
class Names:
    """Names for addresses in the dashboards (README "Names"): network.toml's hosts and nodes, and
    reverse DNS for every other address the flow exporter counts. Lookups run beside the counting,
    never in its way (flow_exporter/names.py): worker threads, a bounded queue, a bounded cache,
    a query budget and a timeout."""

    enabled: bool = setting(
        True,
        doc="Look up the names of unnamed addresses by reverse DNS. Off: no lookups, and the goflow2 pod "
        "keeps the cluster's DNS; configured names are still shown.",
    )
    dns_server: str = setting(
        "",
        doc="The DNS server the goflow2 pod asks (its dnsConfig nameserver); empty: pfsense.address, whose "
        "DNS Resolver answers for DHCP leases and static mappings once \"Register DHCP leases\" is on.",
        check=checks.optional_ip_address,
    )
    strip_domain: str = setting(
        "",
        doc="Domain cut off the end of DNS names, e.g. `home.arpa` (pfSense's default): `truenas.home.arpa` "
        "shows as `truenas`. Empty: names as DNS gives them.",
        check=checks.optional_domain,
    )
    timeout: str = setting("2s", doc="How long one lookup may take, all DNS servers together.", check=checks.positive_duration)
    queries_per_second: int = setting(
        10, doc="Most reverse lookups per second (a flood of new addresses waits, or is asked later).",
        check=checks.between(1, 1000),
    )
    workers: int = setting(2, doc="Threads that ask DNS; each waits for one answer at a time.", check=checks.between(1, 16))
    queue_size: int = setting(
        1024, doc="Most addresses waiting for a lookup; more are dropped and asked for at a later scrape.",
        check=checks.between(1, 100000),
    )
    cache_size: int = setting(
        10000, doc="Most answers remembered (names and \"no name\"); the least recently answered are forgotten.",
        check=checks.between(1, 1000000),
    )
    cache_for: str = setting("1h", doc="How long a name is used before it is asked for again.", check=checks.positive_duration)
    negative_cache_for: str = setting(
        "10m", doc="How long \"no name\" or a failed lookup holds before the address is asked for again.",
        check=checks.positive_duration,
    )


@dataclass(frozen=True, kw_only=True)
class Prometheus:
    release_name: str = setting("prometheus", doc="Helm release name.", check=checks.helm_release_name)
    chart_repository: str = setting(
        "https://prometheus-community.github.io/helm-charts", doc="Helm repository.", check=checks.url
    )
    chart_version: str = setting(
        PROMETHEUS_CHART_VERSION,
        doc=f"prometheus-community `prometheus` chart version ({PROMETHEUS_CHART_VERSION} deploys Prometheus "
        f"{PROMETHEUS_CHART_APP_VERSION}). In `adopt` mode: the version already installed.",
        check=checks.version,
    )
    scrape_interval: str = setting("30s", doc="Interval of netviz's scrape jobs.", check=checks.duration)
    rollup_interval: str = setting(
        "1h",
        doc="Interval of the rule group netviz-rollups: the tiles Network Flows adds up over long ranges "
        "(dashboards/rollups.py). At least 4 scrape intervals, at most 6h.",
        check=checks.positive_duration,
    )
    retention: str = setting(
        "31d",
        doc="How long a Prometheus netviz installs (mode `managed`) keeps samples, the chart's "
        "`server.retention` (its own default, 15d, would leave a 30-day dashboard range half empty). "
        "A `server.retention` in values_file wins; an adopted release keeps its own.",
        check=checks.positive_duration,
    )
    values_file: str = setting(
        "",
        doc="Your own chart values (YAML), relative to this file; netviz's are merged on top and its "
        "scrape jobs appended to your `extraScrapeConfigs`. For `adopt`: `helm get values`.",
    )


@dataclass(frozen=True, kw_only=True)
class Grafana:
    release_name: str = setting("grafana", doc="Helm release name.", check=checks.helm_release_name)
    chart_repository: str = setting(
        "https://grafana-community.github.io/helm-charts", doc="Helm repository.", check=checks.url
    )
    chart_version: str = setting(
        "12.11.1",
        doc="grafana-community `grafana` chart version. In `adopt` mode: the version already installed.",
        check=checks.version,
    )
    values_file: str = setting(
        "",
        doc="Your own chart values (YAML), relative to this file; netviz's are merged on top.",
    )
    admin_existing_secret: str = setting(
        "",
        doc="Secret holding the admin login (keys `admin-user`, `admin-password`); empty lets the "
        "chart generate a password into a Secret of its own.",
        check=checks.optional_object_name,
    )
    dashboard_label: str = setting("grafana_dashboard", doc="Label the dashboard sidecar watches.", check=checks.label_key)
    dashboard_label_value: str = setting("1", doc="Value of that label.", check=checks.label_value)

    @property
    def sidecar_labels(self) -> dict[str, str]:
        """Labels a ConfigMap needs for the dashboard sidecar to load it."""
        return {self.dashboard_label: self.dashboard_label_value}


MONITORING_MODES = ("managed", "adopt", "prometheus-operator")


@dataclass(frozen=True, kw_only=True)
class Monitoring:
    mode: str = setting(
        "managed",
        doc="managed: netviz installs Prometheus and Grafana. adopt: your existing releases "
        "(names and namespace below) are imported into netviz's state and updated in place. "
        "prometheus-operator: no chart is touched; PodMonitors tell your operator what to scrape.",
        check=checks.one_of(*MONITORING_MODES),
    )
    namespace: str = setting(
        "monitoring", doc="Namespace of Prometheus and Grafana (in adopt mode: where yours run).", check=checks.dns_label
    )
    pod_monitor_label: str = setting(
        "release",
        doc="prometheus-operator mode: label key your Prometheus' podMonitorSelector matches.",
        check=checks.label_key,
    )
    pod_monitor_label_value: str = setting(
        "kube-prometheus-stack", doc="prometheus-operator mode: value of that label.", check=checks.label_value
    )
    check_operator_crd: bool = setting(
        True,
        doc="prometheus-operator mode: look the PodMonitor and PrometheusRule CRDs up at plan time and "
        "stop with what to install when one is missing. Turn off only if the lookup misreports your cluster.",
    )
    rule_label: str = setting(
        "",
        doc="prometheus-operator mode: label key your Prometheus' ruleSelector matches, carried by "
        "netviz's PrometheusRules; empty: pod_monitor_label (kube-prometheus-stack selects both by `release`).",
        check=checks.optional_label_key,
    )
    rule_label_value: str = setting(
        "",
        doc="prometheus-operator mode: value of that label; empty: pod_monitor_label_value.",
        check=checks.optional_label_value,
    )
    prometheus: Prometheus = setting(factory=Prometheus, doc="Prometheus chart.")
    grafana: Grafana = setting(factory=Grafana, doc="Grafana chart (in prometheus-operator mode: only its sidecar label is used).")

    @property
    def pod_monitor_labels(self) -> dict[str, str]:
        return {self.pod_monitor_label: self.pod_monitor_label_value}

    @property
    def rule_labels(self) -> dict[str, str]:
        """Labels of netviz's PrometheusRules: what the user's Prometheus' ruleSelector matches."""
        return {self.rule_label or self.pod_monitor_label: self.rule_label_value or self.pod_monitor_label_value}


@dataclass(frozen=True, kw_only=True)
class Alerts:
    """netviz's alerting rules (README "Alerts"): when to tell you the picture is wrong.

    Each `*_for` is the alert's `for`: how long its condition must hold before it fires, so a
    blip (one failed scrape, a restart) stays pending and quiet."""

    enabled: bool = setting(
        True,
        doc="Ship netviz's alerting rules to Prometheus (the chart's rule file, or PrometheusRules).",
    )
    runbook_url: str = setting(
        "https://github.com/netviz/netviz/blob/main/README.md",
        doc="Where you read netviz's README: each alert's runbook_url is this plus the anchor of its "
        "entry in the README's Alerts section (`#netvizflowcollectordown`).",
        check=checks.base_url,
    )
    collector_down_for: str = setting(
        "5m", doc="NetvizFlowCollectorDown: no GoFlow2 target scraped successfully for this long.", check=checks.duration
    )
    exporter_down_for: str = setting(
        "5m", doc="NetvizFlowExporterDown: no flow exporter target scraped successfully for this long.", check=checks.duration
    )
    records_stopped_after: str = setting(
        "15m",
        doc="NetvizFlowRecordsStopped: the newest flow record older than this while GoFlow2 is up. softflowd "
        "reports a UDP flow 5 minutes after its last packet, so a network with any DNS traffic sends "
        "records every few minutes; raise it for a network that is silent for longer.",
        check=checks.positive_duration,
    )
    records_stopped_for: str = setting("5m", doc="NetvizFlowRecordsStopped: for.", check=checks.duration)
    records_rejected_for: str = setting(
        "10m", doc="NetvizFlowRecordsRejected: the exporter rejecting records (by reason) for this long.", check=checks.duration
    )
    unmapped_interface_for: str = setting(
        "15m",
        doc="NetvizFlowUnmappedInterface: records with an interface index no subnet's netflow_if_index "
        "names arriving for this long.",
        check=checks.duration,
    )
    count_window: str = setting(
        "",
        doc="Window of the counting alerts' increase() (rejected, unmapped, untrusted, evicted, policy...). "
        "Empty: 5 minutes or 4 scrape intervals, whichever is longer. At least 4 scrape intervals.",
        check=checks.optional_duration,
    )
    new_device_lookback: str = setting(
        "7d",
        doc="NetvizFlowNewDevice: an address of your subnets (not in [[hosts]]) counts as new when it was not "
        "seen for this long before new_device_window.",
        check=checks.positive_duration,
    )
    new_device_window: str = setting(
        "1h",
        doc="NetvizFlowNewDevice: how long after its first record a device counts as new (and the alert fires).",
        check=checks.positive_duration,
    )
    internet_volume_limit: str = setting(
        "50GB",
        doc="NetvizFlowInternetVolume: a local host that sent plus received more than this to and from the "
        "internet (external addresses) within internet_volume_window; a [[hosts]] entry's own "
        "internet_volume_limit overrides it. 0: no limit but the hosts' own.",
        check=checks.byte_size,
    )
    internet_volume_window: str = setting(
        "1d",
        doc="NetvizFlowInternetVolume: the window its volume is counted over (1d: the last 24 hours).",
        check=checks.positive_duration,
    )
    policy_violation_for: str = setting(
        "0m",
        doc="NetvizFlowPolicyViolation: traffic a [[policy]] rule forbids, for this long (0m: at once).",
        check=checks.duration,
    )
    untrusted_sender_for: str = setting(
        "5m",
        doc="NetvizFlowUntrustedSender: records arriving from a NetFlow sender not in goflow2.netflow_senders "
        "for this long.",
        check=checks.duration,
    )
    series_budget_percent: int = setting(
        90,
        doc="NetvizFlowSeriesBudgetFull: a family of the exporter holding at least this percentage of "
        "its flow_exporter.series_budgets entry.",
        check=checks.percent,
    )
    series_budget_for: str = setting("15m", doc="NetvizFlowSeriesBudgetFull: for.", check=checks.duration)
    series_evicted_for: str = setting(
        "15m",
        doc="NetvizFlowSeriesEvicted: a family other than external_peers evicting series for this long.",
        check=checks.duration,
    )
    decoder_errors_for: str = setting(
        "15m",
        doc="NetvizFlowDecoderErrors: GoFlow2 failing to decode datagrams (other than for a template it "
        "has not received yet) for this long.",
        check=checks.duration,
    )
    caretta_agents_missing_for: str = setting(
        "10m",
        doc="NetvizCarettaAgentsMissing: fewer Caretta agents scraped than kubernetes.nodes lists, for this long.",
        check=checks.duration,
    )


@dataclass(frozen=True, kw_only=True)
class LocalState:
    directory: str = setting(
        "terraform-state",
        doc="Folder of the per-stack state files `<stack>.tfstate`, relative to this config "
        "file. Never inside `cdktf.out` (synth deletes folders there).",
        check=checks.non_empty,
    )


@dataclass(frozen=True, kw_only=True)
class S3State:
    bucket: str = setting(doc="Bucket name.", check=checks.non_empty)
    key_prefix: str = setting("netviz", doc="Each stack's state is `<key_prefix>/<stack>.tfstate`.", check=checks.non_empty)
    region: str = setting(doc="Bucket region.", check=checks.non_empty)
    endpoint: str = setting("", doc="S3-compatible endpoint (MinIO...), empty for AWS.")
    use_path_style: bool = setting(False, doc="Path-style addressing, for MinIO.")
    # Credentials come from the usual AWS environment variables or profile, never this file.


@dataclass(frozen=True, kw_only=True)
class KubernetesState:
    namespace: str = setting("default", doc="Namespace of the state Secrets.", check=checks.dns_label)
    secret_suffix_prefix: str = setting(
        "netviz", doc="Secret `tfstate-default-<prefix>-<stack>` holds each stack.", check=checks.dns_label
    )


@dataclass(frozen=True, kw_only=True)
class PgState:
    schema_prefix: str = setting("netviz", doc="Each stack gets schema `<prefix>_<stack>`.", check=checks.sql_identifier)
    # The connection string is read from PG_CONN_STR by Terraform, so no password lands here.


@dataclass(frozen=True, kw_only=True)
class State:
    backend: str = setting("local", doc="One of local, s3, kubernetes, pg.", check=checks.one_of("local", "s3", "kubernetes", "pg"))
    local: LocalState = setting(factory=LocalState, doc="Settings of the local backend.")
    s3: Optional[S3State] = setting(None, doc="Settings of the s3 backend.")
    kubernetes: Optional[KubernetesState] = setting(None, doc="Settings of the kubernetes backend.")
    pg: Optional[PgState] = setting(None, doc="Settings of the pg backend.")


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """The whole of the user's network, as read from `network.toml`."""

    subnets: tuple[Subnet, ...] = setting(doc="Subnets/VLANs, each with a name.", check=checks.at_least_one)
    kubernetes: Kubernetes = setting(doc="The cluster netviz deploys to.")
    pfsense: Pfsense = setting(doc="The pfSense router that exports NetFlow.")
    hosts: tuple[Host, ...] = setting(factory=tuple, doc="Named devices.")
    policy: tuple[PolicyRule, ...] = setting(factory=tuple, doc="Segmentation rules: which subnet may not reach which.")
    caretta: Caretta = setting(factory=Caretta, doc="Caretta eBPF agents.")
    goflow2: Goflow2 = setting(factory=Goflow2, doc="GoFlow2 collector.")
    flow_exporter: FlowExporter = setting(factory=FlowExporter, doc="Flow records to Prometheus metrics.")
    names: Names = setting(factory=Names, doc="Names of addresses: configured, and by reverse DNS.")
    monitoring: Monitoring = setting(factory=Monitoring, doc="Prometheus and Grafana.")
    alerts: Alerts = setting(factory=Alerts, doc="netviz's alerting rules: thresholds and for durations.")
    state: State = setting(factory=State, doc="Where each stack keeps its Terraform state.")
    # Folder of the file this was read from; relative paths in it resolve from here.
    base_dir: str = field(default=".", metadata={"internal": True})

    def subnet_of(self, address: str) -> Optional[Subnet]:
        """The configured subnet holding `address`, or None (external)."""
        import ipaddress

        ip = ipaddress.ip_address(address)
        for subnet in self.subnets:
            net = ipaddress.ip_network(subnet.cidr)
            if ip.version == net.version and ip in net:
                return subnet
        return None

    @property
    def softflowd_interfaces(self) -> list[str]:
        """pfSense interfaces softflowd watches, in the order of their `netflow_if_index`: the
        pfSense package numbers its interfaces 1, 2, ... in the order it is given them."""
        watched = [s for s in self.subnets if s.pfsense_interface]
        watched.sort(key=lambda s: (s.netflow_if_index is None, s.netflow_if_index or 0))
        return [s.pfsense_interface for s in watched]

    def resolve_path(self, path: str) -> str:
        """A path from this file, `~` expanded, relative ones taken from the file's folder."""
        import os

        return os.path.normpath(os.path.join(self.base_dir, os.path.expanduser(path)))

    @property
    def names_dns_server(self) -> Optional[str]:
        """The DNS server the goflow2 pod asks for names: names.dns_server, else pfsense.address;
        None when names are off (the pod then keeps the cluster's DNS)."""
        if not self.names.enabled:
            return None
        return self.names.dns_server or self.pfsense.address

    @property
    def new_series_zero_seconds(self) -> float:
        """Seconds a new flow series is exported at 0: flow_exporter.new_series_zero_window, else twice
        monitoring.prometheus.scrape_interval (one interval would do if every scrape came exactly on
        time; the second covers a late or failed scrape)."""
        window = self.flow_exporter.new_series_zero_window
        if window:
            return float(checks.seconds(window))
        return 2.0 * checks.seconds(self.monitoring.prometheus.scrape_interval)

    @property
    def netflow_senders(self) -> tuple[str, ...]:
        """The addresses whose NetFlow counts: goflow2.netflow_senders, else pfsense.address."""
        return self.goflow2.netflow_senders or (self.pfsense.address,)

    @property
    def collector_node(self) -> KubernetesNode:
        """The node pfSense sends NetFlow to."""
        wanted = self.goflow2.collector_node
        for node in self.kubernetes.nodes:
            if node.name == wanted or not wanted:
                return node
        raise AssertionError("validated in loader")  # pragma: no cover
