"""netviz's alerting rules reach Prometheus in every monitoring mode, and never replace the user's.

managed and adopt: the groups go into the prometheus chart's alerting rule file
(`serverFiles."alerting_rules.yml"`), after the user's own groups; what the chart makes of the
values is rendered by the real Helm (chart stand-in, tests/support/prometheus_chart.py) and read by
the real promtool. prometheus-operator: one PrometheusRule per group, labelled for the user's
ruleSelector, beside its component's PodMonitors.
"""

from __future__ import annotations

import re

import pytest
import yaml

from alerts import CARETTA_GROUP, DEVICE_GROUP, FLOW_GROUP, ROLLUP_GROUP
from netviz_constructs.alerting_rules import RULE_FILE, RULE_FILE_PATH
from netviz_constructs.operator_crd import PROMETHEUS_RULE_CRD
from tests.alerts import rule_cases
from tests.support.prometheus_chart import render_synthesized_files, values_files
from tests.synth import config_text, synth

# An adopted release's values as `helm get values` prints them: an alerting rule of the user's own
# whose annotations are Prometheus templates, and a recording rule file.
USER_VALUES = """\
server:
  retention: 90d
serverFiles:
  alerting_rules.yml:
    groups:
      - name: homelab
        rules:
          - alert: NasDown
            expr: up{job="nas"} == 0
            for: 5m
            labels:
              severity: page
            annotations:
              summary: '{{ $labels.instance }} is down'
              description: "{{ $labels.instance }} of job {{ $labels.job }} has been down for 5 minutes (up = {{ $value }})."
  recording_rules.yml:
    groups:
      - name: homelab-records
        rules:
          - record: job:up:sum
            expr: sum by (job) (up)
"""


def adopt(tmp_path, values: str, extra: str = ""):
    (tmp_path / "prometheus-values.yaml").write_text(values)
    text = config_text() + (
        '\n[monitoring]\nmode = "adopt"\nnamespace = "observability"\n'
        '[monitoring.prometheus]\nrelease_name = "prom"\nvalues_file = "prometheus-values.yaml"\n'
    ) + extra
    return synth(text, outdir=str(tmp_path))


@pytest.fixture(scope="module")
def adopted(tmp_path_factory):
    out = adopt(tmp_path_factory.mktemp("adopt-rules"), USER_VALUES)
    return out, render_synthesized_files(out)


def groups_of(rule_file_text: str) -> list[dict]:
    return yaml.safe_load(rule_file_text)["groups"]


def prometheus_rules(out) -> dict[str, dict]:
    return {
        r["manifest"]["metadata"]["name"]: out.resolve_json(r)
        for r in out.resources("platform", "kubernetes_manifest").values()
        if r["manifest"]["kind"] == "PrometheusRule"
    }


# ---- managed ------------------------------------------------------------------------------------

def test_managed_rule_file_holds_netvizs_groups(synthesized):
    files = render_synthesized_files(synthesized)
    assert [g["name"] for g in groups_of(files[RULE_FILE])] == [FLOW_GROUP, CARETTA_GROUP, DEVICE_GROUP, ROLLUP_GROUP]
    assert files["recording_rules.yml"] == "{}\n"  # the chart's other rule files stay empty


def test_helm_pastes_the_rules_without_evaluating_their_templates(synthesized):
    # What netviz meant (its values) is what the ConfigMap holds: the annotations' {{ $value }}
    # and {{ $labels.x }} are Prometheus' to fill in, and Helm's toYaml leaves them alone.
    meant = yaml.safe_load(values_files(synthesized)[-1])["serverFiles"][RULE_FILE]
    rendered = yaml.safe_load(render_synthesized_files(synthesized)[RULE_FILE])
    assert rendered == meant
    texts = [a for g in rendered["groups"] for r in g["rules"] for a in r.get("annotations", {}).values()]
    assert any("{{ $labels.reason }}" in t for t in texts) and any("{{ $value | humanizePercentage }}" in t for t in texts)


