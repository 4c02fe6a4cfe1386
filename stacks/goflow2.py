"""goflow2: the NetFlow collector and the exporter that turns its flow records into metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from constructs import Construct

from dashboards import DashboardConfig, render_network_flows, to_json
from flow_exporter.mapping import goflow2_mapping_yaml
from netviz_config import NetworkConfig
from netviz_constructs.dashboard import DashboardConfigMap, DashboardConfigMapProps
from netviz_constructs.flow_collector import FlowCollector, FlowCollectorProps
from netviz_constructs.scrape import PodScrapeTarget

from .base import NetvizStack

REPO = Path(__file__).resolve().parent.parent
# What the exporter runs: its own package and the config package it reads network.toml with.
EXPORTER_PACKAGES = ("flow_exporter", "netviz_config")


@dataclass(frozen=True)
class Goflow2Exports:
    collector_scrape_target: PodScrapeTarget
    exporter_scrape_target: PodScrapeTarget
    netflow_node_port: float
    """Number token of the NetFlow NodePort: read in another stack, it becomes a cross-stack reference."""


def exporter_files() -> dict[str, str]:
    """The exporter's source files, read at synth time: what is deployed is what was tested."""
    files = {}
    for package in EXPORTER_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            files[path.relative_to(REPO).as_posix()] = path.read_text()
    return files


class Goflow2Stack(NetvizStack):
    def __init__(self, scope: Construct, name: str, config: NetworkConfig, config_toml: str):
        super().__init__(scope, name, config, helm=False)

        g = config.goflow2
        collector = FlowCollector(
            self,
            "goflow2",
            FlowCollectorProps(
                namespace=g.namespace,
                collector_image=g.image,
                exporter_image=config.flow_exporter.image,
                netflow_port=g.netflow_port,
                netflow_node_port=g.netflow_node_port,
                collector_metrics_port=g.metrics_port,
                exporter_metrics_port=config.flow_exporter.port,
                exporter_files=exporter_files(),
                network_config_toml=config_toml,
                goflow2_mapping_yaml=goflow2_mapping_yaml(),
                scrape_interval=config.monitoring.prometheus.scrape_interval,
                dns_nameserver=config.names_dns_server,
                node_name=config.collector_node.name,
                check_node=g.check_collector_node,
            ),
        )
        dashboard = render_network_flows(
            DashboardConfig(
                goflow2_selector=collector.collector_scrape_target.job_selector,
                flow_exporter_selector=collector.exporter_scrape_target.job_selector,
                new_device_lookback=config.alerts.new_device_lookback,
                rollup_interval=config.monitoring.prometheus.rollup_interval,
            )
        )
        DashboardConfigMap(
            self,
            "network-flows-dashboard",
            DashboardConfigMapProps(
                namespace=collector.namespace,
                name=dashboard["uid"],
                dashboard_json=to_json(dashboard),
                sidecar_labels=config.monitoring.grafana.sidecar_labels,
            ),
        )
        self.exports = Goflow2Exports(
            collector_scrape_target=collector.collector_scrape_target,
            exporter_scrape_target=collector.exporter_scrape_target,
            netflow_node_port=collector.netflow_node_port,
        )
