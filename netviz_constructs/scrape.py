"""How Prometheus finds a component's pods: the one value a stack exports for scraping.

Pod discovery, never a Service: a Caretta agent reports only its own node's links, so each pod
must be scraped (a ClusterIP Service would sample one random agent per scrape)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from netviz_config import checks


def _meta_label(pod_label: str) -> str:
    # Prometheus turns every character outside [a-zA-Z0-9_] of a label name into '_'.
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", pod_label)


@dataclass(frozen=True, kw_only=True)
class PodScrapeTarget:
    """Pods to scrape: those in `namespace` carrying every label of `pod_labels`, on the
    container port named `port_name`."""

    job_name: str
    """Prometheus job label, also what dashboards select on."""
    namespace: str
    """Namespace of the pods (a token of the namespace resource where one exists)."""
    pod_labels: Mapping[str, str]
    """Labels every wanted pod carries."""
    port_name: str
    """Name of the container port serving metrics."""
    path: str = "/metrics"
    """HTTP path of the metrics."""
    scrape_interval: str
    """How often to scrape."""
    sample_limit: int = 0
    """Fail a scrape above this many samples (0: no limit)."""
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    """Static labels added to every series."""

    def __post_init__(self) -> None:
        # Discovery matches the container port's name: one Kubernetes would refuse matches nothing.
        problem = checks.port_name(self.port_name)
        if problem:
            raise ValueError(f"scrape job {self.job_name!r}: port_name expected {problem}, but {self.port_name!r} was provided")

    @property
    def job_selector(self) -> str:
        """PromQL matcher for this job's series, for dashboards."""
        return f'job="{self.job_name}"'

    def prometheus_job(self) -> dict:
        """The job as Prometheus `scrape_configs` expects it."""
        keep = [
            {"source_labels": [_meta_label(k)], "regex": v, "action": "keep"}
            for k, v in sorted(self.pod_labels.items())
        ]
        job = {
            "job_name": self.job_name,
            "scrape_interval": self.scrape_interval,
            "metrics_path": self.path,
            "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [self.namespace]}}],
            "relabel_configs": keep
            + [
                {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": self.port_name, "action": "keep"},
                # A pod that finished (Succeeded/Failed) keeps its IP in the API but serves nothing.
                {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Succeeded|Failed", "action": "drop"},
                {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
                {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
            ]
            + [{"target_label": k, "replacement": v} for k, v in sorted(self.extra_labels.items())],
        }
        if self.sample_limit:
            job["sample_limit"] = self.sample_limit
        return job

    def pod_monitor(self, labels: Mapping[str, str]) -> dict:
        """The same job as a Prometheus Operator PodMonitor, carrying `labels` (what the user's
        Prometheus' podMonitorSelector matches). The job label is set to `job_name` so dashboards
        select the same series whichever way the pods are scraped."""
        return {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": {"name": self.job_name, "namespace": self.namespace, "labels": dict(labels)},
            "spec": {
                "selector": {"matchLabels": dict(self.pod_labels)},
                "namespaceSelector": {"matchNames": [self.namespace]},
                "podMetricsEndpoints": [
                    {
                        "port": self.port_name,
                        "path": self.path,
                        "interval": self.scrape_interval,
                        "relabelings": [
                            {"action": "replace", "targetLabel": "job", "replacement": self.job_name},
                            {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"},
                        ],
                    }
                ],
                **({"sampleLimit": self.sample_limit} if self.sample_limit else {}),
            },
        }
