"""softflowd on pfSense, configured over SSH by `scripts/pfsense_softflowd.sh`.

pfSense is not Terraform-managed, so a `null_resource` carries the job: it re-runs when the script,
the collector address, the NodePort or the interfaces change, and on destroy it turns the export off.
A destroy-time provisioner may only read `self`, so everything it needs (connection included) is
carried in the triggers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from cdktf import SSHProvisionerConnection, Token
from cdktf_cdktf_provider_null.provider import NullProvider
from cdktf_cdktf_provider_null.resource import Resource
from constructs import Construct

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "pfsense_softflowd.sh"
REMOTE_SCRIPT = "/tmp/netviz-pfsense-softflowd.sh"


@dataclass(frozen=True, kw_only=True)
class PfsenseSoftflowdProps:
    host: str
    """pfSense address SSH goes to."""
    ssh_user: str = "admin"
    ssh_port: int = 22
    ssh_host_key: str
    """pfSense's host public key: the connection refuses any other host."""
    ssh_private_key_file: str = ""
    """Private key path, read by Terraform at deploy time; empty uses ssh-agent."""
    collector_ip: str
    """Where softflowd sends NetFlow: a Kubernetes node's address."""
    collector_port: float
    """The collector's NodePort (a number token from the goflow2 stack)."""
    interfaces: Sequence[str]
    """pfSense interfaces softflowd watches (`lan`, `opt1`, ...)."""


def terraform_literal(text: str) -> str:
    """`text` as a Terraform string that means exactly `text` (no interpolation, no directives)."""
    return text.replace("${", "$${").replace("%{", "%%{")


def _t(name: str) -> str:
    return "${self.triggers." + name + "}"


class PfsenseSoftflowd(Construct):
    def __init__(self, scope: Construct, id: str, props: PfsenseSoftflowdProps):
        super().__init__(scope, id)
        NullProvider(self, "null")  # only this construct uses it
        script = SCRIPT.read_text()
        triggers = {
            "script_sha256": hashlib.sha256(script.encode()).hexdigest(),
            "collector_ip": props.collector_ip,
            "collector_port": Token.as_string(props.collector_port),
            "interfaces": ",".join(props.interfaces),
            "host": props.host,
            "ssh_user": props.ssh_user,
            "ssh_port": str(props.ssh_port),
            "ssh_host_key": props.ssh_host_key,
            "ssh_private_key_file": props.ssh_private_key_file,
        }
        use_key = bool(props.ssh_private_key_file)
        self.resource = Resource(
            self,
            "softflowd",
            triggers=triggers,
            connection=SSHProvisionerConnection(
                type="ssh",
                host=_t("host"),
                user=_t("ssh_user"),
                host_key=_t("ssh_host_key"),
                # The key file is read when Terraform connects; its content is never in the JSON.
                private_key=("${file(pathexpand(self.triggers.ssh_private_key_file))}" if use_key else None),
                agent="false" if use_key else "true",
                timeout="2m",
            ),
        )
        # Terraform reads `${` and `%{` in any string as its own templates: escape the shell's.
        # The typed connection takes the port as a number only; Terraform converts this string.
        self.resource.add_override("connection.port", _t("ssh_port"))
        upload = {"file": {"content": terraform_literal(script), "destination": REMOTE_SCRIPT}}
        enable = (
            f"/bin/sh {REMOTE_SCRIPT} enable --collector-ip {_t('collector_ip')} "
            f"--collector-port {_t('collector_port')} --interfaces {_t('interfaces')}"
        )
        # Provisioners are written as raw Terraform: cdktf 0.21's provisioner classes have no `when`,
        # and a plain dict there loses it silently (FACTS).
        self.resource.add_override(
            "provisioner",
            [
                upload,
                {"remote-exec": {"inline": [enable, f"rm -f {REMOTE_SCRIPT}"]}},
                {"file": {**upload["file"], "when": "destroy"}},
                {"remote-exec": {"when": "destroy", "inline": [f"/bin/sh {REMOTE_SCRIPT} disable", f"rm -f {REMOTE_SCRIPT}"]}},
            ],
        )
