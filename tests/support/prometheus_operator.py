"""The real Prometheus Operator (its `operator` command, built from its Go module by go_tools.py,
`PROMETHEUS_OPERATOR_VERSION`) running against a test API server (tests/support/kubernetes.py).

    with PrometheusOperator(api) as operator:
        api.create(prometheus_resource(...))
        text = operator.generated_config("monitoring", "kube-prometheus-stack-prometheus")

It watches Prometheus, PodMonitor, PrometheusRule ... objects as in any cluster and writes what a
Prometheus server reads: the configuration Secret `prometheus-<name>` (`prometheus.yaml.gz`, every
scrape job it made of the PodMonitors it selected) and the rule ConfigMaps
`prometheus-<name>-rulefiles-<n>` (the PrometheusRules it selected and accepted). Its StatefulSet
is stored too, and never runs (no kubelet): the test runs a real Prometheus on that configuration.

It authenticates with a client certificate of the cluster's own CA (it takes no token outside a
cluster), as a member of `system:masters`: the RBAC it would have in a cluster is not what is tested.
"""

from __future__ import annotations

import base64
import gzip
import urllib.request

from .kubernetes import START_TIMEOUT, ApiServer, KubernetesError, _Process, _wait
from .tools import free_port, require_tool


class PrometheusOperator(_Process):
    name = "prometheus-operator"

    def __init__(self, api: ApiServer) -> None:
        super().__init__()
        self.api = api
        exe = require_tool("operator")
        try:
            cert, key = api.client_certificate("prometheus-operator", groups=["system:masters"])

            def command() -> list[str]:
                self.port = free_port()
                return [exe, f"--apiserver={api.url}", f"--ca-file={api.ca_file}", f"--cert-file={cert}",
                        f"--key-file={key}", f"--web.listen-address=127.0.0.1:{self.port}", "--log-level=info"]

            self._start_on_free_ports(command, self._healthy, lambda: f"the operator's /healthz on port {self.port}")
        except BaseException:
            self.close()
            raise

    def _healthy(self) -> bool:
        self._check_running()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
            return r.status == 200

    def generated_config(self, namespace: str, prometheus: str, *, containing: str = "", timeout: float = START_TIMEOUT) -> str:
        """The configuration the operator made for Prometheus `prometheus`, once it holds `containing`."""

        def config() -> str:
            self._check_running()
            try:
                secret = self.api.get("v1", "Secret", f"prometheus-{prometheus}", namespace)
            except KubernetesError as e:
                if e.status == 404:
                    return ""
                raise
            packed = (secret.get("data") or {}).get("prometheus.yaml.gz")
            text = gzip.decompress(base64.b64decode(packed)).decode() if packed else ""
            return text if containing in text else ""

        return _wait(f"the operator's configuration for {namespace}/{prometheus}", config, timeout, self.log_tail)

    def rule_files(self, namespace: str, prometheus: str, *, timeout: float = START_TIMEOUT) -> dict[str, str]:
        """The rule files the operator made of the PrometheusRules it selected: {file name: YAML}."""

        def files() -> dict[str, str]:
            self._check_running()
            found = {}
            for config_map in self.api.list("v1", "ConfigMap", namespace):
                if config_map["metadata"]["name"].startswith(f"prometheus-{prometheus}-rulefiles-"):
                    found.update(config_map.get("data") or {})
            return found

        return _wait(f"the operator's rule files for {namespace}/{prometheus}", files, timeout, self.log_tail)


def prometheus_resource(*, name: str, namespace: str, version: str, pod_monitor_labels: dict, rule_labels: dict) -> dict:
    """A `Prometheus` as kube-prometheus-stack makes one: it selects PodMonitors and PrometheusRules
    by label in every namespace (podMonitorNamespaceSelector / ruleNamespaceSelector `{}`)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Prometheus",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "version": version,
            "serviceAccountName": "prometheus",
            "podMonitorSelector": {"matchLabels": dict(pod_monitor_labels)},
            "podMonitorNamespaceSelector": {},
            "ruleSelector": {"matchLabels": dict(rule_labels)},
            "ruleNamespaceSelector": {},
        },
    }
