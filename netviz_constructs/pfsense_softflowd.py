"""softflowd on pfSense, configured over SSH by `scripts/pfsense_softflowd.sh`.

pfSense is not Terraform-managed, so a `null_resource` carries the job: it re-runs when the script,
the collector address, the NodePort or the interfaces change, and on destroy it turns the export off.
A destroy-time provisioner may only read `self`, so everything it needs (connection included) is
carried in the triggers.

Switching `pfsense.manage_softflowd` off must turn the export off too, but Terraform runs a
destroy-time provisioner only for a resource still in the configuration. So with management off,
`PfsenseSoftflowdRemoved` takes the resource's place: a Terraform `removed` block (Terraform >= 1.9)
for the same address whose destroy-time provisioners run `disable` with the connection kept in the
resource's state, on the next deploy, once. Where the resource was never created it does nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from constructs import Construct

from .cdk import Fn, Op, TerraformSelf, Token, provider
from .removed_block import RemovedBlock

# Provider bindings of the chosen CDK engine (netviz_constructs/cdk.py).
null_provider = provider("null", "provider")
null_resource = provider("null", "resource")

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "pfsense_softflowd.sh"
REMOTE_SCRIPT = "/tmp/netviz-pfsense-softflowd.sh"
RESOURCE_ID = "softflowd"
"""Construct id of the null_resource and of the `removed` block that replaces it: one address."""


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


def _trigger(name: str) -> str:
    """A token for `self.triggers.<name>`: what provisioners and the connection may read."""
    return TerraformSelf.get_string(f"triggers.{name}")


def _connection() -> dict:
    """SSH to pfSense, from the triggers alone: all that a destroy-time provisioner, or a `removed`
    block's, may read. Written as raw Terraform (an override): a plain dict given to the typed
    `connection` argument would lose `host_key` silently (FACTS)."""
    agent = _trigger("ssh_agent")
    return {
        "type": "ssh",
        "host": _trigger("host"),
        "port": _trigger("ssh_port"),
        "user": _trigger("ssh_user"),
        "host_key": _trigger("ssh_host_key"),
        "agent": agent,
        # The key file is read when Terraform connects; its content is never in the JSON.
        "private_key": Fn.conditional(
            Op.eq(agent, "true"), Token.null_value(), Fn.file(Fn.pathexpand(_trigger("ssh_private_key_file")))
        ),
        "timeout": "2m",
    }


def run_script(*args: str) -> str:
    """The one remote-exec line that runs the uploaded script and removes it.

    Terraform joins `inline` lines into one script run without errexit, so its status is its last
    command's: the script's status is kept and returned, or a failing `enable` would leave the deploy
    green."""
    return f"/bin/sh {REMOTE_SCRIPT} {' '.join(args)}; status=$?; rm -f {REMOTE_SCRIPT}; exit $status"


def _upload(**extra: Any) -> dict:
    return {"file": {"content": SCRIPT.read_text(), "destination": REMOTE_SCRIPT, **extra}}


def _disable_on_destroy() -> list[dict]:
    """Upload the script again and run `disable`: when the resource is destroyed or removed."""
    return [_upload(when="destroy"), {"remote-exec": {"when": "destroy", "inline": [run_script("disable")]}}]


class PfsenseSoftflowd(Construct):
    def __init__(self, scope: Construct, id: str, props: PfsenseSoftflowdProps):
        super().__init__(scope, id)
        null_provider.NullProvider(self, "null")  # only this construct uses it
        triggers = {
            "script_sha256": hashlib.sha256(SCRIPT.read_bytes()).hexdigest(),
            "collector_ip": props.collector_ip,
            "collector_port": Token.as_string(props.collector_port),
            "interfaces": ",".join(props.interfaces),
            "host": props.host,
            "ssh_user": props.ssh_user,
            "ssh_port": str(props.ssh_port),
            "ssh_host_key": props.ssh_host_key,
            "ssh_private_key_file": props.ssh_private_key_file,
            "ssh_agent": "false" if props.ssh_private_key_file else "true",
        }
        self.resource = null_resource.Resource(self, RESOURCE_ID, triggers=triggers)
        self.resource.add_override("connection", _connection())
        enable = run_script(
            "enable",
            "--collector-ip", _trigger("collector_ip"),
            "--collector-port", _trigger("collector_port"),
            "--interfaces", _trigger("interfaces"),
        )
        # Provisioners are written as raw Terraform: cdktf 0.21's provisioner classes have no `when`,
        # and a plain dict there loses it silently (FACTS).
        self.resource.add_override(
            "provisioner",
            [_upload(), {"remote-exec": {"inline": [enable]}}, *_disable_on_destroy()],
        )


class PfsenseSoftflowdRemoved(Construct):
    """What stands where `PfsenseSoftflowd` was when management is off: Terraform forgets the
    resource and, if it existed, first runs `disable` over the connection kept in its triggers."""

    def __init__(self, scope: Construct, id: str):
        super().__init__(scope, id)
        null_provider.NullProvider(self, "null")  # destroying a null_resource needs its provider
        RemovedBlock(
            self,
            RESOURCE_ID,
            resource_type="null_resource",
            body={
                "lifecycle": {"destroy": True},
                "connection": _connection(),
                "provisioner": _disable_on_destroy(),
            },
        )
