"""STAND-IN for `helm template` of the prometheus-community `prometheus` chart 29.27.0: renders the
files the chart's server ConfigMap would hold for given values (`prometheus.yml`, the alerting rule
file ...), with the REAL Helm.

Why a stand-in: `helm template` needs the chart's tarball, and the chart repository
(https://prometheus-community.github.io/helm-charts) cannot be reached here; the chart's files may
not be committed either. So the real Helm (tests/support/helm.py) renders a minimal chart whose
template reproduces the part of the upstream template that writes those files:

    prometheus-community/helm-charts, tag prometheus-29.27.0, charts/prometheus/templates/cm.yaml

reproduced for the parts that matter: every `ruleFiles` and `serverFiles` entry as a file of the
ConfigMap (in key order; `alerting_rules.yml`, `recording_rules.yml` and the rest with `toYaml`,
indented by 4, never `tpl`; the deprecated `alerts` map's shorthand groups), and in
`prometheus.yml`: `global` (`server.global`), `scrape_configs` (the enabled
`scrapeConfigs` map entries in key order, then `serverFiles."prometheus.yml".scrape_configs`, then
`extraScrapeConfigs` through `tpl` and pasted as text indented by 4), the rest of
`serverFiles."prometheus.yml"` (toYaml, indented by 4) and `alerting` (the chart's default
Alertmanager discovery when `alertmanager.enabled`, or `server.alertmanagers`). Values the upstream
template would render but this one does not reproduce (server.remoteWrite/remoteRead/tsdb/exemplars/
otlp, scrapeConfigFiles, alertRelabelConfigs, a ConfigMap override or Secret) make the render fail
naming them, never silently differ.

Chart defaults reproduced (charts/prometheus/values.yaml at the same tag): `server.global`,
`alertmanager.enabled: true`, `ruleFiles: {}`, `serverFiles` (its four empty rule files and
`"prometheus.yml".rule_files`), and the ten default
`scrapeConfigs` jobs by name with their discovery role and intervals; their relabel rules, TLS and
token settings are left out (they are the chart's, and come before netviz's text either way).
"""

from __future__ import annotations

from typing import Any, Sequence

from . import helm
from .helm import ChartRenderError  # noqa: F401  (raised by render_prometheus_yml)

CHART = "prometheus"
CHART_VERSION = "29.27.0"
"""The only chart version whose template this stand-in reproduces."""


def _job(role: str, **extra: Any) -> dict:
    return {"enabled": True, "job_name": "", **extra, "kubernetes_sd_configs": [{"role": role}]}


DEFAULT_VALUES: dict[str, Any] = {
    "server": {
        "global": {"scrape_interval": "1m", "scrape_timeout": "10s", "evaluation_interval": "1m"},
        "remoteWrite": [],
        "remoteRead": [],
        "tsdb": {},
        "exemplars": {},
        "otlp": {},
        "alertmanagers": [],
        "configMapOverrideName": "",
        "configFromSecret": "",
    },
    "scrapeConfigs": {
        "prometheus": {"enabled": True, "job_name": "", "static_configs": [{"targets": ["localhost:9090"]}]},
        "kubernetes-api-servers": _job("endpointslice", scheme="https"),
        "kubernetes-nodes": _job("node", scheme="https"),
        "kubernetes-nodes-cadvisor": _job("node", scheme="https", metrics_path="/metrics/cadvisor"),
        "kubernetes-service-endpoints": _job("endpointslice", honor_labels=True),
        "kubernetes-service-endpoints-slow": _job("endpointslice", honor_labels=True, scrape_interval="5m", scrape_timeout="30s"),
        "prometheus-pushgateway": _job("service", honor_labels=True),
        "kubernetes-services": _job("service", honor_labels=True, metrics_path="/probe", params={"module": ["http_2xx"]}),
        "kubernetes-pods": _job("pod", honor_labels=True),
        "kubernetes-pods-slow": _job("pod", honor_labels=True, scrape_interval="5m", scrape_timeout="30s"),
    },
    "extraScrapeConfigs": "",
    "scrapeConfigFiles": [],
    "alertRelabelConfigs": {},
    "alertmanager": {"enabled": True},
    "ruleFiles": {},
    "serverFiles": {
        "alerting_rules.yml": {},
        "alerts": {},
        "recording_rules.yml": {},
        "rules": {},
        "prometheus.yml": {
            "rule_files": [
                "/etc/config/recording_rules.yml",
                "/etc/config/alerting_rules.yml",
                "/etc/config/rules",
                "/etc/config/alerts",
            ]
        }
    },
}

