"""A Prometheus Operator PodMonitor: how an operator-run Prometheus finds a component's pods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from cdktf import Fn, Op, Precondition, TerraformResourceLifecycle
from cdktf_cdktf_provider_kubernetes.data_kubernetes_resources import DataKubernetesResources
from cdktf_cdktf_provider_kubernetes.manifest import Manifest
from constructs import Construct

from .scrape import PodScrapeTarget

POD_MONITOR_CRD = "podmonitors.monitoring.coreos.com"


class PodMonitorCrd(Construct):
    """The cluster's PodMonitor CustomResourceDefinition, read at plan time.

    `kubernetes_manifest` needs a resource's CRD already in the cluster to plan it at all; without
    the Prometheus Operator, the plan would stop at the provider's own "no matches for kind" error.
    A PodMonitor's precondition on this lookup stops it first, saying what is missing."""

    def __init__(self, scope: Construct, id: str):
        super().__init__(scope, id)
        self.lookup = DataKubernetesResources(
            self,
            "lookup",
            api_version="apiextensions.k8s.io/v1",
            kind="CustomResourceDefinition",
            field_selector=f"metadata.name={POD_MONITOR_CRD}",
        )

    @property
    def installed(self) -> Precondition:
        return Precondition(
            # `>= 1`, not `> 0`: cdktf 0.21 writes a literal 0 in an expression as `undefined`.
            condition=Op.gte(Fn.length_of(self.lookup.objects), 1),
            error_message=(
                f"monitoring.mode = \"prometheus-operator\" needs the Prometheus Operator's PodMonitor CRD "
                f"({POD_MONITOR_CRD}) in the cluster, and it is not there: install the operator "
                "(kube-prometheus-stack) first, or use monitoring.mode = \"managed\" or \"adopt\"."
            ),
        )


@dataclass(frozen=True, kw_only=True)
class PodMonitorProps:
    target: PodScrapeTarget
    """What to scrape (the same value the managed Prometheus' scrape job is made from)."""
    labels: Mapping[str, str]
    """Labels the user's Prometheus selects PodMonitors by (kube-prometheus-stack: `release`)."""
    crd: Optional[PodMonitorCrd] = None
    """The CRD lookup this PodMonitor requires (one per stack); None: no check."""


class PodMonitor(Construct):
    def __init__(self, scope: Construct, id: str, props: PodMonitorProps):
        super().__init__(scope, id)
        # A dict given straight to `manifest` keeps its keys as written: Kubernetes' camelCase.
        Manifest(
            self,
            "manifest",
            manifest=props.target.pod_monitor(props.labels),
            lifecycle=TerraformResourceLifecycle(precondition=[props.crd.installed]) if props.crd else None,
        )
