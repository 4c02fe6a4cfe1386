"""Your network's own rules, end to end: a policy-breaking conversation, a new device and a device
over its internet volume each fire their alert with the right labels, and each resolves.

The real flow exporter (`python -m flow_exporter`) follows a file of GoFlow2 JSON lines from
pfSense (tests/dashboards/flows_fixture.py); a real Prometheus 3.14 scrapes it every second and
evaluates the rule file `python -m alerts` prints for the same network.toml. That file has the
shipped network, the fixture's two [[policy]] rules and short windows, so a test takes a minute
and not a week: counting window 8 s, new devices over a 20 s look-back and a 10 s window (the
look-back reads the hosts' rollup snapshots, recorded every 4 s here), internet volume 1 MB in 10 s.

1. Old traffic: a device nobody named (10.0.20.150) talks to a Kubernetes node from the start. While
   Prometheus holds less history than the look-back, no device is new, not even that one.
2. Once it holds enough, one batch: home's proxmox opens SMB on the NAS (home may not reach
   storage), the NAS answers a Kubernetes node's NFS request (allowed: a reply), a phone nobody
   named (10.0.20.151) appears with a little internet traffic, and k8s-node-0 downloads 2 MB.
3. Each of the three alerts fires once, with exactly its labels; nothing fires for the old device,
   the allowed reply or the phone's small usage. Then, with no more traffic, each resolves.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import dashboards
from dashboards import rollups
from dashboards.config import DashboardConfig
from tests.dashboards import flows_fixture as ff
from tests.dashboards.dashboard_exprs import substitute, target
from tests.flow_exporter.helpers import REPO, Exporter, wait_until, with_scrape_interval
from tests.support.prometheus import PrometheusServer

OLD_DEVICE, PHONE, NODE, NAS, PROXMOX = "10.0.20.150", "10.0.20.151", "10.0.20.100", "10.0.10.15", "192.168.1.127"
# Windows long enough that the three alerts of one batch overlap (a new device is new for WINDOW;
# the other two fire while their windows hold the batch) even on a loaded machine.
LOOKBACK, WINDOW = "20s", "10s"
ROLLUP_INTERVAL = "4s"  # the hosts' snapshots NetvizFlowNewDevice's look-back reads (4 scrape intervals)
SETTINGS = f"""
[names]
enabled = false

