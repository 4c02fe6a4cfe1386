"""Either side of the FIFO restarting recovers on its own (issue 3, item 7's proof for the reader).

Real processes: the exporter (`python -m flow_exporter --input FIFO`) and a writer that opens and
writes the FIFO the way GoFlow2's file transport does (goflow2_file_writer.py). Each side is
restarted in turn, and records written after every restart must show up in /metrics.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.flow_exporter.helpers import REPO, goflow2_line, parse_exposition, wait_until, write_network_toml
from tests.support.tools import free_port

WRITER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "goflow2_file_writer.py")


# Every process a test starts, so a failing test leaves none behind.
STARTED: list = []


class Exporter:
    def __init__(self, config: str, fifo: str, log_path: str):
        self.port = free_port()
        self.log = open(log_path, "ab")
        STARTED.append(self)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flow_exporter", "--config", config, "--input", fifo,
             "--listen", f"127.0.0.1:{self.port}"],
            cwd=REPO, stdout=self.log, stderr=self.log,
        )
        wait_until("the exporter's /healthz", lambda: self.get("/healthz") == b"ok\n")

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return r.read()

    def metric(self, name: str) -> float:
        samples = parse_exposition(self.get("/metrics"))
        return sum(v for (n, _), v in samples.items() if n == name)

    def wait_for(self, name: str, want: float) -> None:
        # Polls /metrics: a series new to this exporter shows 0 in the first scrape after its records
        # were read and `want` from the next (flow_exporter/series.py).
        wait_until(f"{name} == {want}", lambda: self.metric(name) == want)

    def kill(self) -> None:
        self.proc.kill()  # the harshest restart: no chance to clean up
        self.proc.wait(timeout=10)
        self.log.close()

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


class Writer:
    def __init__(self, fifo: str):
        STARTED.append(self)
        self.proc = subprocess.Popen([sys.executable, WRITER, fifo], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def expect(self, answer: str) -> None:
        line = self.proc.stdout.readline().strip()
        assert line == answer, f"writer said {line!r}, expected {answer!r}"

    def send(self, nbytes: int, count: int, answer: str = "ok") -> None:
        for _ in range(count):
            self.proc.stdin.write("send " + goflow2_line(bytes=nbytes, in_if=1).decode() + "\n")
            self.expect(answer)

    def hup(self) -> None:
        self.proc.send_signal(signal.SIGHUP)
        self.expect("opened")

    def stop(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(timeout=10) == 0
        self.proc.stdout.close()

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass  # its reader is gone: a broken pipe on flush


@pytest.fixture(autouse=True)
def no_process_left_behind():
    yield
    while STARTED:
        STARTED.pop().cleanup()


def read(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode()


BYTES = "netviz_flow_bytes_total"
REOPENS = "netviz_flow_exporter_input_reopens_total"


def test_the_exporter_recovers_from_writer_and_reader_restarts(tmp_path):
    fifo = str(tmp_path / "goflow2.fifo")
    os.mkfifo(fifo)
    config = write_network_toml(tmp_path)
    log = str(tmp_path / "exporter.log")

    # 1. the writer starts first and blocks in open() until the exporter opens the FIFO
    writer = Writer(fifo)
    exporter = Exporter(config, fifo, log)
    writer.expect("opened")
    writer.send(1, 3)
    exporter.wait_for(BYTES, 3)

    # 2. the writer restarts (GoFlow2's container restarting): EOF, the exporter waits for the next one
    writer.stop()
    wait_until("the exporter to see the writer go", lambda: "waiting for the next writer" in read(log))
    writer = Writer(fifo)
    writer.expect("opened")
    writer.send(10, 3)
    exporter.wait_for(BYTES, 33)
    assert exporter.metric(REOPENS) == 1

    # 3. the writer reopens on SIGHUP, as GoFlow2 does. Whether the exporter sees an EOF in between
    #    depends on timing (the writer is back at once); either way nothing is lost.
    writer.hup()
    writer.send(100, 3)
    exporter.wait_for(BYTES, 333)
    assert exporter.metric(REOPENS) in (1, 2)

    # 4. the exporter restarts (killed): the writer keeps running; what it writes meanwhile is lost
    #    (EPIPE, which GoFlow2 logs), and its same descriptor works again once a reader is back
    exporter.kill()
    writer.send(7, 2, answer="error EPIPE")
    exporter = Exporter(config, fifo, log)
    writer.send(1000, 3)
    exporter.wait_for(BYTES, 3000)
    assert exporter.metric("netviz_flow_exporter_records_total") == 3

    # 5. and the writer restarts again, under the new exporter
    seen = read(log).count("waiting for the next writer")
    writer.stop()
    wait_until("the exporter to see the writer go",
               lambda: read(log).count("waiting for the next writer") == seen + 1)
    writer = Writer(fifo)
    writer.expect("opened")
    writer.send(10000, 3)
    exporter.wait_for(BYTES, 33000)
    assert exporter.metric(REOPENS) == 1

    # never a crash: the exporter is still serving, and nothing went wrong in its log
    assert exporter.proc.poll() is None
    assert exporter.metric("netviz_flow_exporter_records_rejected_total") == 0
    writer.stop()
    exporter.proc.send_signal(signal.SIGTERM)
    assert exporter.proc.wait(timeout=10) == 0
    exporter.log.close()
    text = read(log)
    assert "Traceback" not in text, text
    assert text.count("waiting for the next writer") >= 2, text
