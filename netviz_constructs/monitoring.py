"""Prometheus and Grafana from their upstream charts, wired to netviz's components.

Installed fresh (`managed`) or, with `adopt`, the user's existing releases imported into this
stack's state and updated in place. Either way the user's own values come first and netviz adds
only what it needs on top."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from constructs import Construct

from .alerting_rules import alerting_rules_values
from .extra_scrape_configs import extra_scrape_configs
from .helm_release import PinnedChart, PinnedChartProps
from .scrape import PodScrapeTarget

DATASOURCE_UID = "prometheus"
"""Stable uid of the provisioned Prometheus datasource."""


@dataclass(frozen=True, kw_only=True)
class ExistingRelease:
    """Adopt this release: import it into the state instead of installing a new one."""

    user_values: Mapping[str, Any] = field(default_factory=dict)
    """The release's current values (`helm get values`), kept as they are under netviz's."""


@dataclass(frozen=True, kw_only=True)
class PrometheusServerProps:
    namespace: str
    release_name: str = "prometheus"
    chart_repository: str
    chart_version: str
    """Exact chart version (the pin is network.toml's, netviz_config/schema.py)."""
    scrape_targets: Sequence[PodScrapeTarget] = field(default_factory=tuple)
    """Jobs appended to `extraScrapeConfigs` (after the user's own)."""
    alert_rule_groups: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    """Alerting rule groups appended to the chart's alerting rule file (after the user's own); none:
    the rule file is left as the user's values have it."""
    user_values: Mapping[str, Any] = field(default_factory=dict)
    """The user's own chart values, merged under netviz's."""
    retention: str = ""
    """`server.retention` of a fresh install (monitoring.prometheus.retention), under the user's
    values; none: the chart's own."""
    adopt: bool = False
    """Import the existing release `namespace/release_name` rather than install one."""


def refuse_config_override(user_values: Mapping[str, Any]) -> None:
    """A user's `server.configMapOverrideName` makes the chart render no ConfigMap at all
    (charts/prometheus/templates/cm.yaml opens with `if (empty .Values.server.configMapOverrideName)`):
    Prometheus then reads the user's own ConfigMap, and netviz's scrape jobs and rules, which
    travel in the chart's, would deploy green and never be read."""
    server = user_values.get("server")
    if isinstance(server, Mapping) and server.get("configMapOverrideName"):
        raise ValueError(
            "monitoring.prometheus.values_file: server.configMapOverrideName is set "
            f"({server['configMapOverrideName']!r}): the chart then renders no prometheus.yml, so netviz's "
            "scrape jobs and alerting rules would never reach Prometheus. Move your configuration into "
            'serverFiles."prometheus.yml" and extraScrapeConfigs (netviz keeps both) and remove the override, '
            'or use mode = "prometheus-operator" if an operator runs your Prometheus'
        )


class PrometheusServer(Construct):
    """prometheus-community `prometheus` chart with netviz's scrape jobs added."""

    def __init__(self, scope: Construct, id: str, props: PrometheusServerProps):
        super().__init__(scope, id)
        refuse_config_override(props.user_values)
        # A fresh install runs no Alertmanager: netviz's alerts show in Prometheus and in the
        # dashboards' alert lists, and where to send them is the user's choice (their values file
        # can turn it on, it comes after these defaults). Nothing pushes. An adopted release keeps
        # whatever it runs.
        # Its retention is long enough for the dashboards' longest range (the chart's 15 days would
        # leave a 30-day range half empty); the user's values file may set another.
        defaults = {} if props.adopt else {"alertmanager": {"enabled": False}, "prometheus-pushgateway": {"enabled": False}}
        if props.retention and not props.adopt:
            defaults["server"] = {"retention": props.retention}
        self.chart = PinnedChart(
            self,
            "chart",
            PinnedChartProps(
                release_name=props.release_name,
                chart="prometheus",
                repository=props.chart_repository,
                version=props.chart_version,
                namespace=props.namespace,
                values_layers=(defaults, props.user_values),
                values={
                    "extraScrapeConfigs": extra_scrape_configs(
                        props.user_values, [t.prometheus_job() for t in props.scrape_targets]
                    ),
                    **alerting_rules_values(props.user_values, props.alert_rule_groups),
                },
                import_id=f"{props.namespace}/{props.release_name}" if props.adopt else "",
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
    scrape_interval: str
    """Interval of netviz's scrape jobs. Grafana's `$__rate_interval` is built from it: left at
    Grafana's assumed 15s, a 30s scrape leaves two samples in a window, and on Prometheus 3 (ranges
    open at their start) one missed scrape blanks a panel."""
    release_name: str = "grafana"
    chart_repository: str
    chart_version: str
    """Exact chart version (the pin is network.toml's, netviz_config/schema.py)."""
    sidecar_labels: Mapping[str, str] = field(default_factory=lambda: {"grafana_dashboard": "1"})
    """The one label the dashboard sidecar watches for."""
    admin_existing_secret: str = ""
    """Secret with `admin-user`/`admin-password`; empty: the chart generates a password into its own
    Secret, so no password is ever in the Terraform JSON or state."""
    user_values: Mapping[str, Any] = field(default_factory=dict)
    """The user's own chart values, merged under netviz's."""
    adopt: bool = False
    """Import the existing release `namespace/release_name`; its datasources are kept as they are
    (netviz's dashboards pick a Prometheus datasource through a variable)."""


class Grafana(Construct):
    """grafana-community `grafana` chart: the dashboard sidecar, which loads every ConfigMap with
    the sidecar label in any namespace, and (fresh installs) a Prometheus datasource."""

    def __init__(self, scope: Construct, id: str, props: GrafanaProps):
        super().__init__(scope, id)
        ((label, label_value),) = props.sidecar_labels.items()
        defaults: dict[str, Any] = {}
        if not props.adopt:
            defaults["datasources"] = {
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
                            # timeInterval: the dashboards' $__rate_interval (GrafanaProps.scrape_interval).
                            # manageAlerts: their alert lists read Prometheus' alerting rules
                            # through this datasource ("Manage alerts via Alerting UI").
                            "jsonData": {"timeInterval": props.scrape_interval, "manageAlerts": True},
                        }
                    ],
                }
            }
        values: dict[str, Any] = {
            "sidecar": {"dashboards": {"enabled": True, "label": label, "labelValue": label_value, "searchNamespace": "ALL"}}
        }
        if props.admin_existing_secret:
            values["admin"] = {
                "existingSecret": props.admin_existing_secret,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            }
        self.chart = PinnedChart(
            self,
            "chart",
            PinnedChartProps(
                release_name=props.release_name,
                chart="grafana",
                repository=props.chart_repository,
                version=props.chart_version,
                namespace=props.namespace,
                values_layers=(defaults, props.user_values),
                values=values,
                import_id=f"{props.namespace}/{props.release_name}" if props.adopt else "",
            ),
        )
