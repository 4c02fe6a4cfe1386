"""Prometheus finds every Caretta agent, GoFlow2 and the flow exporter by asking a real Kubernetes
API server, and nothing else: the consumer's view of netviz's scrape jobs, in managed mode (the
prometheus chart's jobs) and in prometheus-operator mode (the PodMonitors, turned into jobs by the
real Prometheus Operator).

netviz is deployed into a real kube-apiserver (tests/kubernetes/cluster.py). Then the pods that
Kubernetes' controllers and kubelets would make are made by the test (STAND-INs for the Deployment
and DaemonSet controllers, the scheduler and the kubelets, none of which run here): the goflow2 pod
from the stored Deployment's template (through a ReplicaSet, as the Deployment controller makes
it), one Caretta agent pod from the stored DaemonSet's template per configured node; each pod's
status (Running, its IP) is written through the status subresource. At those IPs run the real
GoFlow2 and the real flow exporter (the synthesized pod's containers, in a network namespace whose
address is the pod's IP: tests/support/goflow2.py CollectorPod; real softflowd NetFlow is sent to
it) and, for each agent, a STAND-IN for Caretta's agent serving `caretta_links_observed` on
127.0.N.x:7117 (N one per mode, so both modes can run at once). Decoys carry the same labels: in
another namespace, with another port name, of another Helm release, and a pod that finished.

A real Prometheus 3.14 runs netviz's scrape jobs:
- managed: read from the prometheus chart's server ConfigMap as the API server stored it (the
  chart's stand-in, rendered by the real Helm); the chart's own jobs, rule files and Alertmanager
  discovery are left out (they need the in-cluster service account and an Alertmanager);
- prometheus-operator: the configuration the real operator (v0.86.1, go_tools.py) wrote for a
  kube-prometheus-stack-like `Prometheus` selecting by the config's labels, with the two `$(SHARD)`
  and `$(POD_NAME)` placeholders filled in as the operator's config-reloader fills them in its pod
  (shard 0, the Prometheus pod's name); its rule files (made of netviz's PrometheusRules) loaded.
In both, ONE change: each `kubernetes_sd_configs` entry gets `api_server` (this API server),
`authorization` (the token of a user RBAC grants what the chart's ClusterRole grants its
Prometheus) and `tls_config` (the API server's CA), the settings Prometheus otherwise takes from
its service account inside the cluster. The scrape interval is the config's, set to 1s here.
"""

from __future__ import annotations

import hashlib
import json
import time
import tomllib

import pytest
import yaml

import netviz_config
from netviz_config.schema import PROMETHEUS_CHART_APP_VERSION
from dashboards import DashboardConfig, NETWORK_FLOWS_FILE, POD_TOPOLOGY_FILE
from netviz_constructs import caretta_agents, flow_collector
from tests.dashboards import caretta_fixture
from tests.kubernetes.cluster import Deployment, deploy_into, pod_from_template, tools_present
from tests.support.deployment import RENDERED
from tests.support.flowgen import softflowd_stream
from tests.support.goflow2 import CollectorPod, NetflowSender
from tests.support.http import MetricsServer
from tests.support.kubernetes import ApiServer
from tests.support.prometheus import PrometheusServer
from tests.support.prometheus_operator import PrometheusOperator, prometheus_resource
from tests.support.tools import require_root
from tests.synth import config_text

MODES = ("managed", "prometheus-operator")
OPERATOR_PROMETHEUS = "kube-prometheus-stack-prometheus"

NETVIZ_JOBS = ("caretta", "goflow2", "flow-exporter")
LOOPBACK = {"managed": "127.0.10.{}", "prometheus-operator": "127.0.20.{}"}
"""Pod IPs of each mode's stand-in agents and decoys: agent i of the configured nodes is .(10 + i)."""
FLOWS = 20  # flow records softflowd exports to the collector


