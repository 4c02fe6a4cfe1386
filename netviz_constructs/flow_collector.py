"""The NetFlow collector pod: GoFlow2 decodes NetFlow, the flow exporter turns its records into
bounded Prometheus metrics. Both in one pod, joined by a FIFO in a shared emptyDir, stock images only.

    pfSense --UDP--> NodePort --> [goflow2] --JSON lines--> FIFO --> [flow-exporter] --> /metrics
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

from constructs import Construct

from netviz_config import checks

from .cdk import TerraformResourceLifecycle, provider
from .cluster_lookup import ClusterLookup
from .helm_release import MANAGED_BY, NetvizNamespace
from .scrape import PodScrapeTarget

# Provider bindings of the chosen CDK engine (netviz_constructs/cdk.py).
config_map_v1 = provider("kubernetes", "config_map_v1")
service_v1 = provider("kubernetes", "service_v1")
k8s = provider("kubernetes", "deployment_v1")

NAME = "goflow2"
POD_LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": "netflow-collector"}
# Container port names (IANA service names: at most 15 characters, Kubernetes refuses longer). The
# probes, the Services' targetPorts, the scrape jobs and the PodMonitors all name the ports by these.
NETFLOW_PORT_NAME = "netflow"
COLLECTOR_METRICS_PORT_NAME = "metrics"
EXPORTER_METRICS_PORT_NAME = "flow-exporter"
EXPORTER_CONTAINER = "flow-exporter"
NETWORK_CONFIG_KEY = "network.toml"
MAPPING_KEY = "goflow2-mapping.yaml"

FLOWS_DIR = "/run/flows"
FIFO = f"{FLOWS_DIR}/goflow2.fifo"
APP_DIR = "/opt/netviz"
CONFIG_DIR = "/etc/netviz"
# One uid for both containers so they can share the FIFO; neither image needs root.
RUN_AS = 10001
# The label every kubelet puts on its node: the collector pod is placed by it.
HOSTNAME_LABEL = "kubernetes.io/hostname"


@dataclass(frozen=True, kw_only=True)
class FlowCollectorProps:
    namespace: str = NAME
    collector_image: str
    """Pinned GoFlow2 image."""
    exporter_image: str
    """Pinned stock Python image that runs the flow exporter's mounted code."""
    netflow_port: int = 2055
    netflow_node_port: int = 32055
    """Fixed NodePort pfSense sends NetFlow v9 to (UDP)."""
    collector_metrics_port: int = 8080
    exporter_metrics_port: int = 9108
    exporter_files: Mapping[str, str] = field(default_factory=dict)
    """Path (relative to the exporter's PYTHONPATH) -> content of every file the exporter runs."""
    network_config_toml: str
    """The network config file, as the stacks read it; the exporter reads the same."""
    goflow2_mapping_yaml: str
    """GoFlow2 `-mapping` file that prints only the fields the exporter reads."""
    scrape_interval: str
    """Interval of the component's scrape jobs (monitoring.prometheus.scrape_interval)."""
    dns_nameserver: Optional[str] = None
    """The DNS server the pod asks (the exporter's reverse lookups of names); None: the cluster's DNS
    (names off). netviz_config NetworkConfig.names_dns_server."""
    node_name: str
    """The node the pod runs on (goflow2.collector_node), whose address pfSense sends NetFlow to. The
    NodePort Service keeps the sender's address (externalTrafficPolicy Local) only for a pod on the
    node the datagram arrived at, and the flow exporter trusts records by that address."""
    check_node: bool = True
    """Look the node up at plan time and stop naming it when no node carries its hostname label."""


def _resources(cpu_req: str, mem_req: str, cpu_lim: str, mem_lim: str):
    return k8s.DeploymentV1SpecTemplateSpecContainerResources(
        requests={"cpu": cpu_req, "memory": mem_req}, limits={"cpu": cpu_lim, "memory": mem_lim}
    )


def _locked_down():
    return k8s.DeploymentV1SpecTemplateSpecContainerSecurityContext(
        run_as_non_root=True,
        read_only_root_filesystem=True,
        allow_privilege_escalation=False,
        capabilities=k8s.DeploymentV1SpecTemplateSpecContainerSecurityContextCapabilities(drop=["ALL"]),
    )


