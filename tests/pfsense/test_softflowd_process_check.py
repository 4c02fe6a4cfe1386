"""The script's check of what runs (`ps`), against a STAND-IN for pfSense whose `ps` shows what
FreeBSD's shows (standin/bin/ps): the command line as given when it fits the kernel's 256-byte
argument cache, else softflowd's live argv, where softflowd has cut "-i N:device" to "-i N".

softflowd's command line grows with the settings: with maxflows, all seven timeouts and the GUI's
timestamp precision (-A) it no longer fits, and the device is then only in `-c
/var/run/softflowd.<device>.ctl`, which softflowd never changes.
"""

from __future__ import annotations

import subprocess

from tests.pfsense.standin_harness import PfSenseStandIn
from tests.pfsense.test_pfsense_softflowd_script import softflowd_settings

TIMEOUTS = [
    "--timeout-general", "3600", "--timeout-maxlife", "600", "--timeout-expint", "10", "--timeout-tcp", "3600",
    "--timeout-tcp-rst", "120", "--timeout-tcp-fin", "300", "--timeout-udp", "300",
]
LONG_ENABLE = [
    "enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan,opt1",
    "--maxflows", "8192", *TIMEOUTS,
]
# What Services > softflowd saves: Flow Timestamp Precision is a required select whose first
# option is "Seconds" (softflowd.xml), so a GUI-saved config has flowtimestamp=sec (-A sec).
GUI_SAVED = (
    b"\t\t<softflowd>\n\t\t\t<config>\n\t\t\t\t<enable>enabled</enable>\n\t\t\t\t<interface>lan</interface>\n"
    b"\t\t\t\t<host>192.168.1.50</host>\n\t\t\t\t<port>2055</port>\n\t\t\t\t<sample>0</sample>\n"
    b"\t\t\t\t<maxflows></maxflows>\n\t\t\t\t<hoplimit></hoplimit>\n\t\t\t\t<version>10</version>\n"
    b"\t\t\t\t<flowtracking>full</flowtracking>\n\t\t\t\t<flowtimestamp>sec</flowtimestamp>\n"
    b"\t\t\t</config>\n\t\t</softflowd>\n\t</installedpackages>"
)


def saved_in_the_gui(pfsense: PfSenseStandIn) -> None:
    xml = pfsense.config_bytes()
    assert b"\t</installedpackages>" in xml
    pfsense.config_path.write_bytes(xml.replace(b"\t</installedpackages>", GUI_SAVED, 1))


def ps_lines(pfsense: PfSenseStandIn) -> dict[int, str]:
    """pid -> command, as the stand-in's ps prints softflowd."""
    out = subprocess.run([str(pfsense.root / "bin" / "ps"), "-axww", "-o", "pid=", "-o", "command="],
                         capture_output=True, text=True, check=True).stdout
    lines = {}
    for line in out.splitlines():
        pid, _, command = line.strip().partition(" ")
        if command.split()[0].endswith("/softflowd"):
            lines[int(pid)] = command
    return lines


def real_command_line(argv: list[str], pfsense: PfSenseStandIn) -> str:
    return " ".join(a.replace(str(pfsense.root), "", 1) if a.startswith(str(pfsense.root)) else a for a in argv)


def service_calls(pfsense: PfSenseStandIn) -> list[str]:
    return [c for c in pfsense.calls() if c.startswith("service ")]


# ---------------------------------------------------------------------------- the stand-in's ps


def start_by_hand(pfsense: PfSenseStandIn, *args: str) -> int:
    before = set(pfsense.processes())
    subprocess.run([str(pfsense.root / "usr/local/bin/softflowd"), *args], check=True)
    (pid,) = set(pfsense.processes()) - before
    return pid