def agent_metrics(node: str) -> str:
    """What the agent on `node` reports: one link it saw there (bytes differ per node)."""
    link = caretta_fixture.Link(caretta_fixture.Workload("frontend", "shop", "Deployment"),
                                caretta_fixture.Workload(f"cache-{node}", "shop", "StatefulSet"), 6379, caretta_fixture.CLIENT)
    return caretta_fixture.exposition({link: 1000.0 * (1 + len(node))})


class Scene:
    """The cluster, its pods (and decoys), their processes, and the Prometheus that scrapes them."""

    def __init__(self, deployment: Deployment, directory):
        self.deployment = deployment
        self.api = deployment.api
        self.config = netviz_config.parse(tomllib.loads(deployment.deployed.config_toml), check_files=False)
        self.closers = []
        self.pods: dict[str, dict] = {}  # pod name -> {"namespace", "ip", "node"}
        self.decoys: dict[str, str] = {}  # pod name -> why it must not be scraped
        self.directory = directory
        self.rule_files: dict[str, str] = {}

    # ---- what the controllers, the scheduler and the kubelets would have made --------------

    def run_pod(self, pod: dict, ip: str, phase: str = "Running") -> dict:
        meta = pod["metadata"]
        self.api.create_default_service_account(meta["namespace"])
        self.api.create(pod)
        self.api.set_pod_status(meta["namespace"], meta["name"], phase=phase, pod_ip=ip)
        return pod

    def collector(self) -> None:
        config = self.config
        deployment = self.api.get("apps/v1", "Deployment", flow_collector.NAME, config.goflow2.namespace)
        template = deployment["spec"]["template"]
        template_hash = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        replica_set = self.api.create({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{flow_collector.NAME}-{template_hash}", "namespace": config.goflow2.namespace,
                         "labels": {**template["metadata"]["labels"], "pod-template-hash": template_hash},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": flow_collector.NAME,
                                              "uid": deployment["metadata"]["uid"], "controller": True}]},
            "spec": {"replicas": 1,
                     "selector": {"matchLabels": {**deployment["spec"]["selector"]["matchLabels"], "pod-template-hash": template_hash}},
                     "template": {**template, "metadata": {**template["metadata"],
                                                           "labels": {**template["metadata"]["labels"], "pod-template-hash": template_hash}}}},
        })
        # The pod's processes: the synthesized containers, in a network namespace whose address is the pod IP.
        state = self.deployment.deployed
        spec = state.input_of("goflow2", "kubernetes_deployment_v1", "goflow2_deployment")["spec"]["template"]["spec"]
        files = state.input_of("goflow2", "kubernetes_config_map_v1", "goflow2_files")["data"]
        pod_processes = CollectorPod(spec, files)
        self.closers.append(pod_processes.close)
        pod_processes.init()
        pod_processes.start_collector()
        pod_processes.start_exporter()
        # Real NetFlow v9 from softflowd, sent from the node to the pod: GoFlow2's traffic counters
        # (what the dashboard's collector panels read) exist only once it has received some.
        stream = softflowd_stream(self.directory, flows=FLOWS)
        with NetflowSender(["lan"], source_ip=pod_processes.network.node_ip) as sender:
            sender.send("lan", stream.datagrams, (pod_processes.network.pod_ip, pod_processes.netflow_port),
                        decoded=pod_processes.decoded)
        name = f"{replica_set['metadata']['name']}-x2k4q"
        node = config.collector_node.name
        self.run_pod(pod_from_template(replica_set["spec"]["template"], name=name, namespace=config.goflow2.namespace,
                                       node=node, owner=replica_set), pod_processes.network.pod_ip)
        self.pods[name] = {"namespace": config.goflow2.namespace, "ip": pod_processes.network.pod_ip, "node": node}

        # Decoy: the collector's labels, a metrics port of another name (a debugging sidecar, say).
        debug = pod_from_template(template, name="goflow2-debug", namespace=config.goflow2.namespace, node=node)
        for container in debug["spec"]["containers"]:
            for port in container.get("ports", []):
                port["name"] = "debug-" + port["name"][:9]
        self.serve_decoy(debug, self.ip(41), [config.goflow2.metrics_port, config.flow_exporter.port],
                         "the collector's labels, but no port of the jobs' names")

    def agents(self) -> None:
        config = self.config
        daemonset = self.api.get("apps/v1", "DaemonSet", "caretta", config.caretta.namespace)
        template = daemonset["spec"]["template"]
        for i, node in enumerate(config.kubernetes.nodes):
            ip = self.ip(10 + i)
            self.serve(MetricsServer(agent_metrics(node.name), host=ip, port=caretta_agents.METRICS_PORT))
            name = f"caretta-{hashlib.sha256(node.name.encode()).hexdigest()[:5]}"
            self.run_pod(pod_from_template(template, name=name, namespace=config.caretta.namespace, node=node.name,
                                           owner=daemonset, extra_labels={"pod-template-generation": "1"}), ip)
            self.pods[name] = {"namespace": config.caretta.namespace, "ip": ip, "node": node.name}
        first = config.kubernetes.nodes[0].name
        # Decoys: an agent in another namespace, an agent of another release, an agent that finished.
        self.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other-team"}})
        elsewhere = pod_from_template(template, name="caretta-elsewhere", namespace="other-team", node=first)
        elsewhere["spec"]["serviceAccountName"] = "default"
        self.serve_decoy(elsewhere, self.ip(42), [caretta_agents.METRICS_PORT], "another namespace")
        other = pod_from_template(template, name="caretta-other-release", namespace=config.caretta.namespace, node=first,
                                  extra_labels={"app.kubernetes.io/instance": "caretta-old"})
        self.serve_decoy(other, self.ip(43), [caretta_agents.METRICS_PORT], "another Helm release")
        finished = pod_from_template(template, name="caretta-finished", namespace=config.caretta.namespace, node=first)
        self.serve_decoy(finished, self.ip(44), [caretta_agents.METRICS_PORT], "finished (Succeeded)", phase="Succeeded")

    def ip(self, host: int) -> str:
        return LOOPBACK[self.config.monitoring.mode].format(host)

    def serve(self, server: MetricsServer) -> None:
        server.start()
        self.closers.append(server.stop)

    def serve_decoy(self, pod: dict, ip: str, ports: list[int], why: str, phase: str = "Running") -> None:
        # Each decoy answers on its ports too: were it scraped, it would be up and its series seen.
        for port in ports:
            self.serve(MetricsServer("# TYPE decoy gauge\ndecoy 1\n", host=ip, port=port))
        self.run_pod(pod, ip, phase=phase)
        self.decoys[pod["metadata"]["name"]] = why

    # ---- the Prometheus of the chart ----------------------------------------------------------

    def prometheus_config(self) -> dict:
        """The scrape jobs netviz's Prometheus would run, with the API server's address and credentials added."""
        if self.config.monitoring.mode == "prometheus-operator":
            rendered = yaml.safe_load(self.operator_config())
        else:
            name = f"{self.config.monitoring.prometheus.release_name}-server"
            stored = self.api.get("v1", "ConfigMap", name, self.config.monitoring.namespace)["data"]["prometheus.yml"]
            rendered = yaml.safe_load(stored)
        token_file = self.directory / "prometheus-token"
        token_file.write_text(self.api.prometheus_token)
        jobs = []
        for job in rendered["scrape_configs"]:
            if not job.get("kubernetes_sd_configs"):
                continue
            if self.config.monitoring.mode == "managed" and job["job_name"] not in NETVIZ_JOBS:
                continue  # the chart's own jobs
            for sd in job["kubernetes_sd_configs"]:
                # THE change: where the API server is and how to authenticate, which Prometheus
                # otherwise reads from its service account inside the cluster.
                sd["api_server"] = self.api.url
                sd["authorization"] = {"credentials_file": str(token_file)}
                sd["tls_config"] = {"ca_file": self.api.ca_file}
            jobs.append(job)
        return {"global": rendered["global"], "scrape_configs": jobs}

    def operator_config(self) -> str:
        """The real operator's configuration for the user's Prometheus, once it has netviz's three
        PodMonitors, with what its config-reloader fills in: `$(SHARD)` 0, `$(POD_NAME)` the pod."""
        config = self.config
        self.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": config.monitoring.namespace}})
        self.api.create(prometheus_resource(
            name=OPERATOR_PROMETHEUS, namespace=config.monitoring.namespace, version=PROMETHEUS_CHART_APP_VERSION,
            pod_monitor_labels=config.monitoring.pod_monitor_labels, rule_labels=config.monitoring.rule_labels))
        operator = PrometheusOperator(self.api)
        self.closers.append(operator.close)
        monitors = [f"podMonitor/{ns}/{job}/0" for job, ns in (("caretta", config.caretta.namespace),
                                                               ("goflow2", config.goflow2.namespace),
                                                               ("flow-exporter", config.goflow2.namespace))]
        text = operator.generated_config(config.monitoring.namespace, OPERATOR_PROMETHEUS, containing=monitors[-1])
        for monitor in monitors:
            assert f"job_name: {monitor}\n" in text, f"the operator made no job of {monitor}:\n{text}"
        self.rule_files = operator.rule_files(config.monitoring.namespace, OPERATOR_PROMETHEUS)
        return text.replace("$(SHARD)", "0").replace("$(POD_NAME)", f"prometheus-{OPERATOR_PROMETHEUS}-0")

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


