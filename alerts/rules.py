"""The alerting rules, one table of alerts per rule group, each rule built from the config.

Expressions select series with the dashboards' own selectors (`DashboardConfig`, whose values the
stacks take from the scrape targets), so an alert looks at exactly what its dashboard panel shows.
Metrics: netviz's flow exporter (tests/CONTRACTS.md), GoFlow2's own (netsampler/goflow2 v2.2.6
metrics/metrics.go, metrics/decoder.go) and Prometheus' `up` of each scrape target.

Annotations are Prometheus alert templates (`{{ $value }}`, `{{ $labels.reason }}`): they reach
Prometheus as written. The prometheus chart pastes its rule files with `toYaml`, never `tpl`, and
the Prometheus Operator copies a PrometheusRule's text, so no one else evaluates them first.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Sequence

import yaml

from .names import CARETTA_ALERTS_PREFIX, CARETTA_GROUP, DEVICE_GROUP, FLOW_ALERTS_PREFIX, FLOW_GROUP, ROLLUP_GROUP  # noqa: F401 (first: see names)

from dashboards import rollups
from dashboards.config import DashboardConfig, selector
from dashboards.devices import internet_over_limit, new_devices
from netviz_config import NetworkConfig, checks
from netviz_config.schema import SERIES_FAMILIES, Alerts

MIN_RATE_WINDOW_SECONDS = 300
"""rate()/increase() windows span at least 5 minutes..."""
SCRAPES_PER_RATE_WINDOW = 4
"""...and at least 4 scrape intervals, so one missed scrape still leaves two samples in them."""


@dataclass(frozen=True, kw_only=True)
class AlertRulesConfig:
    """What the rules are made from: the dashboards' config (selectors) and network.toml's settings."""

    selectors: DashboardConfig = field(default_factory=DashboardConfig)
    """The scrape-job selectors the dashboards use (netviz's stacks: from the scrape targets)."""
    settings: Alerts = field(default_factory=Alerts)
    """Thresholds, `for` durations and the runbook URL (network.toml `[alerts]`)."""
    expected_caretta_agents: int = 1
    """One Caretta agent per node: how many kubernetes.nodes lists."""
    scrape_interval: str = "30s"
    """Interval of netviz's scrape jobs; windows of rate()/increase() are derived from it."""
    rollup_interval: str = "1h"
    """Interval of the rollup group (monitoring.prometheus.rollup_interval)."""
    internet_volume_limits: tuple[tuple[str, int], ...] = ()
    """(address, bytes) of each [[hosts]] entry with its own internet_volume_limit (0: none)."""

    def __post_init__(self) -> None:
        if self.expected_caretta_agents < 1:
            raise ValueError(f"expected_caretta_agents must be at least 1, but {self.expected_caretta_agents} was provided")
        if checks.duration(self.scrape_interval):
            raise ValueError(f"scrape_interval must be a Prometheus duration such as 30s, but {self.scrape_interval!r} was provided")

    @classmethod
    def of(cls, config: NetworkConfig, selectors: DashboardConfig) -> "AlertRulesConfig":
        """The rules' config for a network: its [alerts], its node count, its scrape interval."""
        return cls(
            selectors=selectors,
            settings=config.alerts,
            expected_caretta_agents=len(config.kubernetes.nodes),
            scrape_interval=config.monitoring.prometheus.scrape_interval,
            rollup_interval=config.monitoring.prometheus.rollup_interval,
            internet_volume_limits=tuple(
                (str(ipaddress.ip_address(h.address)), checks.byte_count(h.internet_volume_limit))
                for h in config.hosts if h.internet_volume_limit
            ),
        )

    @property
    def rate_window(self) -> str:
        if self.settings.count_window:
            return self.settings.count_window
        window = max(MIN_RATE_WINDOW_SECONDS, SCRAPES_PER_RATE_WINDOW * checks.seconds(self.scrape_interval))
        return checks.duration_text(window)


def anchor(alert: str) -> str:
    """The README heading `### <alert>` as GitHub links it: lower case."""
    return alert.lower()


def _alert(cfg: AlertRulesConfig, name: str, *, expr: str, for_: str, severity: str, summary: str, description: str) -> dict:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{cfg.settings.runbook_url}#{anchor(name)}",
        },
    }


# The open-ended families (keyed by external addresses: any scan fills them) evict as a matter of
# course on an internet-facing network, so only their budget being full alerts: this matcher
# selects the families whose eviction does.
EVICTION_ALERTED_FAMILIES = 'family!~"' + "|".join(f.name for f in SERIES_FAMILIES if f.open_ended) + '"'