def padded_to(length: int) -> list[str]:
    """softflowd arguments whose real command line is exactly `length` characters."""
    args = ["-i", "1:vtnet1", "-n", "10.0.20.100:32055,10.0.20.101:2055", "-v", "9",
            "-p", "/var/run/softflowd.vtnet1.pid", "-c", "/var/run/softflowd.vtnet1.ctl", "-t", "maxlife="]
    fixed = len(" ".join(["/usr/local/bin/softflowd", *args]))
    assert length > fixed
    args[-1] += "1" * (length - fixed)
    return args


def test_standin_ps_shows_the_argv_as_given_up_to_243_characters_and_the_live_argv_beyond(pfsense: PfSenseStandIn):
    """GIVEN two softflowd processes of the STAND-IN whose real command lines are 243 and 244
    characters (244 and 245 bytes with NULs; the cache holds 256 - 12 bytes of header)
    WHEN the stand-in's ps lists them
    THEN the first shows as given, the second with -i cut at ':' and -n at ',' (softflowd's own
    strsep), -c and -p unchanged."""
    fits = start_by_hand(pfsense, *padded_to(243))
    too_long = start_by_hand(pfsense, *padded_to(244))
    procs = pfsense.processes()
    shown = ps_lines(pfsense)

    assert len(real_command_line(procs[fits], pfsense)) == 243
    assert shown[fits] == real_command_line(procs[fits], pfsense)
    assert len(real_command_line(procs[too_long], pfsense)) == 244
    live = shown[too_long].split()
    assert live[:5] == ["/usr/local/bin/softflowd", "-i", "1", "-n", "10.0.20.100:32055"], live
    assert live[live.index("-c") + 1] == "/var/run/softflowd.vtnet1.ctl"
    assert live[live.index("-p") + 1] == "/var/run/softflowd.vtnet1.pid"
    assert live[-1] == padded_to(244)[-1]


def test_package_command_line_with_maxflows_all_timeouts_and_gui_timestamp_does_not_fit(pfsense: PfSenseStandIn):
    """The STAND-IN package builds the line the real one does; with these settings it is 248
    characters, so FreeBSD's ps (and the stand-in's) shows softflowd's rewritten "-i 1"."""
    saved_in_the_gui(pfsense)
    run = pfsense.run(*LONG_ENABLE)
    assert run.returncode == 0, run.output

    commands = {c["device"]: c["argv"] for c in pfsense.package_commands()}
    assert commands["vtnet1"] == [
        "/usr/local/bin/softflowd", "-i", "1:vtnet1", "-n", "10.0.20.100:32055", "-m", "8192", "-v", "9",
        "-T", "full", "-A", "sec", "-t", "general=3600", "-t", "maxlife=600", "-t", "expint=10", "-t", "tcp=3600",
        "-t", "tcp.rst=120", "-t", "tcp.fin=300", "-t", "udp=300",
        "-p", "/var/run/softflowd.vtnet1.pid", "-c", "/var/run/softflowd.vtnet1.ctl",
    ]
    assert len(" ".join(commands["vtnet1"])) == 248
    assert sorted(line.split()[2] for line in ps_lines(pfsense).values()) == ["1", "2"]


# ---------------------------------------------------------------------------- the script's check


def test_long_command_lines_are_recognised_as_running_and_left_alone(pfsense: PfSenseStandIn):
    """GIVEN a STAND-IN for pfSense whose softflowd settings were saved in the GUI (timestamp
    precision "sec")
    WHEN the script enables export with maxflows and all seven timeouts, then runs again
    THEN the first run reports OK (ps shows "-i 1" and "-i 2": each device is read from its -c
    socket), and the second writes nothing and restarts nothing."""
    saved_in_the_gui(pfsense)

    first = pfsense.run(*LONG_ENABLE, "--wait", "2")

    assert first.returncode == 0, first.output
    assert "OK: one softflowd per interface (lan,opt1) exports NetFlow v9 to 10.0.20.100:32055" in first.stdout
    assert softflowd_settings(pfsense.config_bytes())["flowtimestamp"] == "sec"
    assert sorted(line.split()[2] for line in ps_lines(pfsense).values()) == ["1", "2"]
    procs, calls = pfsense.processes(), pfsense.calls()

    second = pfsense.run(*LONG_ENABLE, "--wait", "2")

    assert second.returncode == 0, second.output
    assert "nothing written" in second.stdout
    assert "does not run as wanted" not in second.stdout
    assert pfsense.processes() == procs
    assert service_calls(pfsense) == [c for c in calls if c.startswith("service ")]