@pytest.fixture(scope="module", params=MODES)
def scene(request, etcd, tmp_path_factory):
    tools_present()
    require_root("the goflow2 pod's network namespace")
    mode = request.param
    directory = tmp_path_factory.mktemp(mode)
    # Scraped every second, so the test waits seconds (the chart and the PodMonitors take it from the config).
    text = config_text() + f'\n[monitoring]\nmode = "{mode}"\n[monitoring.prometheus]\nscrape_interval = "1s"\n'

    with ApiServer(etcd, f"discovery-{mode}") as api:
        deployment = deploy_into(api, mode, directory, config_toml=text)
        assert not deployment.refused, deployment.refused
        scene = Scene(deployment, directory)
        try:
            scene.collector()
            scene.agents()
            config = scene.prometheus_config()
            with PrometheusServer(config, rule_files=scene.rule_files) as prometheus:
                scene.prometheus = prometheus
                scene.targets = wait_for_every_pod(prometheus, scene)
                yield scene
        finally:
            scene.close()


def expected_targets(scene: Scene) -> dict[str, set]:
    """Job -> {(pod, namespace, node, address)} it must scrape."""
    config = scene.config
    out: dict[str, set] = {job: set() for job in NETVIZ_JOBS}
    for name, pod in scene.pods.items():
        if pod["namespace"] == config.caretta.namespace:
            out["caretta"].add((name, pod["namespace"], pod["node"], f"{pod['ip']}:{caretta_agents.METRICS_PORT}"))
        else:
            out["goflow2"].add((name, pod["namespace"], pod["node"], f"{pod['ip']}:{config.goflow2.metrics_port}"))
            out["flow-exporter"].add((name, pod["namespace"], pod["node"], f"{pod['ip']}:{config.flow_exporter.port}"))
    return out


