"""Either side of the FIFO restarting recovers on its own: the exporter's reader against the real
GoFlow2 v2.2.6 writing to the FIFO itself, without the pod's wrapper (what the wrapper changes is
tests/e2e/test_collector_restarts.py). Real processes throughout; NetFlow from the real softflowd
(tests/support/flowgen.py). What GoFlow2's file transport does (FACTS, confirmed here): it opens its
path O_WRONLY, which on a FIFO blocks until a reader exists (before it even serves /__health); it
reopens it on SIGHUP; a write without a reader fails (EPIPE), is logged, and GoFlow2 goes on.
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.flow_exporter.helpers import STARTED, Exporter, wait_until, write_network_toml
from tests.support.flowgen import softflowd_stream
from tests.support.goflow2 import Goflow2, NetflowSender

class Collector(Goflow2):
    def cleanup(self) -> None:
        self.stop()


@pytest.fixture(autouse=True)
def no_process_left_behind():
    yield
    while STARTED:
        STARTED.pop().cleanup()


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    return softflowd_stream(tmp_path_factory.mktemp("stream"), 1500)


def read(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode()


RECORDS = "netviz_flow_exporter_records_total"
REOPENS = "netviz_flow_exporter_input_reopens_total"


def test_the_exporter_recovers_from_goflow2_and_exporter_restarts(tmp_path, stream):
    fifo = str(tmp_path / "goflow2.fifo")
    os.mkfifo(fifo)
    config = write_network_toml(tmp_path)
    log = str(tmp_path / "exporter.log")
    datagrams = iter(range(len(stream.datagrams)))

    def start_goflow2(wait=True) -> Collector:
        c = Collector(tmp_path / "goflow2.fifo")
        STARTED.append(c)
        return c.start(wait=wait)

    def send(collector: Collector, sender: NetflowSender, n: int) -> int:
        """The next n datagrams; the records in them."""
        idx = [next(datagrams) for _ in range(n)]
        sender.send("lan", [stream.datagrams[i] for i in idx], ("127.0.0.1", collector.netflow_port),
                    decoded=collector.decoded, base=collector.decoded())
        return sum(stream.records[i] for i in idx)

    # 1. GoFlow2 starts first: its open() of the FIFO waits for a reader, before it serves anything
    goflow2 = start_goflow2(wait=False)
    with pytest.raises(AssertionError, match="timed out"):
        wait_until("goflow2 to answer before any reader", goflow2.healthy, timeout=1.5)
    exporter = Exporter(config, fifo, log)
    goflow2.wait_healthy()
    sender = NetflowSender(["lan"])
    STARTED.append(type("S", (), {"cleanup": lambda self: sender.close()})())
    counted = send(goflow2, sender, 3)  # the first carries softflowd's templates
    exporter.wait_for(RECORDS, counted)

    # 2. GoFlow2 restarts: EOF, and the exporter waits for the next writer. The new GoFlow2 has no
    #    templates until softflowd sends them again: send on from there.
    goflow2.proc.kill()
    goflow2.proc.wait(timeout=10)
    wait_until("the exporter to see GoFlow2 go", lambda: "waiting for the next writer" in read(log))
    goflow2 = start_goflow2()
    skip = stream.next_template(3) - 3
    send(goflow2, sender, skip)  # template_not_found in the new GoFlow2
    counted += send(goflow2, sender, 3)
    exporter.wait_for(RECORDS, counted)
    assert exporter.metric(REOPENS) == 1

    # 3. SIGHUP: GoFlow2 closes and reopens its file. Whether the exporter sees an EOF in between
    #    depends on timing (GoFlow2 is back at once); either way nothing is lost.
    goflow2.proc.send_signal(signal.SIGHUP)
    wait_until("GoFlow2 to reopen", lambda: exporter.metric(REOPENS) >= 1 and goflow2.healthy())
    counted += send(goflow2, sender, 2)
    exporter.wait_for(RECORDS, counted)
    assert exporter.metric(REOPENS) in (1, 2)

    # 4. The exporter restarts (killed): without a reader GoFlow2's writes fail (EPIPE), it logs
    #    them and goes on; those records are lost. Its same descriptor works again once a reader
    #    is back.
    exporter.kill()
    send(goflow2, sender, 2)
    wait_until("GoFlow2 to log the failed writes", lambda: "broken pipe" in goflow2.log().lower())
    assert goflow2.proc.poll() is None
    exporter = Exporter(config, fifo, log)
    fresh = send(goflow2, sender, 2)
    exporter.wait_for(RECORDS, fresh)

    # never a crash: the exporter is still serving, and nothing went wrong in its log
    assert exporter.proc.poll() is None
    assert exporter.metric("netviz_flow_exporter_records_rejected_total") == 0
    # without the pod's -mapping GoFlow2 prints every field: each record is read, off the fast path
    assert exporter.metric("netviz_flow_exporter_records_fallback_total") == fresh
    exporter.proc.send_signal(signal.SIGTERM)
    assert exporter.proc.wait(timeout=10) == 0
    exporter.log.close()
    text = read(log)
    assert "Traceback" not in text, text
