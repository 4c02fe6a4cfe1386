"""A stand-in for GoFlow2's file transport (netsampler/goflow2 transport/file/transport.go), for tests.

GoFlow2 itself cannot be built here. This reproduces what matters to the reader on the other end:
* open: os.OpenFile(path, O_APPEND|O_CREATE|O_WRONLY, 0644); on a FIFO this blocks until a reader;
* send: one write per record, the record then the separator ("\\n");
* a failed write (EPIPE when no reader) is reported and the process keeps going;
* SIGHUP: close the file and open it again (blocking again on a FIFO).

Driven over stdin, one command per line, answering on stdout:
    send <record>   -> "ok" or "error <errno name>"
    (SIGHUP)        -> "opened" once the file is open again
    end of stdin    -> close and exit 0
It prints "opened" after each open.
"""

import errno
import os
import signal
import sys

path = sys.argv[1]
fd = None


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def open_file() -> None:
    global fd
    fd = os.open(path, os.O_APPEND | os.O_CREAT | os.O_WRONLY, 0o644)
    say("opened")


def on_sighup(_signum, _frame) -> None:
    os.close(fd)
    open_file()


signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # like Go for files that are not stdout: EPIPE, no death
signal.signal(signal.SIGHUP, on_sighup)
open_file()
for command in sys.stdin:
    verb, _, record = command.rstrip("\n").partition(" ")
    if verb == "send":
        try:
            os.write(fd, record.encode() + b"\n")
            say("ok")
        except OSError as e:
            say("error " + errno.errorcode.get(e.errno, str(e.errno)))
os.close(fd)
