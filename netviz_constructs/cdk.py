"""The CDK netviz is written against, chosen once per process: every construct, stack and test
imports its CDK classes and provider bindings from here, never from `cdktf` or `cdktn` directly.

    NETVIZ_CDK_ENGINE=cdktf   CDK for Terraform 0.21 (the default; archived upstream, 2025-12-10)
    NETVIZ_CDK_ENGINE=cdktn   CDK Terrain 0.24, its maintained continuation (same API, `cdktn` names)

    from netviz_constructs.cdk import App, Token       # the engine's core classes
    config_map = provider("kubernetes", "config_map_v1")  # a provider binding's submodule

The Makefile sets the variable (`make synth ENGINE=cdktn`) and installs each engine's own pinned
packages. Provider submodules are imported one by one: importing a binding's package root loads
every resource of the provider (~5 s for kubernetes).
"""

from __future__ import annotations

import importlib
import inspect
import os
from types import ModuleType

ENGINES = {
    # engine: (core Python module, provider binding modules)
    "cdktf": ("cdktf", "cdktf_cdktf_provider_{}"),
    "cdktn": ("cdktn", "cdktn_provider_{}"),
}
DEFAULT_ENGINE = "cdktf"
ENGINE_VARIABLE = "NETVIZ_CDK_ENGINE"

ENGINE = os.environ.get(ENGINE_VARIABLE) or DEFAULT_ENGINE
if ENGINE not in ENGINES:
    raise ImportError(f"{ENGINE_VARIABLE}: expected one of {', '.join(ENGINES)}, but {ENGINE!r} was provided")
_CORE, _PROVIDERS = ENGINES[ENGINE]
try:
    core: ModuleType = importlib.import_module(_CORE)
except ModuleNotFoundError as e:
    raise ImportError(
        f"the {ENGINE} engine's Python package {_CORE!r} is not installed in this Python "
        f"(make setup ENGINE={ENGINE} installs it)"
    ) from e


def provider(name: str, submodule: str) -> ModuleType:
    """Submodule `submodule` of the prebuilt binding of provider `name` (kubernetes, helm, null)."""
    return importlib.import_module(f"{_PROVIDERS.format(name)}.{submodule}")


def __getattr__(name: str):
    # `from netviz_constructs.cdk import Token` reads the engine's own class (PEP 562).
    return getattr(core, name)


def nested_block(resource_class: type, argument: str, value):
    """`value`, one nested block, as `resource_class` takes its `argument`: the block itself, or a
    list of it where the engine's bindings declare a list (kubernetes provider 3.x, in cdktn's
    bindings, for `kubernetes_namespace_v1.metadata`). Either way Terraform gets one block."""
    annotation = str(inspect.signature(resource_class.__init__).parameters[argument].annotation)
    return [value] if "Sequence[" in annotation else value


def first_block(attribute):
    """A nested block's attributes, from a resource attribute that is the block or a list of them."""
    return attribute.get(0) if callable(getattr(attribute, "get", None)) else attribute