def _http_probes(path: str, port_name: str) -> dict:
    """Liveness and readiness on the same HTTP endpoint: a container that stops answering is restarted,
    one that is not answering yet gets no traffic."""
    return {
        "liveness_probe": k8s.DeploymentV1SpecTemplateSpecContainerLivenessProbe(
            http_get=k8s.DeploymentV1SpecTemplateSpecContainerLivenessProbeHttpGet(path=path, port=port_name),
            period_seconds=20,
        ),
        "readiness_probe": k8s.DeploymentV1SpecTemplateSpecContainerReadinessProbe(
            http_get=k8s.DeploymentV1SpecTemplateSpecContainerReadinessProbeHttpGet(path=path, port=port_name),
            period_seconds=10,
        ),
    }


def _dns(nameserver: Optional[str]) -> dict:
    """The pod's DNS: with names on, only the configured server (dnsPolicy None writes exactly
    this resolv.conf), so the exporter's reverse lookups go to the resolver that knows the LAN's
    hosts (pfSense's DNS Resolver: DHCP leases, static mappings), not the cluster's CoreDNS, which
    knows none of them. Neither container needs cluster names: GoFlow2 resolves nothing, and the
    exporter asks only PTR questions. Names off: the Kubernetes default."""
    if nameserver is None:
        return {}
    return {
        "dns_policy": "None",
        "dns_config": k8s.DeploymentV1SpecTemplateSpecDnsConfig(nameservers=[nameserver]),
    }


def _configmap_key(path: str) -> str:
    # ConfigMap keys cannot hold '/': flatten, and map back with `items` at mount time.
    return path.replace("/", "__")


def _port(name: str, number: int, protocol: str):
    """A container port. Its name is what probes, the Services' targetPorts and the scrape jobs
    name it by: Kubernetes refuses a pod whose port name is not an IANA service name (15 at most)."""
    problem = checks.port_name(name)
    if problem:
        raise ValueError(f"container port name {name!r}: expected {problem}")
    return k8s.DeploymentV1SpecTemplateSpecContainerPort(name=name, container_port=number, protocol=protocol)


def _files(props: FlowCollectorProps) -> dict[str, str]:
    """The ConfigMap's data: the exporter's code (keys flattened), the network config, GoFlow2's mapping."""
    files = {_configmap_key(p): c for p, c in sorted(props.exporter_files.items())}
    files[NETWORK_CONFIG_KEY] = props.network_config_toml
    files[MAPPING_KEY] = props.goflow2_mapping_yaml
    return files


_FLOWS_MOUNT = k8s.DeploymentV1SpecTemplateSpecContainerVolumeMount(name="flows", mount_path=FLOWS_DIR)
_CONFIG_MOUNT = k8s.DeploymentV1SpecTemplateSpecContainerVolumeMount(name="config", mount_path=CONFIG_DIR, read_only=True)


def _make_fifo(props: FlowCollectorProps):
    """Init container: the FIFO, created before either container starts, so neither races the other to make it."""
    return k8s.DeploymentV1SpecTemplateSpecInitContainer(
        name="make-fifo",
        image=props.exporter_image,
        command=["/bin/sh", "-c", f"[ -p {FIFO} ] || mkfifo -m 0660 {FIFO}"],
        volume_mount=[k8s.DeploymentV1SpecTemplateSpecInitContainerVolumeMount(name="flows", mount_path=FLOWS_DIR)],
        security_context=k8s.DeploymentV1SpecTemplateSpecInitContainerSecurityContext(
            run_as_non_root=True,
            read_only_root_filesystem=True,
            allow_privilege_escalation=False,
            capabilities=k8s.DeploymentV1SpecTemplateSpecInitContainerSecurityContextCapabilities(drop=["ALL"]),
        ),
        resources=k8s.DeploymentV1SpecTemplateSpecInitContainerResources(
            requests={"cpu": "10m", "memory": "16Mi"}, limits={"cpu": "100m", "memory": "32Mi"}
        ),
    )


