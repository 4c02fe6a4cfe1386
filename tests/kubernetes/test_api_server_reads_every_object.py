"""A real Kubernetes API server reads every object netviz deploys, and stores what netviz meant.

For each monitoring mode (and with the pfSense step on), a fresh kube-apiserver v1.36 (with etcd,
token authentication and RBAC; tests/support/kubernetes.py) receives every Kubernetes object of the
three stacks, in Terraform's dependency order, with strict field validation (tests/kubernetes/
cluster.py says how each kind of resource gets there and which parts are STAND-INs: the kubernetes
provider's conversion of its arguments, the caretta and prometheus charts' templates). Nothing may
be refused. Then what Kubernetes stored, after its own defaulting, is compared with what netviz
meant: every ConfigMap's files byte for byte, labels, selectors, the port names that probes,
Services and scrape jobs refer to, the NodePort pfSense sends to.
"""

from __future__ import annotations

import copy
import tomllib

import pytest
import yaml

import netviz_config
import stacks.goflow2
from dashboards import NETWORK_FLOWS_FILE, POD_TOPOLOGY_FILE
from flow_exporter.mapping import goflow2_mapping_yaml
from netviz_constructs import caretta_agents, flow_collector
from netviz_constructs.helm_release import MANAGED_BY
from tests.kubernetes.cluster import Deployment, deploy_into, tools_present
from tests.support.deployment import RENDERED, VARIANTS
from tests.support.kubernetes import ApiServer, KubernetesError
from tests.support.prometheus_chart import render_configmap_data
from tests.synth import REPO

@pytest.fixture(scope="module", params=list(VARIANTS))
def cluster(request, etcd, tmp_path_factory) -> Deployment:
    tools_present()
    variant = request.param
    with ApiServer(etcd, f"objects-{variant}") as api:
        yield deploy_into(api, variant, tmp_path_factory.mktemp(variant))


def config_of(cluster: Deployment) -> netviz_config.NetworkConfig:
    return netviz_config.parse(tomllib.loads(cluster.deployed.config_toml), check_files=False)


def stored(cluster: Deployment, applied) -> dict:
    meta = applied.sent["metadata"]
    return cluster.api.get(applied.sent["apiVersion"], applied.sent["kind"], meta["name"], meta.get("namespace"))


def one(cluster: Deployment, kind: str, name: str) -> dict:
    (found,) = [a for a in cluster.applied.values() if a.sent["kind"] == kind and a.sent["metadata"]["name"] == name]
    return stored(cluster, found)


def test_kubernetes_refuses_nothing_netviz_deploys(cluster):
    assert not cluster.refused, "\n".join(cluster.refused)
    expected = [f"{stack}.{address}" for stack, addresses in cluster.deployed.order.items() for address in addresses
                if address.startswith("terraform_data.kubernetes_")]
    assert sorted(cluster.applied) == sorted(expected)
    kinds = sorted({a.sent["kind"] for a in cluster.applied.values()})
    operator = config_of(cluster).monitoring.mode == "prometheus-operator"
    assert kinds == (["ConfigMap", "Deployment", "Namespace", "PodMonitor", "PrometheusRule", "Service"] if operator
                     else ["ConfigMap", "Deployment", "Namespace", "Service"])


def test_every_chart_with_a_stand_in_was_installed_through_the_api_server(cluster):
    installed = sorted(address.rsplit("__", 1)[1] for address in cluster.releases)
    mode = config_of(cluster).monitoring.mode
    # The grafana chart (and an adopted prometheus chart of another version) has no stand-in.
    assert installed == {"managed": ["caretta_chart_release", "prometheus_chart_release"], "adopt": ["caretta_chart_release"],
                         "prometheus-operator": ["caretta_chart_release"]}[mode]
    assert all("prometheus_chart" in n or "grafana_chart" in n for n in cluster.not_installed), cluster.not_installed


def test_dashboards_are_stored_byte_for_byte(cluster):
    for name, filename in (("netviz-pod-topology", POD_TOPOLOGY_FILE), ("netviz-network-flows", NETWORK_FLOWS_FILE)):
        data = one(cluster, "ConfigMap", name)["data"]
        assert list(data) == [filename]
        assert data[filename].encode() == (RENDERED / filename).read_bytes(), f"{filename} differs once stored"