def test_rules_select_the_jobs_the_stack_scrapes(synthesized):
    """Nothing retyped: every job a rule selects is one of the scrape jobs netviz adds."""
    values = yaml.safe_load(values_files(synthesized)[-1])
    scraped = {j["job_name"] for j in yaml.safe_load(values["extraScrapeConfigs"])}
    by_group = {
        g["name"]: {job for r in g["rules"] for job in re.findall(r'job="([^"]+)"', r["expr"])}
        for g in values["serverFiles"][RULE_FILE]["groups"]
    }
    assert by_group == {FLOW_GROUP: {"goflow2", "flow-exporter"}, CARETTA_GROUP: {"caretta"}, DEVICE_GROUP: {"flow-exporter"}, ROLLUP_GROUP: {"flow-exporter"}}
    assert set().union(*by_group.values()) <= scraped


def test_managed_grafana_datasource_shows_prometheus_alerts(synthesized):
    merged = synthesized.helm_values("platform", "grafana_chart_release")
    (ds,) = merged["datasources"]["datasources.yaml"]["datasources"]
    assert ds["jsonData"]["manageAlerts"] is True


def test_alerts_can_be_switched_off_and_the_rollups_stay(tmp_path):
    out = synth(config_text() + "\n[alerts]\nenabled = false\n", outdir=str(tmp_path))
    values = yaml.safe_load(values_files(out)[-1])
    assert [g["name"] for g in values["serverFiles"][RULE_FILE]["groups"]] == [ROLLUP_GROUP]
    assert [g["name"] for g in groups_of(render_synthesized_files(out)[RULE_FILE])] == [ROLLUP_GROUP]


# ---- adopt --------------------------------------------------------------------------------------

def test_adopt_keeps_the_users_groups_first_as_written(adopted):
    out, files = adopted
    groups = groups_of(files[RULE_FILE])
    assert [g["name"] for g in groups] == ["homelab", FLOW_GROUP, CARETTA_GROUP, DEVICE_GROUP, ROLLUP_GROUP]
    theirs = yaml.safe_load(USER_VALUES)["serverFiles"]
    assert groups[0] == theirs[RULE_FILE]["groups"][0]  # their {{ $labels.instance }} too
    assert yaml.safe_load(files["recording_rules.yml"]) == theirs["recording_rules.yml"]


def test_adopt_gives_helm_the_users_values_as_they_are(adopted):
    out, _ = adopted
    theirs, ours = values_files(out)
    assert yaml.safe_load(theirs) == yaml.safe_load(USER_VALUES)
    assert set(yaml.safe_load(ours)["serverFiles"]) == {RULE_FILE}


def test_adopt_merged_rule_file_passes_promtool(adopted):
    # The user's rule and netviz's in one file: promtool loads both, and netviz's unit tests pass
    # with the user's alert checked alongside (it never fires on netviz's series).
    _, files = adopted
    proc = rule_cases.run(files[RULE_FILE])
    assert "SUCCESS" in proc.stdout, proc.stdout + proc.stderr


def test_adopt_adds_the_rule_file_to_the_users_own_rule_files(tmp_path):
    values = "serverFiles:\n  prometheus.yml:\n    rule_files:\n      - /etc/config/recording_rules.yml\n"
    out = adopt(tmp_path, values)
    config = yaml.safe_load(render_synthesized_files(out)["prometheus.yml"])
    assert config["rule_files"] == ["/etc/config/recording_rules.yml", RULE_FILE_PATH]


def test_adopt_leaves_rule_files_that_already_read_it(tmp_path):
    values = f"serverFiles:\n  prometheus.yml:\n    rule_files: [{RULE_FILE_PATH}]\n"
    out = adopt(tmp_path, values)
    assert set(yaml.safe_load(values_files(out)[-1])["serverFiles"]) == {RULE_FILE}