def _collector(props: FlowCollectorProps):
    """GoFlow2: NetFlow in on the UDP port, JSON records out into the FIFO, its own metrics on HTTP."""
    args = [
        f"-listen=netflow://:{props.netflow_port}",
        f"-addr=:{props.collector_metrics_port}",
        "-format=json",
        f"-mapping={CONFIG_DIR}/{MAPPING_KEY}",
        "-transport=file",
        f"-transport.file={FIFO}",
    ]
    # The shell holds the FIFO open read-write (fd 3) for as long as GoFlow2 runs, which GoFlow2
    # inherits. Two reasons: GoFlow2 opens its file O_WRONLY, which on a FIFO blocks until a
    # reader exists, so without it the collector could not start (nor answer its probes) until
    # the exporter did; and while the exporter restarts, GoFlow2's writes wait in the pipe and
    # reach the next exporter instead of failing with EPIPE and being dropped.
    return k8s.DeploymentV1SpecTemplateSpecContainer(
        name=NAME,
        image=props.collector_image,
        command=["/bin/sh", "-c", 'exec 3<>"$0"; exec /goflow2 "$@"', FIFO, *args],
        port=[
            _port(NETFLOW_PORT_NAME, props.netflow_port, "UDP"),
            _port(COLLECTOR_METRICS_PORT_NAME, props.collector_metrics_port, "TCP"),
        ],
        **_http_probes("/__health", COLLECTOR_METRICS_PORT_NAME),
        volume_mount=[_FLOWS_MOUNT, _CONFIG_MOUNT],
        security_context=_locked_down(),
        resources=_resources("50m", "100Mi", "500m", "256Mi"),
    )


