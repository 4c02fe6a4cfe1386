"""The Prometheus Operator's CustomResourceDefinitions, looked up in the cluster at plan time."""

from __future__ import annotations

from constructs import Construct

from .cdk import Fn, Op, Precondition, provider

# Provider bindings of the chosen CDK engine (netviz_constructs/cdk.py).
data_kubernetes_resources = provider("kubernetes", "data_kubernetes_resources")

POD_MONITOR_CRD = "podmonitors.monitoring.coreos.com"
PROMETHEUS_RULE_CRD = "prometheusrules.monitoring.coreos.com"


class OperatorCrd(Construct):
    """One of the Prometheus Operator's CustomResourceDefinitions, read from the cluster at plan time.

    `kubernetes_manifest` needs a resource's CRD already in the cluster to plan it at all; without
    the Prometheus Operator, the plan would stop at the provider's own "no matches for kind" error.
    A resource's precondition on this lookup stops it first, saying what is missing."""

    def __init__(self, scope: Construct, id: str, *, crd: str, kind: str):
        super().__init__(scope, id)
        self.crd, self.kind = crd, kind
        self.lookup = data_kubernetes_resources.DataKubernetesResources(
            self,
            "lookup",
            api_version="apiextensions.k8s.io/v1",
            kind="CustomResourceDefinition",
            field_selector=f"metadata.name={crd}",
        )

    @property
    def installed(self) -> Precondition:
        return Precondition(
            # `>= 1`, not `> 0`: cdktf 0.21 writes a literal 0 in an expression as `undefined`.
            condition=Op.gte(Fn.length_of(self.lookup.objects), 1),
            error_message=(
                f"monitoring.mode = \"prometheus-operator\" needs the Prometheus Operator's {self.kind} CRD "
                f"({self.crd}) in the cluster, and it is not there: install the operator "
                "(kube-prometheus-stack) first, or use monitoring.mode = \"managed\" or \"adopt\"."
            ),
        )


class PodMonitorCrd(OperatorCrd):
    """The cluster's PodMonitor CRD lookup."""

    def __init__(self, scope: Construct, id: str):
        super().__init__(scope, id, crd=POD_MONITOR_CRD, kind="PodMonitor")


class PrometheusRuleCrd(OperatorCrd):
    """The cluster's PrometheusRule CRD lookup."""

    def __init__(self, scope: Construct, id: str):
        super().__init__(scope, id, crd=PROMETHEUS_RULE_CRD, kind="PrometheusRule")
