"""Providers that talk to the user's cluster, configured once from `network.toml`."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_helm.provider import HelmProvider, HelmProviderKubernetes
from cdktf_cdktf_provider_kubernetes.provider import KubernetesProvider
from constructs import Construct


@dataclass(frozen=True, kw_only=True)
class ClusterProvidersProps:
    kubeconfig: str
    """Path of the kubeconfig (the providers expand `~`)."""
    context: str = ""
    """kubeconfig context; empty uses the file's current context."""
    helm: bool = True
    """Also configure the Helm provider (stacks that install charts)."""


class ClusterProviders(Construct):
    """The kubernetes (and helm) providers of one stack, both pointed at the same cluster."""

    def __init__(self, scope: Construct, id: str, props: ClusterProvidersProps):
        super().__init__(scope, id)
        context = props.context or None
        KubernetesProvider(self, "kubernetes", config_path=props.kubeconfig, config_context=context)
        if props.helm:
            HelmProvider(
                self,
                "helm",
                kubernetes=HelmProviderKubernetes(config_path=props.kubeconfig, config_context=context),
            )
