"""The alerting rules in a REAL Prometheus, on a REAL flow exporter's metrics.

promtool's unit tests (test_alert_rules_promtool.py) feed the rules synthetic series; this proves
the series they assume are the ones the exporter really serves, under the labels netviz's scrape
jobs really give them. The chart's rule file and scrape jobs are rendered by the real Helm from a
synthesized platform stack (every `for` set to 0s, so nothing has to be waited out), the jobs'
Kubernetes discovery swapped for file discovery of the goflow2 pod as the goflow2 stack describes
it (tests/support/prometheus.py: there is no Kubernetes API here). The exporter runs as
`python -m flow_exporter`; GoFlow2's own metrics come from a stand-in target serving GoFlow2's
metric names (the decoder-error alerts need errors the idle real GoFlow2 never has; the real
GoFlow2's metric names are checked in tests/dashboards/test_collector_health_real.py); no Caretta
agent runs.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import yaml

from netviz_constructs.alerting_rules import RULE_FILE, RULE_FILE_PATH
from netviz_constructs.flow_collector import COLLECTOR_METRICS_PORT_NAME, EXPORTER_METRICS_PORT_NAME
from tests.flow_exporter.helpers import goflow2_line, wait_until
from tests.stacks.test_scrape_jobs_in_prometheus import goflow2_pod_from_synth
from tests.support.prometheus import PrometheusError, pod, swap_kubernetes_sd_for_file_sd
from tests.support.prometheus_chart import render_synthesized_files
from tests.support.tools import free_port
from tests.synth import REPO, config_text, synth

FOR_NOW = """
[alerts]
collector_down_for = "0s"
exporter_down_for = "0s"
records_stopped_for = "0s"
records_rejected_for = "0s"
unmapped_interface_for = "0s"
series_budget_for = "0s"
series_evicted_for = "0s"
decoder_errors_for = "0s"
caretta_agents_missing_for = "0s"

# One service series only: the first record fills that family, the next service evicts from it.
[flow_exporter.series_budgets]
services = 1
"""

# What GoFlow2 v2.2.6 serves before any NetFlow arrives: no flow series yet, so only its own.
GOFLOW2_IDLE = "# TYPE go_goroutines gauge\ngo_goroutines 12\n"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    d = tmp_path_factory.mktemp("alerts-live")
    out = synth(config_text() + FOR_NOW, outdir=str(d))
    return out, render_synthesized_files(out), d / "network.toml"


@pytest.fixture
def exporter(rendered):
    _, _, network_toml = rendered
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flow_exporter", "--config", str(network_toml), "--input", "-", "--listen", f"127.0.0.1:{port}"],
        cwd=REPO, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        yield proc, port
    finally:
        proc.kill()
        proc.wait(timeout=10)


def firing(prom) -> dict[str, list[dict]]:
    """{alert name: its firing alerts} from the server's rule state."""
    out: dict[str, list[dict]] = {}
    for group in prom.rules():
        for rule in group["rules"]:
            if rule.get("type") == "alerting" and rule["state"] == "firing":
                out[rule["name"]] = [a for a in rule["alerts"] if a["state"] == "firing"]
    return out


def wait_for_firing(prom, expected: set[str], *, exactly: bool = True, timeout: float = 60) -> dict[str, list[dict]]:
    """Wait until the alerts `expected` fire (and, `exactly`, no others)."""
    deadline = time.monotonic() + timeout
    seen: dict = {}
    while time.monotonic() < deadline:
        seen = firing(prom)
        if set(seen) == expected or (not exactly and expected <= set(seen)):
            return seen
        time.sleep(0.2)
    raise PrometheusError(f"waited {timeout}s for {'exactly ' if exactly else ''}{sorted(expected)} firing; firing: {sorted(seen)}")


