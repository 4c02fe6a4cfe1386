"""platform stack: the null_resource that runs scripts/pfsense_softflowd.sh on pfSense over SSH."""

import hashlib
import json
import re

import pytest

from netviz_constructs.cdk import ENGINE
from tests.synth import REPO, config_text, synth

# A public key made for this test (ssh-keygen -t ed25519); public keys are not secrets.
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBhQ8MOIBv3T3dUd2vL7pmdl4Jp0QJ5o9m8G3B6k8a9Z"


def managed(extra=""):
    return config_text(
        lambda t: t.replace("manage_softflowd = false", f'manage_softflowd = true\nssh_host_key = "{HOST_KEY}"\n{extra}')
    )


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return synth(managed(), outdir=str(tmp_path_factory.mktemp("pfsense")))


@pytest.fixture(scope="module")
def resource(out):
    return out.resource("platform", "null_resource", "pfsense_softflowd")


REMOTE = "/tmp/netviz-pfsense-softflowd.sh"


def test_off_by_default_is_a_removed_block_that_would_disable(synthesized):
    """Management off: no resource, but a `removed` block for its address, so switching it off after
    it was on runs `disable` on the next deploy (and does nothing where it never was on)."""
    platform = synthesized.stacks["platform"]
    assert "null_resource" not in platform.get("resource", {})
    (removed,) = platform["removed"]
    assert removed["from"] == "null_resource.pfsense_softflowd"
    assert removed["lifecycle"] == {"destroy": True}
    assert [list(p)[0] for p in removed["provisioner"]] == ["file", "remote-exec"]
    assert all(list(p.values())[0]["when"] == "destroy" for p in removed["provisioner"])
    assert removed["provisioner"][1]["remote-exec"]["inline"] == [
        f"/bin/sh {REMOTE} disable; status=$?; rm -f {REMOTE}; exit $status"
    ]
    # Destroying a null_resource needs its provider, pinned like the others.
    assert platform["terraform"]["required_providers"]["null"]["version"] == {"cdktf": "3.2.4", "cdktn": "3.3.2"}[ENGINE]


def test_removed_block_and_resource_share_one_connection(out, synthesized):
    (removed,) = synthesized.stacks["platform"]["removed"]
    resource = out.raw_resource("platform", "null_resource", "pfsense_softflowd")
    assert removed["connection"] == resource["connection"]
    assert removed["provisioner"] == resource["provisioner"][2:]


def test_triggers_follow_script_collector_and_goflow2_nodeport(out, resource):
    t = resource["triggers"]
    script = (REPO / "scripts" / "pfsense_softflowd.sh").read_bytes()
    assert t["script_sha256"] == hashlib.sha256(script).hexdigest()
    assert t["collector_ip"] == "10.0.20.100"
    assert t["collector_port"].startswith("${data.terraform_remote_state.cross_stack_reference_input_goflow2.outputs.")
    assert out.resolve_cross_stack(t["collector_port"]) == "32055"
    # In netflow_if_index order (kubernetes/lan = 1, storage/opt1 = 2): the package numbers them so.
    assert t["interfaces"] == "lan,opt1"


def test_connection_pins_the_host_key_and_uses_the_agent(resource):
    c = resource["connection"]
    assert c["type"] == "ssh"
    assert c["host"] == "${self.triggers.host}" and resource["triggers"]["host"] == "10.0.20.1"
    assert c["user"] == "${self.triggers.ssh_user}" and resource["triggers"]["ssh_user"] == "admin"
    assert c["port"] == "${self.triggers.ssh_port}" and resource["triggers"]["ssh_port"] == "22"
    assert c["host_key"] == "${self.triggers.ssh_host_key}" and resource["triggers"]["ssh_host_key"] == HOST_KEY
    assert c["agent"] == "${self.triggers.ssh_agent}" and resource["triggers"]["ssh_agent"] == "true"
    assert c["private_key"] == (
        '${(self.triggers.ssh_agent == "true") ? null : file(pathexpand(self.triggers.ssh_private_key_file))}'
    )
    assert resource["triggers"]["ssh_private_key_file"] == ""
    assert "password" not in c


