"""HTTP: `/metrics` (Prometheus text format) and `/healthz`, bounded whatever the clients do.

Anything in the cluster can reach port 9108, so the server holds no more than it chose to, and a
slow or idle client costs it a socket and a small buffer, never a thread:

- one thread (`serve_forever`) accepts connections and reads their requests without blocking
  (selectors). A request must arrive whole (its header ends with an empty line) within
  `request_timeout` of the connection's accept, in at most `max_request_bytes`; else the
  connection is closed (reason `timeout`, `too_large`);
- at most `max_connections` connections are open at once. One more arriving closes the oldest
  that still has not sent a whole request (reason `over_limit`): a client that sends its request at
  once (a scrape) always gets in, a flood of half-requests only pushes out its own kind;
- a whole request goes to a small pool of `workers` threads through a queue of `workers * 4`
  places; with the queue full the request is answered 503 at once (reason `busy`). A worker builds
  the response (a scrape: one call of `metrics()`) and writes it with `write_timeout`, then closes
  the connection (`Connection: close`: no idle keep-alive connection is ever held).

So the threads are 1 + `workers`; the connections open at most `max_connections` reading, plus
`workers * 4` queued and `workers` being answered; the memory a few KiB per open connection plus at
most `workers` responses being written. `stats()` gives the counts exported as netviz_flow_exporter_http_*.

Every GET /metrics calls `metrics()` once: the command passes a render of
Aggregator.scrape_snapshot, in which a new flow series shows 0 until the new-series window has
passed since it was created, then its real value (Prometheus' increase() cannot see an increase in a
series' first sample: flow_exporter/series.py). That depends on the time only, so any number of
scrapers (an HA pair of Prometheus servers, a curl) each see the 0 first.
"""

from __future__ import annotations

import logging
import queue
import selectors
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from .exposition import CONTENT_TYPE

log = logging.getLogger("flow_exporter.server")

# Why a connection was closed before it was answered; every reason is exported from the start.
CLOSE_REASONS = ("timeout", "too_large", "over_limit", "busy")
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Limits:
    max_connections: int = 256
    """Connections open at once; one more closes the oldest that has not sent a whole request."""
    request_timeout: float = 5.0
    """Seconds from accept for the whole request header to arrive."""
    write_timeout: float = 10.0
    """Seconds a worker waits for a client to take each part of its response."""
    workers: int = 2
    """Threads that answer whole requests (a scrape renders the metrics on one of them)."""
    max_request_bytes: int = 8192
    """Largest request header read; a longer one is refused."""
    backlog: int = 128
    """Connections the kernel queues before they are accepted."""


class _Connection:
    __slots__ = ("sock", "deadline", "buffer")

    def __init__(self, sock: socket.socket, deadline: float):
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""