def test_the_exporters_code_and_config_are_stored_byte_for_byte(cluster):
    data = one(cluster, "ConfigMap", f"{flow_collector.NAME}-files")["data"]
    files = stacks.goflow2.exporter_files()
    for path in files:
        assert data[path.replace("/", "__")].encode() == (REPO / path).read_bytes(), path
    assert data[flow_collector.NETWORK_CONFIG_KEY] == cluster.deployed.config_toml
    assert data[flow_collector.MAPPING_KEY] == goflow2_mapping_yaml()
    assert len(data) == len(files) + 2


def test_the_prometheus_servers_files_are_what_the_chart_renders(cluster):
    """managed: the chart's server ConfigMap, created by Helm through the API server, holds the
    files the chart renders from the release's values: netviz's scrape jobs and rules among them."""
    config = config_of(cluster)
    if config.monitoring.mode != "managed":
        return
    release = cluster.deployed.input_of("platform", "helm_release", "prometheus_chart_release")
    name = f"{config.monitoring.prometheus.release_name}-server"
    data = cluster.api.get("v1", "ConfigMap", name, config.monitoring.namespace)["data"]
    assert data == render_configmap_data(release["values"], release_name=release["name"], namespace=release["namespace"])
    jobs = {j["job_name"] for j in yaml.safe_load(data["prometheus.yml"])["scrape_configs"]}
    assert {"caretta", "goflow2", "flow-exporter"} <= jobs


def test_labels_are_what_netviz_set(cluster):
    for applied in cluster.applied.values():
        meta = stored(cluster, applied)["metadata"]
        sent = applied.sent["metadata"].get("labels", {})
        if applied.sent["kind"] == "Namespace":  # the API server adds the namespace's own name label
            sent = {**sent, "kubernetes.io/metadata.name": meta["name"]}
        assert meta.get("labels", {}) == sent, applied.address
        if applied.type != "kubernetes_manifest":
            assert MANAGED_BY.items() <= sent.items(), applied.address


def test_the_collector_is_selected_by_its_pod_labels(cluster):
    deployment = one(cluster, "Deployment", flow_collector.NAME)
    assert deployment["spec"]["selector"] == {"matchLabels": flow_collector.POD_LABELS}
    assert flow_collector.POD_LABELS.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    for service in ("netflow", "metrics"):
        assert one(cluster, "Service", f"{flow_collector.NAME}-{service}")["spec"]["selector"] == flow_collector.POD_LABELS


def container_ports(template: dict) -> dict[str, dict]:
    """Port name -> {container, containerPort, protocol} over a pod template's containers."""
    return {p["name"]: {"container": c["name"], "containerPort": p["containerPort"], "protocol": p["protocol"]}
            for c in template["spec"]["containers"] for p in c.get("ports", [])}


def test_the_collector_pods_port_names_are_the_ones_everything_else_names(cluster):
    template = one(cluster, "Deployment", flow_collector.NAME)["spec"]["template"]
    ports = container_ports(template)
    assert ports == {
        flow_collector.NETFLOW_PORT_NAME: {"container": flow_collector.NAME, "containerPort": config_of(cluster).goflow2.netflow_port, "protocol": "UDP"},
        flow_collector.COLLECTOR_METRICS_PORT_NAME: {"container": flow_collector.NAME, "containerPort": config_of(cluster).goflow2.metrics_port, "protocol": "TCP"},
        flow_collector.EXPORTER_METRICS_PORT_NAME: {"container": flow_collector.EXPORTER_CONTAINER, "containerPort": config_of(cluster).flow_exporter.port, "protocol": "TCP"},
    }
    for c in template["spec"]["containers"]:  # a probe names a port of its own container
        for probe in ("livenessProbe", "readinessProbe"):
            port = c[probe]["httpGet"]["port"]
            assert ports[port]["container"] == c["name"], (c["name"], probe, port)
    for service in ("netflow", "metrics"):  # a Service's targetPort names a pod port of its protocol and number
        for p in one(cluster, "Service", f"{flow_collector.NAME}-{service}")["spec"]["ports"]:
            target = ports[p["targetPort"]]
            assert (target["protocol"], target["containerPort"]) == (p["protocol"], p["port"]), p


