"""`helm template` and `helm install` with the real Helm (tests/support/go_tools.py HELM_VERSION, built
into .tools/) on a chart written by a test.

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


def write_chart(
    directory: str,
    *,
    chart: str,
    version: str,
    templates: Mapping[str, str],
    defaults: Mapping[str, Any],
    app_version: str = "",
    files: Mapping[str, str] = {},
) -> str:
    """A chart folder `directory/chart`: Chart.yaml, values.yaml (`defaults`), `templates/<name>`,
    and other `files` (paths inside the chart). Returns its path."""
    chart_dir = os.path.join(directory, chart)
    os.makedirs(os.path.join(chart_dir, "templates"))
    with open(os.path.join(chart_dir, "Chart.yaml"), "w") as f:
        f.write(f"apiVersion: v2\nname: {chart}\nversion: {version}\n" + (f"appVersion: {app_version}\n" if app_version else ""))
    with open(os.path.join(chart_dir, "values.yaml"), "w") as f:
        json.dump(dict(defaults), f, indent=1)  # JSON is YAML to Helm
    for name, text in {**{f"templates/{n}": t for n, t in templates.items()}, **files}.items():
        path = os.path.join(chart_dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return chart_dir


def _values_args(work: str, values_files: Sequence[str]) -> list[str]:
    args = []
    for i, text in enumerate(values_files):
        path = os.path.join(work, f"values-{i}.yaml")
        with open(path, "w") as f:
            f.write(text)
        args += ["--values", path]
    return args


def _env(work: str) -> dict:
    # Helm's cache and config stay inside the throwaway folder.
    return {**os.environ, "HELM_CACHE_HOME": work, "HELM_CONFIG_HOME": work, "HELM_DATA_HOME": work}


def _helm(verb: str, *, chart: str, version: str, templates: Mapping[str, str], defaults: Mapping[str, Any],
          values_files: Sequence[str], release_name: str, namespace: str, app_version: str, files: Mapping[str, str],
          extra: Sequence[str] = (), timeout: float = 120) -> str:
    """`helm <verb> <release> <chart written from the arguments> --namespace ... --values ...`; its output."""
    helm = require_tool("helm")
    with tempfile.TemporaryDirectory(prefix="netviz-helm-") as work:
        chart_dir = write_chart(work, chart=chart, version=version, templates=templates, defaults=defaults,
                                app_version=app_version, files=files)
        args = [helm, verb, release_name, chart_dir, "--namespace", namespace, *extra, *_values_args(work, values_files)]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=_env(work))
    if proc.returncode != 0:
        raise ChartRenderError(f"helm {verb} {release_name} exited {proc.returncode}\n--- stderr\n{proc.stderr}")
    return proc.stdout


def template(
    *,
    chart: str,
    version: str,
    templates: Mapping[str, str],
    defaults: Mapping[str, Any],
    values_files: Sequence[str] = (),
    release_name: str,
    namespace: str,
    app_version: str = "",
    files: Mapping[str, str] = {},
) -> list[dict]:
    """The documents `helm template` renders from a chart `chart` `version` whose values.yaml is
    `defaults`, whose `templates/<name>` are `templates` and whose other files are `files`, with
    `values_files` (YAML or JSON texts) applied in order like `helm -f a -f b`."""
    out = _helm("template", chart=chart, version=version, templates=templates, defaults=defaults, values_files=values_files,
                release_name=release_name, namespace=namespace, app_version=app_version, files=files)
    try:
        return [d for d in yaml.safe_load_all(out) if d]
    except yaml.YAMLError as e:
        raise ChartRenderError(f"helm's output is not YAML: {e}\n--- output\n{out}") from None


def install(
    *,
    kubeconfig: str,
    chart: str,
    version: str,
    templates: Mapping[str, str],
    defaults: Mapping[str, Any],
    values_files: Sequence[str] = (),
    release_name: str,
    namespace: str,
    app_version: str = "",
    files: Mapping[str, str] = {},
) -> str:
    """`helm install` of such a chart into the cluster of `kubeconfig`, as the Terraform helm
    provider installs a release: Helm renders with the cluster's own capabilities (its API
    versions) and creates each object through the API server. Without `--wait`: no kubelet runs a
    pod here, so nothing would ever become ready. Returns Helm's output; a refusal raises."""
    return _helm("install", chart=chart, version=version, templates=templates, defaults=defaults, values_files=values_files,
                 release_name=release_name, namespace=namespace, app_version=app_version, files=files,
                 extra=["--kubeconfig", kubeconfig], timeout=300)
