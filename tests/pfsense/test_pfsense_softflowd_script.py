"""scripts/pfsense_softflowd.sh, run end to end against a STAND-IN for pfSense (see conftest.py and
standin/README.md): the real PHP CLI over a real config.xml, stand-in package tools and processes.

What these tests can tell: the script's argument checks, the PHP it runs against pfSense's config
API (config_get_path/config_set_path/write_config, or the $config array of pfSense < 2.7), what it
writes, that a second run writes nothing, its checks of what runs, and disable. What they cannot:
that real pfSense's functions behave exactly as the stand-in's (see the README's assumptions).
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET

import pytest

from tests.support.tools import require_tool

from tests.pfsense.standin_harness import SCRIPT, PfSenseStandIn, require_posix_shell

ENABLE = [
    "enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan,opt1",
    "--timeout-maxlife", "60", "--timeout-expint", "10",
]


def softflowd_settings(config: bytes) -> dict[str, str]:
    root = ET.fromstring(config)
    entries = root.findall("./installedpackages/softflowd/config")
    assert len(entries) == 1, f"expected one installedpackages/softflowd/config entry, found {len(entries)}"
    return {child.tag: (child.text or "") for child in entries[0]}


def without(config: bytes, *paths: str) -> str:
    """The config as canonical XML with the elements at `paths` removed: what must not change."""
    root = ET.fromstring(config)
    for path in paths:
        parent_path, _, tag = path.rpartition("/")
        parent = root.find(parent_path) if parent_path else root
        if parent is not None:
            for el in parent.findall(tag):
                parent.remove(el)
    for el in root.iter():  # the stand-in writes CDATA-free text; compare values, not quoting
        if el.text is not None and not el.text.strip():
            el.text = None
        el.tail = None
    return ET.tostring(root, encoding="unicode")


def revision_description(config: bytes) -> str:
    return ET.fromstring(config).findtext("./revision/description") or ""


# ---------------------------------------------------------------------------- lint


def test_script_is_shellcheck_clean_posix_sh():
    shellcheck = require_tool("shellcheck")
    standin_tools = [p for p in (SCRIPT.parent.parent / "tests" / "pfsense" / "standin").rglob("*")
                     if p.is_file() and p.read_bytes().startswith(b"#!/bin/sh")]
    p = subprocess.run([shellcheck, "-s", "sh", str(SCRIPT), *map(str, standin_tools)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_script_parses_in_a_posix_shell_and_declares_sh():
    assert SCRIPT.read_text().startswith("#!/bin/sh\n")
    p = subprocess.run([require_posix_shell(), "-n", str(SCRIPT)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


# ---------------------------------------------------------------------------- enable


def test_enable_installs_the_package_writes_the_settings_and_starts_one_softflowd_per_interface(pfsense: PfSenseStandIn):
    """GIVEN a STAND-IN for pfSense without the softflowd package
    WHEN the script enables export to 10.0.20.100:32055 from lan and opt1
    THEN it installs the package, writes exactly the package settings through write_config with a
    netviz description, leaves the rest of config.xml as it was, and one softflowd per interface runs."""
    before = pfsense.config_bytes()

    run = pfsense.run(*ENABLE)

    assert run.returncode == 0, run.output
    assert pfsense.installs() == ["pfSense-upgrade -y -i pfSense-pkg-softflowd"]
    assert "pfSsh.php playback installpkg softflowd" in pfsense.calls()
    after = pfsense.config_bytes()
    assert softflowd_settings(after) == {
        "enable": "enabled",
        "interface": "lan,opt1",
        "host": "10.0.20.100",
        "port": "32055",
        "version": "9",
        "flowtracking": "full",
        "timeout-maxlife": "60",
        "timeout-expint": "10",
    }
    assert without(after, "installedpackages/softflowd", "revision") == without(before, "revision")
    assert revision_description(after) == (
        "(system): netviz: softflowd exports NetFlow v9 to 10.0.20.100:32055 from lan,opt1 (pfsense_softflowd.sh enable)"
    )
    assert pfsense.history() == ["config-1700000000.xml"]
    assert (pfsense.root / "cf/conf/backup/config-1700000000.xml").read_bytes() == before

    argvs = sorted(pfsense.processes().values(), key=lambda a: a[2])
    root = str(pfsense.root)
    assert argvs == [
        [f"{root}/usr/local/bin/softflowd", "-i", "1:vtnet1", "-n", "10.0.20.100:32055", "-v", "9", "-T", "full",
         "-t", "maxlife=60", "-t", "expint=10",
         "-p", f"{root}/var/run/softflowd.vtnet1.pid", "-c", f"{root}/var/run/softflowd.vtnet1.ctl"],
        [f"{root}/usr/local/bin/softflowd", "-i", "2:vtnet2", "-n", "10.0.20.100:32055", "-v", "9", "-T", "full",
         "-t", "maxlife=60", "-t", "expint=10",
         "-p", f"{root}/var/run/softflowd.vtnet2.pid", "-c", f"{root}/var/run/softflowd.vtnet2.ctl"],
    ]
    assert "OK: one softflowd per interface (lan,opt1) exports NetFlow v9 to 10.0.20.100:32055" in run.stdout


def test_second_run_with_the_same_inputs_writes_nothing_and_restarts_nothing(pfsense: PfSenseStandIn):
    """GIVEN export already enabled by the script on a STAND-IN for pfSense
    WHEN the script runs again with the same inputs
    THEN config.xml is byte-identical, no config history entry is added, the package is not
    reinstalled and the running softflowd processes are left alone."""
    assert pfsense.run(*ENABLE).returncode == 0
    config, history, procs, calls = pfsense.config_bytes(), pfsense.history(), pfsense.processes(), pfsense.calls()

    run = pfsense.run(*ENABLE)

    assert run.returncode == 0, run.output
    assert pfsense.config_bytes() == config
    assert pfsense.history() == history
    assert pfsense.processes() == procs
    new_calls = pfsense.calls()[len(calls):]
    assert not [c for c in new_calls if c.startswith(("pfSense-upgrade", "pfSsh.php", "service"))], new_calls
    assert "nothing written" in run.stdout


def test_rerun_restarts_softflowd_that_died_without_writing(pfsense: PfSenseStandIn):
    """GIVEN export enabled on a STAND-IN for pfSense, and then one softflowd gone
    WHEN the script runs again with the same inputs
    THEN it restarts softflowd through the package (config.xml untouched) and both run again."""
    assert pfsense.run(*ENABLE).returncode == 0
    config, history = pfsense.config_bytes(), pfsense.history()
    (pfsense.root / "_standin" / "proc" / str(min(pfsense.processes()))).unlink()

    run = pfsense.run(*ENABLE)

    assert run.returncode == 0, run.output
    assert "no softflowd runs on lan (vtnet1)" in run.stdout
    assert pfsense.config_bytes() == config
    assert pfsense.history() == history
    assert sorted(a[2] for a in pfsense.processes().values()) == ["1:vtnet1", "2:vtnet2"]


def test_changed_inputs_are_written_once_and_applied(pfsense: PfSenseStandIn):
    """GIVEN export enabled on a STAND-IN for pfSense
    WHEN the script runs with another port, interface order, tracking level and without timeouts
    THEN one more history entry, the new settings (timeouts removed) and restarted softflowd."""
    assert pfsense.run(*ENABLE).returncode == 0
    history = pfsense.history()

    run = pfsense.run("enable", "--collector-ip", "10.0.20.101", "--collector-port", "2055",
                      "--interfaces", "opt1,lan", "--tracking", "proto", "--maxflows", "4096")

    assert run.returncode == 0, run.output
    assert len(pfsense.history()) == len(history) + 1
    assert softflowd_settings(pfsense.config_bytes()) == {
        "enable": "enabled", "interface": "opt1,lan", "host": "10.0.20.101", "port": "2055",
        "version": "9", "flowtracking": "proto", "maxflows": "4096",
    }
    argvs = sorted(pfsense.processes().values(), key=lambda a: a[2])
    assert [a[1:9] for a in argvs] == [
        ["-i", "1:vtnet2", "-n", "10.0.20.101:2055", "-m", "4096", "-v", "9"],
        ["-i", "2:vtnet1", "-n", "10.0.20.101:2055", "-m", "4096", "-v", "9"],
    ]


def test_settings_the_script_does_not_manage_are_kept(pfsense: PfSenseStandIn):
    """GIVEN a STAND-IN for pfSense whose softflowd settings were saved in the GUI before (with a
    sampling rate, hop limit and timestamp precision the script does not manage)
    WHEN the script enables export
    THEN those keys keep their values; the managed ones take the script's values."""
    xml = pfsense.config_bytes().replace(
        b"\t</installedpackages>",
        b"\t\t<softflowd>\n\t\t\t<config>\n\t\t\t\t<enable>off</enable>\n\t\t\t\t<interface>wan</interface>\n"
        b"\t\t\t\t<host>192.168.1.50</host>\n\t\t\t\t<port>9995</port>\n\t\t\t\t<version>10</version>\n"
        b"\t\t\t\t<flowtracking>full</flowtracking>\n\t\t\t\t<sample>0</sample>\n\t\t\t\t<hoplimit>8</hoplimit>\n"
        b"\t\t\t\t<flowtimestamp>milli</flowtimestamp>\n\t\t\t\t<timeout-general></timeout-general>\n"
        b"\t\t\t\t<timeout-udp>120</timeout-udp>\n\t\t\t</config>\n\t\t</softflowd>\n\t</installedpackages>",
    )
    pfsense.config_path.write_bytes(xml)

    run = pfsense.run(*ENABLE)

    assert run.returncode == 0, run.output
    assert softflowd_settings(pfsense.config_bytes()) == {
        "enable": "enabled", "interface": "lan,opt1", "host": "10.0.20.100", "port": "32055", "version": "9",
        "flowtracking": "full", "sample": "0", "hoplimit": "8", "flowtimestamp": "milli", "timeout-general": "",
        "timeout-maxlife": "60", "timeout-expint": "10",
    }
    argv = next(iter(pfsense.processes().values()))
    assert argv[argv.index("-L") + 1] == "8" and argv[argv.index("-A") + 1] == "milli"


