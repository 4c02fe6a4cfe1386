"""STAND-IN for groundcover's `caretta` chart 0.0.16, rendered or installed by the real Helm.

Why a stand-in: the chart repository (https://helm.groundcover.com/) cannot be reached here, and
upstream's chart is not committed. So its templates are reproduced from groundcover-com/caretta
at tag v0.0.16 (the release chart 0.0.16 was published from), `chart/templates/`: daemonset.yaml
and _helpers.tpl line for line, the RBAC objects (rbac/serviceaccount.yaml, rbac/role.yaml's
ClusterRole reduced to its first rule, rbac/rolebinding.yaml, rbac/psp.yaml's guard) and
grafana/dashboards.yaml (always rendered, whatever `grafana.enabled` says; upstream's 1,000-line
dashboard.json is replaced by a placeholder: netviz loads its own Pod Topology dashboard). The
values are upstream's chart/values.yaml without its two sub-charts' sections (netviz turns both
sub-charts off, and Helm needs the sub-charts themselves to render them).

Published chart 0.0.16: version 0.0.16, appVersion v0.0.16 (FACTS); the repository's own
Chart.yaml still says 0.0.1, the release job rewrites it.
"""

from __future__ import annotations

from typing import Sequence

from . import helm

CHART = "caretta"
CHART_VERSION = "0.0.16"
APP_VERSION = "v0.0.16"

HELPERS = """\
{{- define "caretta.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "caretta.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "caretta.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "caretta.labels" -}}
helm.sh/chart: {{ include "caretta.chart" . }}
{{ include "caretta.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "caretta.selectorLabels" -}}
app.kubernetes.io/name: {{ include "caretta.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
"""

DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ include "caretta.name" . }}
  labels:
    app: caretta
    {{- include "caretta.labels" . | nindent 4 }}
spec:
  selector:
    matchLabels:
      app: caretta
      {{- include "caretta.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      annotations:
    {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
    {{- end }}
      labels:
        app: caretta
        {{- include "caretta.selectorLabels" . | nindent 8 }}
    spec:
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      serviceAccountName: {{ include "caretta.name" . }}
      {{- if .Values.priorityClassName }}
      priorityClassName: {{ .Values.priorityClassName }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ .Chart.Name }}
          securityContext:
            {{- toYaml .Values.securityContext | nindent 12 }}
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          volumeMounts:
            - mountPath: /proc
              name: proc
            - mountPath: /sys/kernel/debug
              name: debug
          ports:
            - name: prom-metrics
              containerPort: {{ .Values.prometheusPort }}
              protocol: TCP
          env:
            - name: "RESOLVE_DNS"
              value: "{{ .Values.enableDnsResolving }}"
            - name: "PROMETHEUS_PORT"
              value: "{{ .Values.prometheusPort }}"
            - name: "PROMETHEUS_ENDPOINT"
              value: "{{ .Values.prometheusEndpoint }}"
            - name: "POLL_INTERVAL"
              value: "{{ .Values.pollIntervalSeconds }}"
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumes:
        - name: proc
          hostPath:
            path: /proc
        - name: debug
          hostPath:
            path: /sys/kernel/debug
"""

SERVICE_ACCOUNT = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "caretta.name" . }}
  namespace: {{ .Release.Namespace }}
"""

CLUSTER_ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ include "caretta.fullname" . }}
rules:
  - verbs:
      - get
      - list
      - watch
    apiGroups:
      - ''
    resources:
      - configmaps
      - endpoints
      - pods
      - services
"""

CLUSTER_ROLE_BINDING = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ include "caretta.fullname" . }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ include "caretta.fullname" . }}
subjects:
  - kind: ServiceAccount
    name: {{ include "caretta.name" . }}
    namespace: {{ .Release.Namespace }}
"""

# Rendered only where the cluster still serves policy/v1beta1 (Kubernetes < 1.25).
POD_SECURITY_POLICY = """\
{{- if and .Values.rbac.pspEnabled (.Capabilities.APIVersions.Has "policy/v1beta1") }}
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: {{ template "caretta.fullname" . }}
spec:
  privileged: true
  runAsUser:
    rule: RunAsAny
  seLinux:
    rule: RunAsAny
  supplementalGroups:
    rule: RunAsAny
  fsGroup:
    rule: RunAsAny
  volumes:
  - '*'
{{ end -}}
"""

DASHBOARDS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: caretta-grafana-dashboards
  namespace: {{ .Release.Namespace }}
data:
  dashboard.json: |-
{{ .Files.Get "dashboard.json" | indent 4}}
"""

TEMPLATES = {
    "_helpers.tpl": HELPERS,
    "daemonset.yaml": DAEMONSET,
    "rbac/serviceaccount.yaml": SERVICE_ACCOUNT,
    "rbac/role.yaml": CLUSTER_ROLE,
    "rbac/rolebinding.yaml": CLUSTER_ROLE_BINDING,
    "rbac/psp.yaml": POD_SECURITY_POLICY,
    "grafana/dashboards.yaml": DASHBOARDS,
}
FILES = {"dashboard.json": '{"title": "stand-in for upstream\'s Caretta dashboard"}'}

DEFAULT_VALUES = {
    "enableDnsResolving": True,
    "prometheusPort": 7117,
    "prometheusEndpoint": "/metrics",
    "pollIntervalSeconds": 5,
    "rbac": {"pspEnabled": True, "sccEnabled": True},
    "image": {"repository": "quay.io/groundcover/caretta", "pullPolicy": "Always", "tag": ""},
    "imagePullSecrets": [],
    "nameOverride": "",
    "fullnameOverride": "",
    "resources": {"limits": {"cpu": "150m", "memory": "300Mi"}, "requests": {"cpu": "10m", "memory": "50Mi"}},
    "serviceAccount": {"create": True, "annotations": {}, "name": ""},
    "podAnnotations": {},
    "podSecurityContext": {},
    "securityContext": {"privileged": True, "readOnlyRootFilesystem": True},
    "tolerations": [
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"},
    ],
    "nodeSelector": {},
    "affinity": {},
    "priorityClassName": None,
    "victoria-metrics-single": {"enabled": True},
    "grafana": {"enabled": True},
}


def _chart(version: str) -> dict:
    """The stand-in, as helm.template / helm.install take it; only the version it reproduces."""
    if version != CHART_VERSION:
        raise ValueError(f"the stand-in reproduces chart {CHART} {CHART_VERSION} only, not {version}")
    return {"chart": CHART, "version": CHART_VERSION, "app_version": APP_VERSION, "templates": TEMPLATES, "files": FILES,
            "defaults": DEFAULT_VALUES}


def render(values_files: Sequence[str], *, release_name: str, namespace: str, version: str = CHART_VERSION) -> list[dict]:
    """The objects `helm template` renders for `values_files` (Helm's default capabilities)."""
    return helm.template(**_chart(version), values_files=values_files, release_name=release_name, namespace=namespace)


def install(kubeconfig: str, values_files: Sequence[str], *, release_name: str, namespace: str,
            version: str = CHART_VERSION) -> str:
    """`helm install` of the stand-in into the cluster of `kubeconfig` (helm.install): Helm renders
    it with the cluster's capabilities (no PodSecurityPolicy on Kubernetes >= 1.25)."""
    return helm.install(**_chart(version), kubeconfig=kubeconfig, values_files=values_files, release_name=release_name,
                        namespace=namespace)
