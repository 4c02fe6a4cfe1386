"""What the script's writes look like to pfSense: file modes and Config History entries.

Against a STAND-IN for pfSense whose write_config() follows pfSense's own (standin/etc/inc/
config.lib.inc, from pfsense/pfsense src/etc/inc/config.lib.inc): config.xml, its backups and the
backup cache are created with fopen()/copy(), i.e. with the mode the process umask leaves, and the
description is prefixed with get_config_user(), "(system)" for any caller without a web session.
"""

from __future__ import annotations

import stat
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.pfsense.standin_harness import PfSenseStandIn
from tests.pfsense.test_pfsense_softflowd_script import ENABLE


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(pfsense: PfSenseStandIn) -> dict[str, int]:
    """config.xml and every file under cf/conf/backup -> its permission bits."""
    found = {"config.xml": mode(pfsense.config_path)}
    for p in sorted(pfsense.backup_dir().iterdir()):
        found[f"backup/{p.name}"] = mode(p)
    return found


def description(pfsense: PfSenseStandIn) -> str:
    return ET.fromstring(pfsense.config_bytes()).findtext("./revision/description") or ""


def test_config_xml_and_its_backups_keep_mode_0644_after_enable_and_disable(pfsense: PfSenseStandIn):
    """GIVEN a STAND-IN for pfSense whose config.xml is 0644, and a shell with pfSense's default
    umask 022
    WHEN the script enables export, then disables it (two write_config() calls)
    THEN config.xml is still 0644, and so are both backups and the backup cache: the script's own
    restrictive umask does not reach write_config()."""
    assert mode(pfsense.config_path) == 0o644

    enabled = pfsense.run(*ENABLE, umask=0o022)
    assert enabled.returncode == 0, enabled.output
    after_enable = modes(pfsense)
    disabled = pfsense.run("disable", umask=0o022)
    assert disabled.returncode == 0, disabled.output

    assert after_enable == {"config.xml": 0o644, "backup/backup.cache": 0o644, "backup/config-1700000000.xml": 0o644}
    after_disable = modes(pfsense)
    assert len(after_disable) == 4, after_disable
    assert set(after_disable.values()) == {0o644}, after_disable


def test_the_callers_umask_decides_the_mode_as_on_pfsense(pfsense: PfSenseStandIn):
    """GIVEN a shell with umask 027
    WHEN the script enables export
    THEN config.xml comes out 0640: write_config() (the stand-in's, like pfSense's) creates the
    file under the process umask, and the script hands the caller's umask on unchanged. (This is
    what makes the 0644 test above able to fail.)"""
    run = pfsense.run(*ENABLE, umask=0o027)

    assert run.returncode == 0, run.output
    assert mode(pfsense.config_path) == 0o640
    assert mode(pfsense.backup_dir() / "config-1700000000.xml") == 0o640


def test_the_scripts_own_temporary_files_stay_private(pfsense: PfSenseStandIn):
    """GIVEN a shell with umask 022
    WHEN the script enables export
    THEN its work directory (the PHP it runs, its results, the process list) is 0700 with 0600
    files while it runs, and gone afterwards; config.xml is 0644."""
    tmp = pfsense.root / "tmp"
    log = pfsense.root / "_standin" / "tmp-modes"
    # A stand-in wrapper around the real PHP CLI that records, each time the script runs PHP, the
    # modes of the script's temporary directory and of the files in it.
    spy = pfsense.root / "_standin" / "php-spy"
    spy.write_text(
        "#!/bin/sh\n"
        f"for d in {tmp}/netviz-softflowd.*; do stat -c '%a %n' \"$d\" \"$d\"/* >>{log}; done\n"
        f'exec {pfsense.php} "$@"\n'
    )
    spy.chmod(0o755)
    pfsense.php = str(spy)

    run = pfsense.run(*ENABLE, umask=0o022)

    assert run.returncode == 0, run.output
    seen = [line.split(" ", 1) for line in log.read_text().splitlines()]
    dirs = {octal for octal, path in seen if Path(path).name.startswith("netviz-softflowd.")}
    files = {octal for octal, path in seen if not Path(path).name.startswith("netviz-softflowd.")}
    names = {Path(path).name for _, path in seen}
    assert {"netviz_softflowd.php", "result.preflight", "interfaces", "result.apply"} <= names, names
    assert (dirs, files) == ({"700"}, {"600"}), seen
    assert list(tmp.glob("netviz-softflowd.*")) == []
    assert mode(pfsense.config_path) == 0o644


def test_config_history_entries_read_system_then_the_netviz_description(pfsense: PfSenseStandIn):
    """GIVEN the script run as the admin account over SSH would run it (USER=admin, no web session)
    WHEN it enables, then disables export
    THEN each Config History entry is "(system): netviz: ...": pfSense's get_config_user() names
    every caller without a web session "(system)". The system log and the backup cache say the same."""
    ssh_env = {"USER": "admin", "LOGNAME": "admin", "HOME": str(pfsense.root / "root")}

    enabled = pfsense.run(*ENABLE, env=ssh_env)
    assert enabled.returncode == 0, enabled.output
    enable_description = description(pfsense)
    disabled = pfsense.run("disable", env=ssh_env)
    assert disabled.returncode == 0, disabled.output

    assert enable_description == (
        "(system): netviz: softflowd exports NetFlow v9 to 10.0.20.100:32055 from lan,opt1 (pfsense_softflowd.sh enable)"
    )
    assert description(pfsense) == "(system): netviz: softflowd NetFlow export disabled (pfsense_softflowd.sh disable)"
    assert ET.fromstring(pfsense.config_bytes()).findtext("./revision/username") == "(system)"
    changes = [line.split(" ", 1)[1] for line in pfsense.system_log() if "Configuration Change" in line]
    assert changes == [f"Configuration Change: {enable_description}", f"Configuration Change: {description(pfsense)}"]
    cache = (pfsense.backup_dir() / "backup.cache").read_text()
    assert enable_description in cache  # the second backup is of the config the first write made
