"""Each stack ships its dashboard as a ConfigMap the Grafana sidecar loads: the committed JSON."""

import json

import pytest

from tests.synth import REPO


@pytest.mark.parametrize(
    "stack, resource, namespace_ref, uid",
    [
        ("caretta", "pod_topology_dashboard_config_map", "caretta_namespace", "netviz-pod-topology"),
        ("goflow2", "network_flows_dashboard_config_map", "goflow2_namespace", "netviz-network-flows"),
    ],
)
def test_dashboard_configmap_is_labelled_for_the_sidecar_and_holds_the_committed_json(
    synthesized, stack, resource, namespace_ref, uid
):
    cm = synthesized.resource(stack, "kubernetes_config_map_v1", resource)
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == f"${{kubernetes_namespace_v1.{namespace_ref}.metadata[0].name}}"
    (filename,) = cm["data"]
    assert filename == f"{uid}.json"
    shipped = json.loads(cm["data"][filename])
    committed = json.loads((REPO / "dashboards" / "rendered" / filename).read_text())
    assert shipped == committed
    assert shipped["uid"] == uid


def test_sidecar_label_follows_the_config(tmp_path):
    from tests.synth import config_text, synth

    text = config_text(lambda t: t + '\n[monitoring.grafana]\ndashboard_label = "netviz_dashboard"\ndashboard_label_value = "yes"\n')
    out = synth(text, outdir=str(tmp_path))
    cm = out.resource("caretta", "kubernetes_config_map_v1", "pod_topology_dashboard_config_map")
    assert cm["metadata"]["labels"]["netviz_dashboard"] == "yes"
    sidecar = out.helm_values("platform", "grafana_chart_release")["sidecar"]["dashboards"]
    assert (sidecar["label"], sidecar["labelValue"]) == ("netviz_dashboard", "yes")
