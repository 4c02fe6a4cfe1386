"""A Terraform `removed` block, which cdktf 0.21 cannot write: forget a resource, optionally running
its destroy-time provisioners first (Terraform >= 1.9)."""

from __future__ import annotations

from typing import Any, Optional

import jsii
from constructs import Construct

from .cdk import TerraformElement, TerraformStack


class RemovedBlock(TerraformElement):
    """A Terraform `removed` block for the resource this element's address would name (cdktf 0.21 has
    none). Overrides (the literal-string Aspect's) apply to its body like to any element's."""

    def __init__(self, scope: Construct, id: str, *, resource_type: str, body: dict):
        super().__init__(scope, id, "removed")
        self._resource_type = resource_type
        self._body = body

    @jsii.member(jsii_name="toTerraform")
    def to_terraform(self) -> Any:
        name = TerraformStack.of(self).get_logical_id(self)
        return {"removed": [{"from": f"{self._resource_type}.{name}", **_merge(self._body, jsii.get(self, "rawOverrides"))}]}


def _merge(base: dict, over: Optional[dict]) -> dict:
    out = dict(base)
    for key, value in (over or {}).items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