def flow_alerts(cfg: AlertRulesConfig) -> list[dict]:
    s, w = cfg.settings, cfg.rate_window
    g, f = cfg.selectors.goflow2_selector, cfg.selectors.flow_exporter_selector
    template_not_found = selector(g, 'error="template_not_found"')
    after_seconds = int(checks.seconds(s.records_stopped_after))
    alerts = [
        _alert(
            cfg,
            "NetvizFlowCollectorDown",
            # absent(): with pod discovery a deleted or unschedulable pod leaves no target at all,
            # hence no `up` series to be 0.
            expr=f"absent(up{selector(g)} == 1)",
            for_=s.collector_down_for,
            severity="critical",
            summary="GoFlow2, the NetFlow collector, is down.",
            description=(
                f"Prometheus has scraped no GoFlow2 target ({g or 'any job'}) successfully for {s.collector_down_for}: "
                "NetFlow from pfSense is not being received, so the Network Flows dashboard is going flat."
            ),
        ),
        _alert(
            cfg,
            "NetvizFlowExporterDown",
            expr=f"absent(up{selector(f)} == 1)",
            for_=s.exporter_down_for,
            severity="critical",
            summary="The netviz flow exporter is down.",
            description=(
                f"Prometheus has scraped no flow exporter target ({f or 'any job'}) successfully for "
                f"{s.exporter_down_for}: GoFlow2's records are not turned into metrics, so the traffic panels "
                "of the Network Flows dashboard are empty."
            ),
        ),
        _alert(
            cfg,
            "NetvizFlowRecordsStopped",
            # The newest record time over the window, across exporter pods: a restarted exporter
            # reports 0 until its first record, and its predecessor's last value still counts. The
            # annotations state the window, not the age: with only 0s in it, the age would read
            # as the time since 1970.
            expr=(
                f"(time() - max(max_over_time(netviz_flow_exporter_last_record_timestamp_seconds{selector(f)}"
                f"[{s.records_stopped_after}])) > {after_seconds}) and on() (max(up{selector(g)}) == 1)"
            ),
            for_=s.records_stopped_for,
            severity="critical",
            summary=f"No NetFlow record for more than {s.records_stopped_after}.",
            description=(
                f"The netviz flow exporter has read no flow record received in the last {s.records_stopped_after} "
                "while GoFlow2 is up: pfSense stopped exporting, NetFlow no longer reaches GoFlow2, or GoFlow2's "
                "records no longer reach the exporter. The Network Flows dashboard looks like a quiet network, "
                "but it is not measuring."
            ),
        ),
        _alert(
            cfg,
            "NetvizFlowRecordsRejected",
            expr=f"increase(netviz_flow_exporter_records_rejected_total{selector(f)}[{w}]) > 0",
            for_=s.records_rejected_for,
            severity="warning",
            summary="The flow exporter rejects GoFlow2's records ({{ $labels.reason }}).",
            description=(
                "The flow exporter {{ $labels.instance }} rejected {{ $value | humanize }} lines as "
                "{{ $labels.reason }} in the last " + w + ", and has kept rejecting for "
                f"{s.records_rejected_for}: GoFlow2's output is not what the exporter reads, and those "
                "flows are missing from the dashboard."
            ),
        ),
        _alert(
            cfg,
            "NetvizFlowUnmappedInterface",
            expr=f"increase(netviz_flow_exporter_records_unmapped_interface_total{selector(f)}[{w}]) > 0",
            for_=s.unmapped_interface_for,
            severity="warning",
            summary="Flow records carry an interface index network.toml does not name.",
            description=(
                "{{ $value | humanize }} flow records in the last " + w + " had an interface index (in_if) "
                "that no subnet's netflow_if_index in network.toml names, or 0, for "
                f"{s.unmapped_interface_for}: they are counted, but a flow between two monitored subnets is "
                "counted twice."
            ),
        ),
        _alert(
            cfg,
            "NetvizFlowPolicyViolation",
            expr=(
                "sum by (rule, src, src_subnet, dst, dst_subnet) "
                f"(increase(netviz_policy_violation_bytes_total{selector(f)}[{w}])) > 0"
            ),
            for_=s.policy_violation_for,
            severity="warning",
            summary="{{ $labels.src }} ({{ $labels.src_subnet }}) reached {{ $labels.dst }} ({{ $labels.dst_subnet }}), "
                    "which policy {{ $labels.rule }} forbids.",
            description=(
                "{{ $labels.src }} in {{ $labels.src_subnet }} started {{ $value | humanize1024 }}B of traffic to "
                "{{ $labels.dst }} in {{ $labels.dst_subnet }} in the last " + w + ": network.toml's policy rule "
                "{{ $labels.rule }} forbids it (an external end is `external`). pfSense lets it through: a "
                "firewall rule is missing, or a device is in the wrong VLAN."
            ),
        ),
        _internet_volume(cfg),
        _alert(
            cfg,
            "NetvizFlowUntrustedSender",
            expr=f"increase(netviz_flow_exporter_records_untrusted_total{selector(f)}[{w}]) > 0",
            for_=s.untrusted_sender_for,
            severity="warning",
            summary="NetFlow arrives from a sender netviz does not trust.",
            description=(
                "The flow exporter {{ $labels.instance }} skipped {{ $value | humanize }} flow records in the last "
                + w + " from NetFlow senders that are not in goflow2.netflow_senders (pfsense.address when empty), "
                f"for {s.untrusted_sender_for}: a router of yours not listed there (its flows are missing), or someone "
                "else sending NetFlow to the collector's NodePort (never counted)."
            ),
        ),
        _alert(
            cfg,
            "NetvizFlowSeriesBudgetFull",
            # Per family: each family has its own budget and evicts only its own series, so a full
            # family hides in the total (6000 external peers are 60% of the default 10000).
            expr=(
                f"netviz_flow_exporter_family_series{selector(f)} / netviz_flow_exporter_family_series_limit{selector(f)}"
                f" >= {s.series_budget_percent / 100:g}"
            ),
            for_=s.series_budget_for,
            severity="warning",
            summary="The flow exporter's {{ $labels.family }} series budget is {{ $value | humanizePercentage }} full.",
            description=(
                "The flow exporter {{ $labels.instance }} holds {{ $value | humanizePercentage }} of its "
                "{{ $labels.family }} budget (flow_exporter.series_budgets.{{ $labels.family }}; alert at "
                f"{s.series_budget_percent}%) for {s.series_budget_for}: when full, that family evicts its "
                "least recently updated series."
            ),
        ),
        _alert(
            cfg,
            "NetvizFlowSeriesEvicted",
            expr=(
                f"increase(netviz_flow_exporter_family_evictions_total{selector(f, EVICTION_ALERTED_FAMILIES)}[{w}])"
                " > 0"
            ),
            for_=s.series_evicted_for,
            severity="warning",
            summary="The flow exporter is evicting {{ $labels.family }} series.",
            description=(
                "The flow exporter {{ $labels.instance }} evicted {{ $value | humanize }} {{ $labels.family }} "
                "series in the last " + w + f", and has kept evicting for {s.series_evicted_for}: that budget "
                "(flow_exporter.series_budgets.{{ $labels.family }}) is too small for your network, so quiet "
                "entries drop out of the dashboard and restart from 0 when they come back."
            ),
        ),
        _alert(
            cfg,
            "NetvizFlowDecoderErrors",
            # GoFlow2 counts every decode failure in decoder_error_total, a datagram whose template
            # it has not seen yet too (also in nf_errors_total{error="template_not_found"}): normal
            # after a restart until softflowd resends its templates, so left out here.
            expr=(
                f"(sum by (router) (increase(goflow2_flow_decoder_error_total{selector(g)}[{w}])) - "
                f"(sum by (router) (increase(goflow2_flow_process_nf_errors_total{template_not_found}[{w}]))"
                f" or sum by (router) (increase(goflow2_flow_decoder_error_total{selector(g)}[{w}])) * 0)) > 0"
            ),
            for_=s.decoder_errors_for,
            severity="warning",
            summary="GoFlow2 cannot decode the NetFlow from {{ $labels.router }}.",
            description=(
                "GoFlow2 failed to decode {{ $value | humanize }} datagrams from {{ $labels.router }} in the "
                "last " + w + f" (not counting those waiting for a template), for {s.decoder_errors_for}: "
                "that device sends something GoFlow2 cannot read (another NetFlow version, or another protocol "
                "on that port), and its flows are missing."
            ),
        ),
    ]
    return [a for a in alerts if a is not None]  # None: switched off by its settings