def scraped(prometheus: PrometheusServer) -> dict[str, set]:
    out: dict[str, set] = {}
    for t in prometheus.targets():
        labels = t["labels"]
        out.setdefault(labels["job"], set()).add(
            (labels.get("pod"), labels.get("namespace"), labels.get("node"), labels["instance"], t["health"]))
    return out


def wait_for_every_pod(prometheus: PrometheusServer, scene: Scene, timeout: float = 60) -> dict[str, set]:
    """Until every expected target has been scraped and is up (the event waited on); then what
    Prometheus has, whatever it is, for the tests to judge."""
    wanted = {job: {(*t, "up") for t in targets} for job, targets in expected_targets(scene).items()}
    deadline = time.monotonic() + timeout
    have: dict[str, set] = {}
    while time.monotonic() < deadline:
        have = scraped(prometheus)
        if all(wanted[job] <= have.get(job, set()) for job in wanted):
            return have
        time.sleep(0.2)
    raise AssertionError(f"after {timeout}s Prometheus scrapes {have}, not every one of {wanted}\n{prometheus.log()[-3000:]}")


def test_every_job_has_exactly_its_targets_all_up(scene):
    want = expected_targets(scene)
    assert len(want["caretta"]) == len(scene.config.kubernetes.nodes)
    assert set(scene.targets) == set(NETVIZ_JOBS)
    for job in NETVIZ_JOBS:
        assert scene.targets[job] == {(*t, "up") for t in want[job]}, job