class HttpServer:
    """`/metrics` answered by `metrics()`, `/healthz` by "ok". Call `serve_forever` on a thread of
    its own (it starts the workers), `shutdown` from another."""

    def __init__(self, host: str, port: int, metrics: Callable[[], bytes], limits: Limits = Limits(),
                 clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self._metrics = metrics
        self._clock = clock
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind((host, port))
            self._listener.listen(limits.backlog)
            self._listener.setblocking(False)
        except OSError:
            self._listener.close()
            raise
        self.server_address = self._listener.getsockname()
        self._selector = selectors.DefaultSelector()
        self._reading: dict[socket.socket, _Connection] = {}  # in accept order: oldest first
        self._jobs: queue.Queue = queue.Queue(maxsize=limits.workers * 4)
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._closed = dict.fromkeys(CLOSE_REASONS, 0)
        self._accepted = 0
        self._answered = 0
        self._busy = 0  # workers answering now
        self._workers: list[threading.Thread] = []

    # ---- what is exported ------------------------------------------------------------------------

    def stats(self) -> dict:
        """Connections open now (and of them: still reading their request, queued, being answered),
        connections accepted and answered, and closed unanswered by reason."""
        with self._lock:
            reading, queued, answering = len(self._reading), self._jobs.qsize(), self._busy
            return {"open": reading + queued + answering, "reading": reading, "queued": queued, "answering": answering,
                    "accepted": self._accepted, "answered": self._answered, "closed": dict(self._closed),
                    "max_connections": self.limits.max_connections}

    def _count(self, reason: str) -> None:
        with self._lock:
            self._closed[reason] += 1

    # ---- the accepting and reading thread -------------------------------------------------------

    def serve_forever(self) -> None:
        for i in range(self.limits.workers):
            worker = threading.Thread(target=self._work, name=f"http-worker-{i}", daemon=True)
            self._workers.append(worker)
            worker.start()
        self._selector.register(self._listener, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                timeout = 0.5
                if self._reading:
                    oldest = next(iter(self._reading.values()))
                    timeout = max(0.0, min(timeout, oldest.deadline - self._clock()))
                for key, _ in self._selector.select(timeout):
                    if key.fileobj is self._listener:
                        self._accept()
                    else:
                        self._read(key.fileobj)
                self._expire()
        finally:
            for sock in list(self._reading):
                self._drop(sock)
            self._selector.close()
            self._listener.close()
            for _ in self._workers:
                try:
                    self._jobs.put_nowait(None)
                except queue.Full:
                    break
            self._stopped.set()

    def shutdown(self) -> None:
        self._stop.set()
        self._stopped.wait(5)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # out of file descriptors, say: the rest wait in the backlog
                log.warning("cannot accept a connection: %s", e.strerror)
                return
            if len(self._reading) >= self.limits.max_connections:
                self._drop(next(iter(self._reading)), "over_limit")
            sock.setblocking(False)
            self._reading[sock] = _Connection(sock, self._clock() + self.limits.request_timeout)
            self._selector.register(sock, selectors.EVENT_READ)
            with self._lock:
                self._accepted += 1

    def _read(self, sock: socket.socket) -> None:
        connection = self._reading.get(sock)
        if connection is None:
            return
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._drop(sock)
            return
        connection.buffer += data
        end = connection.buffer.find(b"\r\n\r\n")
        if end < 0:
            end = connection.buffer.find(b"\n\n")
        if end < 0:
            if len(connection.buffer) > self.limits.max_request_bytes:
                self._drop(sock, "too_large")
            return
        if end > self.limits.max_request_bytes:
            self._drop(sock, "too_large")
            return
        request_line = connection.buffer.split(b"\n", 1)[0].strip()
        self._selector.unregister(sock)
        del self._reading[sock]
        try:
            self._jobs.put_nowait((sock, request_line))
        except queue.Full:
            self._reply_now(sock, 503, b"busy: try again\n")
            self._count("busy")

    def _expire(self) -> None:
        now = self._clock()
        while self._reading:
            sock, connection = next(iter(self._reading.items()))
            if connection.deadline > now:
                return  # deadlines grow with accept order: the rest are later
            self._drop(sock, "timeout")

    def _drop(self, sock: socket.socket, reason: Optional[str] = None) -> None:
        self._reading.pop(sock, None)
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        if reason:
            self._count(reason)  # before the close: whoever sees it closed sees it counted
        sock.close()

    @staticmethod
    def _reply_now(sock: socket.socket, code: int, body: bytes) -> None:
        """A short answer written without waiting (what does not fit the socket's buffer is lost)."""
        try:
            sock.send(_response(code, body, TEXT, head=False))
        except OSError:
            pass
        sock.close()

    # ---- the workers --------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                self._busy += 1
            try:
                self._answer(*job)
            finally:
                with self._lock:
                    self._busy -= 1

    def _answer(self, sock: socket.socket, request_line: bytes) -> None:
        parts = request_line.split()
        try:
            if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
                code, body, content_type, head = 400, b"bad request\n", TEXT, False
            else:
                method, target = parts[0], parts[1].split(b"?", 1)[0]
                head = method == b"HEAD"
                if method not in (b"GET", b"HEAD"):
                    code, body, content_type = 405, b"only GET and HEAD\n", TEXT
                elif target == b"/metrics":
                    code, body, content_type = 200, self._metrics(), CONTENT_TYPE
                elif target == b"/healthz":
                    code, body, content_type = 200, b"ok\n", TEXT
                else:
                    code, body, content_type = 404, b"not found: try /metrics or /healthz\n", TEXT
            sock.setblocking(True)
            sock.settimeout(self.limits.write_timeout)
            sock.sendall(_response(code, body, content_type, head))
            with self._lock:
                self._answered += 1
            log.debug("%s %s", request_line.decode("latin-1")[:80], code)
        except OSError as e:  # the client left or stopped reading: its loss
            log.debug("answer not delivered: %s", e)
        except Exception:  # a bug in metrics(): answer 500, keep serving
            log.exception("answering %r failed", request_line[:80])
            try:
                sock.sendall(_response(500, b"internal error\n", TEXT, False))
            except OSError:
                pass
        finally:
            sock.close()


def _response(code: int, body: bytes, content_type: str, head: bool) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error",
              503: "Service Unavailable"}[code]
    header = (f"HTTP/1.1 {code} {reason}\r\nServer: netviz-flow-exporter\r\nContent-Type: {content_type}\r\n"
              f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode("latin-1")
    return header if head else header + body


def make_server(host: str, port: int, metrics: Callable[[], bytes], limits: Limits = Limits()) -> HttpServer:
    """A server (not yet serving) whose /metrics body is `metrics()`, called once per request (each
    one a scrape). Port 0 picks a free port."""
    return HttpServer(host, port, metrics, limits)