def test_key_file_is_read_at_deploy_time_never_synthesized(tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n")
    out = synth(managed(f'ssh_private_key_file = "{key}"'), outdir=str(tmp_path / "o"))
    r = out.resource("platform", "null_resource", "pfsense_softflowd")
    assert r["triggers"]["ssh_agent"] == "false"
    assert r["triggers"]["ssh_private_key_file"] == str(key)
    for stack in out.stacks.values():
        assert "PRIVATE KEY" not in json.dumps(stack)


def test_provisioners_upload_run_and_disable_on_destroy(out, resource):
    p = resource["provisioner"]
    assert [list(x)[0] for x in p] == ["file", "remote-exec", "file", "remote-exec"]
    script = (REPO / "scripts" / "pfsense_softflowd.sh").read_text()
    assert p[0]["file"]["destination"] == REMOTE
    # As written, the shell's own ${...} are escaped (or Terraform would interpolate them) ...
    raw = out.raw_resource("platform", "null_resource", "pfsense_softflowd")["provisioner"][0]["file"]["content"]
    assert "${" in script and not re.search(r"(?<!\$)\$\{", raw)
    # ... and Terraform reads the script back exactly.
    assert p[0]["file"]["content"] == script
    (enable,) = p[1]["remote-exec"]["inline"]
    assert enable == (
        f"/bin/sh {REMOTE} enable --collector-ip ${{self.triggers.collector_ip}} "
        "--collector-port ${self.triggers.collector_port} --interfaces ${self.triggers.interfaces}; "
        f"status=$?; rm -f {REMOTE}; exit $status"
    )
    assert "when" not in p[0]["file"] and "when" not in p[1]["remote-exec"]
    assert p[2]["file"]["when"] == "destroy"
    assert p[3]["remote-exec"]["when"] == "destroy"
    assert p[3]["remote-exec"]["inline"] == [f"/bin/sh {REMOTE} disable; status=$?; rm -f {REMOTE}; exit $status"]


def references(text: str) -> list[str]:
    """Terraform interpolations in `text` (an escaped `$${` is literal text, not one)."""
    return re.findall(r"(?<!\$)\$\{([^}]*)\}", text)


def test_destroy_time_provisioners_and_connection_refer_only_to_self(out, synthesized):
    resource = out.raw_resource("platform", "null_resource", "pfsense_softflowd")
    (removed,) = synthesized.stacks["platform"]["removed"]
    for block in (resource["provisioner"][2:], removed["provisioner"]):
        refs = references(json.dumps(block))
        assert all(r.startswith("self.") for r in refs), refs
    for connection in (resource["connection"], removed["connection"]):
        refs = references(json.dumps(connection))
        assert len(refs) == 6 and all("self.triggers." in r for r in refs), refs


def test_managing_softflowd_needs_a_pinned_host_key(tmp_path):
    import netviz_config

    path = tmp_path / "n.toml"
    path.write_text(config_text(lambda t: t.replace("manage_softflowd = false", "manage_softflowd = true")))
    with pytest.raises(netviz_config.ConfigError) as err:
        netviz_config.load(str(path))
    assert err.value.problems[0].startswith("pfsense.ssh_host_key: missing required value with pfsense.manage_softflowd = true")


def test_malformed_host_key_is_refused(tmp_path):
    import netviz_config

    path = tmp_path / "n.toml"
    path.write_text(config_text(lambda t: t.replace("manage_softflowd = false", 'ssh_host_key = "10.0.20.1 ssh-ed25519 AAAA"')))
    with pytest.raises(netviz_config.ConfigError) as err:
        netviz_config.load(str(path))
    assert err.value.problems[0].startswith("pfsense.ssh_host_key: expected an SSH public key")


def test_softflowd_interface_indexes_must_be_1_to_n(tmp_path):
    import netviz_config

    path = tmp_path / "n.toml"
    path.write_text(managed().replace("netflow_if_index = 2", "netflow_if_index = 3"))
    with pytest.raises(netviz_config.ConfigError) as err:
        netviz_config.load(str(path))
    assert err.value.problems == [
        "subnets[1].netflow_if_index: expected 2 (the subnets with a pfsense_interface are numbered 1..2 by the "
        "pfSense package, in netflow_if_index order), but 3 was provided"
    ]
