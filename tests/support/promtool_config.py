"""`promtool check config` of a whole prometheus.yml with Debian's promtool 2.42, Kubernetes
discovery included, as far as that build can honestly go.

Debian builds Prometheus without Kubernetes service discovery (FACTS): its promtool refuses every
`kubernetes_sd_configs` ("field kubernetes_sd_configs not found"), and stops there. So the text is
checked in two steps, each by the real promtool:

1. The exact text: promtool must accept it, or fail with nothing but "field kubernetes_sd_configs
   not found". That proves Go's YAML parser (the one Prometheus uses) reads the text and knows
   every other field in it; invalid YAML or any other unknown field fails here.
2. The same config with each `kubernetes_sd_configs` (scrape jobs and Alertmanager discovery)
   replaced by a `file_sd_configs` of an empty targets file, only that field: promtool's full
   validation (relabel rules and their regexes, intervals, duplicate job names ...) must pass.
   The replaced entries are checked here against Prometheus' Kubernetes SDConfig instead
   (discovery/kubernetes/kubernetes.go: `role` one of its roles, `namespaces` with `names` /
   `own_namespace`), a stand-in for the part promtool cannot parse.

`--syntax-only` both times: the chart's rule files and service-account token paths exist only in
the pod. promtool 2.42 is older than the Prometheus the chart runs (v3.14.0): a field only v3
knows would be refused here, one v3 dropped would pass here. netviz's jobs use fields both know.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from copy import deepcopy

import yaml

from .prometheus import PrometheusError, promtool

ROLES = {"pod", "node", "service", "endpoints", "endpointslice", "ingress"}
SD_KEYS = {"role", "namespaces", "api_server", "kubeconfig_file", "selectors", "attach_metadata"}
NAMESPACE_KEYS = {"names", "own_namespace"}

_NOT_FOUND = re.compile(r"^\s*line \d+: field kubernetes_sd_configs not found in type config\.(ScrapeConfig|AlertmanagerConfig)$")


def check_config(text: str) -> dict:
    """Check prometheus.yml `text` as described above; returns it parsed. Raises PrometheusError
    with promtool's output when either step fails."""
    with tempfile.TemporaryDirectory(prefix="netviz-promtool-") as work:
        exact = os.path.join(work, "prometheus.yml")
        with open(exact, "w") as f:
            f.write(text)
        _check_exact(exact, text)
        config = yaml.safe_load(text)
        swapped = without_kubernetes_sd(config, empty_targets=_empty_targets(work))
        path = os.path.join(work, "prometheus-file-sd.yml")
        with open(path, "w") as f:
            json.dump(swapped, f, indent=1)  # JSON is YAML
        promtool("check", "config", "--syntax-only", path)
    return config


def _check_exact(path: str, text: str) -> None:
    proc = promtool("check", "config", "--syntax-only", path, check=False)
    if proc.returncode == 0:
        return
    output = proc.stdout + proc.stderr
    errors = [ln for ln in output.splitlines() if ln.strip().startswith("line ")]
    if not ("yaml: unmarshal errors:" in output and errors and all(_NOT_FOUND.match(ln) for ln in errors)):
        raise PrometheusError(f"promtool check config refused the exact text:\n{output}\n--- text\n{_numbered(text)}")


def _empty_targets(work: str) -> str:
    path = os.path.join(work, "no-targets.json")
    with open(path, "w") as f:
        f.write("[]")
    return path


def without_kubernetes_sd(config: dict, *, empty_targets: str) -> dict:
    """A copy of `config` whose every `kubernetes_sd_configs` (scrape jobs, alerting
    Alertmanagers) is checked against Kubernetes SDConfig and replaced by a file_sd_configs of
    `empty_targets`."""
    config = deepcopy(config)
    holders = list(config.get("scrape_configs") or []) + list((config.get("alerting") or {}).get("alertmanagers") or [])
    for holder in holders:
        sd_configs = holder.pop("kubernetes_sd_configs", None)
        if sd_configs is None:
            continue
        where = holder.get("job_name", "an alertmanagers entry")
        for sd in sd_configs:
            _check_kubernetes_sd(sd, where)
        holder["file_sd_configs"] = list(holder.get("file_sd_configs") or []) + [{"files": [empty_targets]}]
    return config


def _check_kubernetes_sd(sd: dict, where: str) -> None:
    if not isinstance(sd, dict) or sd.get("role") not in ROLES:
        raise PrometheusError(f"{where}: kubernetes_sd_configs entry {sd!r} has no valid role (one of {sorted(ROLES)})")
    unknown = set(sd) - SD_KEYS
    if unknown:
        raise PrometheusError(f"{where}: kubernetes_sd_configs has field(s) {sorted(unknown)} this check does not know")
    namespaces = sd.get("namespaces", {})
    if not isinstance(namespaces, dict) or set(namespaces) - NAMESPACE_KEYS:
        raise PrometheusError(f"{where}: kubernetes_sd_configs namespaces {namespaces!r}: expected keys {sorted(NAMESPACE_KEYS)}")
    names = namespaces.get("names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise PrometheusError(f"{where}: kubernetes_sd_configs namespaces.names {names!r}: expected a list of namespace names")


def _numbered(text: str) -> str:
    return "\n".join(f"{i:4} {line}" for i, line in enumerate(text.split("\n"), 1))
