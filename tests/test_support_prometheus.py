"""The Prometheus harness of tests/support is itself tested against the real server."""

from __future__ import annotations

import os
import time

import pytest

from tests.support.prometheus import (
    PrometheusError,
    PrometheusServer,
    pod,
    pod_targets,
    promtool,
    swap_kubernetes_sd_for_file_sd,
)
from tests.support.tools import require_tool


def static_job(name, *addresses, **extra):
    return {"job_name": name, "static_configs": [{"targets": list(addresses)}], **extra}


def test_scrapes_a_target_and_queries_see_each_new_value(start_prometheus, serve_metrics):
    # GIVEN a target serving a gauge, scraped by a real Prometheus
    target = serve_metrics("# TYPE demo_value gauge\ndemo_value 41\n")
    prom = start_prometheus({"scrape_configs": [static_job("demo", target.address)]})
    # WHEN it has scraped once
    [t] = prom.wait_for_scrape("demo")
    # THEN the value is queryable, with the job's labels
    assert t["health"] == "up" and t["labels"]["job"] == "demo"
    assert prom.query_value('demo_value{job="demo"}') == 41.0
    # AND a changed value is seen after the next scrape
    target.set_text("# TYPE demo_value gauge\ndemo_value 42\n")
    prom.wait_for_scrape("demo")
    assert prom.query_value('demo_value{job="demo"}') == 42.0
    assert target.scrapes >= 2


def test_query_value_refuses_several_series_and_query_reports_bad_promql(start_prometheus, serve_metrics):
    target = serve_metrics('# TYPE m gauge\nm{k="a"} 1\nm{k="b"} 2\n')
    prom = start_prometheus({"scrape_configs": [static_job("two", target.address)]})
    prom.wait_for_scrape("two")
    assert prom.query_map("m", by="k") == {"a": 1.0, "b": 2.0}
    with pytest.raises(PrometheusError, match="returned 2 series"):
        prom.query_value("m")
    assert prom.query_value('m{k="none"}') is None
    with pytest.raises(PrometheusError, match="bad_data"):
        prom.query("sum(")


def test_wait_for_targets_reports_a_down_target(start_prometheus):
    prom = start_prometheus({"scrape_configs": [static_job("nothing", "127.0.0.1:1")]})
    [t] = prom.wait_for_targets("nothing", health="down")
    assert t["lastError"]
    with pytest.raises(PrometheusError, match="nothing"):
        prom.wait_for_targets("nothing", health="up", timeout=1.5)


def test_a_rejected_config_fails_start_with_the_servers_own_message():
    # A misspelt field: the server must refuse the file, loudly, naming it.
    job = {"job_name": "typo", "scrape_intervall": "1s", "static_configs": [{"targets": ["127.0.0.1:1"]}]}
    with pytest.raises(PrometheusError, match="scrape_intervall"):
        PrometheusServer({"scrape_configs": [job]}).start()


def test_the_server_and_promtool_are_the_prometheus_the_pinned_chart_deploys(start_prometheus):
    # chart 29.27.0's appVersion (netviz_config/schema.py), never Debian's 2.42 or another copy on PATH
    from netviz_config.schema import PROMETHEUS_CHART_APP_VERSION

    prom = start_prometheus({"scrape_configs": []})
    assert prom.buildinfo()["version"] == PROMETHEUS_CHART_APP_VERSION.lstrip("v") == "3.14.0"
    proc = promtool("--version")
    assert proc.stdout.startswith("promtool, version 3.14.0 "), proc.stdout
    # and it has what Debian's build lacked: Kubernetes discovery is a known field now
    kubernetes = {"job_name": "pods", "kubernetes_sd_configs": [{"role": "pod"}]}
    start_prometheus({"scrape_configs": [kubernetes]})


