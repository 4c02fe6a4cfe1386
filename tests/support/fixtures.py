"""pytest fixtures over tests/support, for any test folder. Bring them in with, in a conftest.py:

    from tests.support.fixtures import *  # noqa: F401,F403

- `start_prometheus(config, **kwargs) -> PrometheusServer`: starts a real Prometheus (see
  prometheus.PrometheusServer for kwargs); every server started is stopped at test teardown.
- `serve_metrics(text="", path="/metrics") -> MetricsServer`: an HTTP target serving exposition
  text on a free loopback port; stopped at teardown.
- `flow_capture` (session scope): the `FlowCapture` of tests.support.netflow: real traffic between
  network-namespace hosts, its pcap, softflowd's NetFlow v9 decoded by the GoFlow2 stand-in into
  GoFlow2 JSON lines (`.goflow2_lines`, `.write_jsonl(path)`) and the truth computed from the pcap
  (`.truth`). Built once per session (it takes seconds).
"""

from __future__ import annotations

import pytest

from .http import MetricsServer
from .prometheus import PrometheusServer

__all__ = ["start_prometheus", "serve_metrics", "flow_capture"]


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
