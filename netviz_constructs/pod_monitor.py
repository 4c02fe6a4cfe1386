"""A Prometheus Operator PodMonitor: how an operator-run Prometheus finds a component's pods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from constructs import Construct

from .cdk import TerraformResourceLifecycle, provider
from .operator_crd import OperatorCrd
from .scrape import PodScrapeTarget

# Provider bindings of the chosen CDK engine (netviz_constructs/cdk.py).
manifest = provider("kubernetes", "manifest")


@dataclass(frozen=True, kw_only=True)
class PodMonitorProps:
    target: PodScrapeTarget
    """What to scrape (the same value the managed Prometheus' scrape job is made from)."""
    labels: Mapping[str, str]
    """Labels the user's Prometheus selects PodMonitors by (kube-prometheus-stack: `release`)."""
    crd: Optional[OperatorCrd] = None
    """The CRD lookup this PodMonitor requires (one per stack); None: no check."""


class PodMonitor(Construct):
    def __init__(self, scope: Construct, id: str, props: PodMonitorProps):
        super().__init__(scope, id)
        # A dict given straight to `manifest` keeps its keys as written: Kubernetes' camelCase.
        manifest.Manifest(
            self,
            "manifest",
            manifest=props.target.pod_monitor(props.labels),
            lifecycle=TerraformResourceLifecycle(precondition=[props.crd.present]) if props.crd else None,
        )

