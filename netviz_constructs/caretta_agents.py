"""Caretta's eBPF agents: a DaemonSet from the upstream chart, one agent on every node."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from .helm_release import NetvizNamespace, PinnedChart, PinnedChartProps
from .scrape import PodScrapeTarget

# Fixed by the chart's DaemonSet template (chart/templates/daemonset.yaml): the agents' pod label
# and container port name. Defined here once; the platform stack receives them, never retypes them.
AGENT_POD_LABELS = {"app": "caretta"}
METRICS_PORT_NAME = "prom-metrics"
METRICS_PORT = 7117


@dataclass(frozen=True, kw_only=True)
class CarettaAgentsProps:
    namespace: str = "caretta"
    """Namespace created for the agents."""
    release_name: str = "caretta"
    """Helm release name."""
    chart_repository: str
    chart_version: str
    """Exact chart version (the pin is network.toml's, netviz_config/schema.py)."""
    cpu_request: str = "50m"
    memory_request: str = "100Mi"
    cpu_limit: str = "200m"
    memory_limit: str = "512Mi"
    """On kernels >= 6.1 the eBPF maps count against the pod's memory: ~100Mi is OOM-killed."""
    poll_interval_seconds: int = 5
    scrape_interval: str
    """Interval of the component's scrape jobs (monitoring.prometheus.scrape_interval)."""


class CarettaAgents(Construct):
    """Installs the Caretta chart without its bundled Grafana and VictoriaMetrics (netviz brings
    its own), with tolerations so control-plane nodes run an agent too."""

    def __init__(self, scope: Construct, id: str, props: CarettaAgentsProps):
        super().__init__(scope, id)
        namespace = NetvizNamespace(self, "namespace", name=props.namespace)
        self.chart = PinnedChart(
            self,
            "chart",
            PinnedChartProps(
                release_name=props.release_name,
                chart="caretta",
                repository=props.chart_repository,
                version=props.chart_version,
                namespace=namespace.name,
                values={
                    "grafana": {"enabled": False},
                    "victoria-metrics-single": {"enabled": False},
                    "prometheusPort": METRICS_PORT,
                    # A string: Helm reads a values file's numbers as floats and the chart pastes
                    # this one as text (env POLL_INTERVAL), so 1000000 would reach the agent as
                    # "1e+06", which it cannot parse and silently replaces by 5.
                    "pollIntervalSeconds": str(props.poll_interval_seconds),
                    "resources": {
                        "requests": {"cpu": props.cpu_request, "memory": props.memory_request},
                        "limits": {"cpu": props.cpu_limit, "memory": props.memory_limit},
                    },
                    # An empty key with Exists tolerates every taint: the control plane's, and any
                    # the user added, so no node's traffic goes unseen.
                    "tolerations": [{"operator": "Exists"}],
                },
            ),
        )
        self.scrape_target = PodScrapeTarget(
            job_name="caretta",
            namespace=namespace.name,
            pod_labels=dict(AGENT_POD_LABELS, **{"app.kubernetes.io/instance": props.release_name}),
            port_name=METRICS_PORT_NAME,
            scrape_interval=props.scrape_interval,
        )
        """How Prometheus finds every agent: hand it to the monitoring stack."""
        self.namespace = namespace.name