def test_works_with_the_config_array_of_pfsense_before_2_7(pfsense: PfSenseStandIn):
    """GIVEN a STAND-IN for pfSense 2.6 (no config_get_path/config_set_path, only $config)
    WHEN the script enables export, then runs again
    THEN it writes the same settings, and the second run writes nothing."""
    pfsense.fault("pfsense-2.6")

    first = pfsense.run(*ENABLE)
    config = pfsense.config_bytes()
    second = pfsense.run(*ENABLE)

    assert first.returncode == 0, first.output
    assert softflowd_settings(config)["host"] == "10.0.20.100"
    assert len(pfsense.history()) == 1
    assert second.returncode == 0, second.output
    assert pfsense.config_bytes() == config


def test_ipv6_collector_is_bracketed_in_softflowd_target(pfsense: PfSenseStandIn):
    run = pfsense.run("enable", "--collector-ip", "fd00:20::100", "--collector-port", "32055", "--interfaces", "lan")

    assert run.returncode == 0, run.output
    assert softflowd_settings(pfsense.config_bytes())["host"] == "fd00:20::100"
    argv = next(iter(pfsense.processes().values()))
    assert argv[argv.index("-n") + 1] == "[fd00:20::100]:32055"


# ---------------------------------------------------------------------------- refusals

