"""The exporter's HTTP server stays bounded whatever its clients do (flow_exporter/server.py).

Loopback only, bounded in count and time. The real exporter command is held by thousands of
connections that send half a request and wait (the "slowloris" pattern): its thread count does not
move, its open connections stay under flow_exporter.http_max_connections, its memory grows by a
few MiB, /healthz and /metrics are still answered within a second, and records are still counted.
The rest run the server in-process with small limits to show each rule on its own.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from flow_exporter.server import CLOSE_REASONS, HttpServer, Limits
from tests.flow_exporter.helpers import STARTED, Exporter, goflow2_line, parse_exposition, wait_until, write_network_toml

HALF_REQUEST = b"GET /metrics HTTP/1.1\r\nHost: exporter\r\n"  # no empty line: never finished
SLOW_CONNECTIONS = 5000


@pytest.fixture(autouse=True)
def no_process_left_behind():
    yield
    while STARTED:
        STARTED.pop().cleanup()


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def threads_and_rss(pid: int) -> tuple[int, float]:
    status = proc_status(pid)
    return int(status["Threads"]), int(status["VmRSS"].split()[0]) / 1024


def timed_get(port: int, path: str, timeout: float = 1.0) -> tuple[float, bytes]:
    start = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        body = r.read()
    return time.monotonic() - start, body


def records_counted(port: int) -> float:
    samples = parse_exposition(timed_get(port, "/metrics", timeout=5)[1])
    return sum(v for (n, _), v in samples.items() if n == "netviz_flow_exporter_records_total")


def open_half_requests(port: int, count: int) -> list[socket.socket]:
    held = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(HALF_REQUEST)
        held.append(s)
    return held


def test_thousands_of_slow_connections_cost_no_thread_and_scrapes_go_through(tmp_path):
    config = write_network_toml(tmp_path, '\n[flow_exporter]\nhttp_request_timeout = "30s"\n')
    flows = tmp_path / "flows.jsonl"
    flows.write_bytes(b"")
    exporter = Exporter(config, str(flows), str(tmp_path / "exporter.log"))
    threads_before, rss_before = threads_and_rss(exporter.proc.pid)

    start = time.monotonic()
    held = open_half_requests(exporter.port, SLOW_CONNECTIONS)
    opened_in = time.monotonic() - start
    try:
        latencies = []
        for i in range(10):  # scrapes and records while every slow connection is held
            with open(flows, "ab") as f:
                f.write(goflow2_line(bytes=1000 + i) + b"\n")
            for path in ("/healthz", "/metrics"):
                latencies.append(timed_get(exporter.port, path, timeout=1.0)[0])
            wait_until(f"record {i + 1} counted", lambda i=i: records_counted(exporter.port) == i + 1)
        threads_held, rss_held = threads_and_rss(exporter.proc.pid)
        samples = parse_exposition(timed_get(exporter.port, "/metrics")[1])
        open_fds = len(os.listdir(f"/proc/{exporter.proc.pid}/fd"))
    finally:
        for s in held:
            s.close()

    limit = 256  # flow_exporter.http_max_connections' default
    workers = Limits().workers
    assert threads_held == threads_before, f"{threads_before} threads before, {threads_held} with {SLOW_CONNECTIONS} held"
    # reading, at most the limit; queued and being answered (this scrape among them), at most 5 per worker
    assert samples[("netviz_flow_exporter_http_connections", frozenset())] <= limit + 5 * workers
    assert samples[("netviz_flow_exporter_http_connections_limit", frozenset())] == limit
    over = samples[("netviz_flow_exporter_http_connections_closed_total", frozenset({("reason", "over_limit")}))]
    assert over >= SLOW_CONNECTIONS - limit
    assert open_fds < limit + 64, f"{open_fds} file descriptors open"
    assert rss_held - rss_before < 16, f"RSS {rss_before:.1f} -> {rss_held:.1f} MiB"
    assert max(latencies) < 1.0
    assert opened_in < 30, f"{SLOW_CONNECTIONS} connections took {opened_in:.1f}s to open"


def serve(metrics=lambda: b"# metrics\n", **limits) -> HttpServer:
    server = HttpServer("127.0.0.1", 0, metrics, Limits(**limits))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def servers():
    started: list[HttpServer] = []

    def start(*args, **kwargs) -> HttpServer:
        started.append(serve(*args, **kwargs))
        return started[-1]

    yield start
    for server in started:
        server.shutdown()


def closed_by_server(sock: socket.socket, timeout: float) -> float:
    """Seconds until the server closes `sock` (recv returns b"": the event waited on)."""
    start = time.monotonic()
    sock.settimeout(timeout)
    while sock.recv(4096):
        pass
    return time.monotonic() - start


def test_a_request_that_never_ends_is_closed_after_the_request_timeout(servers):
    server = servers(request_timeout=1.0)
    with socket.create_connection(server.server_address[:2]) as s:
        s.sendall(HALF_REQUEST)
        waited = closed_by_server(s, timeout=10)
    assert 0.8 < waited < 5
    assert server.stats()["closed"]["timeout"] == 1


def test_a_request_header_over_the_limit_is_refused(servers):
    server = servers(max_request_bytes=1024)
    with socket.create_connection(server.server_address[:2]) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 2000)
        closed_by_server(s, timeout=5)
    assert server.stats()["closed"]["too_large"] == 1


def test_over_the_limit_the_oldest_unfinished_request_makes_room(servers):
    server = servers(max_connections=16, request_timeout=30)
    held = open_half_requests(server.server_address[1], 16)
    try:
        wait_until("16 connections reading", lambda: server.stats()["reading"] == 16)
        answer = timed_get(server.server_address[1], "/healthz")[1]
        assert answer == b"ok\n"
        assert closed_by_server(held[0], timeout=5) < 5  # the oldest went
        assert server.stats()["closed"]["over_limit"] == 1
    finally:
        for s in held:
            s.close()


def test_with_every_worker_busy_and_the_queue_full_a_request_is_answered_503_at_once(servers):
    release = threading.Event()
    server = servers(metrics=lambda: (release.wait(20), b"# done\n")[1], workers=1)
    port = server.server_address[1]
    results: list = []
    waiting = [threading.Thread(target=lambda: results.append(timed_get(port, "/metrics", timeout=30)[1]))
               for _ in range(1 + 4)]  # one being answered, four queued (workers x 4)
    waiting[0].start()
    wait_until("one request being answered", lambda: server.stats()["answering"] == 1)
    for t in waiting[1:]:
        t.start()
    wait_until("four queued",
               lambda: (server.stats()["answering"], server.stats()["queued"], server.stats()["reading"]) == (1, 4, 0))
    with pytest.raises(urllib.error.HTTPError) as busy:
        timed_get(port, "/metrics", timeout=2)
    assert busy.value.code == 503
    release.set()
    for t in waiting:
        t.join(15)
    assert results == [b"# done\n"] * 5
    assert server.stats()["closed"] == {**dict.fromkeys(CLOSE_REASONS, 0), "busy": 1}


@pytest.mark.parametrize("request_line, code", [(b"POST /metrics HTTP/1.1", 405), (b"GET /nope HTTP/1.1", 404),
                                                (b"NONSENSE", 400), (b"HEAD /healthz HTTP/1.1", 200)])
def test_what_is_not_a_scrape_is_answered_and_closed(servers, request_line, code):
    server = servers()
    with socket.create_connection(server.server_address[:2], timeout=5) as s:
        s.sendall(request_line + b"\r\n\r\n")
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    assert answer.startswith(f"HTTP/1.1 {code} ".encode())
    assert b"Connection: close" in answer
    if request_line.startswith(b"HEAD"):
        assert answer.endswith(b"\r\n\r\n")  # the header only
