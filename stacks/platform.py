"""platform: the monitoring side, wired to what the caretta and goflow2 stacks export, and the
pfSense softflowd setup that sends NetFlow to the goflow2 stack's NodePort.

`monitoring.mode` picks how netviz meets Prometheus and Grafana: it installs them (managed), takes
over the user's existing releases in place (adopt), or leaves them alone and describes what to
scrape as PodMonitors (prometheus-operator)."""

from __future__ import annotations

from typing import Any

from constructs import Construct

from alerts import CARETTA_GROUP, DEVICE_GROUP, FLOW_GROUP, ROLLUP_GROUP, AlertRulesConfig, rule_groups
from dashboards import DashboardConfig
from netviz_config import NetworkConfig
from netviz_constructs.cdk import TerraformOutput, Token
from netviz_constructs.helm_release import NetvizNamespace
from netviz_constructs.monitoring import Grafana, GrafanaProps, PrometheusServer, PrometheusServerProps
from netviz_constructs.operator_crd import PodMonitorCrd, PrometheusRuleCrd
from netviz_constructs.pfsense_softflowd import PfsenseSoftflowd, PfsenseSoftflowdProps, PfsenseSoftflowdRemoved
from netviz_constructs.pod_monitor import PodMonitor, PodMonitorProps
from netviz_constructs.prometheus_rule import PrometheusRule, PrometheusRuleProps

from .base import NetvizStack
from .caretta import CarettaExports
from .goflow2 import Goflow2Exports


class PlatformStack(NetvizStack):
    def __init__(
        self, scope: Construct, name: str, config: NetworkConfig, *, caretta: CarettaExports, goflow2: Goflow2Exports
    ):
        operator = config.monitoring.mode == "prometheus-operator"
        super().__init__(scope, name, config, helm=not operator)
        targets = (caretta.scrape_target, goflow2.collector_scrape_target, goflow2.exporter_scrape_target)
        # The alerts select series as the dashboards do: with the scrape targets' own job selectors.
        selectors = DashboardConfig(
            caretta_selector=caretta.scrape_target.job_selector,
            goflow2_selector=goflow2.collector_scrape_target.job_selector,
            flow_exporter_selector=goflow2.exporter_scrape_target.job_selector,
        )
        groups = rule_groups(AlertRulesConfig.of(config, selectors))
        if operator:
            check = config.monitoring.check_operator_crd
            crd = PodMonitorCrd(self, "pod-monitor-crd") if check else None
            for target in targets:
                PodMonitor(
                    self,
                    f"{target.job_name}-pod-monitor",
                    PodMonitorProps(target=target, labels=config.monitoring.pod_monitor_labels, crd=crd),
                )
            rule_crd = PrometheusRuleCrd(self, "prometheus-rule-crd") if check and groups else None
            # Each group beside its component's PodMonitors.
            namespaces = {FLOW_GROUP: goflow2.exporter_scrape_target.namespace, CARETTA_GROUP: caretta.scrape_target.namespace,
                          DEVICE_GROUP: goflow2.exporter_scrape_target.namespace, ROLLUP_GROUP: goflow2.exporter_scrape_target.namespace}
            for group in groups:
                PrometheusRule(
                    self,
                    f"{group['name']}-rule",
                    PrometheusRuleProps(
                        name=group["name"],
                        namespace=namespaces[group["name"]],
                        group=group,
                        labels=config.monitoring.rule_labels,
                        crd=rule_crd,
                    ),
                )
        else:
            self._prometheus_and_grafana(config, targets, groups, adopt=config.monitoring.mode == "adopt")

        node = config.collector_node
        pfsense = config.pfsense
        if pfsense.manage_softflowd:
            PfsenseSoftflowd(
                self,
                "pfsense",
                PfsenseSoftflowdProps(
                    host=pfsense.address,
                    ssh_user=pfsense.ssh_user,
                    ssh_port=pfsense.ssh_port,
                    ssh_host_key=pfsense.ssh_host_key,
                    ssh_private_key_file=pfsense.ssh_private_key_file,
                    collector_ip=node.address,
                    collector_port=goflow2.netflow_node_port,
                    interfaces=config.softflowd_interfaces,
                ),
            )
        else:
            # Turned off after it was on: the next deploy runs `disable` (a no-op if it never was on).
            PfsenseSoftflowdRemoved(self, "pfsense")
        TerraformOutput(
            self,
            "netflow_collector",
            description="Where pfSense sends NetFlow v9 (UDP): a node's address and the collector's NodePort.",
            value=f"{node.address}:{Token.as_string(goflow2.netflow_node_port)}",
        )

    def _prometheus_and_grafana(self, config: NetworkConfig, targets, groups, *, adopt: bool) -> None:
        m = config.monitoring
        # An adopted release's namespace exists already and stays the user's.
        namespace = m.namespace if adopt else NetvizNamespace(self, "monitoring", name=m.namespace).name
        prometheus = PrometheusServer(
            self,
            "prometheus",
            PrometheusServerProps(
                namespace=namespace,
                release_name=m.prometheus.release_name,
                chart_repository=m.prometheus.chart_repository,
                chart_version=m.prometheus.chart_version,
                scrape_targets=targets,
                alert_rule_groups=groups,
                user_values=_values_file(config, "prometheus"),
                retention=m.prometheus.retention,
                adopt=adopt,
            ),
        )
        Grafana(
            self,
            "grafana",
            GrafanaProps(
                namespace=namespace,
                prometheus_url=prometheus.url,
                scrape_interval=m.prometheus.scrape_interval,
                release_name=m.grafana.release_name,
                chart_repository=m.grafana.chart_repository,
                chart_version=m.grafana.chart_version,
                sidecar_labels=m.grafana.sidecar_labels,
                admin_existing_secret=m.grafana.admin_existing_secret,
                user_values=_values_file(config, "grafana"),
                adopt=adopt,
            ),
        )


def _values_file(config: NetworkConfig, chart: str) -> dict[str, Any]:
    """The user's own values for `chart` (monitoring.<chart>.values_file), or none."""
    import yaml

    path = getattr(config.monitoring, chart).values_file
    if not path:
        return {}
    with open(config.resolve_path(path), encoding="utf-8") as f:
        try:
            values = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise ValueError(f"monitoring.{chart}.values_file: expected YAML, but {path!r} is not: {e}") from None
    if not isinstance(values, dict):
        raise ValueError(f"monitoring.{chart}.values_file: expected a YAML mapping of chart values in {path!r}")
    return values
