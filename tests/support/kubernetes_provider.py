"""STAND-IN for the hashicorp/kubernetes Terraform provider's conversion of a resource's arguments
into the Kubernetes API object it sends: `api_object(resource_type, arguments)`.

Why a stand-in: no Terraform provider can be downloaded or built here (FACTS: the registry is out
of reach, the module proxy serves only the provider's v1.x). So this reproduces, for the resource
types and the arguments netviz writes, what the provider's `expand*` functions build, read from
hashicorp/terraform-provider-kubernetes at tag v2.38.0 (the provider cdktf-cdktf-provider-kubernetes
12.1.1 binds):
- kubernetes/structures.go `expandMetadata`: name, namespace, labels, annotations, generate_name;
- kubernetes/structures_deployment.go `expandDeploymentSpec`, `expandDeploymentStrategy`;
- kubernetes/structures_pod.go `expandPodSpec`, `expandPodSecurityContext`, `expandPodDNSConfig`,
  `expandVolumes`, `expandConfigMapVolumeSource` (modes are octal strings), `expandKeyPath`,
  `expandEmptyDirVolumeSource`;
- kubernetes/structures_container.go `expandContainers`, `expandContainerSecurityContext`,
  probes (`port` through intstr.Parse);
- kubernetes/structure_service_spec.go `expandServiceSpec`, `expandServicePort`;
- the Default values of the schema of each block present (schema_pod_spec.go, schema_container.go,
  resource_kubernetes_deployment_v1.go, resource_kubernetes_service_v1.go), which the provider
  sends as if written: e.g. every volume mount's `mountPropagation: None`, a probe's thresholds.

Terraform's own plan (the arguments Terraform evaluated: `terraform_data` inputs from
tests/support/terraform.py) is the input. A nested block may be one object (cdktf's JSON) or a list
of one (Terraform's own reading of a block; CDK Terrain's namespace metadata). An argument this
table does not know is refused (RewriteError): the stand-in must never drop a value silently, so a
new argument netviz writes needs its line here, read from the provider's source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .terraform import RewriteError

# Arguments of the Terraform resource that are the provider's own settings, never sent to the API.
PROVIDER_ONLY = {"wait_for_rollout", "wait_for_load_balancer", "wait_for_default_service_account", "timeouts", "//"}


@dataclass(frozen=True)
class F:
    """One argument: its API field name, how its value converts, and for a block its own fields."""

    api: str
    kind: str = "value"
    """value (as is) | int (a string of digits, or a number) | intstr (intstr.Parse: digits -> number,
    else the string) | octal (a string of octal digits -> number) | map | list | block (one object)
    | blocks (a list of objects)"""
    fields: Mapping[str, "F"] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Schema defaults of this block's arguments (Terraform names), sent when the block is present."""


def block(api: str, fields: Mapping[str, F], defaults: Mapping[str, Any] = None) -> F:
    return F(api, "block", fields, defaults or {})


def blocks(api: str, fields: Mapping[str, F], defaults: Mapping[str, Any] = None) -> F:
    return F(api, "blocks", fields, defaults or {})


METADATA = block("metadata", {
    "name": F("name"), "namespace": F("namespace"), "generate_name": F("generateName"),
    "labels": F("labels", "map"), "annotations": F("annotations", "map"),
})

# expandSeccompProfile sends localhostProfile only with type Localhost (netviz uses RuntimeDefault).
SECCOMP = block("seccompProfile", {"type": F("type")}, {"type": "Unconfined"})

CONTAINER_SECURITY = block("securityContext", {
    "allow_privilege_escalation": F("allowPrivilegeEscalation"),
    "capabilities": block("capabilities", {"add": F("add", "list"), "drop": F("drop", "list")}),
    "privileged": F("privileged"),
    "read_only_root_filesystem": F("readOnlyRootFilesystem"),
    "run_as_group": F("runAsGroup", "int"),
    "run_as_non_root": F("runAsNonRoot"),
    "run_as_user": F("runAsUser", "int"),
    "seccomp_profile": SECCOMP,
}, {"allow_privilege_escalation": True, "privileged": False, "read_only_root_filesystem": False})

