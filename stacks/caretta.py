"""caretta: the eBPF agents on every node (pod-to-pod traffic)."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from dashboards import DashboardConfig, render_pod_topology, to_json
from netviz_config import NetworkConfig
from netviz_constructs.caretta_agents import CarettaAgents, CarettaAgentsProps
from netviz_constructs.dashboard import DashboardConfigMap, DashboardConfigMapProps
from netviz_constructs.scrape import PodScrapeTarget

from .base import NetvizStack


@dataclass(frozen=True)
class CarettaExports:
    scrape_target: PodScrapeTarget
    """How Prometheus finds every agent."""


class CarettaStack(NetvizStack):
    def __init__(self, scope: Construct, name: str, config: NetworkConfig):
        super().__init__(scope, name, config)
        c = config.caretta
        agents = CarettaAgents(
            self,
            "caretta",
            CarettaAgentsProps(
                namespace=c.namespace,
                release_name=c.release_name,
                chart_repository=c.chart_repository,
                chart_version=c.chart_version,
                cpu_request=c.cpu_request,
                memory_request=c.memory_request,
                cpu_limit=c.cpu_limit,
                memory_limit=c.memory_limit,
                poll_interval_seconds=c.poll_interval_seconds,
                scrape_interval=config.monitoring.prometheus.scrape_interval,
            ),
        )
        dashboard = render_pod_topology(DashboardConfig(caretta_selector=agents.scrape_target.job_selector))
        DashboardConfigMap(
            self,
            "pod-topology-dashboard",
            DashboardConfigMapProps(
                namespace=agents.namespace,
                name=dashboard["uid"],
                dashboard_json=to_json(dashboard),
                sidecar_labels=config.monitoring.grafana.sidecar_labels,
            ),
        )
        self.exports = CarettaExports(scrape_target=agents.scrape_target)
