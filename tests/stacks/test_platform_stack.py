"""platform stack: pinned Prometheus and Grafana charts wired to the other stacks' exports."""

import json

import pytest
import yaml

from tests.synth import one_block


@pytest.fixture(scope="module")
def prometheus_values(synthesized):
    return synthesized.helm_values("platform", "prometheus_chart_release")


@pytest.fixture(scope="module")
def scrape_jobs(synthesized, prometheus_values):
    # extraScrapeConfigs is a YAML string in the chart: a block-style list of jobs.
    text = synthesized.resolve_cross_stack(prometheus_values["extraScrapeConfigs"])
    return {job["job_name"]: job for job in yaml.safe_load(text)}


def test_monitoring_namespace(synthesized):
    ns = synthesized.resource("platform", "kubernetes_namespace_v1", "monitoring_namespace")
    assert one_block(ns["metadata"])["name"] == "monitoring"


@pytest.mark.parametrize(
    "release, chart, repository, version",
    [
        ("prometheus_chart_release", "prometheus", "https://prometheus-community.github.io/helm-charts", "29.27.0"),
        ("grafana_chart_release", "grafana", "https://grafana-community.github.io/helm-charts", "12.11.1"),
    ],
)
def test_charts_are_pinned(synthesized, release, chart, repository, version):
    r = synthesized.resource("platform", "helm_release", release)
    assert (r["chart"], r["repository"], r["version"]) == (chart, repository, version)
    assert r["namespace"] == "${kubernetes_namespace_v1.monitoring_namespace.metadata[0].name}"


def test_grafana_sidecar_loads_labelled_dashboards_from_every_namespace(synthesized):
    sidecar = synthesized.helm_values("platform", "grafana_chart_release")["sidecar"]["dashboards"]
    assert sidecar == {"enabled": True, "label": "grafana_dashboard", "labelValue": "1", "searchNamespace": "ALL"}


def test_grafana_has_a_provisioned_prometheus_datasource(synthesized):
    values = synthesized.helm_values("platform", "grafana_chart_release")
    (ds,) = values["datasources"]["datasources.yaml"]["datasources"]
    assert ds["type"] == "prometheus" and ds["isDefault"] is True
    assert ds["jsonData"]["timeInterval"] == "30s"  # the scrape jobs' interval: $__rate_interval follows it
    # The prometheus chart's server Service is `<release>-server` on port 80.
    assert ds["url"] == "http://prometheus-server.${kubernetes_namespace_v1.monitoring_namespace.metadata[0].name}.svc.cluster.local"


def test_no_grafana_password_anywhere_in_the_terraform(synthesized):
    for name, stack in synthesized.stacks.items():
        text = json.dumps(stack).lower()
        assert "adminpassword" not in text, name
        assert "admin-password\": \"" not in text, name


def test_existing_admin_secret_is_used_when_configured(tmp_path):
    from tests.synth import config_text, synth

    text = config_text(lambda t: t + '\n[monitoring.grafana]\nadmin_existing_secret = "grafana-admin"\n')
    values = synth(text, outdir=str(tmp_path)).helm_values("platform", "grafana_chart_release")
    assert values["admin"] == {"existingSecret": "grafana-admin", "userKey": "admin-user", "passwordKey": "admin-password"}


def test_scrape_jobs_for_caretta_goflow2_and_the_exporter(scrape_jobs):
    assert set(scrape_jobs) == {"caretta", "goflow2", "flow-exporter"}


def test_caretta_job_discovers_pods_not_a_service(scrape_jobs):
    job = scrape_jobs["caretta"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["caretta"]}}]
    assert "static_configs" not in job


def test_scrape_namespaces_come_from_the_other_stacks_by_reference(synthesized, prometheus_values):
    raw = prometheus_values["extraScrapeConfigs"]
    assert "${data.terraform_remote_state.cross_stack_reference_input_caretta.outputs." in raw
    assert "${data.terraform_remote_state.cross_stack_reference_input_goflow2.outputs." in raw


def test_netflow_collector_output_reads_goflow2_nodeport_by_reference(synthesized):
    value = synthesized.stacks["platform"]["output"]["netflow_collector"]["value"]
    assert value.startswith("10.0.20.100:${data.terraform_remote_state.cross_stack_reference_input_goflow2.outputs.")
    assert synthesized.resolve_cross_stack(value) == "10.0.20.100:32055"
