"""netviz deployed into a real Kubernetes API server (tests/support/kubernetes.py), the way
`cdktf deploy caretta goflow2 platform` would deploy it, for the tests in this folder.

1. The cluster is made to hold what the user's cluster holds before netviz: in prometheus-operator
   mode the operator's real CRDs (from its Go module, go_tools.py); in adopt mode the namespace of
   the user's own Prometheus and Grafana.
2. The real Terraform applies every stack (tests/support/deployment.py, the built-in provider
   STAND-IN); the operator's CRD lookups (`kubernetes_resources` data sources) are answered by
   asking this API server the same question (a list of CustomResourceDefinitions with the
   lookup's field selector): the provider's read is stood in for, the answer is the cluster's.
3. In Terraform's dependency order, each stack's resources reach the API server:
   - every `kubernetes_*_v1` resource as the provider would send it (tests/support/
     kubernetes_provider.py, the STAND-IN for its schema-to-API conversion), POSTed with
     fieldValidation=Strict, so an unknown or misspelled field is refused, not dropped;
   - every `kubernetes_manifest` as written, by server-side apply (what that resource does), field
     manager `Terraform`, strict;
   - the `caretta` chart's release installed by the real Helm from the chart STAND-IN
     (tests/support/caretta_chart.py), with the release's values as Terraform stored them; the
     `prometheus` chart's release (29.27.0 only) likewise from its stand-in's server ConfigMap
     (tests/support/prometheus_chart.py). The grafana chart has no stand-in: its release is not
     installed (listed in `not_installed`).
4. What the API server stored (after admission, defaulting, validation) is read back.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from tests.support import caretta_chart, go_tools, helm, prometheus_chart
from tests.support.deployment import VARIANTS, Deployed, deploy
from tests.support.kubernetes import ApiServer, KubernetesError
from tests.support.kubernetes_provider import api_object

FIELD_MANAGER = "Terraform"  # kubernetes_manifest's default field_manager.name


class _CrdLoader(yaml.SafeLoader):
    """YAML 1.2 as Kubernetes reads it: PyYAML's YAML 1.1 `=` (the "value" key type) is a plain string."""


_CrdLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:value"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def operator_crds() -> list[dict]:
    """The Prometheus Operator's CRDs, from its Go module (copied into .tools/ by go_tools)."""
    import pytest

    files = go_tools.prometheus_operator_crds()
    if not files.is_built():
        pytest.fail(f"the Prometheus Operator's CRDs ({files.module}@{files.version}) are not in {files.directory}: "
                    f"run {go_tools.build_command()}", pytrace=False)
    return [yaml.load(p.read_text(), Loader=_CrdLoader) for p in files.files().values()]


@dataclass
class Applied:
    """One Terraform resource as it reached the API server."""

    address: str
    type: str
    sent: dict
    stored: dict