def test_no_decoy_is_scraped_and_each_was_seen_and_dropped(scene):
    active = {t["discoveredLabels"].get("__meta_kubernetes_pod_name") for t in scene.prometheus.targets()}
    assert not active & set(scene.decoys)
    dropped = scene.prometheus.targets(state="dropped")
    seen = {t["discoveredLabels"].get("__meta_kubernetes_pod_name") for t in dropped}
    # Discovered in the jobs' namespaces and dropped by their relabelling; the pod in another
    # namespace is not even discovered (each job watches its own namespace only).
    assert {name for name, why in scene.decoys.items() if why != "another namespace"} <= seen
    assert "caretta-elsewhere" not in seen


def test_prometheus_reads_the_cluster_as_the_charts_service_account_may(scene):
    """The token Prometheus uses may list and watch pods (what the chart's ClusterRole grants), and
    may not change anything."""
    token = scene.api.prometheus_token
    assert scene.api.can(token, "list", "pods") and scene.api.can(token, "watch", "pods")
    assert not scene.api.can(token, "create", "pods") and not scene.api.can(token, "list", "secrets")


def test_the_dashboards_selectors_find_their_series(scene):
    """Each selector the dashboards are rendered with finds the series of every pod it means."""
    selectors = DashboardConfig()
    prometheus = scene.prometheus
    for selector in (selectors.caretta_selector, selectors.goflow2_selector, selectors.flow_exporter_selector):
        for file in (POD_TOPOLOGY_FILE, NETWORK_FLOWS_FILE):
            if selector.replace('"', '\\"') in (RENDERED / file).read_text():
                break
        else:
            pytest.fail(f"no rendered dashboard uses {selector}")
    nodes = {n.name for n in scene.config.kubernetes.nodes}
    agents = prometheus.query(f"count by (node) (caretta_links_observed{{{selectors.caretta_selector}}})")
    assert {r["metric"]["node"] for r in agents} == nodes
    (collector_pod,) = [name for name, p in scene.pods.items() if p["namespace"] == scene.config.goflow2.namespace]
    records = f"netviz_flow_exporter_records_total{{{selectors.flow_exporter_selector}}}"
    (exporter,) = wait_for(prometheus, f"{records} == {FLOWS}")
    assert exporter["metric"]["pod"] == collector_pod
    (collector,) = wait_for(prometheus, f"sum by (pod) (goflow2_flow_traffic_packets_total{{{selectors.goflow2_selector}}}) > 0")
    assert collector["metric"]["pod"] == collector_pod


def wait_for(prometheus: PrometheusServer, expr: str, timeout: float = 30) -> list[dict]:
    """Until `expr` returns something (the exporter reads and Prometheus scrapes on their own time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = prometheus.query(expr)
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{expr} returned nothing for {timeout}s")


def test_the_operator_accepted_netviz_rules_and_prometheus_loads_them(scene):
    """prometheus-operator: the operator made rule files of netviz's PrometheusRules (it drops a
    rule it cannot parse), and Prometheus 3.14 loaded every group of them."""
    if scene.config.monitoring.mode != "prometheus-operator":
        assert scene.rule_files == {}
        return
    groups = [g["name"] for text in scene.rule_files.values() for g in yaml.safe_load(text)["groups"]]
    assert sorted(groups) == ["netviz-caretta", "netviz-devices", "netviz-flows", "netviz-rollups"]
    loaded = sorted(g["name"] for g in scene.prometheus.rules())
    assert loaded == sorted(groups)
