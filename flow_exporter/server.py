"""HTTP: `/metrics` (Prometheus text format) and `/healthz`. Standard library, one thread per request.

Every GET /metrics calls `metrics()` once: the command passes a render of
Aggregator.scrape_snapshot, in which a new flow series shows 0 until the new-series window has
passed since it was created, then its real value (Prometheus' increase() cannot see an increase in a
series' first sample: flow_exporter/series.py). That depends on the time only, so any number of
scrapers (an HA pair of Prometheus servers, a curl) each see the 0 first. Each request is logged at
debug level (--log-level debug: one line per scrape).
"""

from __future__ import annotations

import logging
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from .exposition import CONTENT_TYPE

log = logging.getLogger("flow_exporter.server")


def make_server(host: str, port: int, metrics: Callable[[], bytes]) -> ThreadingHTTPServer:
    """A server (not yet serving) whose /metrics body is `metrics()`, called once per request (each
    one a scrape). Port 0 picks a free port."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "netviz-flow-exporter"

        def do_GET(self):  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, metrics(), CONTENT_TYPE)
            elif path == "/healthz":
                self._send(200, b"ok\n", "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found: try /metrics or /healthz\n", "text/plain; charset=utf-8")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002
            # One line per scrape every 30 s is noise at info level.
            log.debug("%s %s", self.address_string(), format % args)

    server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
    server = server_class((host, port), Handler)
    server.daemon_threads = True  # a stuck scrape never keeps the process from exiting
    return server


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6
