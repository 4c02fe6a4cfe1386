"""The platform's scrape jobs, as the prometheus chart writes them into prometheus.yml from the
synthesized values (tests/support/prometheus_chart.py), run in a REAL Prometheus.

No Kubernetes API server exists here for the discovery to ask, so each job's `kubernetes_sd_configs`
is swapped for file-based targets carrying the `__meta_kubernetes_pod_*` labels real pods would have (a
stand-in for the Kubernetes API, which cannot exist here). The job's own relabel rules then decide,
in the real server, which pods are scraped and with which labels.

Caretta's agent pods are described from the chart's DaemonSet template (FACTS: labels `app:
caretta`, `app.kubernetes.io/name: caretta`, `app.kubernetes.io/instance: <release>`, port
`prom-metrics` 7117), independently of netviz's code; the goflow2 pod from the goflow2 stack's own
synthesized Deployment.
"""

import pytest
import yaml

import netviz_config
from netviz_constructs.flow_collector import COLLECTOR_METRICS_PORT_NAME, EXPORTER_METRICS_PORT_NAME
from tests.support.prometheus import pod, swap_kubernetes_sd_for_file_sd
from tests.synth import DEFAULT_CONFIG

CARETTA_EXPOSITION = (
    "# HELP caretta_links_observed total bytes_sent value of links observed by caretta since its launch\n"
    "# TYPE caretta_links_observed gauge\n"
    'caretta_links_observed{client_id="1",client_kind="Deployment",client_name="web",client_namespace="shop",'
    'link_id="7",role="1",server_id="2",server_kind="StatefulSet",server_name="db",server_namespace="shop",'
    'server_port="5432"} 1234\n'
)


def caretta_agent(name, node, port, *, namespace="caretta", labels=None, phase="Running", port_name="prom-metrics"):
    chart_labels = {"app": "caretta", "app.kubernetes.io/name": "caretta", "app.kubernetes.io/instance": "caretta"}
    return pod(
        name,
        namespace=namespace,
        node=node,
        labels=chart_labels if labels is None else labels,
        phase=phase,
        controller=("DaemonSet", "caretta"),
        containers=[{"name": "caretta", "image": "quay.io/groundcover/caretta:v0.0.16",
                     "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}]}],
    )


@pytest.fixture(scope="module")
def jobs(prometheus_yml):
    netviz = ("caretta", "goflow2", "flow-exporter")
    jobs = {j["job_name"]: j for j in yaml.safe_load(prometheus_yml)["scrape_configs"] if j["job_name"] in netviz}
    assert sorted(jobs) == sorted(netviz)
    for job in jobs.values():
        assert job["scrape_interval"] == "30s"
        job["scrape_interval"] = "1s"  # only so the test need not wait 30 s for a first scrape
    return jobs


def test_caretta_job_keeps_every_agent_on_every_node_and_nothing_else(jobs, start_prometheus, serve_metrics, tmp_path):
    target = serve_metrics(CARETTA_EXPOSITION)
    nodes = [n.name for n in netviz_config.load(str(DEFAULT_CONFIG)).kubernetes.nodes]
    agents = [caretta_agent(f"caretta-{i}", node, target.port) for i, node in enumerate(nodes)]
    decoys = [
        # Same labels, other namespace: another install's agents are not ours.
        caretta_agent("caretta-elsewhere", nodes[0], target.port, namespace="other"),
        # Our namespace, but not an agent.
        caretta_agent("helper", nodes[0], target.port, labels={"app": "helper"}),
        # An agent of another release of the chart.
        caretta_agent("caretta-b-0", nodes[0], target.port, labels={"app": "caretta", "app.kubernetes.io/instance": "b"}),
        # A finished pod keeps its labels.
        caretta_agent("caretta-old", nodes[1], target.port, phase="Failed"),
        # An agent port that is not the metrics port.
        caretta_agent("caretta-pprof", nodes[2], target.port, port_name="pprof"),
    ]
    job = swap_kubernetes_sd_for_file_sd(jobs["caretta"], agents + decoys, directory=str(tmp_path))
    prom = start_prometheus({"scrape_configs": [job]})

    kept = prom.wait_for_targets("caretta", count=len(nodes), health="up")

    assert sorted(t["labels"]["node"] for t in kept) == sorted(nodes)
    for t in kept:
        assert t["labels"]["namespace"] == "caretta"
        assert t["labels"]["pod"].startswith("caretta-") and t["labels"]["pod"] not in {"caretta-old", "caretta-pprof", "caretta-b-0"}
        assert t["scrapeUrl"].endswith(f":{target.port}/metrics")
    prom.wait_for_scrape("caretta")
    assert prom.query_value('count(caretta_links_observed{job="caretta"})') == len(nodes)


def goflow2_pod_from_synth(synthesized, port_map):
    deployment = synthesized.resource("goflow2", "kubernetes_deployment_v1", "goflow2_deployment")
    template = deployment["spec"]["template"]
    containers = [
        {
            "name": c["name"],
            "image": c["image"],
            "ports": [
                {"name": p["name"], "containerPort": port_map.get(p["name"], p["container_port"]), "protocol": p["protocol"]}
                for p in c.get("port", [])
            ],
        }
        for c in template["spec"]["container"]
    ]
    return template["metadata"]["labels"], containers


@pytest.mark.parametrize("job_name, port_name", [("goflow2", COLLECTOR_METRICS_PORT_NAME), ("flow-exporter", EXPORTER_METRICS_PORT_NAME)])
def test_goflow2_jobs_keep_the_collector_pod_on_their_own_port(
    synthesized, jobs, start_prometheus, serve_metrics, tmp_path, job_name, port_name
):
    target = serve_metrics("# TYPE up_fixture gauge\nup_fixture 1\n")
    other = serve_metrics("# TYPE other gauge\nother 1\n")
    # Each metrics port of the real pod is pointed at a test server: the wanted one at `target`.
    labels, containers = goflow2_pod_from_synth(
        synthesized, {COLLECTOR_METRICS_PORT_NAME: other.port, EXPORTER_METRICS_PORT_NAME: other.port, port_name: target.port}
    )
    pods = [
        pod("goflow2-7d9f", namespace="goflow2", node="k8s-node-2", labels=labels, containers=containers),
        pod("debug", namespace="goflow2", node="k8s-node-2", labels={"run": "debug"}, containers=containers),
    ]
    job = swap_kubernetes_sd_for_file_sd(jobs[job_name], pods, directory=str(tmp_path))
    prom = start_prometheus({"scrape_configs": [job]})

    (kept,) = prom.wait_for_targets(job_name, count=1, health="up")

    assert kept["labels"]["pod"] == "goflow2-7d9f"
    assert kept["labels"]["namespace"] == "goflow2"
    assert kept["scrapeUrl"] == f"http://127.0.0.1:{target.port}/metrics"
