"""The App as a whole: three stacks, their order, their state, their names."""

import json
import re

import pytest

from tests.synth import config_text, synth


def test_three_stacks_with_the_names_deploy_uses(synthesized):
    assert set(synthesized.manifest["stacks"]) == {"caretta", "goflow2", "platform"}


def test_platform_depends_on_caretta_and_goflow2(synthesized):
    deps = {name: sorted(s["dependencies"]) for name, s in synthesized.manifest["stacks"].items()}
    assert deps == {"caretta": [], "goflow2": [], "platform": ["caretta", "goflow2"]}


def test_each_stack_has_its_own_local_state_outside_cdktf_out(synthesized):
    paths = {}
    for name, stack in synthesized.stacks.items():
        path = stack["terraform"]["backend"]["local"]["path"]
        assert path.startswith("/"), path
        assert "cdktf.out" not in path, path
        assert path.endswith(f"/terraform-state/{name}.tfstate"), path
        paths[name] = path
    assert len(set(paths.values())) == 3


def test_remote_state_reads_the_producers_own_state_files(synthesized):
    platform = synthesized.stacks["platform"]
    remote = platform["data"]["terraform_remote_state"]
    for producer in ("caretta", "goflow2"):
        config = remote[f"cross_stack_reference_input_{producer}"]
        assert config["config"]["path"] == synthesized.stacks[producer]["terraform"]["backend"]["local"]["path"]


def test_resource_names_are_readable_with_no_hash_suffix(synthesized):
    for name, stack in synthesized.stacks.items():
        for type_, resources in stack.get("resource", {}).items():
            for logical in resources:
                assert not re.search(r"_[0-9A-F]{8}$", logical), f"{name}: {type_}.{logical}"
        assert set(stack["resource"]) <= {
            "kubernetes_namespace_v1", "helm_release", "kubernetes_deployment_v1", "kubernetes_service_v1",
            "kubernetes_config_map_v1", "null_resource",
        }


def test_s3_backend_keeps_one_key_per_stack(tmp_path):
    text = config_text(lambda t: t.replace(
        'backend = "local"',
        'backend = "s3"\n[state.s3]\nbucket = "homelab-tfstate"\nregion = "eu-west-1"\nendpoint = "https://minio.example.test"\nuse_path_style = true',
    ))
    out = synth(text, outdir=str(tmp_path))
    for name, stack in out.stacks.items():
        s3 = stack["terraform"]["backend"]["s3"]
        assert s3["bucket"] == "homelab-tfstate" and s3["key"] == f"netviz/{name}.tfstate"
        assert s3["use_path_style"] is True and s3["endpoints"] == {"s3": "https://minio.example.test"}
    remote = out.stacks["platform"]["data"]["terraform_remote_state"]["cross_stack_reference_input_goflow2"]
    assert remote["backend"] == "s3" and remote["config"]["key"] == "netviz/goflow2.tfstate"


def test_kubernetes_backend_keeps_one_secret_per_stack(tmp_path):
    text = config_text(lambda t: t.replace(
        'backend = "local"', 'backend = "kubernetes"\n[state.kubernetes]\nnamespace = "terraform"'
    ))
    out = synth(text, outdir=str(tmp_path))
    for name, stack in out.stacks.items():
        k = stack["terraform"]["backend"]["kubernetes"]
        assert k == {"secret_suffix": f"netviz-{name}", "namespace": "terraform", "config_path": "~/.kube/config"}
    remote = out.stacks["platform"]["data"]["terraform_remote_state"]["cross_stack_reference_input_caretta"]
    assert remote["backend"] == "kubernetes" and remote["config"]["secret_suffix"] == "netviz-caretta"


def test_pg_backend_takes_its_connection_string_from_the_environment(tmp_path):
    text = config_text(lambda t: t.replace('backend = "local"', 'backend = "pg"\n[state.pg]\nschema_prefix = "netviz"'))
    out = synth(text, outdir=str(tmp_path))
    for name, stack in out.stacks.items():
        assert stack["terraform"]["backend"]["pg"] == {"schema_name": f"netviz_{name}"}
        assert "conn_str" not in json.dumps(stack)


@pytest.mark.parametrize("needle", [re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY"), re.compile(r'"(password|token|conn_str)": "', re.I)])
def test_no_secrets_in_the_synthesized_terraform(synthesized, needle):
    for name, stack in synthesized.stacks.items():
        assert not needle.search(json.dumps(stack)), name
