"""pytest fixtures over tests/support, for any test folder. Bring them in with, in a conftest.py:

    from tests.support.fixtures import *  # noqa: F401,F403

- `start_prometheus(config, **kwargs) -> PrometheusServer`: starts a real Prometheus (see
  prometheus.PrometheusServer for kwargs); every server started is stopped at test teardown.
- `serve_metrics(text="", path="/metrics") -> MetricsServer`: an HTTP target serving exposition
  text on a free loopback port; stopped at teardown.
- `flow_capture` (session scope): the `FlowCapture` of tests.support.netflow: real traffic between
  network-namespace hosts, its pcap, softflowd's NetFlow v9 decoded by the real GoFlow2 into
  GoFlow2 JSON lines (`.goflow2_lines`, `.write_jsonl(path)`) and the truth computed from the pcap
  (`.truth`). Built once per session (it takes seconds).
- `pfsense_ssh` -> `sshd.PfSenseSsh`: a real OpenSSH server on a network-namespace host whose
  `admin` login shell is the STAND-IN for pfSense's console menu, over a fresh pfSense STAND-IN
  root (`.standin`), with a pinned host key (`.host_key`, `.known_hosts`) and a client key both as
  a file (`.private_key`) and in a real ssh-agent (`.agent_socket`). Clients (ssh, scp, terraform)
  run on the lab's deployer host: `.run([...])`, `.ssh("...")`, `.scp_to(...)`. Torn down after
  the test (sshd, agent, namespaces, files), also when it fails.
- `synthesized` (session scope): the whole app synthesized once with the shipped network.toml.
"""

from __future__ import annotations

import pytest

from .http import MetricsServer
from .prometheus import PrometheusServer

__all__ = ["start_prometheus", "serve_metrics", "flow_capture", "pfsense_ssh", "synthesized"]


@pytest.fixture
def start_prometheus():
    servers: list[PrometheusServer] = []

    def start(config, **kwargs) -> PrometheusServer:
        server = PrometheusServer(config, **kwargs)
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def serve_metrics():
    servers: list[MetricsServer] = []

    def serve(text: str = "", path: str = "/metrics") -> MetricsServer:
        server = MetricsServer(text, path=path)
        servers.append(server)
        return server.start()

    try:
        yield serve
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="session")
def flow_capture(tmp_path_factory):
    from .netflow import build_flow_capture

    return build_flow_capture(tmp_path_factory.mktemp("flow-capture"))


@pytest.fixture
def pfsense_ssh(tmp_path):
    from .sshd import PfSenseSsh

    server = PfSenseSsh(tmp_path / "ssh-client")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory):
    """The app synthesized once with the shipped network.toml (tests/synth.py)."""
    from tests.synth import synth

    return synth(outdir=str(tmp_path_factory.mktemp("synth")))
