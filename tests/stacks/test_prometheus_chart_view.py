"""The prometheus chart's view of netviz's values: prometheus.yml rendered as the pinned chart
(29.27.0, charts/prometheus/templates/cm.yaml) renders it, by the real Helm on a stand-in of that
template (tests/support/prometheus_chart.py), from the synthesized platform stack's values, then
loaded by the real promtool (tests/support/promtool_config.py)."""

import json

import pytest
import yaml

from tests.support.prometheus import PrometheusError
from tests.support.prometheus_chart import DEFAULT_VALUES, render_prometheus_yml, render_synthesized, values_files
from tests.support.promtool_config import check_config
from tests.synth import config_text, synth

NETVIZ_JOBS = ["caretta", "goflow2", "flow-exporter"]
CHART_JOBS = sorted(DEFAULT_VALUES["scrapeConfigs"])  # the chart renders its map in key order

# An adopted release's values as `helm get values` prints them: jobs of the user's own, one with
# a `${1}` replacement and a regex, one with a template the chart's `tpl` fills in.
USER_VALUES = r"""
server:
  retention: 90d
alertmanager:
  enabled: true
extraScrapeConfigs: |
  - job_name: nas
    static_configs:
      - targets: ["truenas.home.arpa:9100"]
    relabel_configs:
      - source_labels: [__address__]
        regex: '(.+):(\d+)'
        target_label: host
        replacement: ${1}
  - job_name: blackbox
    metrics_path: /probe
    params:
      module: [http_2xx]
    static_configs:
      - targets: ["https://example.com"]
    relabel_configs:
      - target_label: __address__
        replacement: "blackbox.{{ .Release.Namespace }}.svc:9115"
"""


@pytest.fixture(scope="module")
def managed(prometheus_yml):
    return prometheus_yml, check_config(prometheus_yml)


@pytest.fixture(scope="module")
def adopted(tmp_path_factory):
    d = tmp_path_factory.mktemp("adopt-chart-view")
    (d / "prometheus-values.yaml").write_text(USER_VALUES)
    out = synth(
        config_text(
            lambda t: t + '\n[monitoring]\nmode = "adopt"\nnamespace = "observability"\n'
            '[monitoring.prometheus]\nrelease_name = "prom"\nvalues_file = "prometheus-values.yaml"\n'
        ),
        outdir=str(d),
    )
    text = render_synthesized(out)
    return text, check_config(text), out


def jobs_of(config):
    return {j["job_name"]: j for j in config["scrape_configs"]}


def test_managed_prometheus_yml_loads_with_netviz_jobs_after_the_charts(managed):
    _, config = managed  # check_config: promtool accepted it
    assert [j["job_name"] for j in config["scrape_configs"]] == CHART_JOBS + NETVIZ_JOBS
    assert "alerting" not in config  # managed installs run no Alertmanager


def test_managed_jobs_reach_prometheus_with_the_other_stacks_namespaces(managed):
    jobs = jobs_of(managed[1])
    assert jobs["caretta"]["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["caretta"]}}]
    for name in ("goflow2", "flow-exporter"):
        assert jobs[name]["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["goflow2"]}}]
    assert {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Succeeded|Failed", "action": "drop"} in jobs["caretta"]["relabel_configs"]


def test_managed_jobs_are_pasted_unchanged(synthesized, managed):
    # What netviz meant (its extraScrapeConfigs, read as YAML) is what Prometheus reads: the
    # chart's tpl and indent neither lost nor merged anything.
    meant = yaml.safe_load(yaml.safe_load(values_files(synthesized)[-1])["extraScrapeConfigs"])
    jobs = jobs_of(managed[1])
    assert [jobs[j["job_name"]] for j in meant] == meant


def test_adopt_helm_gets_the_users_values_as_they_are_then_netvizs(adopted):
    theirs, ours = values_files(adopted[2])
    assert yaml.safe_load(theirs) == yaml.safe_load(USER_VALUES)
    ours = yaml.safe_load(ours)
    assert set(ours) == {"extraScrapeConfigs", "serverFiles"}
    assert set(ours["serverFiles"]) == {"alerting_rules.yml"}  # the user's rule_files are the chart's


def test_adopt_keeps_the_users_jobs_first_and_loads(adopted):
    config = adopted[1]
    assert [j["job_name"] for j in config["scrape_configs"]] == CHART_JOBS + ["nas", "blackbox"] + NETVIZ_JOBS


def test_adopt_users_regex_and_replacement_reach_prometheus_as_written(adopted):
    (rule,) = jobs_of(adopted[1])["nas"]["relabel_configs"]
    assert rule == {"source_labels": ["__address__"], "regex": r"(.+):(\d+)", "target_label": "host", "replacement": "${1}"}


def test_adopt_users_templates_are_filled_in_by_the_chart_as_before(adopted):
    (rule,) = jobs_of(adopted[1])["blackbox"]["relabel_configs"]
    assert rule["replacement"] == "blackbox.observability.svc:9115"


def test_adopt_keeps_the_users_alertmanager_discovery(adopted):
    config = adopted[1]
    (am,) = config["alerting"]["alertmanagers"]
    assert am["kubernetes_sd_configs"] == [{"role": "pod"}]
    assert {"source_labels": ["__meta_kubernetes_namespace"], "regex": "observability", "action": "keep"} in am["relabel_configs"]


def test_the_json_list_netviz_used_to_emit_is_refused(synthesized):
    # The same jobs as one JSON array ("JSON is YAML"): pasted by the chart after its own block
    # entries it is no longer YAML, and this check must say so.
    jobs = yaml.safe_load(yaml.safe_load(values_files(synthesized)[-1])["extraScrapeConfigs"])
    as_json = json.dumps({"extraScrapeConfigs": json.dumps(jobs, indent=2)})
    text = render_prometheus_yml(
        ['{"alertmanager": {"enabled": false}}', as_json], release_name="prometheus", namespace="monitoring"
    )
    with pytest.raises(PrometheusError, match="could not find expected ':'"):
        check_config(text)
