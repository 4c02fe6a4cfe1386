"""Prometheus and Grafana, installed from their upstream charts, wired to netviz's components."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence

from constructs import Construct

from .helm_release import PinnedChart, PinnedChartProps
from .scrape import PodScrapeTarget

DATASOURCE_UID = "prometheus"
"""Stable uid of the provisioned Prometheus datasource."""


@dataclass(frozen=True, kw_only=True)
class PrometheusServerProps:
    namespace: str
    release_name: str = "prometheus"
    chart_repository: str = "https://prometheus-community.github.io/helm-charts"
    chart_version: str = "29.27.0"
    scrape_targets: Sequence[PodScrapeTarget] = field(default_factory=tuple)
    """Jobs added to the chart's own through `extraScrapeConfigs`."""


class PrometheusServer(Construct):
    """prometheus-community `prometheus` chart with netviz's scrape jobs added."""

    def __init__(self, scope: Construct, id: str, props: PrometheusServerProps):
        super().__init__(scope, id)
        jobs = [t.prometheus_job() for t in props.scrape_targets]
        PinnedChart(
            self,
            "chart",
            PinnedChartProps(
                release_name=props.release_name,
                chart="prometheus",
                repository=props.chart_repository,
                version=props.chart_version,
                namespace=props.namespace,
                values={
                    # The chart takes a YAML string here; JSON is YAML.
                    "extraScrapeConfigs": json.dumps(jobs, indent=2),
                    # netviz neither alerts nor pushes: don't run what would sit idle.
                    "alertmanager": {"enabled": False},
                    "prometheus-pushgateway": {"enabled": False},
                },
            ),
        )
        # The chart names the server's Service `<release>-server`, port 80.
        self.url = f"http://{props.release_name}-server.{props.namespace}.svc.cluster.local"
        """In-cluster URL of the Prometheus API."""


@dataclass(frozen=True, kw_only=True)
class GrafanaProps:
    namespace: str
    prometheus_url: str
    """URL of the Prometheus the datasource points at."""
    release_name: str = "grafana"
    chart_repository: str = "https://grafana-community.github.io/helm-charts"
    chart_version: str = "12.11.1"
    dashboard_label: str = "grafana_dashboard"
    dashboard_label_value: str = "1"
    admin_existing_secret: str = ""
    """Secret with `admin-user`/`admin-password`; empty: the chart generates a password into its own
    Secret, so no password is ever in the Terraform JSON or state."""


class Grafana(Construct):
    """grafana-community `grafana` chart: a Prometheus datasource and the dashboard sidecar, which
    loads every ConfigMap labelled `dashboard_label: dashboard_label_value` in any namespace."""

    def __init__(self, scope: Construct, id: str, props: GrafanaProps):
        super().__init__(scope, id)
        values = {
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    "label": props.dashboard_label,
                    "labelValue": props.dashboard_label_value,
                    "searchNamespace": "ALL",
                }
            },
            "datasources": {
                "datasources.yaml": {
                    "apiVersion": 1,
                    "datasources": [
                        {
                            "name": "Prometheus",
                            "uid": DATASOURCE_UID,
                            "type": "prometheus",
                            "access": "proxy",
                            "url": props.prometheus_url,
                            "isDefault": True,
                        }
                    ],
                }
            },
        }
        if props.admin_existing_secret:
            values["admin"] = {
                "existingSecret": props.admin_existing_secret,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            }
        PinnedChart(
            self,
            "chart",
            PinnedChartProps(
                release_name=props.release_name,
                chart="grafana",
                repository=props.chart_repository,
                version=props.chart_version,
                namespace=props.namespace,
                values=values,
            ),
        )