BAD_INPUTS = [
    # (arguments, the argument the message must name, a fragment of the message)
    (["enable", "--collector-ip", "10.0.20", "--collector-port", "32055", "--interfaces", "lan"], "--collector-ip", "'10.0.20'"),
    (["enable", "--collector-ip", "256.0.20.1", "--collector-port", "32055", "--interfaces", "lan"], "--collector-ip", "'256.0.20.1'"),
    (["enable", "--collector-ip", "10.0.20.01", "--collector-port", "32055", "--interfaces", "lan"], "--collector-ip", "'10.0.20.01'"),
    (["enable", "--collector-ip", "collector.lan", "--collector-port", "32055", "--interfaces", "lan"], "--collector-ip", "'collector.lan'"),
    (["enable", "--collector-ip", "0.0.0.0", "--collector-port", "32055", "--interfaces", "lan"], "--collector-ip", "'0.0.0.0'"),
    (["enable", "--collector-ip", "fd00::1::2", "--collector-port", "32055", "--interfaces", "lan"], "--collector-ip", "'fd00::1::2'"),
    (["enable", "--collector-ip", "10.0.20.100;reboot", "--collector-port", "32055", "--interfaces", "lan"], "--collector-ip", "reboot"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "0", "--interfaces", "lan"], "--collector-port", "'0'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "65536", "--interfaces", "lan"], "--collector-port", "'65536'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "20 55", "--interfaces", "lan"], "--collector-port", "'20 55'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "-1", "--interfaces", "lan"], "--collector-port", "'-1'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "eth0"], "--interfaces", "'eth0'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "LAN"], "--interfaces", "'LAN'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "opt0"], "--interfaces", "'opt0'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan,lan"], "--interfaces", "twice"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan,"], "--interfaces", "'lan,'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan opt1"], "--interfaces", "'lan opt1'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "opt7"], "--interfaces", "'opt7' is not assigned"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--version", "7"], "--version", "'7'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--version", "psamp"], "--version", "'psamp'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--tracking", "port"], "--tracking", "'port'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--maxflows", "0"], "--maxflows", "'0'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--maxflows", "lots"], "--maxflows", "'lots'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--timeout-general", "-5"], "--timeout-general", "'-5'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--timeout-maxlife", "1.5"], "--timeout-maxlife", "'1.5'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--timeout-expint", "ten"], "--timeout-expint", "'ten'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--timeout-tcp", "99999999999"], "--timeout-tcp", "'99999999999'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--timeout-tcp-rst", "07"], "--timeout-tcp-rst", "'07'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--timeout-tcp-fin", ""], "--timeout-tcp-fin", "''"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--timeout-udp", "1e3"], "--timeout-udp", "'1e3'"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--wait", "0"], "--wait", "'0'"),
    (["enable", "--collector-port", "32055", "--interfaces", "lan"], "--collector-ip", "required"),
    (["enable", "--collector-ip", "10.0.20.100", "--interfaces", "lan"], "--collector-port", "required"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055"], "--interfaces", "required"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--collector-port", "2055"], "--collector-port", "more than once"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan", "--colector-ip", "x"], "--colector-ip", "unknown option"),
    (["enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces"], "--interfaces", "a value is required"),
    (["enable", "10.0.20.100"], "10.0.20.100", "unexpected argument"),
    (["disable", "--collector-ip", "10.0.20.100"], "--collector-ip", "not accepted by 'disable'"),
    (["restart"], "restart", "unknown mode"),
    ([], "enable", "missing mode"),
]


