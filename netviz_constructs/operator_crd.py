"""The Prometheus Operator's CustomResourceDefinitions, looked up in the cluster at plan time."""

from __future__ import annotations

from constructs import Construct

from .cluster_lookup import ClusterLookup

POD_MONITOR_CRD = "podmonitors.monitoring.coreos.com"
PROMETHEUS_RULE_CRD = "prometheusrules.monitoring.coreos.com"


class OperatorCrd(ClusterLookup):
    """One of the Prometheus Operator's CustomResourceDefinitions, read from the cluster at plan time.

    `kubernetes_manifest` needs a resource's CRD already in the cluster to plan it at all; without
    the Prometheus Operator, the plan would stop at the provider's own "no matches for kind" error.
    A resource's precondition on this lookup (`present`) stops it first, saying what is missing."""

    def __init__(self, scope: Construct, id: str, *, crd: str, kind: str):
        super().__init__(
            scope,
            id,
            api_version="apiextensions.k8s.io/v1",
            kind="CustomResourceDefinition",
            field_selector=f"metadata.name={crd}",
            missing=(
                f"monitoring.mode = \"prometheus-operator\" needs the Prometheus Operator's {kind} CRD "
                f"({crd}) in the cluster, and it is not there: install the operator "
                "(kube-prometheus-stack) first, or use monitoring.mode = \"managed\" or \"adopt\"."
            ),
        )
        self.crd, self.kind = crd, kind


class PodMonitorCrd(OperatorCrd):
    """The cluster's PodMonitor CRD lookup."""

    def __init__(self, scope: Construct, id: str):
        super().__init__(scope, id, crd=POD_MONITOR_CRD, kind="PodMonitor")


class PrometheusRuleCrd(OperatorCrd):
    """The cluster's PrometheusRule CRD lookup."""

    def __init__(self, scope: Construct, id: str):
        super().__init__(scope, id, crd=PROMETHEUS_RULE_CRD, kind="PrometheusRule")
