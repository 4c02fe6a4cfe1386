"""The literal-string Aspect (netviz_constructs/terraform_literals.py) against the real Terraform:
whatever text a construct passes, Terraform stores that text, and tokens stay references."""

from __future__ import annotations

import json
import random

from netviz_constructs.cdk import App, Aspects, LocalBackend, TerraformOutput, TerraformStack, first_block, nested_block, provider

from netviz_constructs.terraform_literals import LiteralStrings, escape_template
from tests.support.terraform import Terraform, builtin_rewrite

# Provider bindings of the chosen CDK engine (netviz_constructs/cdk.py).
config_map_v1 = provider("kubernetes", "config_map_v1")
namespace_v1 = provider("kubernetes", "namespace_v1")
kubernetes_provider = provider("kubernetes", "provider")

TRICKY = [
    "${datasource}", "$${already escaped}", "$$${three}", "%{if x}y%{endif}", "%%{two}", "100% {not one}",
    "$ {spaced}", "${", "%{", "$", "%", "}", "{}", "${TfToken[", "a $${b} ${c} %{d} %%{e} $$f",
    'json "${x}" \\"${y}\\"', "line\n${next}\n", "${${nested}}", "\u00e9${\u00fc}",
]


def random_texts(n: int, seed: int = 9) -> list[str]:
    rng = random.Random(seed)
    alphabet = "$${%}{a \\\"\n"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))) for _ in range(n)]


def test_terraform_stores_each_text_exactly_and_keeps_references(tmp_path):
    texts = TRICKY + random_texts(300)
    app = App(outdir=str(tmp_path / "cdktf.out"))
    stack = TerraformStack(app, "literals")
    Aspects.of(stack).add(LiteralStrings())
    LocalBackend(stack, path=str(tmp_path / "literals.tfstate"))
    kubernetes_provider.KubernetesProvider(stack, "kubernetes", config_path="~/.kube/${config}")
    metadata = nested_block(namespace_v1.NamespaceV1, "metadata", namespace_v1.NamespaceV1Metadata(name="literal-test"))
    namespace = namespace_v1.NamespaceV1(stack, "namespace", metadata=metadata)
    data = {f"text-{i}": t for i, t in enumerate(texts)}
    data["with-reference"] = "ns=" + first_block(namespace.metadata).name + " ${not-a-reference}"
    data["key ${with} %{template}"] = "value"
    config_map_v1.ConfigMapV1(stack, "texts", metadata=config_map_v1.ConfigMapV1Metadata(name="texts", namespace=first_block(namespace.metadata).name), data=data)
    TerraformOutput(stack, "out", value="${literal}", description="a description ${is not a template}")
    app.synth()
    synthesized = json.loads((tmp_path / "cdktf.out" / "stacks" / "literals" / "cdk.tf.json").read_text())

    tf = Terraform(tmp_path / "terraform").write(builtin_rewrite(synthesized))
    tf.init()
    tf.apply()
    stored = tf.applied()["terraform_data.kubernetes_config_map_v1__texts"]["input"]
    expected = {**data, "with-reference": "ns=literal-test ${not-a-reference}"}
    wrong = {k: (stored["data"].get(k), v) for k, v in expected.items() if stored["data"].get(k) != v}
    assert not wrong, wrong
    assert stored["metadata"]["namespace"] == "literal-test"  # a token stays a reference
    output = tf.run("output", "-json").stdout
    assert json.loads(output)["out"]["value"] == "${literal}"
    assert synthesized["output"]["out"]["description"] == "a description ${is not a template}"
    assert synthesized["provider"]["kubernetes"][0]["config_path"] == "~/.kube/$${config}"


def test_escape_template_leaves_cdktf_tokens_alone():
    assert escape_template("a ${TfToken[TOKEN.12]} ${b} %{c}") == "a ${TfToken[TOKEN.12]} $${b} %%{c}"
