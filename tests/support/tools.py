"""Finding the real tools the tests run, and failing clearly when one is missing."""

from __future__ import annotations

import os
import shutil
import socket

import pytest

# The Debian package each tool comes from, so the failure says how to get it.
APT_PACKAGES = {
    "softflowd": "softflowd",
    "softflowctl": "softflowd",
    "tcpdump": "tcpdump",
    "ip": "iproute2",
    "unshare": "util-linux",
    "php": "php-cli",
    "sshd": "openssh-server",
    "ssh": "openssh-client",
    "scp": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ssh-agent": "openssh-client",
    "ssh-add": "openssh-client",
    "dnsmasq": "dnsmasq-base",
    "openssl": "openssl",
}



class ToolMissing(RuntimeError):
    """A tool a test needs is not installed (the test fails; it is never skipped)."""


def require_tool(name: str) -> str:
    """The absolute path of executable `name`, or fail the running test naming the tool.

    Looks on PATH and in the sbin folders (softflowd lives in /usr/sbin, which a non-login
    shell may not have on PATH); GoFlow2, prometheus, promtool and helm only as the pinned builds
    from their Go modules in .tools/<name>-<version>/ (go_tools.py), never another version that
    happens to be on PATH (Debian's Prometheus is 2.42, the chart deploys 3.x)."""
    from . import go_tools

    if name in go_tools.BINARY_TOOLS:
        built, tool = go_tools.binary(name)
        if built is None:
            pytest.fail(
                f"required tool {name!r} ({tool.module}@{tool.version}) is not built in {tool.directory}: "
                f"run {go_tools.build_command()}",
                pytrace=False,
            )
        return str(built)
    path = shutil.which(name) or shutil.which(name, path="/usr/local/sbin:/usr/sbin:/sbin")
    how = f"apt-get install -y {APT_PACKAGES.get(name, name)}"
    if path is None:
        pytest.fail(f"required tool {name!r} is not installed (install it with: {how})", pytrace=False)
    return path


def require_root(purpose: str) -> None:
    """Fail (not skip) when not root: network namespaces and packet capture need it."""
    if os.geteuid() != 0:
        pytest.fail(f"{purpose} needs root (network namespaces, veth, tcpdump); run the tests as root", pytrace=False)


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port the kernel considers free right now on `host` (TCP by default).

    There is a window between this and the caller binding it; callers that start a server retry
    on "address already in use"."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]

