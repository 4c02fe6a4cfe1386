"""The input reader on regular files (followed like tail -F) and on a path that appears late."""

from __future__ import annotations

import os
import threading

from flow_exporter import reader
from flow_exporter.reader import InputReader, LineSplitter
from tests.flow_exporter.helpers import wait_until


class Collected:
    def __init__(self):
        self.lines: list[bytes] = []
        self.reopens = 0

    def sink(self, lines):
        self.lines.extend(lines)

    def on_reopen(self):
        self.reopens += 1


def start(path: str, collected: Collected) -> threading.Event:
    stop = threading.Event()
    thread = threading.Thread(target=InputReader(str(path), collected.sink, collected.on_reopen, stop).run, daemon=True)
    thread.start()
    return stop


def test_a_regular_file_is_followed_and_read_again_when_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "FILE_POLL_SECONDS", 0.01)
    path = tmp_path / "flows.jsonl"
    path.write_bytes(b"a\nb\npart")
    got = Collected()
    stop = start(path, got)
    try:
        wait_until("the first lines", lambda: got.lines == [b"a", b"b"])
        with open(path, "ab") as f:  # the writer finishes the line and appends
            f.write(b"ial\nc\n")
        wait_until("appended lines", lambda: got.lines == [b"a", b"b", b"partial", b"c"])
        replacement = tmp_path / "new.jsonl"
        replacement.write_bytes(b"dddd\n")
        os.replace(replacement, path)  # rotated: a new file at the path
        wait_until("the replacement", lambda: got.lines[-1:] == [b"dddd"] and got.reopens == 1)
        with open(path, "wb") as f:  # truncated in place (seen because it is now shorter than what was read)
            f.write(b"e\n")
        wait_until("the truncated file read from the start", lambda: got.lines[-1:] == [b"e"] and got.reopens == 2)
    finally:
        stop.set()
    assert got.lines == [b"a", b"b", b"partial", b"c", b"dddd", b"e"]


def test_a_missing_input_is_waited_for(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "RETRY_SECONDS", 0.01)
    path = tmp_path / "later.fifo"
    got = Collected()
    stop = start(path, got)
    try:
        path.write_bytes(b"x\n")
        wait_until("the file once it exists", lambda: got.lines == [b"x"])
    finally:
        stop.set()


def test_an_unterminated_last_line_counts_when_the_writer_goes():
    splitter = LineSplitter(max_line=10)
    assert splitter.feed(b"one\ntw") == [b"one"]
    assert splitter.end() == [b"tw"]
    assert splitter.feed(b"x" * 25) == [b"x" * 11]  # over-long head handed on once
    assert splitter.feed(b"yyy\nz\n") == [b"z"]  # its tail dropped
    assert splitter.end() == []
