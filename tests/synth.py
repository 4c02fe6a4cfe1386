"""Synthesize the whole netviz App in-process, for assertions on the Terraform JSON.

The full app is synthesized (not one stack alone) because cross-stack references only exist
once the app is: they are part of what the tests check."""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "network.toml"


@dataclass
class Synthesized:
    outdir: Path
    manifest: dict
    stacks: dict[str, dict]

    def resources(self, stack: str, type_: str) -> dict[str, dict]:
        """The stack's resources of `type_`, their strings as Terraform reads them (`read_strings`)."""
        return read_strings(self.raw_resources(stack, type_))

    def resource(self, stack: str, type_: str, name: str) -> dict:
        found = self.resources(stack, type_)
        assert name in found, f"{stack}: no {type_}.{name}; have {sorted(found)}"
        return found[name]

    def raw_resources(self, stack: str, type_: str) -> dict[str, dict]:
        """The stack's resources of `type_` exactly as written in its JSON (template escapes kept)."""
        return self.stacks[stack].get("resource", {}).get(type_, {})

    def raw_resource(self, stack: str, type_: str, name: str) -> dict:
        found = self.raw_resources(stack, type_)
        assert name in found, f"{stack}: no {type_}.{name}; have {sorted(found)}"
        return found[name]

    def helm_values_layers(self, stack: str, release: str) -> list[dict]:
        return [yaml.safe_load(v) for v in self.resource(stack, "helm_release", release)["values"]]

    def helm_values(self, stack: str, release: str) -> dict:
        """The release's values files merged as Helm merges them (maps deep, later files win)."""
        merged: dict = {}
        for layer in self.helm_values_layers(stack, release):
            merged = helm_merge(merged, layer)
        return merged

    def resolve_cross_stack(self, text: str) -> str:
        """Replace each `${data.terraform_remote_state.<input>.outputs.<name>}` by the literal
        value it will have once the producing stack is applied, read from that stack's JSON."""

        def one(match: re.Match) -> str:
            producer, output = match.group(1), match.group(2)
            stack = self.stacks[producer]
            expr = stack["output"][output]["value"]
            return self._resolve_attribute(stack, expr)

        return re.sub(
            r"\$\{data\.terraform_remote_state\.cross_stack_reference_input_([a-z0-9]+)\.outputs\.([A-Za-z0-9_]+)\}",
            one,
            text,
        )

    def terraform_string(self, stack: str, text: str) -> str:
        """`text`, a string of `stack` exactly as written (`raw_resource`), as Terraform hands it to
        a provider once every stack is applied, in one pass as Terraform reads it: the escapes
        `$${`/`%%{` are the literal `${`/`%{`, and references to another stack's outputs or to a
        resource of `stack` become their literal values. Any other `${...}` is left as it is:
        whether Terraform accepts it is for the tests that run Terraform."""

        def one(match: re.Match) -> str:
            token = match.group(0)
            if token in ("$${", "%%{"):
                return token[1:]
            resolved = self.resolve_cross_stack(token)
            if resolved != token:
                return resolved
            local = re.fullmatch(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_]+)\.[^}]+\}", token)
            if local and local.group(2) in self.raw_resources(stack, local.group(1)):
                return self._resolve_attribute(self.stacks[stack], token)
            return token

        return re.sub(r"\$\$\{|%%\{|\$\{[^}]*\}", one, text)

    def resolve_json(self, value: Any) -> Any:
        """`value` (any JSON) with every cross-stack reference inside resolved."""
        return json.loads(self.resolve_cross_stack(json.dumps(value)))

    @staticmethod
    def _resolve_attribute(stack: dict, expr: str) -> str:
        m = re.fullmatch(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_]+)\.(.+)\}", expr)
        assert m, f"cannot resolve {expr!r}"
        value: Any = stack["resource"][m.group(1)][m.group(2)]
        for step in re.findall(r"[A-Za-z_]+|\[\d+\]", m.group(3).replace(".", " ")):
            if step.startswith("["):
                index = int(step[1:-1])
                value = value[index] if isinstance(value, list) else value  # a block is one object
            else:
                value = value[step]
        return str(value)


def one_block(value: Any) -> dict:
    """A nested block as the JSON writes it: one object (cdktf's bindings) or a list of one (the
    kubernetes provider 3.x bindings of CDK Terrain, for a namespace's metadata). Terraform reads
    both as the same block."""
    if isinstance(value, list):
        (value,) = value
    return value


def read_string(text: str) -> str:
    """`text` as Terraform reads its literal parts: the template escapes `$${` and `%%{` become `${`
    and `%{`; interpolations (`${...}`, references) are left as they are, for tests to resolve.
    tests/stacks/test_terraform_reads_synthesized.py checks this reading against Terraform itself."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$${", i) or text.startswith("%%{", i):
            out.append(text[i + 1 : i + 3])
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def read_strings(value: Any) -> Any:
    """`value` (any JSON) with every string and map key read by `read_string`."""
    if isinstance(value, str):
        return read_string(value)
    if isinstance(value, dict):
        return {read_string(k): read_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [read_strings(v) for v in value]
    return value


def helm_merge(base: dict, over: dict) -> dict:
    """`over` merged into `base` as Helm merges values files: maps key by key, anything else replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = helm_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def config_text(edit: Optional[Callable[[str], str]] = None) -> str:
    text = DEFAULT_CONFIG.read_text()
    return edit(text) if edit else text


def synth(text: Optional[str] = None, outdir: Optional[str] = None) -> Synthesized:
    """Synthesize the app for the config `text` (default: the shipped network.toml)."""
    from netviz_constructs.cdk import App

    import netviz_config
    from stacks.app import build

    text = config_text() if text is None else text
    workdir = Path(outdir or tempfile.mkdtemp(prefix="netviz-synth-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "network.toml"
    config_file.write_text(text)
    config = netviz_config.load(str(config_file))
    app = App(outdir=str(workdir / "cdktf.out"))
    build(app, config, text)
    app.synth()
    out = workdir / "cdktf.out"
    manifest = json.loads((out / "manifest.json").read_text())
    stacks = {
        name: json.loads((out / meta["synthesizedStackPath"]).read_text())
        for name, meta in manifest["stacks"].items()
    }
    return Synthesized(out, manifest, stacks)


def toml_of(text: str) -> dict:
    return tomllib.loads(text)


__all__ = ["Synthesized", "synth", "one_block", "config_text", "toml_of", "REPO", "DEFAULT_CONFIG", "os"]
