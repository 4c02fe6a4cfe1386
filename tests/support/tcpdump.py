"""A real tcpdump writing one interface's packets to a pcap, stopped only once the pcap holds every
packet its filter received.

Why: tcpdump's libpcap (1.10, TPACKET_V3) gets packets from the kernel in ring blocks. A block
is handed over when it fills or when its timer (tcpdump's 1 s timeout) retires it. Until then
the kernel has already counted the packets as "received by filter", but tcpdump has not seen
them. SIGINT ends tcpdump's loop straight away, so the packets of an unretired block are lost:
"273 packets received by filter, 255 written" in one log after a fixed 0.3 s pause on a busy
machine. `-U` does not help here: it flushes what tcpdump has seen, not what the kernel holds.

So `Tcpdump.wait_written()` asks tcpdump for its own counters (SIGUSR1 on Linux, which has no
SIGINFO: tcpdump prints "N packets captured, M packets received by filter, K packets dropped by
kernel" to stderr) until N == M and the pcap holds N complete records, with a deadline.
`Tcpdump.stop()` then sends SIGINT and checks the final counters against the file again.
Either failing raises `CaptureIncomplete` naming the interface and both numbers.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from .errors import FlowCaptureError
from .pcap import count_records

# Non-verbose SIGUSR1 line: "tcpdump: 3 packets captured, 5 packets received by filter, 0 packets
# dropped by kernel"; on exit the same three, one per line.
_COUNTERS = re.compile(
    r"(\d+) packets? captured[,\s]+(\d+) packets? received by filter[,\s]+(\d+) packets? dropped by kernel"
)
POLL = 0.02  # how often the log is read while waiting for tcpdump's answer
# Between two counter requests while the pcap is short: the wait ends with libpcap's 1 s block
# timer, so asking more often only fills the log with identical lines.
ASK_AGAIN = 0.1


class CaptureIncomplete(FlowCaptureError):
    """A capture does not hold every packet tcpdump's filter received, or tcpdump did not say."""


@dataclass(frozen=True)
class Counters:
    captured: int  # packets tcpdump handed to its writer (with -U: written and flushed)
    received: int  # packets the kernel passed through the filter into tcpdump's ring buffer
    dropped: int  # packets the kernel had no room for in that buffer


def parse_counters(log: str) -> list[Counters]:
    """Every counters report in a tcpdump stderr log, in order."""
    return [Counters(*map(int, m.groups())) for m in _COUNTERS.finditer(log)]


class Tcpdump:
    """`tcpdump -i INTERFACE -n -U -s SNAPLEN -Z root -w PCAP FILTER` inside lab host `where`
    (tests/support/netns.py), its stderr in `log`. Use start(), then wait_written(), then stop()."""

    def __init__(self, lab, where: str, interface: str, pcap: Path, log: Path, tcpdump: str,
                 name: Optional[str] = None, snaplen: int = 256, filter: Sequence[str] = ("ip",)):
        self.lab, self.where, self.interface = lab, where, interface
        self.pcap, self.log = Path(pcap), Path(log)
        self.name = name or interface
        self.args = [tcpdump, "-i", interface, "-n", "-U", "-s", str(snaplen), "-Z", "root", "-w", str(self.pcap), *filter]
        self.proc: Optional[subprocess.Popen] = None

    def __str__(self) -> str:
        return f"tcpdump on {self.name} (interface {self.interface} of {self.where})"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def start(self, timeout: float = 10) -> "Tcpdump":
        # O_APPEND: tcpdump writes at the end whatever this process does with its own file
        # offset (a shared "w+" handle that the reader seeks would let tcpdump overwrite its log).
        with open(self.log, "ab") as err:
            self.proc = self.lab.start(self.where, self.args, stdout=subprocess.DEVNULL, stderr=err)
        self._wait(lambda log: "listening on" in log, timeout, "to say 'listening on'")
        return self

    def _wait(self, done, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            log = self.log_text()
            if done(log):
                return log
            if self.proc.poll() is not None:
                raise CaptureIncomplete(f"{self} exited {self.proc.returncode} while waiting for it {what}:\n{log}")
            if time.monotonic() > deadline:
                raise CaptureIncomplete(f"{self}: waited {timeout:g}s for it {what}:\n{log}")
            time.sleep(POLL)

    def counters(self, timeout: float = 10) -> Counters:
        """tcpdump's counters now: SIGUSR1, then its answer in the log."""
        before = len(parse_counters(self.log_text()))
        self.proc.send_signal(signal.SIGUSR1)
        log = self._wait(lambda log: len(parse_counters(log)) > before, timeout, "to answer SIGUSR1 with its counters")
        return parse_counters(log)[-1]

    def wait_written(self, deadline: float) -> Counters:
        """Wait (until time.monotonic() `deadline`) for the pcap to hold every packet the filter
        received: tcpdump's captured == received, none dropped, and as many complete records in
        the file. Call it once the traffic is over; raise CaptureIncomplete when it does not come."""
        while True:
            c = self.counters(timeout=max(1.0, deadline - time.monotonic()))
            in_file = count_records(str(self.pcap), partial_tail_ok=True)
            if c.dropped:
                raise CaptureIncomplete(self._mismatch(c, in_file, "the kernel dropped packets"))
            if c.captured == c.received == in_file:
                return c
            if time.monotonic() > deadline:
                raise CaptureIncomplete(self._mismatch(c, in_file, "still incomplete at the deadline"))
            time.sleep(ASK_AGAIN)

    def stop(self, timeout: float = 10) -> Counters:
        """SIGINT, then check tcpdump's final counters against the pcap it closed."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CaptureIncomplete(f"{self} did not exit within {timeout:g}s of SIGINT:\n{self.log_text()}") from None
        reports = parse_counters(self.log_text())
        if self.proc.returncode != 0 or not reports:
            raise CaptureIncomplete(f"{self} exited {self.proc.returncode} without its final counters:\n{self.log_text()}")
        final, in_file = reports[-1], count_records(str(self.pcap))
        if final.dropped or not (final.captured == final.received == in_file):
            raise CaptureIncomplete(self._mismatch(final, in_file, "stopped with an incomplete capture"))
        return final

    def _mismatch(self, c: Counters, in_file: int, why: str) -> str:
        return (f"{self}: {why}: {c.received} packets received by its filter, {c.captured} written, "
                f"{in_file} complete records in {self.pcap}, {c.dropped} dropped by the kernel\n"
                f"--- its log\n{self.log_text()}")