def test_a_wrong_index_on_a_long_command_line_is_still_reported(pfsense: PfSenseStandIn):
    """GIVEN export enabled with a long command line, and then lan's softflowd replaced by one
    numbering lan as interface 2 with the same long options (ps shows "-i 2" and the vtnet1 socket)
    WHEN the script checks again
    THEN it names the wrong index and restarts softflowd through the package."""
    saved_in_the_gui(pfsense)
    assert pfsense.run(*LONG_ENABLE).returncode == 0
    lan = next(pid for pid, argv in pfsense.processes().items() if argv[2] == "1:vtnet1")
    argv = pfsense.processes()[lan]
    (pfsense.root / "_standin" / "proc" / str(lan)).unlink()
    impostor = start_by_hand(pfsense, *["2:vtnet1" if a == "1:vtnet1" else a for a in argv[1:]])
    assert ps_lines(pfsense)[impostor].split()[1:3] == ["-i", "2"]

    run = pfsense.run(*LONG_ENABLE)

    assert run.returncode == 0, run.output
    assert f"softflowd (pid {impostor}) on lan (vtnet1) reports interface index 2, expected 1" in run.stdout
    assert sorted(a[2] for a in pfsense.processes().values()) == ["1:vtnet1", "2:vtnet2"]


def test_a_wrong_collector_on_a_long_command_line_is_still_reported(pfsense: PfSenseStandIn):
    """GIVEN export enabled with a long command line, and then opt1's softflowd replaced by one
    sending elsewhere with the same long options
    WHEN the script checks again
    THEN it names the wrong collector for opt1 and restarts softflowd through the package."""
    saved_in_the_gui(pfsense)
    assert pfsense.run(*LONG_ENABLE).returncode == 0
    opt1 = next(pid for pid, argv in pfsense.processes().items() if argv[2] == "2:vtnet2")
    argv = pfsense.processes()[opt1]
    (pfsense.root / "_standin" / "proc" / str(opt1)).unlink()
    impostor = start_by_hand(pfsense, *["192.168.1.9:9995" if a == "10.0.20.100:32055" else a for a in argv[1:]])
    assert ps_lines(pfsense)[impostor].split()[1:3] == ["-i", "2"]

    run = pfsense.run(*LONG_ENABLE)

    assert run.returncode == 0, run.output
    assert f"softflowd (pid {impostor}) on opt1 (vtnet2) sends to 192.168.1.9:9995, expected 10.0.20.100:32055" in run.stdout
    assert "reports interface index" not in run.stdout
    assert sorted(a[4] for a in pfsense.processes().values()) == ["10.0.20.100:32055", "10.0.20.100:32055"]


def test_a_softflowd_on_an_unlisted_interface_is_reported_by_its_socket(pfsense: PfSenseStandIn):
    """GIVEN export enabled for lan only, and then an extra softflowd on wan (vtnet0) with a long
    command line, shown as "-i 1" like lan's
    WHEN the script checks again
    THEN it counts the wan one as running on an interface not listed, not as a second lan one."""
    saved_in_the_gui(pfsense)
    args = [a for a in LONG_ENABLE]
    args[args.index("lan,opt1")] = "lan"
    assert pfsense.run(*args).returncode == 0
    (argv,) = pfsense.processes().values()
    start_by_hand(pfsense, *[a.replace("vtnet1", "vtnet0") for a in argv[1:]])

    run = pfsense.run(*args)

    assert run.returncode == 0, run.output
    assert "1 softflowd instance(s) run on interfaces not listed in --interfaces" in run.stdout
    assert "instances run on lan" not in run.stdout
    assert [a[2] for a in pfsense.processes().values()] == ["1:vtnet1"]