[alerts]
count_window = "8s"
new_device_lookback = "{LOOKBACK}"
new_device_window = "{WINDOW}"
internet_volume_limit = "1MB"
internet_volume_window = "10s"
"""
OURS = ("NetvizFlowPolicyViolation", "NetvizFlowNewDevice", "NetvizFlowInternetVolume")
NOW_NS = time.time_ns


def _lines(*flows: ff.Flow) -> str:
    return "".join(f.line(NOW_NS()) + "\n" for f in flows)


def _ours(prom) -> dict[str, list[dict]]:
    """{alert name: labels of each of its firing alerts} of the three alerts under test."""
    out: dict[str, list[dict]] = {}
    for a in prom.alerts():
        if a["labels"]["alertname"] in OURS and a["state"] == "firing":
            out.setdefault(a["labels"]["alertname"], []).append(a["labels"])
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("network-rules")
    config = work / "network.toml"
    toml = with_scrape_interval(ff.NETWORK_TOML_PATH.read_text() + ff.POLICY_TOML + SETTINGS, "1s")
    config.write_text(toml + f'rollup_interval = "{ROLLUP_INTERVAL}"\n')
    rules = subprocess.run([sys.executable, "-m", "alerts", "--config", str(config)], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout
    records = work / "flows.jsonl"
    records.write_text(_lines(ff.Flow(OLD_DEVICE, NODE, "TCP", 50000, 8443, 5_000, 10)))
    exporter = Exporter(str(config), str(records), str(work / "exporter.log"))
    seen: dict = {}
    try:
        with PrometheusServer({"scrape_configs": [{"job_name": "flow-exporter",
                                                   "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"]}]}]},
                              rule_files={"netviz.yml": rules}) as prom:
            snapshots = rollups.last_name("netviz_host_bytes_total")
            history = f'group(present_over_time({snapshots}{{job="flow-exporter"}}[{WINDOW}] offset {LOOKBACK}))'
            new_device_rule = next(r["query"] for g in prom.rules() for r in g["rules"] if r["name"] == "NetvizFlowNewDevice")
            wait_until("the old device's series in Prometheus", lambda: prom.query(
                f'netviz_host_bytes_total{{host="{OLD_DEVICE}"}}'), timeout=30)
            # 1. a fresh install: every device is "new" to it, and none is called new
            seen["before_history"] = (prom.query(new_device_rule), _ours(prom))
            wait_until(f"Prometheus to hold {LOOKBACK} of history", lambda: prom.query(history), timeout=60)
            # 2. the batch
            with open(records, "a") as f:
                f.write(_lines(
                    ff.Flow(PROXMOX, NAS, "TCP", 40000, 445, 300_000, 200, in_if=2),  # home -> storage: forbidden
                    ff.Flow(NAS, NODE, "TCP", 2049, 51000, 700_000, 500, in_if=2),  # storage answers NFS: allowed
                    ff.Flow(PHONE, "1.1.1.1", "UDP", 53000, 53, 2_000, 10),  # a new device, little usage
                    ff.Flow("93.184.216.34", NODE, "TCP", 443, 52000, 2_000_000, 1500),  # 2 MB from the internet
                ))
            def all_firing():
                seen["fired"], seen["fired_at"] = _ours(prom), time.time()
                return set(seen["fired"]) == set(OURS)

            wait_until("all three alerts firing", all_firing, timeout=60)
            board = dashboards.render_network_flows(DashboardConfig(new_device_lookback=LOOKBACK, rollup_interval=ROLLUP_INTERVAL))
            panel = substitute(target(board, "New devices", "A")["expr"], {"__range": WINDOW})
            seen["panel"] = prom.query(panel, time=seen["fired_at"])
            # 3. no more traffic: each resolves
            wait_until("every alert resolved", lambda: not _ours(prom), timeout=60)
            seen["resolved"] = _ours(prom)
    finally:
        exporter.cleanup()
    return seen


def test_no_device_is_new_before_prometheus_holds_the_look_back(run):
    rows, firing = run["before_history"]
    assert rows == [] and "NetvizFlowNewDevice" not in firing


def test_the_policy_alert_names_the_rule_the_subnets_and_the_hosts_and_not_the_allowed_reply(run):
    assert run["fired"]["NetvizFlowPolicyViolation"] == [{
        "alertname": "NetvizFlowPolicyViolation", "rule": "home-not-to-storage", "src": PROXMOX, "src_subnet": "home",
        "dst": NAS, "dst_subnet": "storage", "severity": "warning"}]


def test_the_new_device_alert_names_the_new_address_only_and_the_panel_lists_it(run):
    assert run["fired"]["NetvizFlowNewDevice"] == [{
        "alertname": "NetvizFlowNewDevice", "host": PHONE, "subnet": "kubernetes", "name": PHONE, "severity": "warning"}]
    assert [(r["metric"]["host"], r["metric"]["subnet"], r["metric"]["name"]) for r in run["panel"]] == [
        (PHONE, "kubernetes", PHONE)]


def test_the_internet_volume_alert_names_the_host_over_its_limit_only(run):
    assert run["fired"]["NetvizFlowInternetVolume"] == [{
        "alertname": "NetvizFlowInternetVolume", "host": NODE, "subnet": "kubernetes", "name": "k8s-node-0",
        "limit": "1000000", "severity": "warning"}]


def test_each_alert_resolves_once_the_traffic_stops(run):
    assert run["resolved"] == {}
