"""The test control plane (tests/support/kubernetes.py) and the kubernetes provider's conversion
stand-in (tests/support/kubernetes_provider.py): what the tests in tests/kubernetes/ rest on."""

from __future__ import annotations

import pytest

from tests.support.kubernetes import ApiServer, KubernetesError
from tests.support.kubernetes_provider import api_object
from tests.support.terraform import RewriteError

pytestmark = pytest.mark.xdist_group("kubernetes-support")  # one cluster for the module


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from tests.support.kubernetes import Etcd

    with Etcd() as etcd, ApiServer(etcd, "support") as server:
        yield server


def test_the_api_server_is_the_pinned_release_and_needs_a_token(api):
    assert api.version()["gitVersion"] == "v1.36.3"
    with pytest.raises(KubernetesError) as refused:
        api.request("GET", "/api/v1/namespaces", token="not-a-token")
    assert refused.value.status == 401


def test_rbac_lets_the_prometheus_user_read_pods_and_nothing_more(api):
    token = api.prometheus_token
    pods = api.request("GET", "/api/v1/pods", token=token)
    assert pods["kind"] == "PodList"
    with pytest.raises(KubernetesError) as refused:
        api.request("GET", "/api/v1/secrets", token=token)
    assert refused.value.status == 403
    with pytest.raises(KubernetesError) as refused:
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "by-prometheus"}}, token=token)
    assert refused.value.status == 403


def test_objects_are_stored_defaulted_and_strictly_validated(api):
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "support"}})
    service = api.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "support"},
                          "spec": {"selector": {"a": "b"}, "ports": [{"port": 80, "targetPort": "web"}]}})
    assert service["spec"]["ports"][0]["protocol"] == "TCP" and service["spec"]["type"] == "ClusterIP"
    with pytest.raises(KubernetesError) as refused:
        api.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "support"}, "date": {}})
    assert 'unknown field "date"' in str(refused.value)


def test_a_pods_status_is_written_as_a_kubelet_writes_it(api):
    api.create_default_service_account("support")
    api.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "support"},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}})
    api.set_pod_status("support", "p", phase="Running", pod_ip="127.0.0.9")
    status = api.get("v1", "Pod", "p", "support")["status"]
    assert (status["phase"], status["podIP"]) == ("Running", "127.0.0.9")


def test_a_client_certificate_of_the_clusters_ca_authenticates(api, tmp_path):
    import subprocess

    from tests.support.tools import require_tool

    cert, key = api.client_certificate("someone", groups=["system:masters"])
    out = subprocess.run([require_tool("openssl"), "x509", "-in", cert, "-noout", "-subject"], capture_output=True, text=True).stdout
    assert "CN=someone" in out.replace(" ", "") and "O=system:masters" in out.replace(" ", "")


# ---- the provider conversion stand-in ------------------------------------------------------


def test_blocks_lists_and_numbers_convert_as_the_provider_expands_them():
    deployment = api_object("kubernetes_deployment_v1", {
        "metadata": [{"name": "d", "namespace": "n", "labels": {"a": "b"}}],  # a block as a list of one
        "spec": {
            "replicas": "2",
            "selector": {"match_labels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {
                    "security_context": {"run_as_user": "10001", "seccomp_profile": {"type": "RuntimeDefault"}},
                    "container": [{"name": "c", "image": "i:1", "port": [{"name": "web", "container_port": 80}],
                                   "readiness_probe": {"http_get": {"path": "/", "port": "web"}},
                                   "liveness_probe": {"http_get": {"path": "/", "port": "8080"}}}],
                    "volume": [{"name": "v", "config_map": {"name": "cm", "items": [{"key": "k", "path": "p"}]}}],
                },
            },
        },
    })
    spec = deployment["spec"]
    assert (deployment["apiVersion"], deployment["kind"], spec["replicas"]) == ("apps/v1", "Deployment", 2)
    pod = spec["template"]["spec"]
    assert pod["securityContext"] == {"runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}}
    (container,) = pod["containers"]
    assert container["ports"] == [{"name": "web", "containerPort": 80, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"]["port"] == "web"  # intstr.Parse: a name stays a name
    assert container["livenessProbe"]["httpGet"]["port"] == 8080  # ... and digits become a number
    assert container["readinessProbe"]["failureThreshold"] == 3  # the schema's default, sent
    assert pod["volumes"][0]["configMap"]["defaultMode"] == 0o644  # "0644", octal
    assert pod["dnsPolicy"] == "ClusterFirst" and pod["restartPolicy"] == "Always"


def test_an_argument_the_stand_in_does_not_know_is_refused_naming_it():
    with pytest.raises(RewriteError, match=r"kubernetes_service_v1\.spec\.port\[0\]: target_ports: not in the provider"):
        api_object("kubernetes_service_v1", {"metadata": {"name": "s"}, "spec": {"port": [{"port": 80, "target_ports": "x"}]}})
    with pytest.raises(RewriteError, match="kubernetes_daemon_set_v1: the provider stand-in knows no such resource type"):
        api_object("kubernetes_daemon_set_v1", {})


def test_provider_only_arguments_are_not_sent_and_manifests_go_as_written():
    service = api_object("kubernetes_service_v1", {"metadata": {"name": "s"}, "spec": {"port": [{"port": 80, "target_port": "80"}]},
                                                   "wait_for_load_balancer": True, "timeouts": {"create": "1m"}})
    assert set(service) == {"apiVersion", "kind", "metadata", "spec"}
    assert service["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    manifest = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "spec": {"podMetricsEndpoints": []}}
    assert api_object("kubernetes_manifest", {"manifest": manifest}) == manifest
