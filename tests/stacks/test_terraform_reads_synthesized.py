"""The real Terraform CLI reads what netviz synthesizes, and stores exactly what netviz meant.

For each monitoring mode (and with the pfSense step on), every stack is synthesized, rewritten for
the built-in provider only (tests/support/terraform.py: a STAND-IN for the kubernetes, helm and null
providers' schemas; Terraform itself is real), then `terraform validate`d with its provisioners,
and `terraform apply`d in dependency order into a throwaway state (provisioners left out: they
would SSH to pfSense; tests/pfsense/test_terraform_runs_the_pfsense_step.py runs them for real).
The cross-stack references go through real `terraform_remote_state` reads of those states. The
values Terraform stored, after reading every string as a template, are compared with what netviz
meant: the committed dashboards byte for byte, the exporter's files, network.toml, the user's own
Helm values.
"""

from __future__ import annotations

import hashlib

import pytest
import yaml

import stacks.goflow2
from dashboards import NETWORK_FLOWS_FILE, POD_TOPOLOGY_FILE
from flow_exporter.mapping import goflow2_mapping_yaml
from netviz_constructs.operator_crd import POD_MONITOR_CRD, PROMETHEUS_RULE_CRD
from netviz_constructs.alerting_rules import RULE_FILE
from stacks.app import STACK_NAMES
from tests.alerts import rule_cases
from tests.support.deployment import (COLLECTOR_NODE_MISSING, CRD_INSTALLED, CRD_MISSING, PROMETHEUS_RULE_LOOKUP, RENDERED,
                                      VARIANTS, Deployed, deploy)
from tests.support.prometheus_chart import values_files
from tests.synth import REPO, config_text, helm_merge


@pytest.fixture(scope="module", params=list(VARIANTS))
def deployed(request, tmp_path_factory) -> Deployed:
    directory = tmp_path_factory.mktemp(request.param)
    return deploy(request.param, directory, VARIANTS[request.param](directory))


def test_terraform_validates_every_stack(deployed):
    for name in STACK_NAMES:
        result = deployed.validation.get(name)
        assert result is not None, f"{name}: not validated (an earlier stack failed)"
        problems = [f"{d['severity']}: {d['summary']}: {d.get('detail', '')}" for d in result["diagnostics"]]
        assert result["valid"] and not problems, f"{name}:\n" + "\n".join(problems)


def test_dashboard_configmaps_hold_the_committed_json_byte_for_byte(deployed):
    for stack, resource, filename in (
        ("caretta", "pod_topology_dashboard_config_map", POD_TOPOLOGY_FILE),
        ("goflow2", "network_flows_dashboard_config_map", NETWORK_FLOWS_FILE),
    ):
        data = deployed.input_of(stack, "kubernetes_config_map_v1", resource)["data"]
        assert list(data) == [filename]
        assert data[filename].encode() == (RENDERED / filename).read_bytes(), f"{stack}: {filename} differs"


def test_exporter_configmap_holds_the_repository_files_and_the_config(deployed):
    data = deployed.input_of("goflow2", "kubernetes_config_map_v1", "goflow2_files")["data"]
    files = stacks.goflow2.exporter_files()
    assert len(files) > 10
    for path, text in files.items():
        key = path.replace("/", "__")
        assert data[key].encode() == (REPO / path).read_bytes(), f"{path} differs from the repository's file"
    assert data["network.toml"] == deployed.config_toml
    assert data["goflow2-mapping.yaml"] == goflow2_mapping_yaml()
    assert set(data) == {p.replace("/", "__") for p in files} | {"network.toml", "goflow2-mapping.yaml"}


def test_pod_rolls_when_the_files_change(deployed):
    """The pod template's annotation is the digest of what the ConfigMap stores (after Terraform)."""
    data = deployed.input_of("goflow2", "kubernetes_config_map_v1", "goflow2_files")["data"]
    h = hashlib.sha256()
    for key in sorted(data):
        h.update(key.encode() + b"\0" + data[key].encode() + b"\0")
    deployment = deployed.input_of("goflow2", "kubernetes_deployment_v1", "goflow2_deployment")
    assert deployment["spec"]["template"]["metadata"]["annotations"]["netviz/files-sha256"] == h.hexdigest()


