"""Objects the user's cluster must already hold, looked up at plan time.

A resource that depends on something netviz does not create (the Prometheus Operator's CRDs, the
node the collector runs on) carries a precondition on such a lookup: when the object is missing, the
deploy stops before anything is changed, with a message saying what is missing and what to do,
instead of a provider error (or, for a node, a pod that waits for ever to be scheduled)."""

from __future__ import annotations

from constructs import Construct

from .cdk import Fn, Op, Precondition, provider

# Provider bindings of the chosen CDK engine (netviz_constructs/cdk.py).
data_kubernetes_resources = provider("kubernetes", "data_kubernetes_resources")


class ClusterLookup(Construct):
    """The objects of `kind` that match the selectors, read from the cluster at plan time."""

    def __init__(self, scope: Construct, id: str, *, api_version: str, kind: str, field_selector: str = "",
                 label_selector: str = "", missing: str):
        """`missing`: the precondition's message when nothing matches."""
        super().__init__(scope, id)
        self.missing = missing
        self.lookup = data_kubernetes_resources.DataKubernetesResources(
            self,
            "lookup",
            api_version=api_version,
            kind=kind,
            field_selector=field_selector or None,
            label_selector=label_selector or None,
        )

    @property
    def present(self) -> Precondition:
        # `>= 1`, not `> 0`: cdktf 0.21 writes a literal 0 in an expression as `undefined`.
        return Precondition(condition=Op.gte(Fn.length_of(self.lookup.objects), 1), error_message=self.missing)
