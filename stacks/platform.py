"""platform: Prometheus and Grafana, wired to what the caretta and goflow2 stacks export."""

from __future__ import annotations

from cdktf import TerraformOutput
from constructs import Construct

from netviz_config import NetworkConfig
from netviz_constructs.helm_release import NetvizNamespace
from netviz_constructs.monitoring import Grafana, GrafanaProps, PrometheusServer, PrometheusServerProps

from .base import NetvizStack
from .caretta import CarettaExports
from .goflow2 import Goflow2Exports


class PlatformStack(NetvizStack):
    def __init__(
        self, scope: Construct, name: str, config: NetworkConfig, *, caretta: CarettaExports, goflow2: Goflow2Exports
    ):
        super().__init__(scope, name, config)
        m = config.monitoring
        namespace = NetvizNamespace(self, "monitoring", name=m.namespace)
        prometheus = PrometheusServer(
            self,
            "prometheus",
            PrometheusServerProps(
                namespace=namespace.name,
                release_name=m.prometheus.release_name,
                chart_repository=m.prometheus.chart_repository,
                chart_version=m.prometheus.chart_version,
                scrape_targets=(
                    caretta.scrape_target,
                    goflow2.collector_scrape_target,
                    goflow2.exporter_scrape_target,
                ),
            ),
        )
        Grafana(
            self,
            "grafana",
            GrafanaProps(
                namespace=namespace.name,
                prometheus_url=prometheus.url,
                release_name=m.grafana.release_name,
                chart_repository=m.grafana.chart_repository,
                chart_version=m.grafana.chart_version,
                dashboard_label=m.grafana.dashboard_label,
                dashboard_label_value=m.grafana.dashboard_label_value,
                admin_existing_secret=m.grafana.admin_existing_secret,
            ),
        )
        node = config.collector_node
        TerraformOutput(
            self,
            "netflow_collector",
            description="Where pfSense sends NetFlow v9 (UDP): a node's address and the collector's NodePort.",
            value=f"{node.address}:{goflow2.netflow_node_port}",
        )
