"""monitoring.mode: managed (default), adopt (import the user's releases), prometheus-operator."""

import pytest
import yaml

from netviz_constructs.caretta_agents import AGENT_POD_LABELS, METRICS_PORT_NAME
from netviz_constructs.flow_collector import COLLECTOR_METRICS_PORT_NAME, EXPORTER_METRICS_PORT_NAME
from tests.synth import config_text, one_block, synth

USER_PROMETHEUS_VALUES = """\
server:
  retention: 90d
alertmanager:
  enabled: true
extraScrapeConfigs: |
  - job_name: nas
    static_configs:
      - targets: ["truenas.home.arpa:9100"]
"""
USER_GRAFANA_VALUES = """\
persistence:
  enabled: true
datasources:
  datasources.yaml:
    apiVersion: 1
    datasources:
      - name: Mimir
        type: prometheus
        url: http://mimir.observability.svc
"""


def with_monitoring(section: str) -> str:
    return config_text(lambda t: t + "\n" + section)


@pytest.fixture(scope="module")
def adopted(tmp_path_factory):
    d = tmp_path_factory.mktemp("adopt")
    (d / "prometheus-values.yaml").write_text(USER_PROMETHEUS_VALUES)
    (d / "grafana-values.yaml").write_text(USER_GRAFANA_VALUES)
    text = with_monitoring(
        '[monitoring]\nmode = "adopt"\nnamespace = "observability"\n'
        '[monitoring.prometheus]\nrelease_name = "prom"\nchart_version = "27.1.0"\nvalues_file = "prometheus-values.yaml"\n'
        '[monitoring.grafana]\nrelease_name = "grafana"\nvalues_file = "grafana-values.yaml"\n'
    )
    return synth(text, outdir=str(d))


@pytest.fixture(scope="module")
def operated(tmp_path_factory):
    text = with_monitoring('[monitoring]\nmode = "prometheus-operator"\n')
    return synth(text, outdir=str(tmp_path_factory.mktemp("operator")))


# ---- managed ------------------------------------------------------------------------------------

def test_managed_installs_fresh_releases_without_imports(synthesized):
    platform = synthesized.stacks["platform"]
    assert "import" not in platform
    assert set(platform["resource"]["helm_release"]) == {"prometheus_chart_release", "grafana_chart_release"}
    assert "monitoring_namespace" in platform["resource"]["kubernetes_namespace_v1"]


def test_managed_keeps_samples_as_long_as_the_dashboards_longest_range(synthesized):
    # the chart's own default (15d) would leave a 30-day range half empty
    assert synthesized.helm_values("platform", "prometheus_chart_release")["server"] == {"retention": "31d"}


def test_managed_retention_is_the_configs_and_the_users_values_file_wins(tmp_path):
    text = with_monitoring('[monitoring.prometheus]\nretention = "45d"\n')
    assert synth(text, outdir=str(tmp_path / "key")).helm_values("platform", "prometheus_chart_release")["server"] == {
        "retention": "45d"}
    (tmp_path / "prometheus-values.yaml").write_text(USER_PROMETHEUS_VALUES)
    text = with_monitoring('[monitoring.prometheus]\nvalues_file = "prometheus-values.yaml"\n')
    merged = synth(text, outdir=str(tmp_path)).helm_values("platform", "prometheus_chart_release")
    assert merged["server"] == {"retention": "90d"}


# ---- adopt --------------------------------------------------------------------------------------

def test_adopt_imports_the_existing_releases_by_namespace_and_name(adopted):
    assert adopted.stacks["platform"]["import"] == [
        {"id": "observability/prom", "to": "helm_release.prometheus_chart_release"},
        {"id": "observability/grafana", "to": "helm_release.grafana_chart_release"},
    ]


def test_adopt_keeps_release_identity_so_the_plan_is_an_update(adopted):
    # name and namespace force a new release when changed: they must be the existing ones.
    prom = adopted.resource("platform", "helm_release", "prometheus_chart_release")
    assert (prom["name"], prom["namespace"], prom["version"]) == ("prom", "observability", "27.1.0")
    grafana = adopted.resource("platform", "helm_release", "grafana_chart_release")
    assert (grafana["name"], grafana["namespace"]) == ("grafana", "observability")
    # The user's namespace is not created (nor, on destroy, deleted) by netviz.
    assert "kubernetes_namespace_v1" not in adopted.stacks["platform"]["resource"]


def test_adopt_merges_the_users_values_under_netviz(adopted):
    layers = adopted.helm_values_layers("platform", "prometheus_chart_release")
    assert layers[0] == yaml.safe_load(USER_PROMETHEUS_VALUES)  # theirs, as they are
    merged = adopted.helm_values("platform", "prometheus_chart_release")
    assert merged["server"] == {"retention": "90d"}
    assert merged["alertmanager"] == {"enabled": True}  # an adopted release keeps what it runs
    jobs = [j["job_name"] for j in yaml.safe_load(merged["extraScrapeConfigs"])]
    assert jobs == ["nas", "caretta", "goflow2", "flow-exporter"]


def test_adopt_keeps_the_users_grafana_datasources_and_adds_the_sidecar(adopted):
    merged = adopted.helm_values("platform", "grafana_chart_release")
    (ds,) = merged["datasources"]["datasources.yaml"]["datasources"]
    assert ds["name"] == "Mimir"
    assert merged["persistence"] == {"enabled": True}
    assert merged["sidecar"]["dashboards"]["label"] == "grafana_dashboard"