@pytest.mark.parametrize("args,named,fragment", BAD_INPUTS, ids=[" ".join(a[0]) or "no-args" for a in BAD_INPUTS])
def test_bad_input_is_refused_before_anything_changes(pfsense: PfSenseStandIn, args, named, fragment):
    """GIVEN a STAND-IN for pfSense
    WHEN the script gets a bad argument
    THEN it exits 2 with a message naming the argument, and config.xml, the config history, the
    package and the processes are as they were (nothing installed, nothing started)."""
    before = pfsense.config_bytes()

    run = pfsense.run(*args)

    assert run.returncode == 2, run.output
    assert named in run.stderr and fragment in run.stderr, run.stderr
    assert "nothing was changed" in run.stderr
    assert pfsense.config_bytes() == before
    assert pfsense.history() == []
    assert pfsense.installs() == []
    assert not pfsense.package_installed()
    assert pfsense.processes() == {}


def test_bad_input_after_enable_leaves_the_running_export_alone(pfsense: PfSenseStandIn):
    """GIVEN export enabled on a STAND-IN for pfSense
    WHEN the script is run with a bad port
    THEN config.xml is byte-identical and the same softflowd processes still run."""
    assert pfsense.run(*ENABLE).returncode == 0
    config, history, procs = pfsense.config_bytes(), pfsense.history(), pfsense.processes()

    run = pfsense.run("enable", "--collector-ip", "10.0.20.100", "--collector-port", "99999", "--interfaces", "lan")

    assert run.returncode == 2
    assert (pfsense.config_bytes(), pfsense.history(), pfsense.processes()) == (config, history, procs)