PROBE = {
    "http_get": block("httpGet", {"path": F("path"), "port": F("port", "intstr"), "host": F("host"), "scheme": F("scheme"),
                                  "http_header": blocks("httpHeaders", {"name": F("name"), "value": F("value")})},
                      {"scheme": "HTTP"}),
    "tcp_socket": block("tcpSocket", {"port": F("port", "intstr")}),
    "exec": block("exec", {"command": F("command", "list")}),
    "failure_threshold": F("failureThreshold", "int"),
    "initial_delay_seconds": F("initialDelaySeconds", "int"),
    "period_seconds": F("periodSeconds", "int"),
    "success_threshold": F("successThreshold", "int"),
    "timeout_seconds": F("timeoutSeconds", "int"),
}
PROBE_DEFAULTS = {"failure_threshold": 3, "initial_delay_seconds": 0, "period_seconds": 10, "success_threshold": 1,
                  "timeout_seconds": 1}

CONTAINER_FIELDS = {
    "name": F("name"), "image": F("image"), "image_pull_policy": F("imagePullPolicy"),
    "command": F("command", "list"), "args": F("args", "list"), "working_dir": F("workingDir"),
    "port": blocks("ports", {"name": F("name"), "container_port": F("containerPort", "int"), "protocol": F("protocol"),
                             "host_port": F("hostPort", "int"), "host_ip": F("hostIP")}, {"protocol": "TCP"}),
    "env": blocks("env", {"name": F("name"), "value": F("value")}),
    "resources": block("resources", {"limits": F("limits", "map"), "requests": F("requests", "map")}),
    "liveness_probe": block("livenessProbe", PROBE, PROBE_DEFAULTS),
    "readiness_probe": block("readinessProbe", PROBE, PROBE_DEFAULTS),
    "startup_probe": block("startupProbe", PROBE, PROBE_DEFAULTS),
    "security_context": CONTAINER_SECURITY,
    "volume_mount": blocks("volumeMounts", {"name": F("name"), "mount_path": F("mountPath"), "read_only": F("readOnly"),
                                            "sub_path": F("subPath"), "mount_propagation": F("mountPropagation")},
                           {"read_only": False, "mount_propagation": "None"}),
    "stdin": F("stdin"), "stdin_once": F("stdinOnce"), "tty": F("tty"),
    "termination_message_path": F("terminationMessagePath"),
}
CONTAINER_DEFAULTS = {"stdin": False, "stdin_once": False, "tty": False, "termination_message_path": "/dev/termination-log"}

POD_SPEC = block("spec", {
    "container": blocks("containers", CONTAINER_FIELDS, CONTAINER_DEFAULTS),
    "init_container": blocks("initContainers", CONTAINER_FIELDS, CONTAINER_DEFAULTS),
    "dns_policy": F("dnsPolicy"),
    "dns_config": block("dnsConfig", {"nameservers": F("nameservers", "list"), "searches": F("searches", "list")}),
    "security_context": block("securityContext", {
        "fs_group": F("fsGroup", "int"), "run_as_group": F("runAsGroup", "int"), "run_as_non_root": F("runAsNonRoot"),
        "run_as_user": F("runAsUser", "int"), "seccomp_profile": SECCOMP,
        "supplemental_groups": F("supplementalGroups", "list"),
    }),
    "volume": blocks("volumes", {
        "name": F("name"),
        "empty_dir": block("emptyDir", {"medium": F("medium"), "size_limit": F("sizeLimit")}, {"medium": ""}),
        "config_map": block("configMap", {
            "name": F("name"), "default_mode": F("defaultMode", "octal"), "optional": F("optional"),
            "items": blocks("items", {"key": F("key"), "path": F("path"), "mode": F("mode", "octal")}),
        }, {"default_mode": "0644"}),
    }),
    "node_selector": F("nodeSelector", "map"),
    "node_name": F("nodeName"),
    "service_account_name": F("serviceAccountName"),
    "priority_class_name": F("priorityClassName"),
    "automount_service_account_token": F("automountServiceAccountToken"),
    "enable_service_links": F("enableServiceLinks"),
    "restart_policy": F("restartPolicy"),
    "termination_grace_period_seconds": F("terminationGracePeriodSeconds", "int"),
    "host_ipc": F("hostIPC"), "host_network": F("hostNetwork"), "host_pid": F("hostPID"),
    "share_process_namespace": F("shareProcessNamespace"),
    "toleration": blocks("tolerations", {"key": F("key"), "operator": F("operator"), "value": F("value"),
                                         "effect": F("effect"), "toleration_seconds": F("tolerationSeconds", "int")},
                         {"operator": "Equal"}),
}, {"automount_service_account_token": True, "enable_service_links": True, "dns_policy": "ClusterFirst",
    "restart_policy": "Always", "termination_grace_period_seconds": 30, "host_ipc": False, "host_network": False,
    "host_pid": False, "share_process_namespace": False})