def test_adopt_refuses_a_job_name_netviz_adds(tmp_path):
    (tmp_path / "p.yaml").write_text('extraScrapeConfigs: |\n  - job_name: caretta\n    static_configs: []\n')
    text = with_monitoring('[monitoring]\nmode = "adopt"\n[monitoring.prometheus]\nvalues_file = "p.yaml"\n')
    with pytest.raises(ValueError, match=r"extraScrapeConfigs already has job\(s\) \['caretta'\]"):
        synth(text, outdir=str(tmp_path))


def test_missing_values_file_is_a_config_error(tmp_path):
    import netviz_config

    path = tmp_path / "network.toml"
    path.write_text(with_monitoring('[monitoring.prometheus]\nvalues_file = "nope.yaml"\n'))
    with pytest.raises(netviz_config.ConfigError) as err:
        netviz_config.load(str(path))
    assert err.value.problems[0].startswith("monitoring.prometheus.values_file: expected a readable YAML file, but 'nope.yaml'")


# ---- prometheus-operator ------------------------------------------------------------------------

def manifests(out, kind):
    return {
        r["manifest"]["metadata"]["name"]: out.resolve_json(r["manifest"])
        for r in out.resources("platform", "kubernetes_manifest").values()
        if r["manifest"]["kind"] == kind
    }


def pod_monitors(out):
    return manifests(out, "PodMonitor")


def test_operator_mode_touches_no_chart(operated):
    platform = operated.stacks["platform"]
    assert "helm_release" not in platform["resource"]
    assert "kubernetes_namespace_v1" not in platform["resource"]
    assert "helm" not in platform["terraform"]["required_providers"]


def test_operator_pod_monitors_carry_the_label_prometheus_selects(operated):
    monitors = pod_monitors(operated)
    assert set(monitors) == {"caretta", "goflow2", "flow-exporter"}
    for m in monitors.values():
        assert m["apiVersion"] == "monitoring.coreos.com/v1" and m["kind"] == "PodMonitor"
        assert m["metadata"]["labels"] == {"release": "kube-prometheus-stack"}


@pytest.mark.parametrize(
    "name, namespace, port", [("caretta", "caretta", METRICS_PORT_NAME), ("goflow2", "goflow2", COLLECTOR_METRICS_PORT_NAME),
                              ("flow-exporter", "goflow2", EXPORTER_METRICS_PORT_NAME)]
)
def test_operator_pod_monitor_specs(operated, name, namespace, port):
    m = pod_monitors(operated)[name]
    assert m["metadata"]["namespace"] == namespace
    assert m["spec"]["namespaceSelector"] == {"matchNames": [namespace]}
    (endpoint,) = m["spec"]["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["interval"]) == (port, "/metrics", "30s")
    # Same job label as the managed scrape jobs: the dashboards select on it.
    assert {"action": "replace", "targetLabel": "job", "replacement": name} in endpoint["relabelings"]


def selects(selector: dict, pod_labels: dict) -> bool:
    """Kubernetes label-selector semantics of matchLabels (what the operator passes on)."""
    assert set(selector) == {"matchLabels"}, "only matchLabels is simulated"
    return all(pod_labels.get(k) == v for k, v in selector["matchLabels"].items())


def test_caretta_pod_monitor_selects_every_agent_pod(operated):
    # The agents' labels: the chart's fixed ones plus its instance label, the release name taken
    # from the caretta stack's own JSON.
    release = operated.resource("caretta", "helm_release", "caretta_chart_release")
    agent_labels = {**AGENT_POD_LABELS, "app.kubernetes.io/name": "caretta", "app.kubernetes.io/instance": release["name"]}
    m = pod_monitors(operated)["caretta"]
    assert selects(m["spec"]["selector"], agent_labels)
    assert not selects(m["spec"]["selector"], {**agent_labels, "app.kubernetes.io/instance": "other"})
    assert m["metadata"]["namespace"] == one_block(operated.resource("caretta", "kubernetes_namespace_v1", "caretta_namespace")["metadata"])["name"]


def test_goflow2_pod_monitors_select_the_collector_pod_and_its_ports(operated):
    deployment = operated.resource("goflow2", "kubernetes_deployment_v1", "goflow2_deployment")
    template = deployment["spec"]["template"]
    ports = {p["name"] for c in template["spec"]["container"] for p in c.get("port", [])}
    for name in ("goflow2", "flow-exporter"):
        m = pod_monitors(operated)[name]
        assert selects(m["spec"]["selector"], template["metadata"]["labels"]), name
        assert m["spec"]["podMetricsEndpoints"][0]["port"] in ports


def test_operator_mode_dashboards_carry_the_configured_sidecar_label(tmp_path):
    text = with_monitoring(
        '[monitoring]\nmode = "prometheus-operator"\npod_monitor_label_value = "kps"\n'
        '[monitoring.grafana]\ndashboard_label = "grafana_dashboard"\ndashboard_label_value = "netviz"\n'
    )
    out = synth(text, outdir=str(tmp_path))
    for stack, resource in (("caretta", "pod_topology_dashboard_config_map"), ("goflow2", "network_flows_dashboard_config_map")):
        labels = out.resource(stack, "kubernetes_config_map_v1", resource)["metadata"]["labels"]
        assert labels["grafana_dashboard"] == "netviz"
    assert {m["metadata"]["labels"]["release"] for m in pod_monitors(out).values()} == {"kps"}
