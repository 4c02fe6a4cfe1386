"""A Grafana dashboard shipped as a ConfigMap that Grafana's sidecar picks up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from constructs import Construct

from .cdk import provider
from .helm_release import MANAGED_BY

# Provider bindings of the chosen CDK engine (netviz_constructs/cdk.py).
config_map_v1 = provider("kubernetes", "config_map_v1")


@dataclass(frozen=True, kw_only=True)
class DashboardConfigMapProps:
    namespace: str
    name: str
    """ConfigMap name, also the file name the sidecar writes (`<name>.json`)."""
    dashboard_json: str
    """The dashboard JSON model as the file text to ship (dashboards.to_json)."""
    sidecar_labels: Mapping[str, str]
    """The label(s) Grafana's dashboard sidecar watches for."""


class DashboardConfigMap(Construct):
    def __init__(self, scope: Construct, id: str, props: DashboardConfigMapProps):
        super().__init__(scope, id)
        config_map_v1.ConfigMapV1(
            self,
            "config-map",
            metadata=config_map_v1.ConfigMapV1Metadata(
                name=props.name,
                namespace=props.namespace,
                labels={**MANAGED_BY, **props.sidecar_labels},
            ),
            data={f"{props.name}.json": props.dashboard_json},
        )
