"""A pinned Helm release in a namespace netviz owns."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from constructs import Construct

from .cdk import first_block, nested_block, provider
# Provider bindings of the chosen CDK engine (netviz_constructs/cdk.py).
helm_release = provider("helm", "release")
namespace_v1 = provider("kubernetes", "namespace_v1")

MANAGED_BY = {"app.kubernetes.io/managed-by": "netviz"}


@dataclass(frozen=True, kw_only=True)
class PinnedChartProps:
    release_name: str
    chart: str
    repository: str
    version: str
    """Exact chart version: Helm then installs the same thing every time."""
    namespace: str
    values: Mapping[str, Any] = field(default_factory=dict)
    """Chart values; rendered as JSON (valid YAML), so tokens inside strings still resolve."""
    values_layers: Sequence[Mapping[str, Any]] = ()
    """Values files applied before `values`, in order (Helm merges them, later ones win)."""
    import_id: str = ""
    """`namespace/name` of an existing release to bring into this state on the next deploy,
    instead of installing a new one (Terraform `import` block)."""


class NetvizNamespace(Construct):
    """A namespace netviz creates and labels as its own."""

    def __init__(self, scope: Construct, id: str, *, name: str):
        super().__init__(scope, id)
        metadata = namespace_v1.NamespaceV1Metadata(name=name, labels=dict(MANAGED_BY))
        self.resource = namespace_v1.NamespaceV1(
            self, "namespace", metadata=nested_block(namespace_v1.NamespaceV1, "metadata", metadata)
        )
        self.name: str = first_block(self.resource.metadata).name
        """The namespace name as a token: using it makes Terraform create the namespace first."""


class PinnedChart(Construct):
    """One Helm release, pinned, with atomic upgrades so a failed upgrade rolls back."""

    def __init__(self, scope: Construct, id: str, props: PinnedChartProps):
        super().__init__(scope, id)
        self.release = helm_release.Release(
            self,
            "release",
            name=props.release_name,
            chart=props.chart,
            repository=props.repository,
            version=props.version,
            namespace=props.namespace,
            atomic=True,
            cleanup_on_fail=True,
            timeout=600,
            values=[json.dumps(v, indent=2, sort_keys=True) for v in (*props.values_layers, props.values) if v],
        )
        if props.import_id:
            self.release.import_from(props.import_id)