def test_cross_stack_references_arrive_through_real_remote_state(deployed):
    outputs = deployed.state("platform")
    if deployed.synthesized.stacks["platform"]["terraform"].get("backend") is None:
        pytest.fail("the platform stack has no backend")
    pod_monitors = {
        a: v for a, v in outputs.items() if "kubernetes_manifest" in a and v["input"]["manifest"]["kind"] == "PodMonitor"
    }
    releases = {a: v for a, v in outputs.items() if "helm_release" in a}
    if pod_monitors:  # prometheus-operator
        namespaces = sorted(v["input"]["manifest"]["metadata"]["namespace"] for v in pod_monitors.values())
        assert namespaces == ["caretta", "goflow2", "goflow2"]
    else:
        prometheus = next(v for a, v in releases.items() if "prometheus" in a)["input"]
        jobs = yaml.safe_load(yaml.safe_load(prometheus["values"][-1])["extraScrapeConfigs"])
        by_name = {j["job_name"]: j for j in jobs}
        assert by_name["caretta"]["kubernetes_sd_configs"][0]["namespaces"]["names"] == ["caretta"]
        assert by_name["goflow2"]["kubernetes_sd_configs"][0]["namespaces"]["names"] == ["goflow2"]
    softflowd = outputs.get("terraform_data.null_resource__pfsense_softflowd")
    if softflowd is not None:
        assert str(softflowd["triggers_replace"]["collector_port"]) == "32055"  # terraform_data keeps the number


def test_user_values_reach_helm_as_written(deployed):
    """adopt: the user's values files, with their `${1}` and `%{`, are what Helm would be given."""
    if deployed.variant != "adopt":
        return
    base = deployed.synthesized.outdir.parent
    for release, filename in (("prometheus_chart_release", "prometheus-values.yaml"), ("grafana_chart_release", "grafana-values.yaml")):
        values = deployed.input_of("platform", "helm_release", release)["values"]
        assert yaml.safe_load(values[0]) == yaml.safe_load((base / filename).read_text())
    prometheus = deployed.input_of("platform", "helm_release", "prometheus_chart_release")["values"]
    jobs = yaml.safe_load(yaml.safe_load(prometheus[-1])["extraScrapeConfigs"])
    assert jobs[0]["job_name"] == "nas"
    assert jobs[0]["metric_relabel_configs"][0]["replacement"] == "${1}"
    grafana = yaml.safe_load(deployed.input_of("platform", "helm_release", "grafana_chart_release")["values"][0])
    assert grafana["grafana.ini"]["feature_toggles"]["note"] == "100%{x} literal, $${y} too"


def _merged(layers: list[str]) -> dict:
    merged: dict = {}
    for layer in layers:
        merged = helm_merge(merged, yaml.safe_load(layer))
    return merged


def alerting_groups(prometheus_rules: list, prometheus_values: list) -> list:
    """The alerting rule groups of a platform stack: its PrometheusRules' (operator mode), else
    those of the prometheus release's alerting rule file, its values files merged as Helm does."""
    if prometheus_rules:
        return [g for m in sorted(prometheus_rules, key=lambda m: m["metadata"]["name"], reverse=True) for g in m["spec"]["groups"]]
    return _merged(prometheus_values)["serverFiles"][RULE_FILE]["groups"]


def test_applied_alerting_rules_are_the_synthesized_ones_and_pass_promtool(deployed):
    """What Terraform stores, after reading every string as a template, is the rule text netviz
    synthesized (its `{{ $value }}` untouched), and the promtool unit tests pass on that text."""
    state = deployed.state("platform")
    manifests = [v["input"]["manifest"] for a, v in state.items() if "kubernetes_manifest" in a]
    release = state.get("terraform_data.helm_release__prometheus_chart_release")
    applied = alerting_groups([m for m in manifests if m["kind"] == "PrometheusRule"], release and release["input"]["values"])
    out = deployed.synthesized
    synthesized = alerting_groups(
        [out.resolve_json(r["manifest"]) for r in out.resources("platform", "kubernetes_manifest").values() if r["manifest"]["kind"] == "PrometheusRule"],
        release and values_files(out),
    )
    assert sorted(g["name"] for g in applied) == ["netviz-caretta", "netviz-devices", "netviz-flows", "netviz-rollups"]
    assert applied == synthesized
    proc = rule_cases.run(yaml.safe_dump({"groups": applied}, sort_keys=False))
    assert "SUCCESS" in proc.stdout, proc.stdout + proc.stderr