def test_stop_ends_the_process_and_removes_its_folder(serve_metrics):
    with PrometheusServer({"scrape_configs": []}) as prom:
        folder, url = prom.directory, prom.url
        assert os.path.isdir(folder)
        proc = prom._proc
    assert proc.poll() is not None
    assert not os.path.exists(folder)
    with pytest.raises(OSError):
        import urllib.request

        urllib.request.urlopen(url + "/-/ready", timeout=2)


def test_rules_are_loaded_and_evaluated(start_prometheus, serve_metrics):
    target = serve_metrics("# TYPE c counter\nc_total 10\n")
    rules = "groups:\n- name: g\n  rules:\n  - record: job:c:doubled\n    expr: 2 * c_total\n"
    prom = start_prometheus({"scrape_configs": [static_job("c", target.address)]}, rule_files={"r.yml": rules})
    prom.wait_for_scrape("c")
    prom.wait_for_rule_evaluation()
    deadline = time.monotonic() + 10
    while prom.query_value("job:c:doubled") is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert prom.query_value("job:c:doubled") == 20.0


# ---- promtool ------------------------------------------------------------------------------


def test_promtool_accepts_good_exposition_and_reports_bad():
    good = "# HELP x_total Things.\n# TYPE x_total counter\nx_total 1\n"
    assert promtool("check", "metrics", input=good).returncode == 0
    bad = "# HELP x Things.\n# TYPE x counter\nx 1\n"  # a counter not ending in _total
    proc = promtool("check", "metrics", input=bad, check=False)
    assert proc.returncode != 0 and "_total" in (proc.stdout + proc.stderr)
    with pytest.raises(PrometheusError, match="promtool check metrics exited"):
        promtool("check", "metrics", input=bad)


def test_a_missing_tool_fails_the_test_naming_it():
    with pytest.raises(pytest.fail.Exception, match="'netviz-no-such-tool' is not installed"):
        require_tool("netviz-no-such-tool")


# ---- Kubernetes pod discovery simulated with file discovery ----------------------------------

CARETTA_LIKE_JOB = {
    "job_name": "caretta",
    "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": ["caretta"]}}],
    "relabel_configs": [
        {"source_labels": ["__meta_kubernetes_pod_label_app"], "regex": "caretta", "action": "keep"},
        {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "prom-metrics", "action": "keep"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
        {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_instance"], "target_label": "release"},
    ],
}


def caretta_pod(name, node, port, namespace="caretta", app="caretta"):
    return pod(
        name,
        namespace=namespace,
        node=node,
        ip="127.0.0.1",
        labels={"app": app, "app.kubernetes.io/name": app, "app.kubernetes.io/instance": "netviz"},
        controller=("DaemonSet", app),
        containers=[
            {
                "name": "caretta",
                "image": "quay.io/groundcover/caretta:v0.0.16",
                "ports": [
                    {"name": "prom-metrics", "containerPort": port, "protocol": "TCP"},
                    {"name": "other", "containerPort": 1, "protocol": "TCP"},
                ],
            }
        ],
    )


def test_pod_targets_carry_the_labels_kubernetes_discovery_sets():
    groups = pod_targets(caretta_pod("caretta-a", "k8s-node-0", 7117))
    assert [g["targets"] for g in groups] == [["127.0.0.1:7117"], ["127.0.0.1:1"]]
    labels = groups[0]["labels"]
    assert labels["__meta_kubernetes_pod_name"] == "caretta-a"
    assert labels["__meta_kubernetes_namespace"] == "caretta"
    assert labels["__meta_kubernetes_pod_node_name"] == "k8s-node-0"
    assert labels["__meta_kubernetes_pod_label_app_kubernetes_io_name"] == "caretta"
    assert labels["__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name"] == "true"
    assert labels["__meta_kubernetes_pod_container_port_name"] == "prom-metrics"
    assert labels["__meta_kubernetes_pod_container_port_number"] == "7117"
    assert labels["__meta_kubernetes_pod_container_port_protocol"] == "TCP"
    assert labels["__meta_kubernetes_pod_container_name"] == "caretta"
    assert labels["__meta_kubernetes_pod_container_init"] == "false"
    assert labels["__meta_kubernetes_pod_ready"] == "true"
    assert labels["__meta_kubernetes_pod_phase"] == "Running"
    assert labels["__meta_kubernetes_pod_controller_kind"] == "DaemonSet"
    # A pod without an IP is not discovered; a container without ports gives one target at the pod IP.
    assert pod_targets(pod("pending", ip="")) == []
    assert [g["targets"] for g in pod_targets(pod("bare", containers=[{"name": "c"}]))] == [["127.0.0.1"]]


def test_pod_targets_reads_kubernetes_manifests_too():
    manifest = {
        "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "x"},
                     "ownerReferences": [{"kind": "DaemonSet", "name": "x", "controller": True}]},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "web", "containerPort": 80}]}]},
        "status": {"podIP": "10.1.2.3", "phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]},
    }
    [g] = pod_targets(manifest)
    assert g["targets"] == ["10.1.2.3:80"]
    assert g["labels"]["__meta_kubernetes_pod_ready"] == "false"
    assert g["labels"]["__meta_kubernetes_pod_node_name"] == "n1"
    assert g["labels"]["__meta_kubernetes_pod_controller_name"] == "x"


