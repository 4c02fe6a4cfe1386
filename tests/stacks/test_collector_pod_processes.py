"""The goflow2 pod as synthesized, run as processes: what is deployed is what is tested.

From the synthesized goflow2 stack: the init container's command (makes the FIFO), the collector
container's command (the shell wrapper around GoFlow2, with the synthesized flags and mapping file),
the exporter container's command and environment, and the ConfigMap holding the exporter's code,
network.toml and the GoFlow2 mapping, laid out as the volume mounts say (tests/support/goflow2.py
CollectorPod). GoFlow2 is the real v2.2.6. STAND-IN: the Kubernetes pod itself (processes in a
network namespace of their own, sharing a folder as the emptyDir, as the pod's user).
Restarts of each container: tests/e2e/test_collector_restarts.py.
"""

from __future__ import annotations

import os
import stat

import pytest

from netviz_constructs.flow_collector import APP_DIR, CONFIG_DIR, EXPORTER_METRICS_PORT_NAME, FLOWS_DIR
from tests.support.goflow2 import CollectorPod, NetflowSender, http_get, metric_sum, pod_from_synth, wait_until


@pytest.fixture
def pod(synthesized):
    spec, files = pod_from_synth(synthesized)
    with CollectorPod(spec, files) as p:
        yield p


@pytest.fixture(scope="module")
def datagrams(tmp_path_factory):
    from tests.support.flowgen import softflowd_stream

    return softflowd_stream(tmp_path_factory.mktemp("stream"), 60)


def test_exporter_runs_from_the_configmap_alone(pod):
    assert os.path.isfile(pod.path(f"{APP_DIR}/flow_exporter/__main__.py"))
    assert os.path.isfile(pod.path(f"{APP_DIR}/netviz_config/loader.py"))
    assert os.path.isfile(pod.path(f"{CONFIG_DIR}/network.toml"))
    assert os.path.isfile(pod.path(f"{CONFIG_DIR}/goflow2-mapping.yaml"))


def test_goflow2_v2_2_6_accepts_the_synthesized_flags_and_answers_its_probes_before_the_exporter_runs(pod):
    pod.init()
    assert stat.S_ISFIFO(os.stat(pod.path(f"{FLOWS_DIR}/goflow2.fifo")).st_mode)
    pod.init()  # an init container may run again (pod restart with the volume kept): no error
    # The collector starts alone and is ready: the wrapper's read-write descriptor means GoFlow2's
    # O_WRONLY open of the FIFO does not wait for a reader.
    pod.start_collector()
    for probe in ("liveness_probe", "readiness_probe"):
        status, body = http_get(pod.probe_url("goflow2", probe))
        assert (status, body) == (200, b"OK\n"), probe
    log = pod.log("goflow2")
    # every flag of the synthesized command was accepted (Go's flag package exits on an unknown one),
    # and the netflow:// listener is GoFlow2's NetFlow v5/v9/IPFIX one on the synthesized port
    assert "flag provided but not defined" not in log
    assert f'msg="starting collection" scheme=netflow hostname="" port={pod.netflow_port}' in log, log
    assert pod.running("goflow2")


def test_an_unknown_flag_stops_goflow2_so_the_check_above_can_fail(synthesized):
    spec, files = pod_from_synth(synthesized)
    spec = {**spec, "container": [{**c, "command": [*c["command"], "-no-such-flag=1"]} if c["name"] == "goflow2" else c
                                  for c in spec["container"]]}
    with CollectorPod(spec, files) as p:
        p.init()
        with pytest.raises(AssertionError, match="exited 2"):
            p.start_collector()
        assert "flag provided but not defined: -no-such-flag" in p.log("goflow2")


def test_collector_metrics_carry_the_names_and_labels_the_dashboard_reads(pod, datagrams):
    """GoFlow2's own /metrics after real NetFlow: the series "Collector health" queries exist with
    their labels (dashboards/network_flows.py); their values are checked in
    tests/dashboards/test_collector_health_real.py."""
    pod.init()
    pod.start_collector()
    pod.start_exporter()
    with NetflowSender(["lan"], source_ip=pod.network.node_ip) as sender:
        sender.send("lan", datagrams.datagrams[:2], (pod.network.pod_ip, pod.netflow_port), decoded=pod.decoded)
    m = pod.collector_metrics()
    traffic = {dict(labels)["remote_ip"]: v for (name, labels), v in m.items() if name == "goflow2_flow_traffic_packets_total"}
    assert traffic == {pod.network.node_ip: 2}
    (labels,) = [dict(ls) for (name, ls), _ in m.items() if name == "goflow2_flow_traffic_packets_total"]
    assert set(labels) == {"remote_ip", "local_ip", "local_port", "type"}
    assert labels["type"] == "netflow" and labels["local_port"] == str(pod.netflow_port)
    wait_until("the exporter to read the records", lambda: metric_sum(
        pod.metrics(EXPORTER_METRICS_PORT_NAME), "netviz_flow_exporter_records_total") == datagrams.records_in(0, 2))


def test_exporter_starts_with_a_config_naming_files_it_does_not_get(tmp_path, datagrams):
    """The ConfigMap holds network.toml alone; a values_file it names (adopt mode) is not there."""
    from tests.synth import config_text, synth

    (tmp_path / "prometheus-values.yaml").write_text("server: {}\n")
    text = config_text(lambda t: t + '\n[monitoring.prometheus]\nvalues_file = "prometheus-values.yaml"\n')
    spec, files = pod_from_synth(synth(text, outdir=str(tmp_path)))
    with CollectorPod(spec, files) as p:
        p.init()
        p.start_collector()
        p.start_exporter()
        with NetflowSender(["lan"], source_ip=p.network.node_ip) as sender:
            sender.send("lan", datagrams.datagrams[:1], (p.network.pod_ip, p.netflow_port), decoded=p.decoded)
        wait_until("the exporter to count the first datagram's records", lambda: metric_sum(
            p.metrics(EXPORTER_METRICS_PORT_NAME), "netviz_flow_exporter_records_total") == datagrams.records[0])
