"""Every literal string netviz hands to Terraform means exactly itself: one rule, applied in one place.

Terraform reads every string of a resource's arguments, and every key of a map given there, as a
template: `${...}` is an interpolation and `%{...}` a directive. A dashboard's `"uid":
"${datasource}"`, the exporter's `f"${ENV}"`, a shell script's `${VAR}` or a user's Helm value
`replacement: ${1}` would be evaluated by Terraform (and fail as "Invalid reference", or silently
become something else). `$${` and `%%{` are Terraform's escapes for the literal text (`$${x}` reads as `${x}`, and
`$$${x}` as `$${x}`).

`LiteralStrings` is an Aspect every netviz stack carries (stacks/base.py): just before synthesis it
visits each resource, data source, provider, output and `removed` block, and escapes the literal parts of every
string in them. cdktf tokens (`${TfToken[TOKEN.n]}` markers inside strings, which become references
such as `${kubernetes_namespace_v1.x.metadata[0].name}`) are left as they are, so references keep
working. A construct therefore passes plain text and never escapes anything itself; an expression it
means Terraform to evaluate must be a token (`TerraformSelf`, `Fn`, a resource attribute), never a
hand-written `"${...}"` string, which would be escaped like any other text.

Not escaped, because Terraform does not read them as templates (checked with Terraform 1.11 in
tests/stacks/test_terraform_reads_synthesized.py): an output's `description`, and the `//` metadata
cdktf adds.
"""

from __future__ import annotations

import re
from typing import Any

import jsii
from constructs import IConstruct

from .cdk import IAspect, TerraformDataSource, TerraformOutput, TerraformProvider, TerraformResource, Token
from .removed_block import RemovedBlock

# A cdktf string token, or the start of a Terraform interpolation or directive.
_TOKEN_OR_TEMPLATE = re.compile(r"\$\{TfToken\[TOKEN\.\d+\]\}|\$\{|%\{")
_NOT_TEMPLATES = {"//"}


def escape_template(text: str) -> str:
    """`text` as a Terraform string that means exactly `text`; cdktf token markers stay tokens."""

    def one(match: re.Match) -> str:
        found = match.group(0)
        if found == "${":
            return "$${"
        if found == "%{":
            return "%%{"
        return found  # a token

    return _TOKEN_OR_TEMPLATE.sub(one, text)


def escape_templates(value: Any) -> Any:
    """`value` (strings, lists, maps, nested) with every string and map key escaped."""
    if isinstance(value, str):
        return escape_template(value)
    if isinstance(value, dict):
        return {
            key if key in _NOT_TEMPLATES else escape_template(key): item if key in _NOT_TEMPLATES else escape_templates(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [escape_templates(item) for item in value]
    return value  # numbers, booleans, None, and tokens that are not strings


@jsii.implements(IAspect)
class LiteralStrings:
    """The Aspect: escapes the literal text of each element of a stack once, before synthesis."""

    def __init__(self) -> None:
        self._done: set[str] = set()  # construct paths; synth may visit an element twice

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, (TerraformResource, TerraformDataSource, TerraformProvider, TerraformOutput, RemovedBlock)):
            return
        path = node.node.path
        if path in self._done:
            return
        self._done.add(path)
        for body in _bodies(node):
            for key, value in body.items():
                if key in _NOT_TEMPLATES or (isinstance(node, TerraformOutput) and key == "description"):
                    continue
                escaped = escape_templates(value)
                if escaped != value:
                    # As a token, the override replaces the argument whole: a plain list would be
                    # appended to the original one, and a map merged into it, keeping unescaped keys.
                    node.add_override(key, Token.as_any(escaped))


def _bodies(node) -> list[dict]:
    """The element's arguments as they will be written, before its tokens are resolved."""
    fragment = node.to_terraform()
    if isinstance(node, TerraformOutput):  # {"output": {name: body}}
        return list(fragment["output"].values())
    if isinstance(node, TerraformProvider):  # {"provider": {type: [body]}}
        return [body for bodies in fragment["provider"].values() for body in bodies]
    if isinstance(node, RemovedBlock):  # {"removed": [body]}
        return fragment["removed"]
    # {"resource" | "data": {type: {name: body}}}
    return [body for named in next(iter(fragment.values())).values() for body in named.values()]