def test_the_collector_runs_on_the_node_pfsense_sends_to_and_keeps_the_senders_address(cluster):
    """The pod's nodeSelector matches exactly the configured collector node (as its kubelet
    registered it), and the NetFlow Service keeps the sender's address (externalTrafficPolicy Local)."""
    config = config_of(cluster)
    selector = one(cluster, "Deployment", flow_collector.NAME)["spec"]["template"]["spec"]["nodeSelector"]
    label_selector = ",".join(f"{k}={v}" for k, v in selector.items())
    nodes = cluster.api.request("GET", "/api/v1/nodes", params={"labelSelector": label_selector})["items"]
    assert [n["metadata"]["name"] for n in nodes] == [config.collector_node.name]
    assert {a["address"] for a in nodes[0]["status"]["addresses"]} >= {config.collector_node.address}
    assert one(cluster, "Service", f"{flow_collector.NAME}-netflow")["spec"]["externalTrafficPolicy"] == "Local"


def test_the_netflow_node_port_is_the_configured_one(cluster):
    config = config_of(cluster)
    service = one(cluster, "Service", f"{flow_collector.NAME}-netflow")
    assert service["spec"]["type"] == "NodePort"
    (port,) = service["spec"]["ports"]
    assert (port["protocol"], port["nodePort"]) == ("UDP", config.goflow2.netflow_node_port)
    softflowd = cluster.deployed.state("platform").get("terraform_data.null_resource__pfsense_softflowd")
    if config.pfsense.manage_softflowd:  # pfSense is told the port Kubernetes stored
        assert str(softflowd["triggers_replace"]["collector_port"]) == str(port["nodePort"])


def test_the_caretta_agents_are_the_pods_the_scrape_job_selects(cluster):
    config = config_of(cluster)
    daemonset = cluster.api.get("apps/v1", "DaemonSet", "caretta", config.caretta.namespace)
    template = daemonset["spec"]["template"]
    wanted = dict(caretta_agents.AGENT_POD_LABELS, **{"app.kubernetes.io/instance": config.caretta.release_name})
    assert wanted.items() <= template["metadata"]["labels"].items()
    assert container_ports(template)[caretta_agents.METRICS_PORT_NAME]["containerPort"] == caretta_agents.METRICS_PORT
    assert template["spec"]["tolerations"] == [{"operator": "Exists"}]
    (agent,) = template["spec"]["containers"]
    assert agent["resources"] == {"requests": {"cpu": config.caretta.cpu_request, "memory": config.caretta.memory_request},
                                  "limits": {"cpu": config.caretta.cpu_limit, "memory": config.caretta.memory_limit}}
    env = {e["name"]: e["value"] for e in agent["env"]}
    assert env["POLL_INTERVAL"] == str(config.caretta.poll_interval_seconds)
    assert env["PROMETHEUS_PORT"] == str(caretta_agents.METRICS_PORT)


def workload_templates(cluster: Deployment) -> dict[str, dict]:
    """Namespace -> the pod template of netviz's workload there (the collector, Caretta's agents)."""
    config = config_of(cluster)
    return {
        config.goflow2.namespace: one(cluster, "Deployment", flow_collector.NAME)["spec"]["template"],
        config.caretta.namespace: cluster.api.get("apps/v1", "DaemonSet", "caretta", config.caretta.namespace)["spec"]["template"],
    }


