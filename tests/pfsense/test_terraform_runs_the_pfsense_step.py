"""The real Terraform CLI runs the platform stack's pfSense step end to end, over real SSH.

- SSH: a real OpenSSH server on a network-namespace host at pfSense's address, its host key
  generated here and pinned in network.toml, `admin`'s login shell a STAND-IN for pfSense's console
  menu (`rc.initial -c`), over a STAND-IN for pfSense itself (tests/support/sshd.py). Terraform runs
  on another namespace host (the deployer), with a key file or a real ssh-agent.
- The goflow2 stack's state comes from a real `terraform apply` of a configuration that holds only
  that stack's outputs (its resources need the Kubernetes provider), under the backend the
  synthesized goflow2 stack names; the platform stack reads it through its real
  `terraform_remote_state`.
- The platform stack is the synthesized one rewritten for the built-in provider only
  (tests/support/terraform.py: `null_resource` -> `terraform_data`, a STAND-IN for the null
  provider; every Helm release a `terraform_data` too). Its provisioners, connection and triggers
  are netviz's own, run by Terraform as a deploy would.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stacks.app import STACK_NAMES
from tests.support.sshd import PfSenseSsh, new_host_key_line
from tests.support.terraform import Terraform, builtin_rewrite
from tests.synth import Synthesized, config_text, synth

SOFTFLOWD = "terraform_data.null_resource__pfsense_softflowd"


def network_toml(pf: PfSenseSsh, *, manage: bool = True, host_key: str = "", key_file: bool = True) -> str:
    def edit(text: str) -> str:
        assert 'address = "10.0.20.1"\nssh_user = "admin"' in text  # the stand-in's address and user
        settings = f'manage_softflowd = {"true" if manage else "false"}\nssh_host_key = "{host_key or pf.host_key}"\n'
        if key_file:
            settings += f'ssh_private_key_file = "{pf.private_key}"\n'
        return text.replace("manage_softflowd = false\n", settings)

    return config_text(edit)


def softflowd(pf: PfSenseSsh) -> dict:
    node = ET.fromstring(pf.standin.config_bytes()).find("./installedpackages/softflowd/config")
    return {} if node is None else {child.tag: child.text for child in node}


class Deployment:
    """The goflow2 stack's outputs and the platform stack, in one folder, as `cdktf deploy` would
    leave them: each stack its own state, under the backend netviz configured."""

    def __init__(self, pf: PfSenseSsh, directory: Path, auth: str = "key"):
        self.pf, self.directory, self.auth = pf, directory, auth
        self.log = directory / "terraform.log"
        self.outputs: list[str] = []

    def _terraform(self, name: str) -> Terraform:
        def runner(argv, cwd, env):
            return self.pf.run(argv, cwd=cwd, env={**env, "TF_LOG": "DEBUG", "TF_LOG_PATH": str(self.log)},
                               auth=self.auth, timeout=600)

        return Terraform(self.directory / "terraform" / name, runner=runner)

    def synth(self, text: str) -> Synthesized:
        self.synthesized = synth(text, outdir=str(self.directory))
        return self.synthesized

    def goflow2_outputs(self, node_port: int) -> None:
        """Apply a configuration holding only the goflow2 stack's outputs, NodePort as given."""
        stack = self.synthesized.stacks["goflow2"]
        values = {name: self.synthesized._resolve_attribute(stack, o["value"]) for name, o in stack["output"].items()}
        outputs = {}
        for name, value in values.items():
            outputs[name] = {"value": node_port if "node_port" in name else value, "sensitive": True}
        for other in STACK_NAMES[:2]:
            s = self.synthesized.stacks[other]
            tf = self._terraform(f"{other}-outputs")
            config = {"terraform": {"backend": s["terraform"]["backend"]}}
            if other == "goflow2":
                config["output"] = outputs
            else:
                config["output"] = {n: {"value": self.synthesized._resolve_attribute(s, o["value"]), "sensitive": True}
                                    for n, o in s["output"].items()}
            tf.write(config).init()
            self.record(tf.apply())

    def platform(self, *, provisioners: bool = True, connection_timeout: str = "") -> Terraform:
        config = builtin_rewrite(self.synthesized.stacks["platform"], provisioners=provisioners)
        if connection_timeout:
            # Only so the wrong-host-key case need not wait out the synthesized 2 minutes of retries.
            for block in [*config.get("resource", {}).get("terraform_data", {}).values(), *config.get("removed", [])]:
                if "connection" in block:
                    block["connection"]["timeout"] = connection_timeout
        tf = self._terraform("platform")
        tf.write(config)
        self.record(tf.init())
        return tf

    def record(self, p):
        self.outputs.append(p.stdout + p.stderr)
        return p


@pytest.fixture
def deployment(pfsense_ssh, tmp_path) -> Deployment:
    return Deployment(pfsense_ssh, tmp_path)


