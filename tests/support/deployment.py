"""Netviz deployed by the real Terraform CLI into throwaway states, for the tests that read what it
stored (tests/stacks/test_terraform_reads_synthesized.py) and hand it to a real Kubernetes API server
(tests/kubernetes/).

For each monitoring mode (and with the pfSense step on), every stack is synthesized, rewritten for
the built-in provider only (tests/support/terraform.py: a STAND-IN for the kubernetes, helm and null
providers' schemas; Terraform itself is real), `terraform validate`d with its provisioners, and
`terraform apply`d in dependency order (provisioners left out: they would SSH to pfSense). The
cross-stack references go through real `terraform_remote_state` reads of those states.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Union

from netviz_constructs.operator_crd import POD_MONITOR_CRD, PROMETHEUS_RULE_CRD
from stacks.app import STACK_NAMES
from tests.synth import REPO, config_text, synth

from .terraform import Terraform, builtin_rewrite

RENDERED = REPO / "dashboards" / "rendered"

# A user's own values, with what Terraform would read as templates: a regex group reference in a
# relabelling (`${1}`), a `%{` in a string, and grafana.ini's own `%(...)s` interpolation.
USER_PROMETHEUS_VALUES = """\
server:
  retention: 90d
extraScrapeConfigs: |
  - job_name: nas
    static_configs:
      - targets: ["truenas.home.arpa:9100"]
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: "node_(.*)"
        target_label: short_name
        replacement: ${1}
"""
USER_GRAFANA_VALUES = """\
grafana.ini:
  server:
    root_url: "%(protocol)s://%(domain)s/grafana/"
  feature_toggles:
    note: "100%{x} literal, $${y} too"
"""


def adopt_config(directory: Path) -> str:
    (directory / "prometheus-values.yaml").write_text(USER_PROMETHEUS_VALUES)
    (directory / "grafana-values.yaml").write_text(USER_GRAFANA_VALUES)
    return config_text() + (
        '\n[monitoring]\nmode = "adopt"\nnamespace = "observability"\n'
        '[monitoring.prometheus]\nrelease_name = "prom"\nchart_version = "27.1.0"\nvalues_file = "prometheus-values.yaml"\n'
        '[monitoring.grafana]\nrelease_name = "grafana"\nchart_version = "8.5.0"\nvalues_file = "grafana-values.yaml"\n'
    )


def with_softflowd() -> str:
    from tests.stacks.test_pfsense_softflowd_resource import managed

    return managed()


VARIANTS = {
    "managed": lambda d: config_text(),
    "managed-with-softflowd": lambda d: with_softflowd(),
    "adopt": adopt_config,
    "prometheus-operator": lambda d: config_text() + '\n[monitoring]\nmode = "prometheus-operator"\n',
}


@dataclass
class Deployed:
    variant: str
    config_toml: str
    synthesized: object
    validation: dict  # stack -> `terraform validate -json`
    applied: dict  # stack -> {address: stored values}
    order: dict = field(default_factory=dict)  # stack -> [address], in Terraform's dependency order

    def input_of(self, stack: str, type_: str, name: str) -> dict:
        return self.state(stack)[f"terraform_data.{type_}__{name}"]["input"]

    def state(self, stack: str) -> dict:
        applied = self.applied[stack]
        assert isinstance(applied, dict), f"{stack}: terraform apply failed:\n{applied.stdout}\n{applied.stderr}"
        return applied


# What a cluster answers to the operator's CRD lookups (a STAND-IN for the Kubernetes API, for the
# tests without one; tests/kubernetes/ ask a real API server instead).
POD_MONITOR_LOOKUP = ("kubernetes_resources", "pod_monitor_crd_lookup")
PROMETHEUS_RULE_LOOKUP = ("kubernetes_resources", "prometheus_rule_crd_lookup")
CRD_INSTALLED = {
    POD_MONITOR_LOOKUP: {"objects": [{"metadata": {"name": POD_MONITOR_CRD}}]},
    PROMETHEUS_RULE_LOOKUP: {"objects": [{"metadata": {"name": PROMETHEUS_RULE_CRD}}]},
}
CRD_MISSING = {POD_MONITOR_LOOKUP: {"objects": []}, PROMETHEUS_RULE_LOOKUP: {"objects": []}}
COLLECTOR_NODE_LOOKUP = ("kubernetes_resources", "goflow2_collector_node_lookup")
COLLECTOR_NODE_PRESENT = {COLLECTOR_NODE_LOOKUP: {"objects": [{"metadata": {"name": "k8s-node-0",
                                                                            "labels": {"kubernetes.io/hostname": "k8s-node-0"}}}]}}
COLLECTOR_NODE_MISSING = {COLLECTOR_NODE_LOOKUP: {"objects": []}}
CLUSTER_READY = {**CRD_INSTALLED, **COLLECTOR_NODE_PRESENT}
"""A cluster netviz deploys into: the operator's CRDs and the collector node there."""


DataAnswers = Union[Mapping[tuple, dict], Callable[[str, str, dict], dict]]
"""What the provider would read for each data source: {(type, name): {attribute: value}} (over
CLUSTER_READY's answers), or a function (type, name, arguments) -> {attribute: value} that asks a cluster."""


def deploy(variant: str, directory: Path, config_toml: str, cluster: DataAnswers = CLUSTER_READY) -> Deployed:
    out = synth(config_toml, outdir=str(directory))
    validation, applied, order = {}, {}, {}
    for name in STACK_NAMES:  # dependency order: platform reads the other two's states
        stack = out.stacks[name]
        sources = [(t, n, body) for t, named in stack.get("data", {}).items() if t != "terraform_remote_state"
                   for n, body in named.items()]
        if callable(cluster):
            answers = {(t, n): cluster(t, n, body) for t, n, body in sources}
        else:
            known = {**CLUSTER_READY, **cluster}
            answers = {(t, n): known[(t, n)] for t, n, _ in sources if (t, n) in known}
        tf = Terraform(directory / "terraform" / name)
        tf.write(builtin_rewrite(stack, data_answers=answers)).init()
        validation[name] = tf.validate()
        if not validation[name]["valid"]:
            break
        tf.write(builtin_rewrite(stack, provisioners=False, data_answers=answers))
        applied[name] = tf.apply(check=False)
        if applied[name].returncode == 0:
            applied[name] = tf.applied()
            order[name] = tf.dependency_order()
    return Deployed(variant, config_toml, out, validation, applied, order)


