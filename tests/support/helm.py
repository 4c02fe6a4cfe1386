"""`helm template` with the real Helm (tests/support/go_tools.py HELM_VERSION, built into .tools/) on a chart written by a test.

Upstream charts cannot be fetched here (their repositories are out of reach) nor committed, so a
test that must see what a chart makes of netviz's values writes a STAND-IN chart reproducing the
upstream template lines that matter, and Helm itself renders it: its values merging (chart
defaults, then each values file in order, as the Terraform helm provider passes them), `tpl`,
`toYaml`, `indent`, and its reading of values files (numbers become floats).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from typing import Any, Mapping, Sequence

import yaml

from .tools import require_tool


class ChartRenderError(AssertionError):
    """`helm template` refused the values (the chart's own `fail`, a template error, bad YAML)."""


def template(
    *,
    chart: str,
    version: str,
    templates: Mapping[str, str],
    defaults: Mapping[str, Any],
    values_files: Sequence[str] = (),
    release_name: str,
    namespace: str,
) -> list[dict]:
    """The documents `helm template` renders from a chart `chart` `version` whose values.yaml is
    `defaults` and whose `templates/<name>` are `templates`, with `values_files` (YAML or JSON
    texts) applied in order like `helm -f a -f b`."""
    helm = require_tool("helm")
    with tempfile.TemporaryDirectory(prefix="netviz-helm-") as work:
        chart_dir = os.path.join(work, chart)
        os.makedirs(os.path.join(chart_dir, "templates"))
        with open(os.path.join(chart_dir, "Chart.yaml"), "w") as f:
            f.write(f"apiVersion: v2\nname: {chart}\nversion: {version}\n")
        with open(os.path.join(chart_dir, "values.yaml"), "w") as f:
            json.dump(dict(defaults), f, indent=1)  # JSON is YAML to Helm
        for name, text in templates.items():
            with open(os.path.join(chart_dir, "templates", name), "w") as f:
                f.write(text)
        args = [helm, "template", release_name, chart_dir, "--namespace", namespace]
        for i, text in enumerate(values_files):
            path = os.path.join(work, f"values-{i}.yaml")
            with open(path, "w") as f:
                f.write(text)
            args += ["--values", path]
        # Helm's cache and config stay inside the throwaway folder.
        env = {**os.environ, "HELM_CACHE_HOME": work, "HELM_CONFIG_HOME": work, "HELM_DATA_HOME": work}
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    if proc.returncode != 0:
        raise ChartRenderError(f"helm template exited {proc.returncode}\n--- stderr\n{proc.stderr}")
    try:
        return [d for d in yaml.safe_load_all(proc.stdout) if d]
    except yaml.YAMLError as e:
        raise ChartRenderError(f"helm's output is not YAML: {e}\n--- output\n{proc.stdout}") from None
