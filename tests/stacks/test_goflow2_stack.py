"""goflow2 stack: the collector pod (GoFlow2 + flow exporter), its NodePort and metrics port."""

import pytest

from tests.synth import one_block


@pytest.fixture(scope="module")
def deployment(synthesized):
    return synthesized.resource("goflow2", "kubernetes_deployment_v1", "goflow2_deployment")


@pytest.fixture(scope="module")
def pod(deployment):
    return deployment["spec"]["template"]["spec"]


def containers(pod):
    return {c["name"]: c for c in pod["container"]}


def test_namespace_is_goflow2(synthesized, deployment):
    ns = synthesized.resource("goflow2", "kubernetes_namespace_v1", "goflow2_namespace")
    assert one_block(ns["metadata"])["name"] == "goflow2"
    assert deployment["metadata"]["namespace"] == "${kubernetes_namespace_v1.goflow2_namespace.metadata[0].name}"


def test_collector_image_is_pinned_goflow2(pod):
    image = containers(pod)["goflow2"]["image"]
    assert image.startswith("netsampler/goflow2:") and not image.endswith(":latest")


def test_collector_listens_for_netflow_on_udp_2055_and_serves_metrics_on_8080(pod):
    goflow2 = containers(pod)["goflow2"]
    args = goflow2["command"]
    assert "-listen=netflow://:2055" in args
    assert "-addr=:8080" in args
    ports = {p["name"]: p for p in goflow2["port"]}
    assert ports["netflow"] == {"name": "netflow", "container_port": 2055, "protocol": "UDP"}
    assert ports["metrics"] == {"name": "metrics", "container_port": 8080, "protocol": "TCP"}


def test_probes_use_goflow2_health_endpoint(pod):
    goflow2 = containers(pod)["goflow2"]
    for probe in ("liveness_probe", "readiness_probe"):
        assert goflow2[probe]["http_get"] == {"path": "/__health", "port": "metrics"}


def test_every_container_is_non_root_read_only_without_capabilities(pod):
    assert pod["security_context"]["run_as_non_root"] is True
    for c in pod["container"] + pod["init_container"]:
        sc = c["security_context"]
        assert sc["run_as_non_root"] is True, c["name"]
        assert sc["read_only_root_filesystem"] is True, c["name"]
        assert sc["allow_privilege_escalation"] is False, c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], c["name"]


def test_collector_requests_near_50m_100mi_with_limits(pod):
    res = containers(pod)["goflow2"]["resources"]
    assert res["requests"] == {"cpu": "50m", "memory": "100Mi"}
    assert set(res["limits"]) == {"cpu", "memory"}


def test_netflow_nodeport_service_is_fixed_from_config(synthesized, deployment):
    svc = synthesized.resource("goflow2", "kubernetes_service_v1", "goflow2_netflow_service")
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["port"] == [
        {"name": "netflow", "protocol": "UDP", "port": 2055, "target_port": "netflow", "node_port": 32055}
    ]
    assert svc["spec"]["selector"] == deployment["spec"]["selector"]["match_labels"]


def test_metrics_have_a_cluster_ip_port(synthesized, deployment):
    svc = synthesized.resource("goflow2", "kubernetes_service_v1", "goflow2_metrics_service")
    assert svc["spec"]["type"] == "ClusterIP"
    assert {"name": "metrics", "protocol": "TCP", "port": 8080, "target_port": "metrics"} in svc["spec"]["port"]
    assert svc["spec"]["selector"] == deployment["spec"]["selector"]["match_labels"]


def test_nodeport_is_a_stack_output(synthesized):
    values = {o["value"] for o in synthesized.stacks["goflow2"]["output"].values()}
    assert "${kubernetes_service_v1.goflow2_netflow_service.spec[0].port[0].node_port}" in values


def test_nodeport_follows_the_config(tmp_path):
    from tests.synth import config_text, synth

    text = config_text(lambda t: t.replace("netflow_node_port = 32055", "netflow_node_port = 31999"))
    out = synth(text, outdir=str(tmp_path))
    svc = out.resource("goflow2", "kubernetes_service_v1", "goflow2_netflow_service")
    assert svc["spec"]["port"][0]["node_port"] == 31999


def test_pod_asks_the_pfsense_address_for_names_by_default(pod):
    # names on, names.dns_server empty: the pod's only DNS server is pfsense.address (network.toml)
    assert pod["dns_policy"] == "None"
    assert pod["dns_config"]["nameservers"] == ["10.0.20.1"]


def test_pod_asks_the_configured_dns_server(tmp_path):
    from tests.synth import config_text, synth

    text = config_text(lambda t: t + '\n[names]\ndns_server = "10.0.20.53"\n')
    spec = synth(text, outdir=str(tmp_path)).resource("goflow2", "kubernetes_deployment_v1", "goflow2_deployment")["spec"]
    pod = spec["template"]["spec"]
    assert pod["dns_policy"] == "None"
    assert pod["dns_config"]["nameservers"] == ["10.0.20.53"]


def test_names_off_keep_the_clusters_dns(tmp_path):
    from tests.synth import config_text, synth

    text = config_text(lambda t: t + "\n[names]\nenabled = false\n")
    pod = synth(text, outdir=str(tmp_path)).resource("goflow2", "kubernetes_deployment_v1", "goflow2_deployment")["spec"]["template"]["spec"]
    assert "dns_policy" not in pod and "dns_config" not in pod


def test_the_collector_runs_on_the_collector_node_and_the_netflow_service_keeps_the_sender(synthesized, pod):
    """externalTrafficPolicy Local: kube-proxy hands a datagram only to a pod on the node it arrived at,
    with its source address unchanged, which the exporter trusts records by."""
    assert pod["node_selector"] == {"kubernetes.io/hostname": "k8s-node-0"}  # network.toml's collector_node
    svc = synthesized.resource("goflow2", "kubernetes_service_v1", "goflow2_netflow_service")
    assert svc["spec"]["external_traffic_policy"] == "Local"


def test_the_collector_node_is_looked_up_before_the_pod_is_deployed(synthesized, deployment):
    lookup = synthesized.stacks["goflow2"]["data"]["kubernetes_resources"]["goflow2_collector_node_lookup"]
    assert (lookup["api_version"], lookup["kind"], lookup["label_selector"]) == ("v1", "Node", "kubernetes.io/hostname=k8s-node-0")
    (precondition,) = deployment["lifecycle"]["precondition"]
    assert "data.kubernetes_resources.goflow2_collector_node_lookup.objects" in precondition["condition"]
    assert precondition["error_message"].startswith('goflow2.collector_node = "k8s-node-0": no node of the cluster carries')


def test_the_collector_node_check_can_be_turned_off(tmp_path):
    from tests.synth import config_text, synth

    text = config_text(lambda t: t.replace('collector_node = "k8s-node-0"', 'collector_node = "k8s-node-3"\ncheck_collector_node = false'))
    out = synth(text, outdir=str(tmp_path))
    assert "data" not in out.stacks["goflow2"]
    spec = out.resource("goflow2", "kubernetes_deployment_v1", "goflow2_deployment")
    assert "lifecycle" not in spec
    assert spec["spec"]["template"]["spec"]["node_selector"] == {"kubernetes.io/hostname": "k8s-node-3"}
