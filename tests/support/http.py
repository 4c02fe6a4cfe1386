"""A tiny HTTP server on a free loopback port serving a Prometheus exposition text for scraping.

    with MetricsServer("# TYPE x gauge\\nx 1\\n") as target:
        target.address   # "127.0.0.1:PORT", for static_configs or a simulated pod
        target.set_text("# TYPE x gauge\\nx 2\\n")

Serves `path` (default /metrics) on `host`:`port` (a free port by default) with the current text (or,
given a function, what it returns at each request: counters that grow), counts the requests it answered
(`scrapes`), and 404s anything else. Runs in a daemon thread; always shut down on exit.
"""

from __future__ import annotations

import http.server
import threading
from typing import Callable, Union


class MetricsServer:
    CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self, text: Union[str, Callable[[], str]] = "", path: str = "/metrics", host: str = "127.0.0.1",
                 port: int = 0):
        self._text = text
        self._lock = threading.Lock()
        self.path = path
        self.scrapes = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                if self.path.split("?", 1)[0] != outer.path:
                    self.send_error(404)
                    return
                with outer._lock:
                    body = (outer._text() if callable(outer._text) else outer._text).encode()
                    outer.scrapes += 1
                self.send_response(200)
                self.send_header("Content-Type", outer.CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"metrics-{self.port}", daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def set_text(self, text: str) -> None:
        with self._lock:
            self._text = text

    def start(self) -> "MetricsServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "MetricsServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