def test_help_prints_usage_and_changes_nothing(pfsense: PfSenseStandIn):
    before = pfsense.config_bytes()
    run = pfsense.run("--help")
    assert run.returncode == 0
    assert "pfsense_softflowd.sh enable --collector-ip IP --collector-port PORT --interfaces lan,opt1" in run.stdout
    assert "pfsense_softflowd.sh disable" in run.stdout
    assert pfsense.config_bytes() == before


# ---------------------------------------------------------------------------- failures


def test_fails_clearly_when_the_package_does_not_install(pfsense: PfSenseStandIn):
    """GIVEN a STAND-IN for pfSense whose package repository is unreachable
    WHEN the script enables export
    THEN it exits 1 naming the package, and config.xml is byte-identical."""
    pfsense.fault("install-fails")
    before = pfsense.config_bytes()

    run = pfsense.run(*ENABLE)

    assert run.returncode == 1
    assert "FAILED: pfSense-pkg-softflowd did not install" in run.stderr
    assert pfsense.config_bytes() == before
    assert pfsense.history() == []


def test_fails_clearly_when_softflowd_does_not_start(pfsense: PfSenseStandIn):
    """GIVEN a STAND-IN for pfSense where softflowd fails to start
    WHEN the script enables export
    THEN the settings are written (they are right, and revertible) but the script exits 1 naming
    each interface softflowd does not run on."""
    pfsense.fault("softflowd-dies")

    run = pfsense.run(*ENABLE, "--wait", "1")

    assert run.returncode == 1
    assert "FAILED: softflowd does not run as configured after 1s" in run.stderr
    assert "no softflowd runs on lan (vtnet1)" in run.stderr
    assert "no softflowd runs on opt1 (vtnet2)" in run.stderr


def test_fails_when_softflowd_runs_with_another_collector_or_version(pfsense: PfSenseStandIn):
    """GIVEN export enabled on a STAND-IN for pfSense, and then an extra softflowd started by hand
    that sends v5 elsewhere from lan
    WHEN the script checks again (same inputs: nothing to write)
    THEN it restarts through the package, which kills every softflowd first, and ends up right."""
    assert pfsense.run(*ENABLE).returncode == 0
    subprocess.run([str(pfsense.root / "usr/local/bin/softflowd"), "-i", "vtnet1", "-n", "192.168.1.9:9995"], check=True)

    run = pfsense.run(*ENABLE)

    assert run.returncode == 0, run.output
    assert "2 softflowd instances run on lan (vtnet1), expected 1" in run.stdout
    assert "sends to 192.168.1.9:9995, expected 10.0.20.100:32055" in run.stdout
    assert "exports NetFlow v5 (no -v: softflowd's default), expected v9" in run.stdout
    assert len(pfsense.processes()) == 2


