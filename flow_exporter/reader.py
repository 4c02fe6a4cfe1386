"""Input: bytes from stdin, a FIFO or a regular file, cut into bounded lines.

GoFlow2's file transport (transport/file) opens its path with O_APPEND|O_CREATE|O_WRONLY and keeps
that descriptor until SIGHUP. In the pod both sides share a FIFO, so:

* the collector restarts: its end closes, we read EOF. We open the FIFO again, which blocks until
  the next writer opens it, then carry on. Nothing is lost that was written.
* the exporter restarts: while no reader exists the collector's writes fail (EPIPE, logged by it,
  it keeps running: utils/pipe.go) and those records are lost. When we open the FIFO again its
  existing descriptor works again: a FIFO only needs *a* reader at write time.
* stdin: EOF means the producer is gone for good; we stop reading but keep serving /metrics.
* a regular file is followed like `tail -F`: read to the end, poll, and start again from the top if
  it was replaced (another inode at the path) or truncated (now shorter than what was read).

A partial line is never buffered beyond MAX_LINE_BYTES: an over-long line that spans reads is handed
on as its first MAX_LINE_BYTES + 1 bytes and the rest is dropped; one that arrived within a single
read (at most CHUNK_BYTES) is handed on whole. Either way the parser rejects it as `line_too_long`.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import threading
import time
from typing import Callable

from .record import MAX_LINE_BYTES

log = logging.getLogger("flow_exporter.reader")

CHUNK_BYTES = 65536  # one read; a pipe holds 64 KiB by default
FILE_POLL_SECONDS = 0.2
RETRY_SECONDS = 1.0


class LineSplitter:
    """Bytes in, complete lines out (without the newline). Memory stays below one read plus max_line:
    a line over max_line that spans reads comes out cut to max_line + 1 bytes, still over the limit."""

    def __init__(self, max_line: int = MAX_LINE_BYTES):
        self._max = max_line
        self._partial = b""
        self._discarding = False  # inside an over-long line whose head was already handed on

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self._partial + chunk if self._partial else chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if self._discarding and lines:
            lines.pop(0)  # the tail of the over-long line
            self._discarding = False
        if len(self._partial) > self._max:
            if not self._discarding:
                lines.append(self._partial[: self._max + 1])
                self._discarding = True
            self._partial = b""
        return lines

    def end(self) -> list[bytes]:
        """The writer is gone: hand on an unterminated last line (it may be a whole record), and start
        clean for the next writer."""
        rest, self._partial = self._partial, b""
        discarding, self._discarding = self._discarding, False
        return [rest] if rest and not discarding else []


class InputReader:
    """Reads `path` ("-" for stdin) forever, calling `sink(lines)` per read and `on_reopen()` each
    time the input is opened again. Never raises for I/O trouble: it logs and retries."""

    def __init__(self, path: str, sink: Callable[[list], None], on_reopen: Callable[[], None] = lambda: None,
                 stop: threading.Event | None = None, max_line: int = MAX_LINE_BYTES):
        self.path = path
        self._sink = sink
        self._on_reopen = on_reopen
        self._stop = stop or threading.Event()
        self._max_line = max_line
        self._last_error = None  # logged once, not once a second

    def run(self) -> None:
        if self.path == "-":
            self._pump(sys.stdin.buffer.fileno(), follow_file=False)
            log.warning("stdin closed: no more records will be read; still serving /metrics")
            return
        opened_before = warned_regular = False
        while not self._stop.is_set():
            fd = self._open()
            if fd is None:
                continue
            if opened_before:
                self._on_reopen()
            opened_before = True
            try:
                is_fifo = stat.S_ISFIFO(os.fstat(fd).st_mode)
                if not is_fifo and not warned_regular:
                    # GoFlow2 opens with O_CREATE: if the FIFO was missing when it started, it made a
                    # regular file that nobody truncates. Works, but say so.
                    log.warning("input %s is a regular file, not a FIFO: following it like tail -F "
                                "(if GoFlow2 created it, it grows until removed)", self.path)
                    warned_regular = True
                self._pump(fd, follow_file=not is_fifo)
                if is_fifo:
                    log.info("writer closed %s; waiting for the next writer", self.path)
            except OSError as e:
                log.error("reading %s: %s; opening it again", self.path, e)
                time.sleep(RETRY_SECONDS)
            finally:
                os.close(fd)

    def _open(self):
        try:
            # On a FIFO this blocks until a writer opens it, which is exactly the wait we want.
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as e:
            if e.strerror != self._last_error:
                log.error("cannot open input %s: %s; retrying every %ss", self.path, e.strerror, RETRY_SECONDS)
                self._last_error = e.strerror
            self._stop.wait(RETRY_SECONDS)
            return None
        if self._last_error is not None:
            log.info("opened input %s", self.path)
            self._last_error = None
        return fd

    def _pump(self, fd: int, follow_file: bool) -> None:
        """Read until EOF (FIFO, stdin) or until the followed file is replaced or truncated."""
        splitter = LineSplitter(self._max_line)
        position = 0
        while not self._stop.is_set():
            chunk = os.read(fd, CHUNK_BYTES)
            if chunk:
                position += len(chunk)
                lines = splitter.feed(chunk)
                if lines:
                    self._sink(lines)
                continue
            if not follow_file:
                tail = splitter.end()
                if tail:
                    self._sink(tail)
                return
            if self._replaced(fd, position):
                log.info("%s was replaced or truncated; reading it from the start", self.path)
                return
            self._stop.wait(FILE_POLL_SECONDS)

    def _replaced(self, fd: int, position: int) -> bool:
        try:
            now = os.stat(self.path)
        except OSError:
            return False  # gone for a moment (rotation): keep the old one until a new one appears
        before = os.fstat(fd)
        return (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino) or now.st_size < position