def device_interval(cfg: AlertRulesConfig) -> str:
    """How often DEVICE_GROUP is evaluated: every 10 minutes, or twice per alerts.new_device_window
    when that is shorter (a device is new for that long: the alert must see it)."""
    return checks.duration_text(min(600, checks.seconds(cfg.settings.new_device_window) / 2))


def device_alerts(cfg: AlertRulesConfig) -> list[dict]:
    """NetvizFlowNewDevice, in a group of its own (DEVICE_GROUP): its look-back reads a week of the
    hosts' series, which an evaluation every scrape interval would repeat for nothing."""
    s, f = cfg.settings, cfg.selectors.flow_exporter_selector
    return [_alert(
        cfg,
        "NetvizFlowNewDevice",
        expr=new_devices(f, s.new_device_window, s.new_device_lookback),
        for_="0m",
        severity="warning",
        summary="New device {{ $labels.host }} ({{ $labels.name }}) in {{ $labels.subnet }}.",
        description=(
            "{{ $labels.host }} in subnet {{ $labels.subnet }} (name {{ $labels.name }}: from reverse DNS, else its "
            f"address) sent or received traffic in the last {s.new_device_window} and not in the "
            f"{s.new_device_lookback} before, and it is not in network.toml's [[hosts]]. If you know it, name it "
            "there; if you do not, find it (pfSense's DHCP leases, the switch port)."
        ),
    )]


