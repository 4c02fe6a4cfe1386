"""caretta stack: the upstream chart, pinned, without its bundled Grafana/VictoriaMetrics."""

import pytest

from tests.synth import config_text, one_block, synth


def test_namespace_is_caretta(synthesized):
    ns = synthesized.resource("caretta", "kubernetes_namespace_v1", "caretta_namespace")
    assert one_block(ns["metadata"])["name"] == "caretta"


def test_release_is_the_pinned_groundcover_chart(synthesized):
    release = synthesized.resource("caretta", "helm_release", "caretta_chart_release")
    assert release["chart"] == "caretta"
    assert release["version"] == "0.0.16"
    assert release["repository"] == "https://helm.groundcover.com/"
    assert release["namespace"] == "${kubernetes_namespace_v1.caretta_namespace.metadata[0].name}"


def test_bundled_grafana_and_victoria_metrics_are_off(synthesized):
    values = synthesized.helm_values("caretta", "caretta_chart_release")
    assert values["grafana"] == {"enabled": False}
    assert values["victoria-metrics-single"] == {"enabled": False}


def test_resources_request_little_and_limit_survives_kernel_6_1_map_accounting(synthesized):
    resources = synthesized.helm_values("caretta", "caretta_chart_release")["resources"]
    assert resources["requests"] == {"cpu": "50m", "memory": "100Mi"}
    # caretta issue #78: ~100Mi is OOM-killed on kernels >= 6.1; the chart's own limit is 300Mi.
    limit = resources["limits"]["memory"]
    assert limit.endswith("Mi") and int(limit[:-2]) >= 300, limit


def test_every_node_runs_an_agent_control_plane_included(synthesized):
    tolerations = synthesized.helm_values("caretta", "caretta_chart_release")["tolerations"]
    # An Exists toleration without a key matches every taint, node-role.kubernetes.io/control-plane too.
    assert {"operator": "Exists"} in tolerations


def test_metrics_port_matches_what_platform_scrapes(synthesized):
    values = synthesized.helm_values("caretta", "caretta_chart_release")
    from netviz_constructs.caretta_agents import METRICS_PORT

    assert values["prometheusPort"] == METRICS_PORT == 7117


def test_namespace_is_exported_for_the_platform_stack(synthesized):
    outputs = synthesized.stacks["caretta"]["output"]
    assert {o["value"] for o in outputs.values()} == {
        "${kubernetes_namespace_v1.caretta_namespace.metadata[0].name}"
    }


def caretta_container(out):
    """The agent container of the DaemonSet the chart (its stand-in, rendered by the real Helm, which
    reads every number of a values file as a float) makes of the release's values."""
    from tests.support import caretta_chart

    release = out.raw_resource("caretta", "helm_release", "caretta_chart_release")
    documents = caretta_chart.render([out.terraform_string("caretta", v) for v in release["values"]],
                                     release_name=release["name"], namespace="caretta", version=release["version"])
    (daemonset,) = [d for d in documents if d["kind"] == "DaemonSet"]
    (container,) = daemonset["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("seconds", [5, 1000000])
def test_agents_read_the_poll_interval_and_port_as_whole_numbers(tmp_path, seconds):
    # The agent parses both with strconv.Atoi and silently falls back to its defaults on "1e+06".
    text = config_text(lambda t: t + f"\n[caretta]\npoll_interval_seconds = {seconds}\n")
    container = caretta_container(synth(text, outdir=str(tmp_path)))
    env = {e["name"]: e["value"] for e in container["env"]}
    assert (env["PROMETHEUS_PORT"], env["POLL_INTERVAL"]) == ("7117", str(seconds))
    assert container["ports"][0]["containerPort"] == 7117