@pytest.mark.parametrize(
    "values, message",
    [
        (
            "serverFiles:\n  alerting_rules.yml:\n    groups:\n      - name: netviz-flows\n        rules: []\n",
            r"""serverFiles."alerting_rules.yml" already has rule group\(s\) \['netviz-flows'\], which netviz adds; rename yours""",
        ),
        (
            "serverFiles:\n  alerting_rules.yml: |\n    groups: []\n",
            r"""serverFiles."alerting_rules.yml" must be a mapping, but a str was given""",
        ),
        (
            "serverFiles:\n  alerting_rules.yml:\n    groups:\n      - rules: []\n",
            r"""serverFiles."alerting_rules.yml".groups must be a list of rule groups, each with a name""",
        ),
        (
            "serverFiles:\n  prometheus.yml:\n    rule_files: /etc/config/mine.yml\n",
            r"""serverFiles."prometheus.yml".rule_files must be a list of paths""",
        ),
        (  # the chart would render no ConfigMap of its own (its cm.yaml), so nothing of netviz's is read
            "server:\n  configMapOverrideName: prometheus-config\n",
            r"""server.configMapOverrideName is set \('prometheus-config'\): the chart then renders no prometheus.yml""",
        ),
    ],
)
def test_adopt_refuses_what_it_cannot_merge(tmp_path, values, message):
    with pytest.raises(ValueError, match="monitoring.prometheus.values_file: " + message):
        adopt(tmp_path, values)


# ---- prometheus-operator ------------------------------------------------------------------------

OPERATOR = '\n[monitoring]\nmode = "prometheus-operator"\n'


@pytest.fixture(scope="module")
def operated(tmp_path_factory):
    return synth(config_text() + OPERATOR, outdir=str(tmp_path_factory.mktemp("operator-rules")))


def test_operator_rules_are_prometheus_rules_beside_their_components(operated):
    rules = prometheus_rules(operated)
    assert set(rules) == {FLOW_GROUP, CARETTA_GROUP, DEVICE_GROUP, ROLLUP_GROUP}
    namespaces = {name: r["manifest"]["metadata"]["namespace"] for name, r in rules.items()}
    assert namespaces == {FLOW_GROUP: "goflow2", CARETTA_GROUP: "caretta", DEVICE_GROUP: "goflow2",
                          ROLLUP_GROUP: "goflow2"}
    for name, r in rules.items():
        manifest = r["manifest"]
        assert (manifest["apiVersion"], manifest["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
        assert [g["name"] for g in manifest["spec"]["groups"]] == [name]
        # kube-prometheus-stack selects PrometheusRules and PodMonitors by the same label
        assert manifest["metadata"]["labels"] == {"release": "kube-prometheus-stack"}


def test_operator_rules_carry_the_configured_rule_selector_label(tmp_path):
    text = config_text() + OPERATOR + 'rule_label = "prometheus"\nrule_label_value = "homelab"\n'
    rules = prometheus_rules(synth(text, outdir=str(tmp_path)))
    assert {tuple(r["manifest"]["metadata"]["labels"].items()) for r in rules.values()} == {(("prometheus", "homelab"),)}


def test_operator_rules_require_the_prometheus_rule_crd(operated):
    platform = operated.stacks["platform"]
    lookup = platform["data"]["kubernetes_resources"]["prometheus_rule_crd_lookup"]
    assert lookup["field_selector"] == f"metadata.name={PROMETHEUS_RULE_CRD}"
    for r in prometheus_rules(operated).values():
        (precondition,) = r["lifecycle"]["precondition"]
        assert "data.kubernetes_resources.prometheus_rule_crd_lookup.objects" in precondition["condition"]
        assert f"PrometheusRule CRD ({PROMETHEUS_RULE_CRD})" in precondition["error_message"]


def test_operator_without_alerts_has_only_the_rollups(tmp_path):
    out = synth(config_text() + OPERATOR + "\n[alerts]\nenabled = false\n", outdir=str(tmp_path))
    assert set(prometheus_rules(out)) == {ROLLUP_GROUP}
