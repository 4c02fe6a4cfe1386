"""A Prometheus Operator PrometheusRule: alerting rules an operator-run Prometheus evaluates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from constructs import Construct

from .cdk import TerraformResourceLifecycle, provider
from .operator_crd import OperatorCrd

# Provider bindings of the chosen CDK engine (netviz_constructs/cdk.py).
manifest = provider("kubernetes", "manifest")


@dataclass(frozen=True, kw_only=True)
class PrometheusRuleProps:
    name: str
    """The PrometheusRule's name (also its one rule group's name)."""
    namespace: str
    """Where it lives: the namespace of the component its rules watch (like its PodMonitor); the
    user's Prometheus' ruleNamespaceSelector must include it."""
    group: Mapping[str, Any]
    """The rule group, as a Prometheus rule file holds it (`name`, `rules`)."""
    labels: Mapping[str, str]
    """Labels the user's Prometheus selects PrometheusRules by (its ruleSelector)."""
    crd: Optional[OperatorCrd] = None
    """The CRD lookup it requires; None: no check."""


class PrometheusRule(Construct):
    def __init__(self, scope: Construct, id: str, props: PrometheusRuleProps):
        super().__init__(scope, id)
        if props.group.get("name") != props.name:
            raise ValueError(f"PrometheusRule {props.name!r} must hold the group of its name, but {props.group.get('name')!r} was given")
        manifest.Manifest(
            self,
            "manifest",
            manifest={
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PrometheusRule",
                "metadata": {"name": props.name, "namespace": props.namespace, "labels": dict(props.labels)},
                "spec": {"groups": [dict(props.group)]},
            },
            lifecycle=TerraformResourceLifecycle(precondition=[props.crd.present]) if props.crd else None,
        )