# The upstream template's data section, line for line where it matters: every `{{-` and indent
# decides where the pasted extraScrapeConfigs text lands, and how each serverFiles entry (the
# alerting rule file among them) becomes a file of the ConfigMap.
TEMPLATE = r"""
{{- $notReproduced := list }}
{{- range $name := list "remoteWrite" "remoteRead" "tsdb" "exemplars" "otlp" "configMapOverrideName" "configFromSecret" }}
{{- if index $.Values.server $name }}{{ $notReproduced = append $notReproduced (printf "server.%s" $name) }}{{ end }}
{{- end }}
{{- if .Values.scrapeConfigFiles }}{{ $notReproduced = append $notReproduced "scrapeConfigFiles" }}{{ end }}
{{- if .Values.alertRelabelConfigs }}{{ $notReproduced = append $notReproduced "alertRelabelConfigs" }}{{ end }}
{{- if $notReproduced }}{{ fail (printf "stand-in of the prometheus chart: %s not reproduced" (join ", " $notReproduced)) }}{{ end -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-server
  namespace: {{ .Release.Namespace }}
data:
  allow-snippet-annotations: "false"
{{- $root := . -}}
{{- range $key, $value := .Values.ruleFiles }}
  {{ $key }}: {{- toYaml $value | indent 2 }}
{{- end }}
{{- range $key, $value := .Values.serverFiles }}
  {{ $key }}: |
{{- if eq $key "prometheus.yml" }}
    global:
{{ $root.Values.server.global | toYaml | trimSuffix "\n" | indent 6 }}
{{- if or $root.Values.scrapeConfigs $root.Values.extraScrapeConfigs $value.scrape_configs }}
    scrape_configs:
{{- range $scrapeKey, $scrapeValue := $root.Values.scrapeConfigs }}
{{- if not (hasKey $scrapeValue "enabled") }}
{{- $_ := set $scrapeValue "enabled" true }}
{{- end }}
{{- if $scrapeValue.enabled }}
{{- $jobName := default $scrapeKey $scrapeValue.job_name}}
    - {{ printf "job_name: %s" $jobName }}
      {{- toYaml (omit $scrapeValue "enabled" "job_name") | nindent 6 }}
{{- end }}
{{- end }}
{{- if $value.scrape_configs }}
{{- toYaml $value.scrape_configs | nindent 4 }}
{{- $_ := unset $value "scrape_configs"}}
{{- end }}
{{- if $root.Values.extraScrapeConfigs }}
{{ tpl $root.Values.extraScrapeConfigs $root | indent 4 }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq $key "alerts" }}
{{- if and (not (empty $value)) (empty $value.groups) }}
    groups:
{{- range $ruleKey, $ruleValue := $value }}
    - name: {{ $ruleKey -}}.rules
      rules:
{{ $ruleValue | toYaml | trimSuffix "\n" | indent 6 }}
{{- end }}
{{- else }}
{{ toYaml $value | indent 4 }}
{{- end }}
{{- else }}
{{ toYaml $value | default "{}" | indent 4 }}
{{- end }}
{{- if eq $key "prometheus.yml" -}}
{{- if or ($root.Values.alertmanager.enabled) ($root.Values.server.alertmanagers) }}
    alerting:
      alertmanagers:
{{- if $root.Values.server.alertmanagers }}
{{ toYaml $root.Values.server.alertmanagers | indent 8 }}
{{- else }}
      - kubernetes_sd_configs:
          - role: pod
        tls_config:
          ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
        bearer_token_file: /var/run/secrets/kubernetes.io/serviceaccount/token
        {{- if $root.Values.alertmanager.prefixURL }}
        path_prefix: {{ $root.Values.alertmanager.prefixURL }}
        {{- end }}
        relabel_configs:
        - source_labels: [__meta_kubernetes_namespace]
          regex: {{ $root.Release.Namespace }}
          action: keep
        - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_instance]
          regex: {{ $root.Release.Name }}
          action: keep
        - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name]
          regex: {{ default "alertmanager" $root.Values.alertmanager.nameOverride | trunc 63 | trimSuffix "-" }}
          action: keep
        - source_labels: [__meta_kubernetes_pod_container_port_number]
          regex: "9093"
          action: keep
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
"""


