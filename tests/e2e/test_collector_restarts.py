"""The goflow2 pod's containers restarting, with the real processes: the real GoFlow2 v2.2.6 through
the synthesized wrapper and flags, the real exporter from the ConfigMap, a real NetFlow v9 stream
from softflowd (tests/support/flowgen.py: 3000 flows, templates every 16 datagrams).

STAND-IN: the pod (tests/support/goflow2.py CollectorPod: processes in a network namespace sharing
a folder); a container restart is its process killed (SIGKILL) and its command run again, as the
kubelet does. Each restart happens several times; after each, the stream goes on, and every
record the collector can decode is counted. What is lost in flight, asserted exactly:
  * GoFlow2 restarting forgets softflowd's templates: the datagrams that arrive before softflowd
    next sends them (at most 15) cannot be decoded (GoFlow2 counts template_not_found) and their
    records are lost; from that datagram on, everything is counted. Records GoFlow2 wrote before it
    died are read by the exporter.
  * the exporter restarting loses its counts (a new process starts at 0; Prometheus reads that as a
    counter reset); records written while it was down wait in the FIFO, which the wrapper's
    descriptor keeps open, and are counted by the next exporter, even beyond what the pipe holds
    (GoFlow2 then waits to write; it keeps answering /__health).
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios

import pytest

from netviz_constructs.flow_collector import EXPORTER_METRICS_PORT_NAME
from tests.support.flowgen import softflowd_stream
from tests.support.goflow2 import CollectorPod, NetflowSender, http_get, metric_sum, pod_from_synth, wait_until

EXPORTER = "flow-exporter"
ROUNDS = 3


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    return softflowd_stream(tmp_path_factory.mktemp("stream"), 3000)


@pytest.fixture
def pod(tmp_path):
    from tests.synth import synth

    spec, files = pod_from_synth(synth(outdir=str(tmp_path / "synth")))
    with CollectorPod(spec, files) as p:
        yield p


class Feed:
    """softflowd's stream, sent on in order from one socket (its source port stays, as softflowd's)."""

    def __init__(self, pod: CollectorPod, stream):
        self.pod, self.stream, self.next = pod, stream, 0
        self.sender = NetflowSender(["lan"], source_ip=pod.network.node_ip)
        self.to = (pod.network.pod_ip, pod.netflow_port)
        self.finished_before = 0  # datagrams the running GoFlow2 finished before this batch

    def send(self, count: int, wait: bool = True) -> tuple[int, int]:
        """Send the next `count` datagrams (waiting for GoFlow2 to finish each); (first, stop)."""
        first, stop = self.next, self.next + count
        assert stop <= len(self.stream.datagrams), "the stream is too short for the test"
        base = self.pod.decoded()
        self.sender.send("lan", self.stream.datagrams[first:stop], self.to,
                         decoded=self.pod.decoded if wait else None, base=base)
        self.next = stop
        return first, stop

    def to_next_template(self) -> tuple[int, int]:
        """Send on up to, not including, the next datagram that carries the templates."""
        return self.send(self.stream.next_template(self.next + 1) - self.next)


def exporter_records(pod: CollectorPod) -> float:
    return metric_sum(pod.metrics(EXPORTER_METRICS_PORT_NAME), "netviz_flow_exporter_records_total")


def wait_records(pod: CollectorPod, want: int) -> None:
    wait_until(f"the exporter to have read {want} records", lambda: exporter_records(pod) == want, logs=pod.log_tail)


PIPE_BYTES = 65536  # Linux's default pipe capacity


def fifo_unread(pod: CollectorPod) -> int:
    """Bytes waiting in the pod's FIFO (FIONREAD on a read end opened without reading)."""
    fifo = next(a.split("=", 1)[1] for a in pod.collector_command() if a.startswith("-transport.file="))
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    finally:
        os.close(fd)


def template_errors(pod: CollectorPod) -> float:
    return metric_sum(pod.collector_metrics(), "goflow2_flow_process_nf_errors_total", error="template_not_found")


def test_each_container_restarts_several_times_and_every_decodable_record_is_counted(pod, stream):
    pod.init()
    pod.start_collector()
    pod.start_exporter()
    feed = Feed(pod, stream)
    counted = stream.records_in(*feed.send(5))  # the first datagram carries the templates
    wait_records(pod, counted)

    for _ in range(ROUNDS):
        # GoFlow2 restarts mid-stream (as it has just read a datagram that is no template's).
        assert feed.next not in stream.template_datagrams
        reopens_before = metric_sum(pod.metrics(EXPORTER_METRICS_PORT_NAME), "netviz_flow_exporter_input_reopens_total")
        pod.kill("goflow2")
        pod.start_collector()
        lost_from, lost_to = feed.to_next_template()  # no templates in the new GoFlow2 yet: lost
        assert lost_to > lost_from
        assert template_errors(pod) == lost_to - lost_from
        first, stop = feed.send(3)  # from the templates on: counted
        counted += stream.records_in(first, stop)
        wait_records(pod, counted)
        after = pod.metrics(EXPORTER_METRICS_PORT_NAME)
        assert metric_sum(after, "netviz_flow_exporter_input_reopens_total") == reopens_before + 1

        # The exporter restarts: a new process counts from zero, and counts what waited in the FIFO.
        pod.kill(EXPORTER)
        first, stop = feed.send(2)  # GoFlow2 writes into the pipe meanwhile, without error
        pod.start_exporter()
        counted = stream.records_in(first, stop)
        wait_records(pod, counted)
        first, stop = feed.send(2)
        counted += stream.records_in(first, stop)
        wait_records(pod, counted)

    exporter = pod.metrics(EXPORTER_METRICS_PORT_NAME)
    assert metric_sum(exporter, "netviz_flow_exporter_records_rejected_total") == 0
    assert metric_sum(exporter, "netviz_flow_exporter_records_fallback_total") == 0
    assert metric_sum(pod.collector_metrics(), "goflow2_flow_decoder_error_total") == template_errors(pod)
    assert pod.running("goflow2") and pod.running(EXPORTER)
    assert "Traceback" not in pod.log(EXPORTER), pod.log(EXPORTER)


def test_records_beyond_what_the_pipe_holds_wait_in_goflow2_while_the_exporter_is_down(pod, stream):
    pod.init()
    pod.start_collector()
    pod.start_exporter()
    feed = Feed(pod, stream)
    wait_records(pod, stream.records_in(*feed.send(1)))
    pod.kill(EXPORTER)
    # ~30 records per datagram, ~190 bytes per mapped line: 40 datagrams are ~220 KiB, over three
    # times the 64 KiB a pipe holds. GoFlow2 cannot finish them all, so they are sent at once.
    first, stop = feed.send(40, wait=False)
    wait_until("the FIFO to fill up", lambda: fifo_unread(pod) > PIPE_BYTES - 4096, logs=pod.log_tail)
    assert pod.decoded() < stop  # GoFlow2 waits to write into the full pipe ...
    assert http_get(pod.probe_url("goflow2", "liveness_probe"))[0] == 200  # ... and still alive
    pod.start_exporter()
    wait_records(pod, stream.records_in(first, stop))  # every one of them, once the exporter is back
    wait_until("GoFlow2 to finish every datagram", lambda: pod.decoded() == stop)
    exporter = pod.metrics(EXPORTER_METRICS_PORT_NAME)
    assert metric_sum(exporter, "netviz_flow_exporter_records_rejected_total") == 0  # glued lines are split