def test_the_rules_fire_and_resolve_on_the_real_exporters_metrics(rendered, exporter, start_prometheus, serve_metrics, tmp_path):
    out, files, _ = rendered
    config = yaml.safe_load(files["prometheus.yml"])
    assert RULE_FILE_PATH in config["rule_files"]
    jobs = {j["job_name"]: j for j in config["scrape_configs"] if j["job_name"] in ("caretta", "goflow2", "flow-exporter")}
    for job in jobs.values():
        job["scrape_interval"] = "1s"  # only so the test need not wait 30 s for each scrape
    proc, exporter_port = exporter
    goflow2 = serve_metrics(GOFLOW2_IDLE)
    labels, containers = goflow2_pod_from_synth(out, {COLLECTOR_METRICS_PORT_NAME: goflow2.port, EXPORTER_METRICS_PORT_NAME: exporter_port})
    collector_pod = pod("goflow2-7d9f8-x2kq4", namespace="goflow2", node="k8s-node-0", labels=labels, containers=containers)
    scrape = [swap_kubernetes_sd_for_file_sd(jobs[name], [collector_pod], directory=str(tmp_path / name))
              for name in ("goflow2", "flow-exporter")]
    scrape.append(swap_kubernetes_sd_for_file_sd(jobs["caretta"], [], directory=str(tmp_path / "caretta")))
    prom = start_prometheus({"scrape_configs": scrape}, rule_files={RULE_FILE: files[RULE_FILE]})
    prom.wait_for_scrape("flow-exporter")
    prom.wait_for_scrape("goflow2")

    # GIVEN GoFlow2 and the exporter up, no record yet, no Caretta agent
    now = wait_for_firing(prom, {"NetvizFlowRecordsStopped", "NetvizCarettaAgentsMissing"})
    (agents,) = now["NetvizCarettaAgentsMissing"]
    assert agents["annotations"]["summary"] == "0 of 5 Caretta agents are scraped."

    # WHEN the exporter reads a record received now and a line that is not JSON
    proc.stdin.write(goflow2_line(time_received_ns=time.time_ns()) + b"\n" + b"not json\n")
    proc.stdin.flush()

    # THEN records no longer look stopped, and the rejected line's reason is alerted on, labelled
    # as netviz's scrape job labels the exporter's series; the services family (a budget of 1) is full
    now = wait_for_firing(prom, {"NetvizFlowRecordsRejected", "NetvizCarettaAgentsMissing", "NetvizFlowSeriesBudgetFull"})
    (full,) = now["NetvizFlowSeriesBudgetFull"]
    assert (full["labels"]["family"], full["annotations"]["summary"]) == (
        "services", "The flow exporter's services series budget is 100% full.")
    (rejected,) = now["NetvizFlowRecordsRejected"]
    assert {k: rejected["labels"][k] for k in ("job", "namespace", "pod", "node", "reason", "severity")} == {
        "job": "flow-exporter", "namespace": "goflow2", "pod": "goflow2-7d9f8-x2kq4", "node": "k8s-node-0",
        "reason": "invalid_json", "severity": "warning",
    }
    assert rejected["annotations"]["description"].startswith(f"The flow exporter 127.0.0.1:{exporter_port} rejected ")

    # WHEN a record of another service arrives THEN the services family evicts, and says so
    proc.stdin.write(goflow2_line(time_received_ns=time.time_ns(), dst_port=443) + b"\n")
    proc.stdin.flush()
    now = wait_for_firing(prom, {"NetvizFlowSeriesEvicted"}, exactly=False)
    assert [a["labels"]["family"] for a in now["NetvizFlowSeriesEvicted"]] == ["services"]

    # WHEN the exporter goes away THEN it is down, GoFlow2 is not (the rejection it counted before
    # stays in the last 5 minutes' increase, so that alert may go on a while)
    proc.kill()
    proc.wait(timeout=10)
    wait_until("the exporter's scrape to fail", lambda: prom.job_targets("flow-exporter")[0]["health"] == "down")
    now = wait_for_firing(prom, {"NetvizFlowExporterDown", "NetvizCarettaAgentsMissing"}, exactly=False)
    assert "NetvizFlowCollectorDown" not in now and "NetvizFlowRecordsStopped" not in now