LABEL_SELECTOR = block("selector", {"match_labels": F("matchLabels", "map")})

RESOURCES: dict[str, tuple[str, str, dict[str, F]]] = {
    # resource type: (apiVersion, kind, top-level arguments)
    "kubernetes_namespace_v1": ("v1", "Namespace", {"metadata": METADATA}),
    "kubernetes_config_map_v1": ("v1", "ConfigMap", {
        "metadata": METADATA, "data": F("data", "map"), "binary_data": F("binaryData", "map"), "immutable": F("immutable"),
    }),
    "kubernetes_service_v1": ("v1", "Service", {"metadata": METADATA, "spec": block("spec", {
        "type": F("type"),
        "selector": F("selector", "map"),
        "port": blocks("ports", {"name": F("name"), "port": F("port", "int"), "protocol": F("protocol"),
                                 "target_port": F("targetPort", "intstr"), "node_port": F("nodePort", "int"),
                                 "app_protocol": F("appProtocol")}, {"protocol": "TCP"}),
        "cluster_ip": F("clusterIP"),
        "external_traffic_policy": F("externalTrafficPolicy"),
        "internal_traffic_policy": F("internalTrafficPolicy"),
        "session_affinity": F("sessionAffinity"),
        "publish_not_ready_addresses": F("publishNotReadyAddresses"),
    }, {"type": "ClusterIP", "session_affinity": "None", "publish_not_ready_addresses": False})}),
    "kubernetes_deployment_v1": ("apps/v1", "Deployment", {"metadata": METADATA, "spec": block("spec", {
        "replicas": F("replicas", "int"),
        "selector": LABEL_SELECTOR,
        "strategy": block("strategy", {"type": F("type")}, {"type": "RollingUpdate"}),
        "template": block("template", {"metadata": METADATA, "spec": POD_SPEC}),
        "min_ready_seconds": F("minReadySeconds", "int"),
        "paused": F("paused"),
        "progress_deadline_seconds": F("progressDeadlineSeconds", "int"),
        "revision_history_limit": F("revisionHistoryLimit", "int"),
    }, {"min_ready_seconds": 0, "paused": False, "progress_deadline_seconds": 600, "revision_history_limit": 10})}),
}


def api_object(resource_type: str, arguments: Mapping[str, Any]) -> dict:
    """The object the provider sends for a `resource_type` resource with `arguments` (Terraform's
    evaluated values). `kubernetes_manifest` sends its `manifest` as written."""
    if resource_type == "kubernetes_manifest":
        return dict(arguments["manifest"])
    if resource_type not in RESOURCES:
        raise RewriteError(f"{resource_type}: the provider stand-in knows no such resource type")
    api_version, kind, fields = RESOURCES[resource_type]
    body = _fields(fields, {}, {k: v for k, v in arguments.items() if k not in PROVIDER_ONLY}, resource_type)
    return {"apiVersion": api_version, "kind": kind, **body}


def _fields(fields: Mapping[str, F], defaults: Mapping[str, Any], values: Mapping[str, Any], where: str) -> dict:
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise RewriteError(f"{where}: {', '.join(unknown)}: not in the provider stand-in's table "
                           "(tests/support/kubernetes_provider.py): add it from the provider's source")
    out = {}
    for name, spec in fields.items():
        if name in values and values[name] is not None:
            value = values[name]
        elif name in defaults:
            value = defaults[name]
        else:
            continue
        converted = _convert(spec, value, f"{where}.{name}")
        if converted is not None:
            out[spec.api] = converted
    return out


def _convert(spec: F, value: Any, where: str) -> Any:
    if spec.kind == "value":
        return value
    if spec.kind == "int":
        return int(value)
    if spec.kind == "intstr":
        return int(value) if isinstance(value, int) or str(value).isdigit() else str(value)
    if spec.kind == "octal":
        return int(str(value), 8)
    if spec.kind == "map":
        return {str(k): str(v) for k, v in value.items()} or None  # an empty map is not sent
    if spec.kind == "list":
        return list(value)
    if spec.kind == "block":
        if isinstance(value, list):
            if len(value) != 1:
                raise RewriteError(f"{where}: a block must be one object, not {len(value)}")
            (value,) = value
        return _fields(spec.fields, spec.defaults, value, where)
    if spec.kind == "blocks":
        return [_fields(spec.fields, spec.defaults, v, f"{where}[{i}]") for i, v in enumerate(value)] or None
    raise RewriteError(f"{where}: unknown kind {spec.kind}")  # pragma: no cover