def caretta_alerts(cfg: AlertRulesConfig) -> list[dict]:
    s, c, n = cfg.settings, cfg.selectors.caretta_selector, cfg.expected_caretta_agents
    return [
        _alert(
            cfg,
            "NetvizCarettaAgentsMissing",
            # `or vector(0)`: with no agent scraped at all, count() is empty, not 0.
            expr=f"(count(up{selector(c)} == 1) or vector(0)) < {n}",
            for_=s.caretta_agents_missing_for,
            severity="warning",
            summary="{{ $value }} of " + f"{n} Caretta agents are scraped.",
            description=(
                "Prometheus scrapes {{ $value }} Caretta agent(s) " + f"({c or 'any job'}) successfully, but "
                f"kubernetes.nodes in network.toml lists {n} nodes, for {s.caretta_agents_missing_for}: the "
                "links seen on the other nodes are missing from the K8s Pod Topology dashboard."
            ),
        ),
    ]


def _internet_volume(cfg: AlertRulesConfig):
    """NetvizFlowInternetVolume, or None when no host has a limit (the default 0 and no [[hosts]] limit)."""
    s, f = cfg.settings, cfg.selectors.flow_exporter_selector
    window = s.internet_volume_window
    expr = internet_over_limit(f, window, checks.byte_count(s.internet_volume_limit), dict(cfg.internet_volume_limits))
    if not expr:
        return None
    return _alert(
        cfg,
        "NetvizFlowInternetVolume",
        expr=expr,
        for_="0m",
        severity="warning",
        summary="{{ $labels.host }} ({{ $labels.name }}) used {{ $value | humanize }}B of internet in " + window + ".",
        description=(
            "{{ $labels.host }} ({{ $labels.name }}) in subnet {{ $labels.subnet }} sent and received "
            "{{ $value | humanize }}B to and from external addresses in the last " + window + ", above its limit of "
            "{{ $labels.limit | humanize }}B (network.toml: its [[hosts]] entry's internet_volume_limit, else "
            "[alerts] internet_volume_limit). A backup, an update or a stream, or a device that should not talk "
            "that much: the Internet usage row of Network Flows shows when."
        ),
    )


def rule_groups(cfg: AlertRulesConfig) -> list[dict[str, Any]]:
    """The rule groups, as a Prometheus rule file's `groups` (and a PrometheusRule's spec) hold them:
    the alerts (none when `[alerts] enabled = false`), and the rollups Network Flows reads, always."""
    rollup = rollups.group(cfg.selectors.flow_exporter_selector, cfg.rollup_interval)
    if not cfg.settings.enabled:
        return [rollup]
    return [
        {"name": FLOW_GROUP, "rules": flow_alerts(cfg)},
        {"name": CARETTA_GROUP, "rules": caretta_alerts(cfg)},
        {"name": DEVICE_GROUP, "interval": device_interval(cfg), "rules": device_alerts(cfg)},
        rollup,
    ]


def alert_names(cfg: AlertRulesConfig = AlertRulesConfig()) -> dict[str, list[str]]:
    """{group name: its alert names}."""
    return {g["name"]: [r["alert"] for r in g["rules"]] for g in rule_groups(cfg) if g["name"] != ROLLUP_GROUP}


def rule_file_yaml(groups: Sequence[dict[str, Any]]) -> str:
    """`groups` as a Prometheus rule file, block YAML in the rules' own key order (alert, expr,
    for, labels, annotations), long lines never folded."""
    return yaml.safe_dump({"groups": list(groups)}, sort_keys=False, allow_unicode=True, width=1 << 30)
