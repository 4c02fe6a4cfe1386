"""`promtool check config` of a whole prometheus.yml, Kubernetes discovery included, by the real
promtool of the Prometheus the pinned chart deploys (v3.14.0, built from its Go module).

That build knows Kubernetes service discovery, so the exact text is checked in one step, as the
server would load it: Go's YAML parser (Prometheus' own) must read it and know every field,
`kubernetes_sd_configs` entries included (`role` one of its roles, `namespaces` with `names` /
`own_namespace`), and promtool's validation (relabel rules and their regexes, intervals, duplicate
job names ...) must pass. (Debian's promtool 2.42, used before, had no Kubernetes discovery; the
check then swapped it for file discovery and checked the swapped entries against a stand-in of
its SDConfig. No stand-in is needed now.)

`--syntax-only`: the chart's rule files and service-account token paths exist only in the pod.
"""

from __future__ import annotations

import os
import tempfile

import yaml

from .prometheus import PrometheusError, promtool


def check_config(text: str) -> dict:
    """Check prometheus.yml `text` with the real promtool; returns it parsed. Raises PrometheusError
    with promtool's output and the numbered text when promtool refuses it."""
    with tempfile.TemporaryDirectory(prefix="netviz-promtool-") as work:
        path = os.path.join(work, "prometheus.yml")
        with open(path, "w") as f:
            f.write(text)
        proc = promtool("check", "config", "--syntax-only", path, check=False)
        if proc.returncode != 0:
            raise PrometheusError(f"promtool check config refused the text:\n{proc.stdout}{proc.stderr}\n"
                                  f"--- text\n{_numbered(text)}")
    return yaml.safe_load(text)


def _numbered(text: str) -> str:
    return "\n".join(f"{i:4} {line}" for i, line in enumerate(text.split("\n"), 1))