def test_every_scrape_job_names_a_port_and_labels_its_pods_have(cluster):
    """The scrape jobs (managed: as stored in the chart's ConfigMap; operator: the PodMonitors as
    stored) select pods by labels and a port name; each must be what the workload's pods carry, or
    the job would find nothing and say nothing."""
    config = config_of(cluster)
    templates = workload_templates(cluster)
    selections = []  # (job, namespace, labels, port name)
    if config.monitoring.mode == "prometheus-operator":
        for monitor in (stored(cluster, a) for a in cluster.of_type("kubernetes_manifest") if a.sent["kind"] == "PodMonitor"):
            (namespace,) = monitor["spec"]["namespaceSelector"]["matchNames"]
            for endpoint in monitor["spec"]["podMetricsEndpoints"]:
                selections.append((monitor["metadata"]["name"], namespace, monitor["spec"]["selector"]["matchLabels"], endpoint["port"]))
    elif config.monitoring.mode == "managed":
        name = f"{config.monitoring.prometheus.release_name}-server"
        prometheus_yml = cluster.api.get("v1", "ConfigMap", name, config.monitoring.namespace)["data"]["prometheus.yml"]
        for job in yaml.safe_load(prometheus_yml)["scrape_configs"]:
            if job["job_name"] not in ("caretta", "goflow2", "flow-exporter"):
                continue
            (namespace,) = job["kubernetes_sd_configs"][0]["namespaces"]["names"]
            keep = {r["source_labels"][0]: r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"}
            port = keep.pop("__meta_kubernetes_pod_container_port_name")
            labels = {k: v for k, v in keep.items()}
            selections.append((job["job_name"], namespace, labels, port))
    else:
        return  # adopt: the jobs reach the user's chart, which has no stand-in here
    assert sorted(s[0] for s in selections) == ["caretta", "flow-exporter", "goflow2"]
    for job, namespace, labels, port in selections:
        template = templates[namespace]
        pod_labels = template["metadata"]["labels"]
        if config.monitoring.mode == "prometheus-operator":
            assert labels.items() <= pod_labels.items(), job
        else:  # relabel keeps on __meta_kubernetes_pod_label_<sanitized>
            sanitized = {"__meta_kubernetes_pod_label_" + k.replace(".", "_").replace("/", "_").replace("-", "_"): v
                         for k, v in pod_labels.items()}
            assert labels.items() <= sanitized.items(), job
        assert port in container_ports(template), f"{job}: no container port named {port!r}"


def test_pod_monitors_and_rules_are_stored_as_written(cluster):
    manifests = cluster.of_type("kubernetes_manifest")
    if config_of(cluster).monitoring.mode != "prometheus-operator":
        assert manifests == []
        return
    assert sorted(a.sent["kind"] for a in manifests) == ["PodMonitor"] * 3 + ["PrometheusRule"] * 4  # 3 alert groups, the rollups
    for applied in manifests:
        assert stored(cluster, applied)["spec"] == applied.sent["spec"], applied.address


# ---- the API server's reading can fail ----------------------------------------------------


def collector_deployment(cluster: Deployment) -> dict:
    (applied,) = [a for a in cluster.applied.values() if a.sent["kind"] == "Deployment"]
    return copy.deepcopy(applied.sent)


def test_the_port_name_kubernetes_refused_is_refused_here(cluster):
    """Issue 18: `exporter-metrics` (16 characters) was refused by a real API server; so it is here."""
    deployment = collector_deployment(cluster)
    deployment["metadata"]["name"] = "old-port-name"
    exporter = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == flow_collector.EXPORTER_CONTAINER)
    exporter["ports"][0]["name"] = "exporter-metrics"
    for probe in ("livenessProbe", "readinessProbe"):
        exporter[probe]["httpGet"]["port"] = "exporter-metrics"
    with pytest.raises(KubernetesError) as refused:
        cluster.api.dry_run_create(deployment)
    assert refused.value.status == 422
    assert "ports[0].name: Invalid value: \"exporter-metrics\": must be no more than 15 characters" in str(refused.value)


def test_a_field_kubernetes_does_not_know_is_refused_not_dropped(cluster):
    deployment = collector_deployment(cluster)
    deployment["metadata"]["name"] = "misspelled"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["volumeMount"] = container.pop("volumeMounts")  # the provider's name, unconverted
    with pytest.raises(KubernetesError) as refused:
        cluster.api.dry_run_create(deployment)
    assert refused.value.status == 400 and 'unknown field "spec.template.spec.containers[0].volumeMount"' in str(refused.value)


def test_without_the_collector_node_the_deploy_stops_naming_it(etcd, tmp_path):
    """A cluster whose nodes do not include goflow2.collector_node: the real API server answers the
    stack's lookup with nothing, and the goflow2 stack stops before it creates anything."""
    tools_present()
    with ApiServer(etcd, "no-collector-node") as api:
        from tests.kubernetes.cluster import register_node

        register_node(api, "some-other-node", "10.0.20.200")
        deployment = deploy_into(api, "managed", tmp_path, nodes=False)
        failed = deployment.deployed.applied["goflow2"]
        assert not isinstance(failed, dict), "the goflow2 stack applied without its node"
        message = " ".join(failed.stderr.split())
        assert 'goflow2.collector_node = "k8s-node-0": no node of the cluster carries the label kubernetes.io/hostname=k8s-node-0' in message
        assert not any(a.startswith("goflow2.") for a in deployment.applied)
        assert "goflow2" not in {n["metadata"]["name"] for n in api.list("v1", "Namespace")}