@dataclass
class Deployment:
    """netviz in one cluster: what Terraform applied, what reached Kubernetes, what it refused."""

    variant: str
    api: ApiServer
    deployed: Deployed
    applied: dict[str, Applied] = field(default_factory=dict)
    """Terraform address (`<stack>.<terraform_data address>`) -> what was sent and stored."""
    releases: dict[str, str] = field(default_factory=dict)
    """Terraform address of each helm_release installed -> Helm's output."""
    not_installed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Every refusal, `<address>: <the API server's message>`."""

    def stored(self, api_version: str, kind: str, name: str, namespace: Optional[str] = None) -> dict:
        return self.api.get(api_version, kind, name, namespace)

    def of_type(self, type_: str) -> list[Applied]:
        return [a for a in self.applied.values() if a.type == type_]


def register_node(api: ApiServer, name: str, address: str) -> dict:
    """A Node as its kubelet registers it (STAND-IN: no kubelet runs here): its name, the hostname
    label every kubelet sets, its address."""
    return api.create({"apiVersion": "v1", "kind": "Node",
                       "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
                       "status": {"addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}]}})


def prepare(api: ApiServer, variant: str, config_toml: str, nodes: bool = True) -> None:
    """What the user's cluster holds before netviz is deployed: its nodes (`nodes`), and the
    operator's CRDs or the namespace of the user's own charts, as the mode needs."""
    import netviz_config

    config = netviz_config.parse(tomllib.loads(config_toml), check_files=False)
    if nodes:
        for node in config.kubernetes.nodes:
            register_node(api, node.name, node.address)
    if config.monitoring.mode == "prometheus-operator":
        api.install_crds(operator_crds())
    if config.monitoring.mode == "adopt":
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": config.monitoring.namespace}})


def answers_from(api: ApiServer):
    """Terraform's data sources answered from the cluster: `kubernetes_resources` lists the objects
    of its kind that match its field selector, as the provider would read them."""

    def answer(type_: str, name: str, arguments: dict) -> dict:
        if type_ != "kubernetes_resources":
            raise AssertionError(f"data.{type_}.{name}: no cluster query known for this data source")
        path = api.path(arguments["api_version"], arguments["kind"], arguments.get("namespace"))
        params = {key: arguments[argument] for key, argument in (("fieldSelector", "field_selector"),
                                                                 ("labelSelector", "label_selector")) if arguments.get(argument)}
        return {"objects": api.request("GET", path, params=params or None)["items"]}

    return answer


def deploy_into(api: ApiServer, variant: str, directory: Path, config_toml: Optional[str] = None,
                nodes: bool = True) -> Deployment:
    """netviz's stacks (`variant` of tests/support/deployment.py, or `config_toml`) applied by the
    real Terraform and sent, resource by resource in dependency order, to `api` (a cluster whose
    nodes are registered unless `nodes` is false)."""
    text = config_toml if config_toml is not None else VARIANTS[variant](directory)
    prepare(api, variant, text, nodes=nodes)
    deployed = deploy(variant, directory, text, cluster=answers_from(api))
    out = Deployment(variant, api, deployed)
    kubeconfig = api.kubeconfig(str(directory / "kubeconfig"))
    for stack, addresses in deployed.order.items():  # the stacks that applied
        state = deployed.state(stack)
        for address in addresses:
            if not address.startswith("terraform_data."):
                continue
            type_ = address.split(".", 1)[1].split("__", 1)[0]
            arguments = state[address].get("input") or {}
            where = f"{stack}.{address}"
            try:
                if type_ == "helm_release":
                    _install_release(out, where, arguments, kubeconfig)
                elif type_ == "kubernetes_manifest":
                    sent = api_object(type_, arguments)
                    out.applied[where] = Applied(where, type_, sent, api.apply(sent, field_manager=FIELD_MANAGER))
                elif type_.startswith("kubernetes_"):
                    sent = api_object(type_, arguments)
                    out.applied[where] = Applied(where, type_, sent, api.create(sent))
            except (KubernetesError, helm.ChartRenderError) as e:
                out.refused.append(f"{where}: {e}")
    return out


def _install_release(out: Deployment, where: str, release: dict, kubeconfig: str) -> None:
    values = list(release.get("values") or [])
    name, namespace = release["name"], release["namespace"]
    if release["chart"] == caretta_chart.CHART:
        out.releases[where] = caretta_chart.install(kubeconfig, values, release_name=name, namespace=namespace,
                                                    version=release["version"])
    elif (release["chart"], release["version"]) == (prometheus_chart.CHART, prometheus_chart.CHART_VERSION):
        out.releases[where] = prometheus_chart.install_server_config(kubeconfig, values, release_name=name,
                                                                     namespace=namespace)
    else:
        out.not_installed.append(f"{where} ({release['chart']} {release['version']}: no stand-in of this chart)")


def pod_from_template(template: dict, *, name: str, namespace: str, node: str,
                      owner: Optional[dict] = None, extra_labels: Optional[dict] = None) -> dict:
    """The Pod a controller makes from a workload's stored pod template, bound to `node` (STAND-IN
    for the Deployment/DaemonSet controller and the scheduler, which do not run here)."""
    meta = template.get("metadata", {})
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**meta.get("labels", {}), **(extra_labels or {})},
            **({"annotations": meta["annotations"]} if meta.get("annotations") else {}),
        },
        "spec": {**template["spec"], "nodeName": node},
    }
    if owner:
        pod["metadata"]["ownerReferences"] = [{
            "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True,
        }]
    return pod


def tools_present() -> None:
    """Fail early, naming the tool, when the control plane's binaries are not built."""
    from tests.support.tools import require_tool

    for tool in ("etcd", "kube-apiserver", "helm", "openssl"):
        require_tool(tool)


