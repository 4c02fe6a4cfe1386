"""The softflowd command line pfSense's package builds from what the script wrote, run with the REAL
softflowd (Debian's, same flags as FreeBSD's), reading a pcap instead of an interface.

The settings come from the script run against a STAND-IN for pfSense; the command lines from the
stand-in's builder, which mirrors the package's softflowd.inc (standin/_package/softflowd.inc).
softflowd 1.1.0 refuses `-i` together with `-r`, so `-i N:device` is replaced by `-r PCAP`; the -p
and -c paths move to a temporary folder; every other flag (-n, -m, -v, -T, -t ...) is kept as built.
With `-r` softflowd 1.1.0 waits in accept() on its control socket between reads, so the test pokes
it with `softflowctl statistics` until it reaches the end of the capture and exits, exporting all
flows (seen here: the first poke reads the packets, the next one ends it).
"""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from pathlib import Path

import netflow
import pytest

from tests.pfsense.pcapgen import Flow, sample_packets, write_pcap
from tests.pfsense.standin_harness import PfSenseStandIn
from tests.support.tools import require_tool


def run_from_pcap(argv: list[str], pcap: Path, workdir: Path, softflowd: str, softflowctl: str) -> subprocess.CompletedProcess:
    """Run the package's softflowd command line on `pcap` instead of its interface."""
    args = list(argv)
    assert args[0] == "/usr/local/bin/softflowd", args
    args[0] = softflowd
    i = args.index("-i")
    args[i:i + 2] = ["-r", str(pcap)]
    ctl = workdir / "softflowd.ctl"
    args[args.index("-p") + 1] = str(workdir / "softflowd.pid")
    args[args.index("-c") + 1] = str(ctl)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if ctl.exists():
                subprocess.run([softflowctl, "-c", str(ctl), "statistics"], capture_output=True, timeout=5)
            time.sleep(0.2)
        if proc.poll() is None:
            pytest.fail(f"softflowd did not finish reading {pcap} within 30 s: {args}")
        stdout, stderr = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def receive_all(sock: socket.socket, quiet: float = 1.0) -> list[bytes]:
    sock.settimeout(quiet)
    datagrams = []
    while True:
        try:
            datagrams.append(sock.recv(65535))
        except socket.timeout:
            return datagrams


def decode_v9(datagrams: list[bytes]) -> set[Flow]:
    templates: dict = {"netflow": {}, "ipfix": {}}
    flows = set()
    for d in datagrams:
        # parse_packet treats bytes that happen to be valid UTF-8 as hex text: hand it hex.
        packet = netflow.parse_packet(d.hex(), templates)
        assert packet.header.version == 9
        for f in packet.flows:
            r = f.data
            flows.add(Flow(r["IPV4_SRC_ADDR"], r["IPV4_DST_ADDR"], r["PROTOCOL"], r["L4_SRC_PORT"], r["L4_DST_PORT"]))
    return flows


def test_package_command_lines_run_the_real_softflowd_and_deliver_netflow_v9(pfsense: PfSenseStandIn, tmp_path: Path):
    """GIVEN the script enabled export on a STAND-IN for pfSense to 127.0.0.1:<a free UDP port> from
    lan and opt1, with every timeout and maxflows set
    WHEN each softflowd command line the package builds from that config.xml runs with the REAL
    softflowd, reading a pcap of TCP and UDP conversations
    THEN softflowd accepts every flag, exits cleanly at the end of the capture, and the UDP listener
    on the configured port receives NetFlow v9 datagrams (version field 9) carrying the pcap's flows."""
    softflowd = require_tool("softflowd")
    softflowctl = require_tool("softflowctl")
    frames, expected_flows = sample_packets()
    pcap = tmp_path / "traffic.pcap"
    write_pcap(str(pcap), frames)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        run = pfsense.run(
            "enable", "--collector-ip", "127.0.0.1", "--collector-port", str(port), "--interfaces", "lan,opt1",
            "--version", "9", "--tracking", "full", "--maxflows", "8192",
            "--timeout-general", "3600", "--timeout-maxlife", "600", "--timeout-expint", "10", "--timeout-tcp", "3600",
            "--timeout-tcp-rst", "120", "--timeout-tcp-fin", "300", "--timeout-udp", "300",
        )
        assert run.returncode == 0, run.output

        commands = pfsense.package_commands()
        assert [(c["interface"], c["device"]) for c in commands] == [("lan", "vtnet1"), ("opt1", "vtnet2")]
        # The same command lines the stand-in's package started (there under the stand-in root).
        started = sorted(pfsense.processes().values(), key=lambda a: a[2])
        assert [[a.replace(str(pfsense.root), "") for a in argv] for argv in started] == [c["argv"] for c in commands]
        assert commands[0]["argv"] == [
            "/usr/local/bin/softflowd", "-i", "1:vtnet1", "-n", f"127.0.0.1:{port}", "-m", "8192", "-v", "9",
            "-T", "full", "-t", "general=3600", "-t", "maxlife=600", "-t", "expint=10", "-t", "tcp=3600",
            "-t", "tcp.rst=120", "-t", "tcp.fin=300", "-t", "udp=300",
            "-p", "/var/run/softflowd.vtnet1.pid", "-c", "/var/run/softflowd.vtnet1.ctl",
        ]

        for command in commands:
            workdir = tmp_path / command["device"]
            workdir.mkdir()
            result = run_from_pcap(command["argv"], pcap, workdir, softflowd, softflowctl)
            assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"

            datagrams = receive_all(listener)

            assert datagrams, f"no NetFlow datagram reached 127.0.0.1:{port} from {result.args}"
            assert {struct.unpack("!H", d[:2])[0] for d in datagrams} == {9}
            assert decode_v9(datagrams) == set(expected_flows)
