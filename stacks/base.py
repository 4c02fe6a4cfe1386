"""What every netviz stack shares: its own state, and providers pointed at the user's cluster."""

from __future__ import annotations

import re

import jsii
from constructs import Construct, Node

from netviz_config import NetworkConfig
from netviz_constructs.cdk import Aspects, TerraformStack
from netviz_constructs.cluster import ClusterProviders, ClusterProvidersProps
from netviz_constructs.state_backend import use_state_backend
from netviz_constructs.terraform_literals import LiteralStrings


MINIMUM_TERRAFORM = "1.9.0"
"""Oldest Terraform CLI the stacks run on: `removed` blocks with destroy-time provisioners."""


class NetvizStack(TerraformStack):
    def __init__(self, scope: Construct, name: str, config: NetworkConfig, *, helm: bool = True):
        super().__init__(scope, name)
        # Constructs pass plain text; this makes Terraform read every literal string as itself.
        Aspects.of(self).add(LiteralStrings())
        # An older Terraform stops at `init` saying so, instead of failing later on what it lacks.
        self.add_override("terraform.required_version", f">= {MINIMUM_TERRAFORM}")
        use_state_backend(
            self,
            name,
            config.state,
            local_directory=config.resolve_path(config.state.local.directory),
            kubeconfig=config.kubernetes.kubeconfig,
            kube_context=config.kubernetes.context,
        )
        ClusterProviders(
            self,
            "cluster",
            ClusterProvidersProps(kubeconfig=config.kubernetes.kubeconfig, context=config.kubernetes.context, helm=helm),
        )

    @jsii.member(jsii_name="allocateLogicalId")
    def _allocate_logical_id(self, tf_element) -> str:
        """Readable, hash-free Terraform names from the construct path (`caretta/namespace/namespace`
        -> `caretta_namespace`), so addresses in the state survive a refactor that keeps the ids."""
        node = tf_element if isinstance(tf_element, Node) else tf_element.node
        parts = node.path.split("/")[1:]  # drop the stack's own name
        name_parts: list[str] = []
        for part in parts:
            part = re.sub(r"[^A-Za-z0-9_]", "_", part)
            if not name_parts or name_parts[-1] != part:
                name_parts.append(part)
        return "_".join(name_parts)