def test_deploy_redeploy_nodeport_change_switch_off_and_destroy(deployment: Deployment, pfsense_ssh: PfSenseSsh):
    pf, d = pfsense_ssh, deployment
    d.synth(network_toml(pf))
    d.goflow2_outputs(32055)
    platform = d.platform()

    # GIVEN a first deploy: the script is uploaded through the menu shell and enables export.
    first = d.record(platform.apply())
    assert "OK: one softflowd per interface (lan,opt1) exports NetFlow v9 to 10.0.20.100:32055" in first.stdout
    settings = softflowd(pf)
    assert (settings["enable"], settings["host"], settings["port"], settings["interface"]) == (
        "enabled", "10.0.20.100", "32055", "lan,opt1")
    assert len(pf.standin.processes()) == 2
    assert not (pf.remote_tmp / "netviz-pfsense-softflowd.sh").exists()  # removed after running

    # WHEN deployed again unchanged: nothing happens on pfSense.
    config_before, history_before = pf.standin.config_bytes(), pf.standin.history()
    again = d.record(platform.apply())
    assert "0 added, 0 changed, 0 destroyed" in again.stdout and "Provisioning" not in again.stdout
    assert pf.standin.config_bytes() == config_before and pf.standin.history() == history_before

    # WHEN the goflow2 stack's NodePort changes: the trigger changes and the script re-runs.
    d.goflow2_outputs(32056)
    moved = d.record(platform.apply())
    assert "1 added, 0 changed, 1 destroyed" in moved.stdout
    assert softflowd(pf)["port"] == "32056" and softflowd(pf)["enable"] == "enabled"

    # WHEN manage_softflowd is switched off: the removed block's provisioners disable the export.
    d.synth(network_toml(pf, manage=False))
    platform = d.platform()
    off = d.record(platform.apply())
    assert "0 added, 0 changed, 1 destroyed" in off.stdout
    assert "OK: no softflowd runs" in off.stdout
    assert softflowd(pf)["enable"] == "off" and pf.standin.processes() == {}
    assert SOFTFLOWD not in platform.applied()
    still_off = d.record(platform.apply())
    assert "0 added, 0 changed, 0 destroyed" in still_off.stdout and "Provisioning" not in still_off.stdout

    # WHEN switched on again, then the stack destroyed: destroy disables.
    d.synth(network_toml(pf))
    platform = d.platform()
    d.record(platform.apply())
    assert softflowd(pf)["enable"] == "enabled"
    gone = d.record(platform.destroy())
    assert "OK: no softflowd runs" in gone.stdout
    assert softflowd(pf)["enable"] == "off" and pf.standin.processes() == {}

    assert_no_key_material(pf, d)


def test_a_failing_script_fails_the_deploy_and_the_next_deploy_recovers(deployment: Deployment, pfsense_ssh):
    pf, d = pfsense_ssh, deployment
    d.synth(network_toml(pf))
    d.goflow2_outputs(32055)
    platform = d.platform()
    pf.standin.fault("softflowd-dies")
    failed = d.record(platform.apply(check=False))
    assert failed.returncode != 0, failed.stdout
    assert "FAILED: softflowd does not run as configured" in failed.stdout + failed.stderr
    assert "remote-exec provisioner error" in failed.stderr
    assert not (pf.remote_tmp / "netviz-pfsense-softflowd.sh").exists()

    pf.standin.clear_fault("softflowd-dies")
    fixed = d.record(platform.apply())  # the tainted resource is replaced: enable runs again
    assert "1 added, 0 changed, 1 destroyed" in fixed.stdout
    assert softflowd(pf)["enable"] == "enabled" and len(pf.standin.processes()) == 2


def test_agent_authentication_deploys_and_destroys(pfsense_ssh, tmp_path):
    pf = pfsense_ssh
    d = Deployment(pf, tmp_path, auth="agent")
    synthesized = d.synth(network_toml(pf, key_file=False))
    triggers = synthesized.resource("platform", "null_resource", "pfsense_softflowd")["triggers"]
    assert (triggers["ssh_agent"], triggers["ssh_private_key_file"]) == ("true", "")
    d.goflow2_outputs(32055)
    platform = d.platform()
    d.record(platform.apply())
    assert softflowd(pf)["enable"] == "enabled"
    d.record(platform.destroy())
    assert softflowd(pf)["enable"] == "off"
    assert "publickey" in pf.sshd_log()


def test_a_wrong_pinned_host_key_is_refused_and_pfsense_is_untouched(deployment: Deployment, pfsense_ssh, tmp_path):
    pf, d = pfsense_ssh, deployment
    d.synth(network_toml(pf, host_key=new_host_key_line(tmp_path / "other")))
    d.goflow2_outputs(32055)
    platform = d.platform(connection_timeout="5s")
    before = pf.standin.config_bytes()
    refused = d.record(platform.apply(check=False))
    assert refused.returncode != 0
    assert "key mismatch" in refused.stderr
    assert pf.standin.config_bytes() == before
    assert not (pf.remote_tmp / "netviz-pfsense-softflowd.sh").exists()


def assert_no_key_material(pf: PfSenseSsh, d: Deployment) -> None:
    secret = [line for line in pf.private_key.read_text().splitlines() if line and not line.startswith("-----")]
    assert secret
    states = "".join(p.read_text() for p in d.directory.rglob("*.tfstate*"))  # backups too
    assert pf.host_key in states  # the states read are the ones holding the connection's inputs
    for name, text in (("output", "".join(d.outputs)), ("debug log", d.log.read_text()), ("state", states),
                       ("synthesized JSON", json.dumps(d.synthesized.stacks))):
        assert not [line for line in secret if line in text], f"private key material in Terraform's {name}"
