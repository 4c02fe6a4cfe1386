"""The prometheus chart stand-in (real Helm) and the promtool check refuse what they must."""

import pytest

from tests.support.prometheus import PrometheusError
from tests.support.prometheus_chart import ChartRenderError, render_prometheus_yml
from tests.support.promtool_config import check_config

GOOD_JOB = """\
- job_name: pods
  kubernetes_sd_configs:
  - role: pod
    namespaces:
      names: [caretta]
"""


def render(extra: str, *more_values: str) -> str:
    import json

    return render_prometheus_yml(
        ['{"alertmanager": {"enabled": false}}', json.dumps({"extraScrapeConfigs": extra}), *more_values],
        release_name="prometheus",
        namespace="monitoring",
    )


def test_kubernetes_discovery_in_block_yaml_passes_the_check():
    config = check_config(render(GOOD_JOB))
    assert config["scrape_configs"][-1]["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["caretta"]}}]


def test_the_extra_jobs_go_through_tpl():
    config = check_config(render("- job_name: '{{ .Release.Name }}-self'\n  static_configs: [{targets: ['localhost:9090']}]\n"))
    assert config["scrape_configs"][-1]["job_name"] == "prometheus-self"


def test_only_chart_version_29_27_0_is_reproduced():
    with pytest.raises(ValueError, match="reproduces chart prometheus 29.27.0 only, not prometheus 27.1.0"):
        render_prometheus_yml([], release_name="p", namespace="m", version="27.1.0")


def test_values_the_stand_in_does_not_reproduce_fail_the_render():
    with pytest.raises(ChartRenderError, match=r"stand-in of the prometheus chart: server\.remoteWrite not reproduced"):
        render(GOOD_JOB, '{"server": {"remoteWrite": [{"url": "http://x"}]}}')


@pytest.mark.parametrize(
    "job, message",
    [
        # An unknown field next to the discovery.
        (GOOD_JOB + "  scrape_intervall: 1m\n", "field scrape_intervall not found"),
        # The Kubernetes discovery itself, which Prometheus 3's promtool parses.
        (GOOD_JOB.replace("role: pod", "role: pods"), 'unknown Kubernetes SD role "pods"'),
        (GOOD_JOB.replace("names: [caretta]", "name: [caretta]"), "field name not found in type kubernetes"),
        # promtool's validation: a regex that does not compile, a duplicate job.
        (GOOD_JOB + "  relabel_configs:\n  - {source_labels: [a], regex: '(', action: keep}\n", "error parsing regexp"),
        (GOOD_JOB + GOOD_JOB, 'found multiple scrape configs with job name "pods"'),
    ],
)
def test_a_bad_job_is_refused_naming_the_problem(job, message):
    with pytest.raises(PrometheusError, match=message):
        check_config(render(job))


# ---- the ConfigMap's other files: rule files -----------------------------------------------------

RULE = {"alert": "X", "expr": "up == 0", "annotations": {"summary": "{{ $labels.instance }} is {{ $value }}"}}


def files(*values: dict) -> dict:
    import json

    from tests.support.prometheus_chart import render_configmap_data

    return render_configmap_data(
        ['{"alertmanager": {"enabled": false}}', *(json.dumps(v) for v in values)], release_name="prometheus", namespace="monitoring"
    )


def test_rule_files_are_written_as_data_their_templates_left_alone():
    import yaml

    data = files({"serverFiles": {"alerting_rules.yml": {"groups": [{"name": "g", "rules": [RULE]}]}}})
    assert yaml.safe_load(data["alerting_rules.yml"]) == {"groups": [{"name": "g", "rules": [RULE]}]}
    assert data["recording_rules.yml"] == "{}\n" and data["allow-snippet-annotations"] == "false"
    assert "/etc/config/alerting_rules.yml" in yaml.safe_load(data["prometheus.yml"])["rule_files"]


def test_the_same_text_through_tpl_would_be_evaluated_by_helm():
    # Why it matters how the chart pastes a value: extraScrapeConfigs goes through `tpl`, where
    # an alert template's `$labels` is an undefined Helm variable.
    with pytest.raises(ChartRenderError, match="undefined variable"):
        render("- job_name: x\n  static_configs: [{targets: ['{{ $labels.instance }}']}]\n")


def test_the_deprecated_alerts_map_becomes_groups_named_after_its_keys():
    import yaml

    data = files({"serverFiles": {"alerts": {"homelab": [RULE]}}})
    assert yaml.safe_load(data["alerts"]) == {"groups": [{"name": "homelab.rules", "rules": [RULE]}]}


def test_rule_files_entries_are_files_too():
    data = files({"ruleFiles": {"extra.yml": "groups: []\n"}})
    assert data["extra.yml"].strip() == "groups: []"