def render_configmap_data(
    values_files: Sequence[str],
    *,
    release_name: str,
    namespace: str,
    chart: str = CHART,
    version: str = CHART_VERSION,
) -> dict[str, str]:
    """The `data` of the chart's server ConfigMap, {file name: text}, rendered by the real Helm from
    `values_files` (each a YAML or JSON document, applied in order like `helm -f a -f b`): the files
    Prometheus reads from /etc/config (`prometheus.yml`, `alerting_rules.yml`, ...).

    `chart`/`version` are what the release pins: anything but prometheus 29.27.0 is refused, as
    this stand-in reproduces that version's template only."""
    if (chart, version) != (CHART, CHART_VERSION):
        raise ValueError(f"the stand-in reproduces chart {CHART} {CHART_VERSION} only, not {chart} {version}")
    docs = helm.template(
        chart=CHART,
        version=CHART_VERSION,
        templates={"cm.yaml": TEMPLATE},
        defaults=DEFAULT_VALUES,
        values_files=values_files,
        release_name=release_name,
        namespace=namespace,
    )
    (configmap,) = [d for d in docs if d.get("kind") == "ConfigMap"]
    return configmap["data"]


def install_server_config(kubeconfig: str, values_files: Sequence[str], *, release_name: str, namespace: str) -> str:
    """`helm install` of the stand-in into the cluster of `kubeconfig`: the chart's server
    ConfigMap (`<release>-server`, every file Prometheus reads), created through the API server."""
    return helm.install(kubeconfig=kubeconfig, chart=CHART, version=CHART_VERSION, templates={"cm.yaml": TEMPLATE},
                        defaults=DEFAULT_VALUES, values_files=values_files, release_name=release_name, namespace=namespace)


def render_prometheus_yml(
    values_files: Sequence[str],
    *,
    release_name: str,
    namespace: str,
    chart: str = CHART,
    version: str = CHART_VERSION,
) -> str:
    """The text of `prometheus.yml` in the chart's ConfigMap (`render_configmap_data`)."""
    data = render_configmap_data(values_files, release_name=release_name, namespace=namespace, chart=chart, version=version)
    return data["prometheus.yml"]


def values_files(out, stack: str = "platform", release: str = "prometheus_chart_release") -> list[str]:
    """The values files of a synthesized `helm_release` (tests.synth.Synthesized), in order, as
    Terraform will pass them to Helm (`Synthesized.terraform_string`)."""
    return [out.terraform_string(stack, v) for v in out.raw_resource(stack, "helm_release", release)["values"]]


def render_synthesized(out, stack: str = "platform", release: str = "prometheus_chart_release") -> str:
    """`render_prometheus_yml` for the `helm_release` `release` of a synthesized stack."""
    return render_synthesized_files(out, stack, release)["prometheus.yml"]


def render_synthesized_files(out, stack: str = "platform", release: str = "prometheus_chart_release") -> dict[str, str]:
    """`render_configmap_data` for the `helm_release` `release` of a synthesized stack: its chart,
    version, name and namespace, and its `values_files`."""
    r = out.raw_resource(stack, "helm_release", release)
    return render_configmap_data(
        values_files(out, stack, release),
        release_name=out.terraform_string(stack, r["name"]),
        namespace=out.terraform_string(stack, r["namespace"]),
        chart=r["chart"],
        version=r["version"],
    )
