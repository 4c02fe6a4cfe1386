"""platform stack: the null_resource that runs scripts/pfsense_softflowd.sh on pfSense over SSH."""

import hashlib
import json
import re

import pytest

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


def test_off_by_default(synthesized):
    assert "null_resource" not in synthesized.stacks["platform"].get("resource", {})


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
    assert c["agent"] == "true"
    assert "private_key" not in c and "password" not in c


def test_key_file_is_read_at_deploy_time_never_synthesized(tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n")
    out = synth(managed(f'ssh_private_key_file = "{key}"'), outdir=str(tmp_path / "o"))
    r = out.resource("platform", "null_resource", "pfsense_softflowd")
    assert r["connection"]["private_key"] == "${file(pathexpand(self.triggers.ssh_private_key_file))}"
    assert r["connection"]["agent"] == "false"
    assert r["triggers"]["ssh_private_key_file"] == str(key)
    for stack in out.stacks.values():
        assert "PRIVATE KEY" not in json.dumps(stack)


def test_provisioners_upload_run_and_disable_on_destroy(resource):
    p = resource["provisioner"]
    assert [list(x)[0] for x in p] == ["file", "remote-exec", "file", "remote-exec"]
    script = (REPO / "scripts" / "pfsense_softflowd.sh").read_text()
    assert p[0]["file"]["destination"] == "/tmp/netviz-pfsense-softflowd.sh"
    # The shell's own ${...} are escaped, or Terraform would try to interpolate them.
    content = p[0]["file"]["content"]
    assert "${" in script and not re.search(r"(?<!\$)\$\{", content)
    assert content.replace("$${", "${").replace("%%{", "%{") == script
    (enable, cleanup) = p[1]["remote-exec"]["inline"]
    assert enable == (
        "/bin/sh /tmp/netviz-pfsense-softflowd.sh enable --collector-ip ${self.triggers.collector_ip} "
        "--collector-port ${self.triggers.collector_port} --interfaces ${self.triggers.interfaces}"
    )
    assert "when" not in p[0]["file"] and "when" not in p[1]["remote-exec"]
    assert p[2]["file"]["when"] == "destroy"
    assert p[3]["remote-exec"]["when"] == "destroy"
    assert p[3]["remote-exec"]["inline"][0] == "/bin/sh /tmp/netviz-pfsense-softflowd.sh disable"


def references(text: str) -> list[str]:
    """Terraform interpolations in `text` (an escaped `$${` is literal text, not one)."""
    return re.findall(r"(?<!\$)\$\{([^}]*)\}", text)


def test_destroy_time_provisioners_refer_only_to_self(resource):
    for prov in resource["provisioner"][2:]:
        refs = references(json.dumps(prov))
        assert all(r.startswith("self.") for r in refs), refs
    for value in resource["connection"].values():
        refs = references(str(value))
        assert all("self.triggers." in r for r in refs), value


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