def _exporter(props: FlowCollectorProps):
    """The flow exporter: the stock Python image running the mounted code, reading the FIFO."""
    env = {
        "PYTHONPATH": APP_DIR,
        # Read-only root filesystem: nowhere to write .pyc files, so don't try.
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    return k8s.DeploymentV1SpecTemplateSpecContainer(
        name=EXPORTER_CONTAINER,
        image=props.exporter_image,
        command=[
            "python",
            "-m",
            "flow_exporter",
            f"--config={CONFIG_DIR}/{NETWORK_CONFIG_KEY}",
            f"--input={FIFO}",
            f"--listen=0.0.0.0:{props.exporter_metrics_port}",
        ],
        env=[k8s.DeploymentV1SpecTemplateSpecContainerEnv(name=k, value=v) for k, v in env.items()],
        port=[_port(EXPORTER_METRICS_PORT_NAME, props.exporter_metrics_port, "TCP")],
        **_http_probes("/healthz", EXPORTER_METRICS_PORT_NAME),
        volume_mount=[
            _FLOWS_MOUNT,
            _CONFIG_MOUNT,
            k8s.DeploymentV1SpecTemplateSpecContainerVolumeMount(name="code", mount_path=APP_DIR, read_only=True),
        ],
        security_context=_locked_down(),
        resources=_resources("50m", "64Mi", "1", "128Mi"),
    )


def _volumes(props: FlowCollectorProps, config_map_name: str) -> list:
    """The FIFO's emptyDir, and the ConfigMap twice: the code under APP_DIR, the config under CONFIG_DIR."""

    def items(paths: dict[str, str]):
        return [k8s.DeploymentV1SpecTemplateSpecVolumeConfigMapItems(key=k, path=p) for k, p in paths.items()]

    code = {_configmap_key(p): p for p in sorted(props.exporter_files)}
    config = {k: k for k in (NETWORK_CONFIG_KEY, MAPPING_KEY)}
    return [
        k8s.DeploymentV1SpecTemplateSpecVolume(
            name="flows", empty_dir=k8s.DeploymentV1SpecTemplateSpecVolumeEmptyDir(size_limit="16Mi")
        ),
        k8s.DeploymentV1SpecTemplateSpecVolume(
            name="code",
            config_map=k8s.DeploymentV1SpecTemplateSpecVolumeConfigMap(name=config_map_name, items=items(code)),
        ),
        k8s.DeploymentV1SpecTemplateSpecVolume(
            name="config",
            config_map=k8s.DeploymentV1SpecTemplateSpecVolumeConfigMap(name=config_map_name, items=items(config)),
        ),
    ]


def _pod_spec(props: FlowCollectorProps, config_map_name: str):
    return k8s.DeploymentV1SpecTemplateSpec(
        **_dns(props.dns_nameserver),
        node_selector={HOSTNAME_LABEL: props.node_name},
        security_context=k8s.DeploymentV1SpecTemplateSpecSecurityContext(
            run_as_non_root=True,
            run_as_user=str(RUN_AS),
            run_as_group=str(RUN_AS),
            fs_group=str(RUN_AS),
            seccomp_profile=k8s.DeploymentV1SpecTemplateSpecSecurityContextSeccompProfile(type="RuntimeDefault"),
        ),
        init_container=[_make_fifo(props)],
        container=[_collector(props), _exporter(props)],
        volume=_volumes(props, config_map_name),
    )


def _service_port(name: str, port: int, protocol: str, node_port: Optional[int] = None):
    # targetPort by name: the pod's port of that name, whatever its number.
    return service_v1.ServiceV1SpecPort(name=name, protocol=protocol, port=port, target_port=name, node_port=node_port)


class FlowCollector(Construct):
    """GoFlow2 and the flow exporter, a NodePort for NetFlow and a ClusterIP port for metrics."""

    def __init__(self, scope: Construct, id: str, props: FlowCollectorProps):
        super().__init__(scope, id)
        self.namespace = NetvizNamespace(self, "namespace", name=props.namespace).name
        labels = dict(POD_LABELS, **MANAGED_BY)

        files = _files(props)
        node = ClusterLookup(
            self,
            "collector-node",
            api_version="v1",
            kind="Node",
            label_selector=f"{HOSTNAME_LABEL}={props.node_name}",
            missing=(
                f"goflow2.collector_node = \"{props.node_name}\": no node of the cluster carries the label "
                f"{HOSTNAME_LABEL}={props.node_name}, so the collector pod could never be scheduled. Set it to a "
                f"node's name as `kubectl get nodes -L {HOSTNAME_LABEL}` shows it (and its address in "
                "kubernetes.nodes), or turn the check off with goflow2.check_collector_node = false."
            ),
        ) if props.check_node else None
        config_map = config_map_v1.ConfigMapV1(
            self,
            "files",
            metadata=config_map_v1.ConfigMapV1Metadata(name=f"{NAME}-files", namespace=self.namespace, labels=labels),
            data=files,
        )
        self.deployment = k8s.DeploymentV1(
            self,
            "deployment",
            metadata=k8s.DeploymentV1Metadata(name=NAME, namespace=self.namespace, labels=labels),
            spec=k8s.DeploymentV1Spec(
                replicas="1",
                # One collector at a time: two would split pfSense's NetFlow templates and flows.
                strategy=k8s.DeploymentV1SpecStrategy(type="Recreate"),
                selector=k8s.DeploymentV1SpecSelector(match_labels=dict(POD_LABELS)),
                template=k8s.DeploymentV1SpecTemplate(
                    metadata=k8s.DeploymentV1SpecTemplateMetadata(
                        labels=labels,
                        # Code or config changed: roll the pod so it runs what was synthesized.
                        annotations={"netviz/files-sha256": _digest(files)},
                    ),
                    spec=_pod_spec(props, config_map.metadata.name),
                ),
            ),
            lifecycle=TerraformResourceLifecycle(precondition=[node.present]) if node else None,
        )
        # Local: a datagram is handed only to a collector pod on the node it arrived at, unchanged. With
        # the default (Cluster) kube-proxy rewrites its source to a node's address on the way, and the
        # exporter could no longer tell pfSense's NetFlow from anyone else's.
        netflow = self._service("netflow-service", f"{NAME}-netflow", "NodePort", labels, [
            _service_port(NETFLOW_PORT_NAME, props.netflow_port, "UDP", node_port=props.netflow_node_port),
        ], external_traffic_policy="Local")
        self._service("metrics-service", f"{NAME}-metrics", "ClusterIP", labels, [
            _service_port(COLLECTOR_METRICS_PORT_NAME, props.collector_metrics_port, "TCP"),
            _service_port(EXPORTER_METRICS_PORT_NAME, props.exporter_metrics_port, "TCP"),
        ])

        self.netflow_node_port = netflow.spec.port.get(0).node_port
        """The NodePort as a token: a stack that reads it gets it from this stack's state."""
        self.pod_labels = dict(POD_LABELS)
        self.collector_scrape_target = self._scrape_target("goflow2", COLLECTOR_METRICS_PORT_NAME, props)
        self.exporter_scrape_target = self._scrape_target("flow-exporter", EXPORTER_METRICS_PORT_NAME, props)

    def _service(self, id: str, name: str, type_: str, labels: dict, ports: list, **spec):
        return service_v1.ServiceV1(
            self,
            id,
            metadata=service_v1.ServiceV1Metadata(name=name, namespace=self.namespace, labels=labels),
            spec=service_v1.ServiceV1Spec(type=type_, selector=dict(POD_LABELS), port=ports, **spec),
        )

    def _scrape_target(self, job_name: str, port_name: str, props: FlowCollectorProps) -> PodScrapeTarget:
        return PodScrapeTarget(
            job_name=job_name,
            namespace=self.namespace,
            pod_labels=dict(POD_LABELS),
            port_name=port_name,
            scrape_interval=props.scrape_interval,
        )


def _digest(files: Mapping[str, str]) -> str:
    import hashlib

    h = hashlib.sha256()
    for k in sorted(files):
        h.update(k.encode() + b"\0" + files[k].encode() + b"\0")
    return h.hexdigest()
