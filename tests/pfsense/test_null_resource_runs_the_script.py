"""The platform stack's null_resource, as synthesized, drives the script on a STAND-IN for pfSense.

Terraform and SSH cannot run here: this test plays their part. It takes the provisioners from the
synthesized JSON, writes the uploaded content the way Terraform would (its `$${` escapes undone),
fills `${self.triggers.*}` from the resource's own triggers (the NodePort through the goflow2
stack's output), and runs the create-time command, then the destroy-time one, against the stand-in.
"""

from __future__ import annotations

import re
import shlex

import pytest

from tests.pfsense.standin_harness import SCRIPT
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


def script_args(command: str) -> list[str]:
    """`/bin/sh /tmp/netviz-pfsense-softflowd.sh ARGS...` -> ARGS (the stand-in runs the script)."""
    argv = shlex.split(command)
    assert argv[:2] == ["/bin/sh", REMOTE], argv
    return argv[2:]


def test_uploaded_content_is_the_script(resource):
    r, _ = resource
    for prov in (r["provisioner"][0], r["provisioner"][2]):
        content = prov["file"]["content"].replace("$${", "${").replace("%%{", "%{")
        assert content == SCRIPT.read_text()


def test_create_then_destroy_provisioners_enable_then_disable_export(resource, pfsense):
    r, triggers = resource
    create = r["provisioner"][1]["remote-exec"]["inline"][0]
    destroy = r["provisioner"][3]["remote-exec"]["inline"][0]

    run = pfsense.run(*script_args(fill(create, triggers)))
    assert run.returncode == 0, run.output
    settings = softflowd_settings(pfsense.config_bytes())
    assert (settings["enable"], settings["host"], settings["port"], settings["interface"]) == (
        "enabled", "10.0.20.100", "32055", "lan,opt1"
    )
    assert len(pfsense.processes()) == 2

    run = pfsense.run(*script_args(fill(destroy, triggers)))
    assert run.returncode == 0, run.output
    assert softflowd_settings(pfsense.config_bytes())["enable"] == "off"
    assert pfsense.processes() == {}
