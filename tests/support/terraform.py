"""The real Terraform CLI over netviz's synthesized stacks, with no provider to download.

No provider can be had here (the Terraform registry is unreachable), so `builtin_rewrite` turns a
synthesized stack into one that needs none: a STAND-IN for the providers' schemas, not the providers.

- every resource becomes a built-in `terraform_data` named `<type>__<name>`, its arguments kept
  whole as `input` (so `terraform apply` stores exactly what the provider would have been sent,
  after Terraform has evaluated every string); a `null_resource`'s `triggers` become
  `triggers_replace` (the same replace-on-change rule), and `self.triggers` in its provisioners and
  connection `self.triggers_replace`;
- references to a resource's arguments are rewritten to its `output`, where a nested block, which
  the JSON writes as one object, loses the `[0]` the provider's list-of-blocks schema takes;
  a reference to anything the provider would compute is refused (the stand-in cannot model it);
- any other data source becomes a `terraform_data` too (`data_<type>__<name>`), holding its arguments
  and what the caller says the provider would answer (`data_answers`): the cluster stood in for;
- `terraform_remote_state` data sources, outputs, `removed` blocks, the backend and meta-arguments
  (`depends_on`, `lifecycle`, `provisioner`, `connection`) are kept, rewritten the same way;
- providers and `required_providers` are dropped; `import` blocks too (terraform_data cannot be
  imported), after checking that each names a resource of the stack.

What Terraform itself then does (parse every string as a template, evaluate references, check
`validate`, store values at `apply`) is the real thing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from stacks.base import MINIMUM_TERRAFORM

from .tools import require_tool

META_ARGUMENTS = ("depends_on", "count", "for_each", "lifecycle", "provisioner", "connection", "//")
MINIMUM_VERSION = tuple(int(x) for x in MINIMUM_TERRAFORM.split("."))


class RewriteError(AssertionError):
    pass


def standin_name(type_: str, name: str) -> str:
    return f"{type_}__{name}"


def builtin_rewrite(stack: dict, *, provisioners: bool = True, data_answers: Optional[dict] = None) -> dict:
    """`stack` (a synthesized cdk.tf.json) for the built-in provider only. `provisioners=False`
    also drops provisioners and connections (to apply without reaching the hosts they name).
    `data_answers`: {(data source type, name): {attribute: value}} for data sources read from a
    provider, what that provider would return."""
    answers = data_answers or {}
    bodies = {(t, n): b for t, named in stack.get("resource", {}).items() for n, b in named.items()}
    remote_state = {"terraform_remote_state": stack["data"]["terraform_remote_state"]} if "terraform_remote_state" in stack.get("data", {}) else {}
    for type_, named in stack.get("data", {}).items():
        if type_ == "terraform_remote_state":
            continue
        for name, body in named.items():
            if (type_, name) not in answers:
                raise RewriteError(f"data.{type_}.{name}: no stand-in answer given (data_answers)")
            bodies[(f"data_{type_}", name)] = {**body, **answers[(type_, name)]}
    rewriter = _References(bodies)

    out: dict[str, Any] = {}
    terraform = {k: v for k, v in stack.get("terraform", {}).items() if k != "required_providers"}
    if terraform:
        out["terraform"] = terraform
    standins: dict[str, dict] = {}
    for (type_, name), body in bodies.items():
        self_name = "triggers_replace" if type_ == "null_resource" else None
        standin: dict[str, Any] = {}
        arguments = {k: v for k, v in body.items() if k not in META_ARGUMENTS}
        if type_ == "null_resource":
            standin["triggers_replace"] = rewriter.strings(arguments.pop("triggers", {}))
            if arguments:
                raise RewriteError(f"null_resource.{name}: arguments the stand-in does not know: {sorted(arguments)}")
        else:
            standin["input"] = rewriter.strings(arguments)
        for meta in META_ARGUMENTS:
            if meta not in body or (not provisioners and meta in ("provisioner", "connection")):
                continue
            standin[meta] = rewriter.strings(body[meta], self_triggers=self_name)
        if "depends_on" in standin:
            standin["depends_on"] = [rewriter.address(d) for d in standin["depends_on"]]
        standins[standin_name(type_, name)] = standin
    if standins:
        out["resource"] = {"terraform_data": standins}
    if remote_state:
        out["data"] = rewriter.strings(remote_state)
    if "output" in stack:
        out["output"] = rewriter.strings(stack["output"])
    for block in stack.get("import", []):
        rewriter.address(block["to"])  # must name a resource of this stack
    removed = []
    for block in stack.get("removed", []):
        type_ = block["from"].split(".")[0]
        rewritten = {**block, "from": f"terraform_data.{standin_name(*block['from'].split('.', 1))}"}
        for meta in ("provisioner", "connection"):
            if meta in block:
                if not provisioners:
                    del rewritten[meta]
                    continue
                rewritten[meta] = rewriter.strings(block[meta], self_triggers="triggers_replace" if type_ == "null_resource" else None)
        removed.append(rewritten)
    if removed:
        out["removed"] = removed
    return out


class _References:
    """Rewrites the references inside Terraform template strings."""

    def __init__(self, bodies: dict[tuple[str, str], dict]):
        self.bodies = bodies
        types = "|".join(sorted({re.escape(t) for t, _ in bodies}, key=len, reverse=True)) or "(?!x)x"
        data_types = "|".join(sorted({re.escape(t[5:]) for t, _ in bodies if t.startswith("data_")})) or "(?!x)x"
        self._data = re.compile(rf"(?<![\w.])data\.({data_types})\.")
        self._traversal = re.compile(
            rf"(?<![\w.])({types})\.([A-Za-z_][A-Za-z0-9_-]*)((?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\])*)"
        )

    def address(self, address: str) -> str:
        type_, _, name = address.partition(".")
        if (type_, name) not in self.bodies:
            raise RewriteError(f"{address}: no such resource in the stack")
        return f"terraform_data.{standin_name(type_, name)}"

    def strings(self, value: Any, self_triggers: Optional[str] = None) -> Any:
        if isinstance(value, str):
            return "".join(
                self._expression(chunk, self_triggers) if is_expression else chunk
                for is_expression, chunk in template_parts(value)
            )
        if isinstance(value, dict):
            return {self.strings(k): self.strings(v, self_triggers) for k, v in value.items()}
        if isinstance(value, list):
            return [self.strings(v, self_triggers) for v in value]
        return value

    def _expression(self, expression: str, self_triggers: Optional[str]) -> str:
        if self_triggers:
            expression = re.sub(r"(?<![\w.])self\.triggers\b", f"self.{self_triggers}", expression)
        expression = self._data.sub(r"data_\1.", expression)  # data.T.N -> the stand-in data_T.N
        return self._traversal.sub(self._one, expression)

    def _one(self, match: re.Match) -> str:
        type_, name, path = match.group(1), match.group(2), match.group(3)
        body = self.bodies.get((type_, name))
        if body is None:
            raise RewriteError(f"{match.group(0)}: no such resource in the stack")
        standin = f"terraform_data.{standin_name(type_, name)}"
        steps = re.findall(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]", path)
        if steps and steps[0][0] == "id" and len(steps) == 1:
            return f"{standin}.id"
        if type_ == "null_resource":
            raise RewriteError(f"{match.group(0)}: only the id of a null_resource can be stood in for")
        value: Any = {k: v for k, v in body.items() if k not in META_ARGUMENTS}
        out = [standin, ".output"]
        for attribute, index in steps:
            if index:
                if isinstance(value, list):
                    out.append(f"[{index}]")
                    value = value[int(index)]
                elif not isinstance(value, dict):  # a nested block is one object in the JSON
                    raise RewriteError(f"{match.group(0)}: [{index}] of a value that is not a list or block")
                continue
            if not isinstance(value, dict) or attribute not in value:
                raise RewriteError(
                    f"{match.group(0)}: '{attribute}' is not in the configuration (computed by the provider?); "
                    "the stand-in for the provider's schema cannot model it"
                )
            out.append(f".{attribute}")
            value = value[attribute]
        return "".join(out)


def template_parts(text: str) -> list[tuple[bool, str]]:
    """`text` split as Terraform's template scanner splits it: (False, literal text as written, escapes
    kept) and (True, an interpolation `${...}` whole). A directive `%{` is refused: netviz writes none."""
    parts: list[tuple[bool, str]] = []
    literal, i = [], 0
    while i < len(text):
        if text.startswith("$${", i) or text.startswith("%%{", i):
            literal.append(text[i : i + 3])
            i += 3
        elif text.startswith("%{", i):
            raise RewriteError(f"a template directive in {text[:80]!r}: netviz writes none")
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            if literal:
                parts.append((False, "".join(literal)))
                literal = []
            parts.append((True, text[i : end + 1]))
            i = end + 1
        else:
            literal.append(text[i])
            i += 1
    if literal:
        parts.append((False, "".join(literal)))
    return parts


def _closing_brace(text: str, i: int) -> int:
    depth, quoted = 0, False
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise RewriteError(f"unterminated interpolation in {text[:80]!r}")


# ---- running Terraform ------------------------------------------------------------------------


def require_terraform() -> str:
    """The Terraform CLI, at least MINIMUM_VERSION; fails the test naming what is missing."""
    import pytest

    path = require_tool("terraform")
    p = subprocess.run([path, "version", "-json"], capture_output=True, text=True, env={**os.environ, "CHECKPOINT_DISABLE": "1"})
    version = tuple(int(x) for x in json.loads(p.stdout)["terraform_version"].split("-")[0].split("."))
    if version < MINIMUM_VERSION:
        pytest.fail(f"terraform {p.stdout.strip()} is too old: netviz needs >= {MINIMUM_TERRAFORM} (removed "
                    "blocks with destroy-time provisioners)", pytrace=False)
    return path


def terraform_settings(workdir: Path) -> dict[str, str]:
    """Terraform quiet and offline: no CLI config of the user's, no checkpoint call home."""
    cli_config = workdir / ".terraformrc"
    if not cli_config.exists():
        cli_config.parent.mkdir(parents=True, exist_ok=True)
        cli_config.write_text("")
    return {"TF_CLI_CONFIG_FILE": str(cli_config), "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}


def terraform_env(workdir: Path, extra: Optional[dict] = None) -> dict[str, str]:
    """This process's environment without the user's TF_* settings, plus `terraform_settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.update(terraform_settings(workdir))
    env.update(extra or {})
    return env


Runner = Callable[[list, Path, dict], subprocess.CompletedProcess]
"""Runs `terraform` elsewhere: (argv, cwd, Terraform's own settings) -> finished process."""


@dataclass
class Terraform:
    """One working directory holding one configuration, driven by the real CLI. `runner` runs it
    somewhere else (e.g. on a network-namespace host, tests/support/sshd.py); by default here."""

    workdir: Path
    env_extra: dict = field(default_factory=dict)
    runner: Optional[Runner] = None

    def __post_init__(self):
        self.binary = require_terraform()
        self.workdir.mkdir(parents=True, exist_ok=True)

    def write(self, config: dict) -> "Terraform":
        (self.workdir / "main.tf.json").write_text(json.dumps(config, indent=2))
        return self

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        argv = [self.binary, *args]
        if self.runner is None:
            p = subprocess.run(argv, cwd=self.workdir, capture_output=True, text=True, timeout=timeout,
                               env=terraform_env(self.workdir, self.env_extra))
        else:
            p = self.runner(argv, self.workdir, {**terraform_settings(self.workdir), **self.env_extra})
        if check and p.returncode != 0:
            raise AssertionError(f"terraform {' '.join(args)} failed ({p.returncode}) in {self.workdir}:\n{p.stdout}\n{p.stderr}")
        return p

    def init(self) -> subprocess.CompletedProcess:
        return self.run("init", "-input=false", "-no-color")

    def validate(self) -> dict:
        p = self.run("validate", "-json", "-no-color", check=False)
        return json.loads(p.stdout)

    def plan(self, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("plan", "-input=false", "-no-color", check=check)

    def apply(self, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("apply", "-auto-approve", "-input=false", "-no-color", check=check)

    def destroy(self, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("destroy", "-auto-approve", "-input=false", "-no-color", check=check)

    def state(self) -> dict:
        """`terraform show -json`: the applied state, values as Terraform stored them."""
        return json.loads(self.run("show", "-json", "-no-color").stdout)

    def applied(self) -> dict[str, dict]:
        """Resource address -> stored values, from the state."""
        values = self.state().get("values") or {}
        return {r["address"]: r["values"] for r in values.get("root_module", {}).get("resources", [])}

    def dependency_order(self) -> list[str]:
        """The applied resources' addresses, each after every resource it depends on (the
        `depends_on` Terraform recorded in the state: its references and explicit dependencies)."""
        resources = (self.state().get("values") or {}).get("root_module", {}).get("resources", [])
        needs = {r["address"]: [d for d in r.get("depends_on", [])] for r in resources}
        order: list[str] = []

        def visit(address: str, path: tuple = ()) -> None:
            if address in order or address not in needs:
                return
            if address in path:
                raise AssertionError(f"dependency cycle: {' -> '.join(path + (address,))}")
            for dependency in sorted(needs[address]):
                visit(dependency, path + (address,))
            order.append(address)

        for address in sorted(needs):
            visit(address)
        return order
