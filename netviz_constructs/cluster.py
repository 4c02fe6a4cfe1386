"""Providers that talk to the user's cluster, configured once from `network.toml`."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from .cdk import provider
# Provider bindings of the chosen CDK engine (netviz_constructs/cdk.py).
helm_provider = provider("helm", "provider")
kubernetes_provider = provider("kubernetes", "provider")


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
        kubernetes_provider.KubernetesProvider(self, "kubernetes", config_path=props.kubeconfig, config_context=context)
        if props.helm:
            helm_provider.HelmProvider(
                self,
                "helm",
                kubernetes=helm_provider.HelmProviderKubernetes(config_path=props.kubeconfig, config_context=context),
            )
