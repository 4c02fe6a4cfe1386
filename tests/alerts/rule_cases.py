"""`promtool test rules` cases for netviz's alerts, with the default `[alerts]` settings.

Each case is a network told in synthetic series (scraped every minute, as promtool does): a quiet
but healthy network, then the same network with one thing broken. At every evaluation time of a
case, EVERY alert of the rule file under test is checked: those the case expects fire with their
exact labels and annotations (promtool compares them whole), every other one must not. So a case
proves both that its alert fires and that no other alert goes off for the same cause (a quiet
network is not an outage; a down collector is not also "records stopped").

The expected texts are written out here, not computed from alerts/rules.py: they are what the
user reads. The rule file is the synthesized one (`run`): tests/stacks/test_alert_rules_promtool.py
and tests/stacks/test_terraform_reads_synthesized.py pass the text Helm renders and Terraform
stores.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Iterable, Optional

import yaml

from netviz_config.schema import SERIES_FAMILIES
from tests.support.prometheus import promtool

MINUTES = 60
RUNBOOK = "https://github.com/netviz/netviz/blob/main/README.md#"
REASONS = ("empty_line", "line_too_long", "invalid_json", "missing_field", "wrong_type", "negative_value", "invalid_address")
NODES = 5  # kubernetes.nodes of the shipped network.toml

# The targets as netviz's scrape jobs label them (netviz_constructs/scrape.py): job, namespace,
# pod, node, and Prometheus' instance.
EXPORTER = {"job": "flow-exporter", "instance": "10.42.0.7:9108", "namespace": "goflow2", "pod": "goflow2-7d9f8-x2kq4", "node": "k8s-node-0"}
COLLECTOR = {**EXPORTER, "job": "goflow2", "instance": "10.42.0.7:8080"}
PFSENSE = "10.0.20.1"


def _labels(labels: dict) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def every_10_minutes(until: int = MINUTES) -> str:
    """The newest-record time of a quiet network: a record every 10 minutes (softflowd's UDP
    timeout is 5), the gauge holding each record's time until the next."""
    return " ".join(f"{600 * i}x9" for i in range(until // 10)) + f" {600 * (until // 10)}"


def healthy(hours: int = 0) -> dict[str, str]:
    """{series: values} of a quiet, healthy network over an hour, a sample a minute; with `hours`,
    over that many hours, a sample an hour (HOURLY cases: a record every hour)."""
    n = hours or MINUTES
    s = {
        f"up{_labels(COLLECTOR)}": f"1x{n}",
        f"up{_labels(EXPORTER)}": f"1x{n}",
        f"netviz_flow_exporter_last_record_timestamp_seconds{_labels(EXPORTER)}": f"0+3600x{n}" if hours else every_10_minutes(),
        f"netviz_flow_exporter_records_total{_labels(EXPORTER)}": f"0+1x{n}" if hours else " ".join(f"{i}x9" for i in range(6)) + " 6",
        f"netviz_flow_exporter_records_unmapped_interface_total{_labels(EXPORTER)}": f"0x{n}",
        f"netviz_flow_exporter_records_untrusted_total{_labels(EXPORTER)}": f"0x{n}",
        f"netviz_flow_exporter_series{_labels(EXPORTER)}": f"30x{n}",
        f"netviz_flow_exporter_series_limit{_labels(EXPORTER)}": f"{sum(f.default_budget for f in SERIES_FAMILIES)}x{n}",
        f"netviz_flow_exporter_evictions_total{_labels(EXPORTER)}": f"0x{n}",
    }
    for f in SERIES_FAMILIES:  # every family present from the start, with the default budgets
        s[family_series("netviz_flow_exporter_family_series", f.name)] = f"6x{n}"
        s[family_series("netviz_flow_exporter_family_series_limit", f.name)] = f"{f.default_budget}x{n}"
        s[family_series("netviz_flow_exporter_family_evictions_total", f.name)] = f"0x{n}"
    for reason in REASONS:  # all present from the start (CONTRACTS)
        s[f"netviz_flow_exporter_records_rejected_total{_labels({**EXPORTER, 'reason': reason})}"] = f"0x{n}"
    for i in range(NODES):
        s[f"up{_labels(agent(i))}"] = f"1x{n}"
    return s


def agent(i: int) -> dict:
    return {"job": "caretta", "instance": f"10.42.{i}.5:7117", "namespace": "caretta", "pod": f"caretta-{i}x7z", "node": f"k8s-node-{i}"}


def exporter_series(name: str, **extra: str) -> str:
    return f"{name}{_labels({**EXPORTER, **extra})}"


def family_series(name: str, family: str) -> str:
    """A per-family self metric of the exporter (`family` as netviz_config.schema SERIES_FAMILIES names it)."""
    return exporter_series(name, family=family)


def alert(name: str, labels: dict, summary: str, description: str) -> dict:
    """One firing alert as promtool expects it (alertname is added by promtool)."""
    return {
        "exp_labels": dict(labels),
        "exp_annotations": {"summary": summary, "description": description, "runbook_url": RUNBOOK + name.lower()},
    }


def case(name: str, series: dict[str, str], expect: dict[int, dict[str, list]], interval: str = "1m") -> dict:
    """`expect`: {eval time: {alert name: its firing alerts}}; alerts not named must not fire.
    `interval`: of the series' samples and of the rules' evaluations, "1m" or "1h" (cases of a
    week); eval times count it (minutes, or hours)."""
    return {"name": name, "series": series, "expect": expect, "interval": interval}


COLLECTOR_DOWN = alert(
    "NetvizFlowCollectorDown",
    {"severity": "critical"},
    "GoFlow2, the NetFlow collector, is down.",
    'Prometheus has scraped no GoFlow2 target (job="goflow2") successfully for 5m: NetFlow from pfSense is '
    "not being received, so the Network Flows dashboard is going flat.",
)
EXPORTER_DOWN = alert(
    "NetvizFlowExporterDown",
    {"severity": "critical"},
    "The netviz flow exporter is down.",
    'Prometheus has scraped no flow exporter target (job="flow-exporter") successfully for 5m: GoFlow2\'s '
    "records are not turned into metrics, so the traffic panels of the Network Flows dashboard are empty.",
)
RECORDS_STOPPED = alert(
    "NetvizFlowRecordsStopped",
    {"severity": "critical"},
    "No NetFlow record for more than 15m.",
    "The netviz flow exporter has read no flow record received in the last 15m while GoFlow2 is up: pfSense "
    "stopped exporting, NetFlow no longer reaches GoFlow2, or GoFlow2's records no longer reach the exporter. "
    "The Network Flows dashboard looks like a quiet network, but it is not measuring.",
)


def rejected(reason: str, lines: str) -> dict:
    return alert(
        "NetvizFlowRecordsRejected",
        {**EXPORTER, "reason": reason, "severity": "warning"},
        f"The flow exporter rejects GoFlow2's records ({reason}).",
        f"The flow exporter {EXPORTER['instance']} rejected {lines} lines as {reason} in the last 5m, and has kept "
        "rejecting for 10m: GoFlow2's output is not what the exporter reads, and those flows are missing from "
        "the dashboard.",
    )


def unmapped(records: str) -> dict:
    return alert(
        "NetvizFlowUnmappedInterface",
        {**EXPORTER, "severity": "warning"},
        "Flow records carry an interface index network.toml does not name.",
        f"{records} flow records in the last 5m had an interface index (in_if) that no subnet's netflow_if_index "
        "in network.toml names, or 0, for 15m: they are counted, but a flow between two monitored subnets is "
        "counted twice.",
    )


def policy_violation(rule: str, src: str, src_subnet: str, dst: str, dst_subnet: str, size: str) -> dict:
    return alert(
        "NetvizFlowPolicyViolation",
        {"rule": rule, "src": src, "src_subnet": src_subnet, "dst": dst, "dst_subnet": dst_subnet, "severity": "warning"},
        f"{src} ({src_subnet}) reached {dst} ({dst_subnet}), which policy {rule} forbids.",
        f"{src} in {src_subnet} started {size}B of traffic to {dst} in {dst_subnet} in the last 5m: network.toml's "
        f"policy rule {rule} forbids it (an external end is `external`). pfSense lets it through: a firewall rule is "
        "missing, or a device is in the wrong VLAN.",
    )


def violation_series(rule: str, src: str, src_subnet: str, dst: str, dst_subnet: str, proto: str, port: str) -> str:
    return exporter_series("netviz_policy_violation_bytes_total", rule=rule, src=src, src_subnet=src_subnet, dst=dst,
                           dst_subnet=dst_subnet, proto=proto, port=port, service={"2049": "nfs", "443": "https"}[port])


def untrusted(records: str) -> dict:
    return alert(
        "NetvizFlowUntrustedSender",
        {**EXPORTER, "severity": "warning"},
        "NetFlow arrives from a sender netviz does not trust.",
        f"The flow exporter {EXPORTER['instance']} skipped {records} flow records in the last 5m from NetFlow "
        "senders that are not in goflow2.netflow_senders (pfsense.address when empty), for 5m: a router of yours "
        "not listed there (its flows are missing), or someone else sending NetFlow to the collector's NodePort "
        "(never counted).",
    )


def budget_full(family: str, percent: str) -> dict:
    return alert(
        "NetvizFlowSeriesBudgetFull",
        {**EXPORTER, "family": family, "severity": "warning"},
        f"The flow exporter's {family} series budget is {percent} full.",
        f"The flow exporter {EXPORTER['instance']} holds {percent} of its {family} budget "
        f"(flow_exporter.series_budgets.{family}; alert at 90%) for 15m: when full, that family evicts its least "
        "recently updated series.",
    )


def evicted(family: str, series: str) -> dict:
    return alert(
        "NetvizFlowSeriesEvicted",
        {**EXPORTER, "family": family, "severity": "warning"},
        f"The flow exporter is evicting {family} series.",
        f"The flow exporter {EXPORTER['instance']} evicted {series} {family} series in the last 5m, and has kept "
        f"evicting for 15m: that budget (flow_exporter.series_budgets.{family}) is too small for your network, so "
        "quiet entries drop out of the dashboard and restart from 0 when they come back.",
    )


def decoder_errors(router: str, datagrams: str) -> dict:
    return alert(
        "NetvizFlowDecoderErrors",
        {"router": router, "severity": "warning"},
        f"GoFlow2 cannot decode the NetFlow from {router}.",
        f"GoFlow2 failed to decode {datagrams} datagrams from {router} in the last 5m (not counting those "
        "waiting for a template), for 15m: that device sends something GoFlow2 cannot read (another NetFlow "
        "version, or another protocol on that port), and its flows are missing.",
    )


def agents_missing(scraped: int) -> dict:
    return alert(
        "NetvizCarettaAgentsMissing",
        {"severity": "warning"},
        f"{scraped} of {NODES} Caretta agents are scraped.",
        f'Prometheus scrapes {scraped} Caretta agent(s) (job="caretta") successfully, but kubernetes.nodes in '
        f"network.toml lists {NODES} nodes, for 10m: the links seen on the other nodes are missing from the "
        "K8s Pod Topology dashboard.",
    )


def _with(**changes: str) -> dict[str, str]:
    """healthy() with series replaced or added (keyword: series text, value: its values)."""
    s = healthy()
    s.update(changes)
    return s


def _gone_after(minute: int, first: str = "1") -> str:
    """A series of value `first` until `minute`, then gone (a stale marker: its target vanished)."""
    return f"{first}x{minute} stale"


def _expand(values: str) -> list[str]:
    """promtool's series notation (the forms used here: `a`, `axn`, `a+bxn`, `_`, `stale`) as one
    value per sample."""
    out: list[str] = []
    for word in values.split():
        m = re.fullmatch(r"(-?[\d.]+)(?:([+-][\d.]+))?x(\d+)", word)
        if not m:
            out.append(word)
            continue
        start, step, n = float(m.group(1)), float(m.group(2) or 0), int(m.group(3))
        out.extend(f"{start + step * i:g}" for i in range(n + 1))
    return out


def _until(values: str, minute: int) -> str:
    """`values` up to and including `minute`, then gone (the target vanished)."""
    return " ".join(_expand(values)[: minute + 1]) + " stale"


def _cases() -> list[dict]:
    """Cases of an hour, a sample a minute."""
    up_collector, up_exporter = f"up{_labels(COLLECTOR)}", f"up{_labels(EXPORTER)}"
    newest = exporter_series("netviz_flow_exporter_last_record_timestamp_seconds")
    exporter_metrics = [k for k in healthy() if k.startswith("netviz_")]
    cases = [
        case("a quiet, healthy network", healthy(), {20: {}, 40: {}, 60: {}}),
        case(
            "blips are not outages: a failed scrape, a restarting agent, a burst of rejected lines, of "
            "unmapped records, of evictions, a moment near the series cap, template errors after a restart",
            {
                **_with(),
                up_collector: "1x14 0 1x45",
                up_exporter: "1x14 0 1x45",
                f"up{_labels(agent(2))}": "1x20 0 0 1x38",
                exporter_series("netviz_flow_exporter_records_rejected_total", reason="wrong_type"): "0x20 3x40",
                exporter_series("netviz_flow_exporter_records_unmapped_interface_total"): "0x20 4x40",
                family_series("netviz_flow_exporter_family_evictions_total", "hosts"): "0x20 50x40",
                family_series("netviz_flow_exporter_family_series", "hosts"): "6x20 1950x4 6x35",
                f'goflow2_flow_decoder_error_total{_labels({**COLLECTOR, "router": PFSENSE, "name": "netflow"})}': "0x10 4+4x5 24x45",
                f'goflow2_flow_process_nf_errors_total{_labels({**COLLECTOR, "router": PFSENSE, "error": "template_not_found"})}': "0x10 4+4x5 24x45",
            },
            {m: {} for m in (16, 18, 22, 24, 26, 30, 40, 60)},
        ),
        case(
            "the collector is down (its container fails), so records stop too",
            {**_with(), up_collector: f"1x10 0x{MINUTES - 10}", newest: "0x9 600x51"},
            # At 40 the newest record is 30 minutes old, but GoFlow2 being down is what to say.
            {14: {}, 30: {"NetvizFlowCollectorDown": [COLLECTOR_DOWN]}, 40: {"NetvizFlowCollectorDown": [COLLECTOR_DOWN]}},
        ),
        case(
            "the collector pod is gone: no target left to be down, neither GoFlow2 nor the exporter",
            {
                **_with(),
                up_collector: _gone_after(10),
                up_exporter: _gone_after(10),
                **{k: _until(healthy()[k], 10) for k in exporter_metrics},
            },
            {14: {}, 22: {"NetvizFlowCollectorDown": [COLLECTOR_DOWN], "NetvizFlowExporterDown": [EXPORTER_DOWN]},
             30: {"NetvizFlowCollectorDown": [COLLECTOR_DOWN], "NetvizFlowExporterDown": [EXPORTER_DOWN]}},
        ),
        case(
            "the exporter is down (its metrics gone), GoFlow2 is up",
            {
                **_with(),
                up_exporter: f"1x10 0x{MINUTES - 10}",
                **{k: _until(healthy()[k], 10) for k in exporter_metrics},
            },
            {14: {}, 22: {"NetvizFlowExporterDown": [EXPORTER_DOWN]}, 30: {"NetvizFlowExporterDown": [EXPORTER_DOWN]}},
        ),
        case(
            "records stop arriving while GoFlow2 is up (the last one at minute 20)",
            {**_with(), newest: "0x9 600x9 1200x41"},
            # 15m without a record after minute 35, then `for` 5m.
            {35: {}, 38: {}, 50: {"NetvizFlowRecordsStopped": [RECORDS_STOPPED]}, 60: {"NetvizFlowRecordsStopped": [RECORDS_STOPPED]}},
        ),
        case(
            "the exporter restarts in a quiet network: the new pod reports 0 until its first record",
            {
                **_with(),
                up_exporter: "1x24 stale",
                newest: "0x9 600x9 1200x4 stale",
                f"up{_labels({**EXPORTER, 'pod': 'goflow2-7d9f8-b8m2c'})}": "_x25 1x35",
                f"netviz_flow_exporter_last_record_timestamp_seconds{_labels({**EXPORTER, 'pod': 'goflow2-7d9f8-b8m2c'})}": "_x25 0x4 1800x9 2400x9 3000x9 3600",
            },
            {30: {}, 40: {}, 50: {}, 60: {}},
        ),
        case(
            "the exporter restarts and no record ever comes again",
            {
                **_with(),
                up_exporter: "1x24 stale",
                newest: "0x9 600x9 1200x4 stale",
                f"up{_labels({**EXPORTER, 'pod': 'goflow2-7d9f8-b8m2c'})}": "_x25 1x35",
                f"netviz_flow_exporter_last_record_timestamp_seconds{_labels({**EXPORTER, 'pod': 'goflow2-7d9f8-b8m2c'})}": "_x25 0x35",
            },
            {35: {}, 50: {"NetvizFlowRecordsStopped": [RECORDS_STOPPED]}},
        ),
        case(
            "the exporter keeps rejecting GoFlow2's lines as invalid JSON",
            {**_with(), exporter_series("netviz_flow_exporter_records_rejected_total", reason="invalid_json"): "0x10 20+20x50"},
            {18: {}, 30: {"NetvizFlowRecordsRejected": [rejected("invalid_json", "100")]}},
        ),
        case(
            "records keep arriving with an interface index network.toml does not name",
            {**_with(), exporter_series("netviz_flow_exporter_records_unmapped_interface_total"): "0x10 5+5x50"},
            {22: {}, 40: {"NetvizFlowUnmappedInterface": [unmapped("25")]}},
        ),
        case(
            "an iot device reaches the NAS over two services, and a camera the internet: one alert per rule and hosts",
            {
                **_with(),
                violation_series("iot-not-to-storage", "10.0.30.7", "iot", "10.0.10.15", "storage", "TCP", "2049"): "_x10 0 4096+4096x49",
                violation_series("iot-not-to-storage", "10.0.30.7", "iot", "10.0.10.15", "storage", "TCP", "443"): "_x10 0 1024+1024x49",
                violation_series("cameras-offline", "10.0.40.3", "cameras", "external", "external", "TCP", "443"): "_x20 0 100+100x39",
            },
            {10: {}, 16: {"NetvizFlowPolicyViolation": [policy_violation("iot-not-to-storage", "10.0.30.7", "iot", "10.0.10.15", "storage", "25ki")]},
             30: {"NetvizFlowPolicyViolation": [
                 policy_violation("cameras-offline", "10.0.40.3", "cameras", "external", "external", "500"),
                 policy_violation("iot-not-to-storage", "10.0.30.7", "iot", "10.0.10.15", "storage", "25ki")]}},
        ),
        case(
            "a rule broken once, an hour ago: quiet now (its series stays, unchanged)",
            {**_with(), violation_series("iot-not-to-storage", "10.0.30.7", "iot", "10.0.10.15", "storage", "TCP", "2049"): "0 4096x59"},
            {10: {}, 40: {}},
        ),
        case(
            "records keep arriving from a NetFlow sender nobody configured",
            {**_with(), exporter_series("netviz_flow_exporter_records_untrusted_total"): "0x10 30+30x50"},
            {12: {}, 22: {"NetvizFlowUntrustedSender": [untrusted("150")]}},
        ),
        case(
            "one burst of untrusted records, then none: quiet once the window has passed",
            {**_with(), exporter_series("netviz_flow_exporter_records_untrusted_total"): "0x10 40x50"},
            {12: {}, 14: {}, 30: {}},
        ),
        case(
            "the hosts family holds 95% of its budget (the total is far from the sum of the budgets)",
            {**_with(), family_series("netviz_flow_exporter_family_series", "hosts"): "6x10 1900x50"},
            {22: {}, 40: {"NetvizFlowSeriesBudgetFull": [budget_full("hosts", "95%")]}},
        ),
        case(
            "the subnet_pairs family is at its budget and keeps evicting",
            {
                **_with(),
                family_series("netviz_flow_exporter_family_series", "subnet_pairs"): "6x10 1500x50",
                family_series("netviz_flow_exporter_family_evictions_total", "subnet_pairs"): "0x10 100+100x50",
            },
            {22: {}, 40: {"NetvizFlowSeriesBudgetFull": [budget_full("subnet_pairs", "100%")],
                          "NetvizFlowSeriesEvicted": [evicted("subnet_pairs", "500")]}},
        ),
        case(
            "a flood of spoofed sources: the open-ended families full and evicting are told as full, not as evicting",
            {
                **_with(),
                family_series("netviz_flow_exporter_family_series", "external_peers"): "6x10 6000x50",
                family_series("netviz_flow_exporter_family_evictions_total", "external_peers"): "0x10 5000+5000x50",
                family_series("netviz_flow_exporter_family_series", "external_conversations"): "6x10 4000x50",
                family_series("netviz_flow_exporter_family_evictions_total", "external_conversations"): "0x10 9000+9000x50",
            },
            {22: {}, 40: {"NetvizFlowSeriesBudgetFull": [budget_full("external_conversations", "100%"),
                                                         budget_full("external_peers", "100%")]}},
        ),
        case(
            "GoFlow2 cannot decode datagrams: pfSense's besides missing templates, and another device's",
            {
                **_with(),
                f'goflow2_flow_decoder_error_total{_labels({**COLLECTOR, "router": PFSENSE, "name": "netflow"})}': "0x10 5+5x50",
                f'goflow2_flow_process_nf_errors_total{_labels({**COLLECTOR, "router": PFSENSE, "error": "template_not_found"})}': "0x10 2+2x50",
                f'goflow2_flow_decoder_error_total{_labels({**COLLECTOR, "router": "10.0.30.5", "name": "netflow"})}': "0x10 1+1x50",
            },
            {22: {}, 40: {"NetvizFlowDecoderErrors": [decoder_errors("10.0.30.5", "5"), decoder_errors(PFSENSE, "15")]}},
        ),
        case(
            "GoFlow2's only errors are missing templates (softflowd resends them slowly on a quiet network)",
            {
                **_with(),
                f'goflow2_flow_decoder_error_total{_labels({**COLLECTOR, "router": PFSENSE, "name": "netflow"})}': "0x10 3+3x50",
                f'goflow2_flow_process_nf_errors_total{_labels({**COLLECTOR, "router": PFSENSE, "error": "template_not_found"})}': "0x10 3+3x50",
            },
            {40: {}, 60: {}},
        ),
        case(
            "one node's Caretta agent fails its scrapes",
            {**_with(), f"up{_labels(agent(3))}": f"1x10 0x{MINUTES - 10}"},
            {18: {}, 30: {"NetvizCarettaAgentsMissing": [agents_missing(4)]}},
        ),
        case(
            "no Caretta agent is left to scrape (the DaemonSet is gone)",
            {**_with(), **{f"up{_labels(agent(i))}": _gone_after(10) for i in range(NODES)}},
            {18: {}, 30: {"NetvizCarettaAgentsMissing": [agents_missing(0)]}},
        ),
    ]
    return cases


# ---- new devices: a week and more of history, a sample an hour ---------------------------------

WEEK_AND_A_DAY = 8 * 24  # hours of the hourly cases
PRINTER, PHONE, KNOWN = "10.0.20.150", "10.0.20.151", "10.0.20.120"


def host_series(address: str, subnet: str = "kubernetes") -> str:
    return f"netviz_host_bytes_total{_labels({**EXPORTER, 'subnet': subnet, 'host': address, 'name': address, 'direction': 'sent'})}"


def host_info(address: str, name: str, source: str) -> str:
    return f"netviz_host_info{_labels({**EXPORTER, 'host': address, 'name': name, 'source': source})}"


def new_device(address: str, name: str) -> dict:
    return alert(
        "NetvizFlowNewDevice",
        {"host": address, "name": name, "subnet": "kubernetes", "severity": "warning"},
        f"New device {address} ({name}) in kubernetes.",
        f"{address} in subnet kubernetes (name {name}: from reverse DNS, else its address) sent or received traffic "
        "in the last 1h and not in the 7d before, and it is not in network.toml's [[hosts]]. If you know it, name it "
        "there; if you do not, find it (pfSense's DHCP leases, the switch port).",
    )


def internet_series(address: str, direction: str, subnet: str = "kubernetes", name: str = "") -> str:
    return ("netviz_host_internet_bytes_total"
            + _labels({**EXPORTER, "subnet": subnet, "host": address, "name": name or address, "direction": direction}))


def internet_volume(address: str, name: str, subnet: str, used: str, limit: int, limit_text: str) -> dict:
    return alert(
        "NetvizFlowInternetVolume",
        {"host": address, "name": name, "subnet": subnet, "limit": str(limit), "severity": "warning"},
        f"{address} ({name}) used {used}B of internet in 1d.",
        f"{address} ({name}) in subnet {subnet} sent and received {used}B to and from external addresses in the last "
        f"1d, above its limit of {limit_text}B (network.toml: its [[hosts]] entry's internet_volume_limit, else "
        "[alerts] internet_volume_limit). A backup, an update or a stream, or a device that should not talk that "
        "much: the Internet usage row of Network Flows shows when.",
    )


def _per_hour(gigabytes: float, hours: int) -> str:
    """A counter growing by `gigabytes` (10^9 bytes) an hour."""
    return f"0+{int(gigabytes * 10**9)}x{hours}"


def _internet_cases() -> list[dict]:
    """Internet usage per host over a day (the default 50GB; truenas 500GB and proxmox none in the
    shipped network.toml). At hour 10 a day's window holds 10 hours: below every limit."""
    h, truenas, proxmox = 48, "10.0.10.15", "192.168.1.127"
    day = healthy(hours=h)
    return [
        case(
            "a device's internet usage, sent plus received, above the default limit over a day (either alone is not)",
            {**day, internet_series(PHONE, "sent"): _per_hour(1, h), internet_series(PHONE, "received"): _per_hour(1.5, h)},
            {10: {}, 30: {"NetvizFlowInternetVolume": [internet_volume(PHONE, PHONE, "kubernetes", "60G", 50 * 10**9, "50G")]}},
            interval="1h",
        ),
        case(
            "two devices of one subnet, each under the default limit and above it together: neither",
            {**day, internet_series(PHONE, "sent"): _per_hour(1.2, h), internet_series(PRINTER, "sent"): _per_hour(1.2, h)},
            {10: {}, 30: {}},
            interval="1h",
        ),
        case(
            "hosts with their own limit: truenas at 60GB a day is under its 500GB, at 600GB above; proxmox has none",
            {**day, host_info(truenas, "truenas", "config"): f"1x{h}", host_info(proxmox, "proxmox", "config"): f"1x{h}",
             internet_series(truenas, "received", "storage", "truenas"): "0+2500000000x24 85000000000+25000000000x23",
             internet_series(proxmox, "received", "home", "proxmox"): _per_hour(30, h)},
            {23: {}, 47: {"NetvizFlowInternetVolume": [internet_volume(truenas, "truenas", "storage", "600G", 500 * 10**9, "500G")]}},
            interval="1h",
        ),
    ]


def _appearing(at_hour: int, total: int = WEEK_AND_A_DAY) -> str:
    """Absent until `at_hour`, then a counter growing each hour."""
    return f"_x{at_hour} " + f"100+100x{total - at_hour}"


def _hourly_cases() -> list[dict]:
    h = WEEK_AND_A_DAY
    week = healthy(hours=h)
    always = {host_series(KNOWN): f"0+500x{h}"}
    return [
        case(
            "a device never seen before, after a week of history: new for an hour, named by DNS or by its address",
            {**week, **always, host_series(PRINTER): _appearing(190), host_info(PRINTER, "printer.home.arpa", "dns"): f"1x{h}",
             host_series(PHONE): _appearing(191)},
            {189: {}, 190: {"NetvizFlowNewDevice": [new_device(PRINTER, "printer.home.arpa")]},
             191: {"NetvizFlowNewDevice": [new_device(PHONE, PHONE)]}, 193: {}},
            interval="1h",
        ),
        case(
            "the exporter restarts: every host series goes for an hour and comes back from 0; no device is new",
            {**week, host_series(KNOWN): f"0+500x169 _ 0+500x{h - 171}"},
            {169: {}, 171: {}, 172: {}},
            interval="1h",
        ),
        case(
            "Prometheus restarts: a gap in every series; no device is new",
            {**{k: _gap(v, h) for k, v in week.items()}, host_series(KNOWN): f"0+500x169 _x2 0+500x{h - 172}"},
            {173: {}, 175: {}},
            interval="1h",
        ),
        case(
            "a new install: two days of history cannot say what is new, so nothing is",
            {**healthy(hours=48), host_series(KNOWN): "0+500x48", host_series(PRINTER): _appearing(30, 48)},
            {30: {}, 31: {}},
            interval="1h",
        ),
        case(
            "a host named in network.toml is never new",
            {**week, **always, host_series("10.0.20.100"): _appearing(190), host_info("10.0.20.100", "k8s-node-0", "config"): f"1x{h}"},
            {190: {}, 191: {}},
            interval="1h",
        ),
    ]


def _gap(values: str, hours: int) -> str:
    """A healthy hourly series with hours 170 and 171 missing (Prometheus down), same values after."""
    return f"{_head(values, 170)} _x2 {_tail(values, 172, hours)}"


def _head(values: str, n: int) -> str:
    start, step = _start_step(values)
    return f"{start}+{step}x{n - 1}"


def _tail(values: str, first: int, hours: int) -> str:
    start, step = _start_step(values)
    return f"{start + step * first}+{step}x{hours - first}"


def _start_step(values: str) -> tuple[float, float]:
    """(start, step) of a healthy hourly series: `A+BxN` or `AxN`."""
    body = values.split("x", 1)[0]
    start, _, step = body.partition("+")
    return float(start), float(step or 0)


CASES = _cases() + _hourly_cases() + _internet_cases()


def alert_names(rules_text: str) -> list[str]:
    return [r["alert"] for g in yaml.safe_load(rules_text)["groups"] for r in g["rules"] if "alert" in r]


def unit_tests(rule_file: str, names: Iterable[str], cases: list[dict], interval: str = "1m") -> dict:
    """The promtool test file: every case (all of `interval`), every alert of `names` checked at
    each eval time."""
    tests = []
    for c in cases:
        checks = []
        for minute, firing in sorted(c["expect"].items()):
            unknown = set(firing) - set(names)
            assert not unknown, f"case {c['name']!r} expects alerts the rule file lacks: {sorted(unknown)}"
            for name in names:  # eval times count the case's interval (minutes, or hours)
                checks.append({"eval_time": f"{minute}{interval[-1]}", "alertname": name, "exp_alerts": firing.get(name, [])})
        tests.append(
            {
                "name": c["name"],
                "interval": interval,
                "input_series": [{"series": k, "values": v} for k, v in c["series"].items()],
                "alert_rule_test": checks,
            }
        )
    return {"rule_files": [rule_file], "evaluation_interval": interval, "tests": tests}


def run(rules_text: str, cases: Optional[list[dict]] = None, *, check: bool = True):
    """`promtool check rules` then `promtool test rules` on `rules_text` (a rule file's text, as
    Prometheus would read it) with `cases`; fails with promtool's output unless both pass."""
    with tempfile.TemporaryDirectory(prefix="netviz-rules-") as work:
        rules = os.path.join(work, "rules.yml")
        with open(rules, "w") as f:
            f.write(rules_text)
        checked = promtool("check", "rules", rules, check=check)
        if check:
            count = sum(len(g["rules"]) for g in yaml.safe_load(rules_text)["groups"])  # alerts and rollups
            assert re.search(rf"SUCCESS: {count} rules found", checked.stdout), checked.stdout + checked.stderr
        # One promtool run per interval: the evaluation interval is the test file's.
        by_interval: dict[str, list] = {}
        for c in cases or CASES:
            by_interval.setdefault(c.get("interval", "1m"), []).append(c)
        outputs = []
        for interval, group in by_interval.items():
            tests = os.path.join(work, f"tests-{interval}.yml")
            with open(tests, "w") as f:
                json.dump(unit_tests("rules.yml", alert_names(rules_text), group, interval), f, indent=1)  # JSON is YAML
            outputs.append(promtool("test", "rules", tests, check=check))
        failed = [p for p in outputs if p.returncode != 0]
        return failed[0] if failed else outputs[-1]
