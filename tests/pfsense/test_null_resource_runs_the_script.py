"""The platform stack's null_resource, as synthesized, drives the script on a STAND-IN for pfSense.

SSH and pfSense cannot run here (tests/pfsense/test_terraform_runs_the_pfsense_step.py runs the real
Terraform over a real sshd); this test plays Terraform's provisioners with their own rules:
- the file provisioner writes `content` as Terraform reads it (tests/synth.py `read_strings`) to its
  destination;
- remote-exec joins the `inline` lines with newlines (plus a final one) into one script
  (hashicorp/terraform internal/builtin/provisioners/remote-exec/resource_provisioner.go,
  generateScripts), the SSH communicator puts `#!/bin/sh` in front of a script without a shebang
  (internal/communicator/ssh/communicator.go, UploadScript), and the script's exit status is what
  Terraform sees. There is no errexit: a status lost between lines stays lost.
`${self.triggers.*}` are filled from the resource's own triggers (the NodePort through the goflow2
stack's output). The upload goes to the synthesized path itself, in this machine's /tmp, under a
lock so that no two tests share it.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess

import pytest

from tests.pfsense.test_pfsense_softflowd_script import softflowd_settings
from tests.stacks.test_pfsense_softflowd_resource import managed
from tests.synth import synth

REMOTE = "/tmp/netviz-pfsense-softflowd.sh"


@pytest.fixture(scope="module")
def resource(tmp_path_factory):
    out = synth(managed(), outdir=str(tmp_path_factory.mktemp("pfsense-synth")))
    r = out.resource("platform", "null_resource", "pfsense_softflowd")
    triggers = {k: out.resolve_cross_stack(v) for k, v in r["triggers"].items()}
    return r, triggers


def fill(command: str, triggers: dict) -> str:
    return re.sub(r"\$\{self\.triggers\.([a-z_]+)\}", lambda m: triggers[m.group(1)], command)


def terraform_script(inline: list[str]) -> str:
    """What remote-exec uploads and runs for `inline`."""
    return "#!/bin/sh\n" + "\n".join([*inline, ""])


def run_provisioners(pfsense, tmp_path, upload: dict, remote_exec: dict, triggers: dict):
    """Upload, then remote-exec. Returns (exit status, output, whether the upload was left behind)."""
    assert upload["destination"] == REMOTE
    inline = tmp_path / "terraform_inline.sh"
    inline.write_text(terraform_script([fill(line, triggers) for line in remote_exec["inline"]]))
    inline.chmod(0o777)  # as the communicator does, then it runs the path
    with open(REMOTE + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(REMOTE, "w") as f:
                f.write(upload["content"])
            p = subprocess.run([str(inline)], env=pfsense.env(), capture_output=True, text=True, timeout=120)
            left = os.path.exists(REMOTE)
        finally:
            if os.path.exists(REMOTE):
                os.unlink(REMOTE)
    return p.returncode, p.stdout + p.stderr, left


def test_create_then_destroy_provisioners_enable_then_disable_export(resource, pfsense, tmp_path):
    r, triggers = resource
    upload, create, upload_again, destroy = (list(p.values())[0] for p in r["provisioner"])

    status, output, left = run_provisioners(pfsense, tmp_path, upload, create, triggers)
    assert (status, left) == (0, False), output
    settings = softflowd_settings(pfsense.config_bytes())
    assert (settings["enable"], settings["host"], settings["port"], settings["interface"]) == (
        "enabled", "10.0.20.100", "32055", "lan,opt1"
    )
    assert len(pfsense.processes()) == 2

    status, output, left = run_provisioners(pfsense, tmp_path, upload_again, destroy, triggers)
    assert (status, left) == (0, False), output
    assert softflowd_settings(pfsense.config_bytes())["enable"] == "off"
    assert pfsense.processes() == {}


def test_a_failing_enable_fails_the_provisioner(resource, pfsense, tmp_path):
    """softflowd dies after starting: the script exits 1, and so must what Terraform runs."""
    r, triggers = resource
    upload, create = (list(p.values())[0] for p in r["provisioner"][:2])
    pfsense.fault("softflowd-dies")
    status, output, left = run_provisioners(pfsense, tmp_path, upload, create, triggers)
    assert status == 1, output
    assert "FAILED" in output
    assert not left  # removed even when the script failed


def test_bad_arguments_fail_the_provisioner_with_status_2(resource, pfsense, tmp_path):
    """An interface pfSense does not have: the script refuses (2) and Terraform sees 2."""
    r, triggers = resource
    upload, create = (list(p.values())[0] for p in r["provisioner"][:2])
    status, output, left = run_provisioners(pfsense, tmp_path, upload, create, {**triggers, "interfaces": "lan,opt7"})
    assert status == 2, output
    assert "opt7" in output and not left