def test_swap_refuses_what_it_cannot_simulate():
    with pytest.raises(ValueError, match="no kubernetes_sd_configs"):
        swap_kubernetes_sd_for_file_sd({"job_name": "j", "static_configs": []}, [])
    with pytest.raises(ValueError, match="role 'node'"):
        swap_kubernetes_sd_for_file_sd({"job_name": "j", "kubernetes_sd_configs": [{"role": "node"}]}, [])


def test_the_real_server_applies_the_jobs_relabel_rules_to_simulated_pods(start_prometheus, serve_metrics, tmp_path):
    # GIVEN two Caretta agents on two nodes, a pod of another app, and a Caretta pod in another namespace
    agent_a = serve_metrics('# TYPE caretta_links_observed gauge\ncaretta_links_observed{link_id="1"} 100\n')
    agent_b = serve_metrics('# TYPE caretta_links_observed gauge\ncaretta_links_observed{link_id="2"} 250\n')
    pods = [
        caretta_pod("caretta-a", "k8s-node-0", agent_a.port),
        caretta_pod("caretta-b", "k8s-node-1", agent_b.port),
        caretta_pod("web-1", "k8s-node-0", agent_a.port, app="web"),
        caretta_pod("caretta-elsewhere", "k8s-node-2", agent_a.port, namespace="default"),
    ]
    # WHEN the pod-discovery job is swapped to file discovery and run by the real server
    job = swap_kubernetes_sd_for_file_sd(CARETTA_LIKE_JOB, pods, directory=str(tmp_path))
    assert "kubernetes_sd_configs" not in job and job["relabel_configs"] == CARETTA_LIKE_JOB["relabel_configs"]
    prom = start_prometheus({"scrape_configs": [job]})
    targets = prom.wait_for_scrape("caretta", count=2)
    # THEN it keeps exactly the agents' metrics ports, labelled by pod and node
    kept = sorted((t["labels"]["pod"], t["labels"]["node"], t["labels"]["release"], t["scrapeUrl"]) for t in targets)
    assert kept == [
        ("caretta-a", "k8s-node-0", "netviz", f"http://127.0.0.1:{agent_a.port}/metrics"),
        ("caretta-b", "k8s-node-1", "netviz", f"http://127.0.0.1:{agent_b.port}/metrics"),
    ]
    dropped = {t["discoveredLabels"]["__meta_kubernetes_pod_name"] for t in prom.targets("dropped")}
    assert dropped == {"caretta-a", "caretta-b", "web-1"}  # the "other" ports and the other app
    # AND the scraped series carry those labels
    assert prom.query_map("caretta_links_observed", by=("pod", "node")) == {
        ("caretta-a", "k8s-node-0"): 100.0,
        ("caretta-b", "k8s-node-1"): 250.0,
    }