def test_softflowd_reporting_the_wrong_interface_index_is_restarted(pfsense: PfSenseStandIn):
    """GIVEN export enabled on a STAND-IN for pfSense, and then lan's softflowd replaced by one
    numbering lan as interface 2 (what an older set of settings would run)
    WHEN the script checks again
    THEN it names the wrong index and restarts softflowd through the package."""
    assert pfsense.run(*ENABLE).returncode == 0
    lan = next(pid for pid, argv in pfsense.processes().items() if argv[2] == "1:vtnet1")
    (pfsense.root / "_standin" / "proc" / str(lan)).unlink()
    subprocess.run([str(pfsense.root / "usr/local/bin/softflowd"), "-i", "2:vtnet1", "-n", "10.0.20.100:32055", "-v", "9"],
                   check=True)

    run = pfsense.run(*ENABLE)

    assert run.returncode == 0, run.output
    assert "on lan (vtnet1) reports interface index 2, expected 1" in run.stdout
    assert sorted(a[2] for a in pfsense.processes().values()) == ["1:vtnet1", "2:vtnet2"]


def test_an_assigned_but_disabled_interface_is_accepted_with_a_warning(pfsense: PfSenseStandIn):
    run = pfsense.run("enable", "--collector-ip", "10.0.20.100", "--collector-port", "32055", "--interfaces", "lan,opt2")

    assert run.returncode == 0, run.output
    assert "warning: interface 'opt2' (vtnet3) is not enabled in pfSense" in run.stderr
    assert sorted(a[2] for a in pfsense.processes().values()) == ["1:vtnet1", "2:vtnet3"]


# ---------------------------------------------------------------------------- disable


def test_disable_turns_export_off_keeps_the_settings_and_stops_softflowd(pfsense: PfSenseStandIn):
    """GIVEN export enabled on a STAND-IN for pfSense
    WHEN the script disables it
    THEN enable is "off" (other settings kept for the GUI), one more history entry with a netviz
    description, no softflowd runs and the package's rc script is gone; a second disable writes nothing."""
    assert pfsense.run(*ENABLE).returncode == 0
    enabled = softflowd_settings(pfsense.config_bytes())
    history = pfsense.history()

    run = pfsense.run("disable")

    assert run.returncode == 0, run.output
    assert softflowd_settings(pfsense.config_bytes()) == {**enabled, "enable": "off"}
    assert len(pfsense.history()) == len(history) + 1
    assert revision_description(pfsense.config_bytes()) == (
        "(system): netviz: softflowd NetFlow export disabled (pfsense_softflowd.sh disable)"
    )
    assert pfsense.processes() == {}
    assert not pfsense.rcfile().exists()
    assert "OK: no softflowd runs" in run.stdout

    config, history = pfsense.config_bytes(), pfsense.history()
    again = pfsense.run("disable")
    assert again.returncode == 0, again.output
    assert (pfsense.config_bytes(), pfsense.history()) == (config, history)
    assert "nothing written" in again.stdout


def test_disable_without_the_package_does_nothing(pfsense: PfSenseStandIn):
    """GIVEN a STAND-IN for pfSense that never had the softflowd package
    WHEN the script disables export
    THEN it succeeds without installing or writing anything."""
    before = pfsense.config_bytes()

    run = pfsense.run("disable")

    assert run.returncode == 0, run.output
    assert "not installed: nothing to disable" in run.stdout
    assert pfsense.config_bytes() == before
    assert pfsense.installs() == [] and pfsense.history() == []


def test_enable_after_disable_turns_it_back_on(pfsense: PfSenseStandIn):
    assert pfsense.run(*ENABLE).returncode == 0
    assert pfsense.run("disable").returncode == 0

    run = pfsense.run(*ENABLE)

    assert run.returncode == 0, run.output
    assert softflowd_settings(pfsense.config_bytes())["enable"] == "enabled"
    assert len(pfsense.processes()) == 2
    assert pfsense.installs() == ["pfSense-upgrade -y -i pfSense-pkg-softflowd"]


def test_output_names_no_secret_and_no_environment(pfsense: PfSenseStandIn):
    """The script is given no secrets; it must not echo its environment or PHP source either."""
    run = pfsense.run(*ENABLE)
    assert run.returncode == 0
    for marker in ("NETVIZ_SF_", "<?php", "PRIVATE KEY", "password"):
        assert marker not in run.output