def test_without_the_escaping_terraform_refuses_the_stacks(tmp_path, monkeypatch):
    """The check above can fail: with the literal-string Aspect switched off, Terraform reads the
    dashboards' `${datasource}` and the exporter's own `${...}` as references and refuses them."""
    from netviz_constructs import terraform_literals

    monkeypatch.setattr(terraform_literals.LiteralStrings, "visit", lambda self, node: None)
    result = deploy("managed", tmp_path, config_text())
    caretta = result.validation["caretta"]
    assert not caretta["valid"]
    summaries = {d["summary"] for d in caretta["diagnostics"]}
    assert "Invalid reference" in summaries, summaries


def test_operator_mode_without_the_crd_stops_with_what_to_install(tmp_path):
    """No Prometheus Operator in the cluster: the PodMonitors' precondition stops the deploy, naming
    the CRD, before the provider would be asked to plan a kind it cannot find."""
    result = deploy("prometheus-operator", tmp_path, VARIANTS["prometheus-operator"](tmp_path), cluster=CRD_MISSING)
    failed = result.applied["platform"]
    assert not isinstance(failed, dict), "the platform stack applied without the CRD"
    message = " ".join(failed.stderr.split())
    assert "Resource precondition failed" in message
    assert f"needs the Prometheus Operator's PodMonitor CRD ({POD_MONITOR_CRD}) in the cluster" in message
    assert result.state("goflow2")  # the other stacks are unaffected


def test_operator_mode_without_the_prometheus_rule_crd_stops_naming_it(tmp_path):
    """An operator install without PrometheusRules (the PodMonitor CRD alone): the rules' own
    precondition names the missing CRD."""
    cluster = {**CRD_INSTALLED, PROMETHEUS_RULE_LOOKUP: {"objects": []}}
    result = deploy("prometheus-operator", tmp_path, VARIANTS["prometheus-operator"](tmp_path), cluster=cluster)
    failed = result.applied["platform"]
    assert not isinstance(failed, dict), "the platform stack applied without the PrometheusRule CRD"
    message = " ".join(failed.stderr.split())
    assert f"needs the Prometheus Operator's PrometheusRule CRD ({PROMETHEUS_RULE_CRD}) in the cluster" in message
    assert "PodMonitor CRD" not in message


def test_every_stack_requires_a_terraform_that_runs_it(synthesized):
    from stacks.base import MINIMUM_TERRAFORM

    assert MINIMUM_TERRAFORM == "1.9.0"  # `removed` with provisioners came in Terraform 1.9
    for name in STACK_NAMES:
        assert synthesized.stacks[name]["terraform"]["required_version"] == ">= 1.9.0"


def test_operator_crd_check_can_be_turned_off(tmp_path):
    """The one-line escape if the lookup misreports a cluster: no lookup, no precondition."""
    text = VARIANTS["prometheus-operator"](tmp_path) + "check_operator_crd = false\n"
    result = deploy("prometheus-operator", tmp_path, text, cluster={})
    platform = result.synthesized.stacks["platform"]
    assert "data" not in platform or "kubernetes_resources" not in platform["data"]
    kinds = sorted(v["input"]["manifest"]["kind"] for a, v in result.state("platform").items() if "kubernetes_manifest" in a)
    assert kinds == ["PodMonitor"] * 3 + ["PrometheusRule"] * 4  # the flows', the devices' and Caretta's alerts, the rollups


def test_without_the_collector_node_the_goflow2_stack_stops_naming_it(tmp_path):
    """No node carries goflow2.collector_node's hostname label: the deploy stops before the pod is
    created (a pod whose nodeSelector nothing matches would wait for ever)."""
    result = deploy("managed", tmp_path, config_text(), cluster=COLLECTOR_NODE_MISSING)
    failed = result.applied["goflow2"]
    assert not isinstance(failed, dict), "the goflow2 stack applied without its node"
    message = " ".join(failed.stderr.split())
    assert "Resource precondition failed" in message
    assert 'goflow2.collector_node = "k8s-node-0": no node of the cluster carries the label kubernetes.io/hostname=k8s-node-0' in message
    assert result.state("caretta")  # the other stack is unaffected
