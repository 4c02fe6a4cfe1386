"""A STAND-IN for pfSense, built fresh in a temporary directory for each test.

`PfSenseStandIn` (the `pfsense` fixture of conftest.py) copies tests/pfsense/standin/ (see its README.md) and a realistic config.xml
into tmp_path, and runs scripts/pfsense_softflowd.sh against it with the REAL PHP CLI
(/usr/bin/php) and a POSIX shell (dash, the nearest to FreeBSD's /bin/sh here). It is not pfSense:
it stands in for the parts of pfSense the script touches (config API, package tools, ps).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPT = REPO / "scripts" / "pfsense_softflowd.sh"
STANDIN = HERE / "standin"
CONFIG_XML = HERE / "data" / "config.xml"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class PfSenseStandIn:
    """A STAND-IN for pfSense rooted at `root` (what the script sees as `/`)."""

    def __init__(self, root: Path, php: str, shell: str):
        self.root = root
        self.php = php
        self.shell = shell
        shutil.copytree(STANDIN, root, symlinks=True)
        for d in ("cf/conf", "tmp", "var/run", "_standin/faults", "_standin/proc"):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy(CONFIG_XML, self.config_path)
        os.chmod(self.config_path, 0o644)  # as on pfSense, whatever the checkout's umask was

    # -- running the script
    def env(self) -> dict[str, str]:
        """The environment that makes the script work on this stand-in (its test hooks)."""
        return {
            "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
            "NETVIZ_PFSENSE_ROOT": str(self.root),
            "NETVIZ_PHP": self.php,
            "TMPDIR": str(self.root / "tmp"),
        }

    def run(self, *args: str, timeout: float = 60, umask: int = 0o022, env: dict[str, str] | None = None) -> Run:
        """Runs the script as a shell on pfSense would: with `umask` (022, pfSense's login.conf
        default) and `env` added to the stand-in's environment."""
        p = subprocess.run(
            [self.shell, str(SCRIPT), *args], env={**self.env(), **(env or {})}, cwd=self.root, capture_output=True,
            text=True, timeout=timeout, preexec_fn=lambda: os.umask(umask),
        )
        return Run(p.returncode, p.stdout, p.stderr)

    # -- what the script changed
    @property
    def config_path(self) -> Path:
        return self.root / "cf" / "conf" / "config.xml"

    def config_bytes(self) -> bytes:
        return self.config_path.read_bytes()

    def backup_dir(self) -> Path:
        return self.root / "cf" / "conf" / "backup"

    def system_log(self) -> list[str]:
        """The stand-in's Status > System Logs > General: what log_error() wrote."""
        log = self.root / "_standin" / "system.log"
        return log.read_text().splitlines() if log.exists() else []

    def history(self) -> list[str]:
        """Backups write_config() kept (pfSense's config history), oldest first."""
        d = self.root / "cf" / "conf" / "backup"
        return sorted(p.name for p in d.glob("config-*.xml")) if d.is_dir() else []

    def calls(self) -> list[str]:
        log = self.root / "_standin" / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def installs(self) -> list[str]:
        return [c for c in self.calls() if c.startswith("pfSense-upgrade")]

    def processes(self) -> dict[int, list[str]]:
        """pid -> argv of each softflowd the stand-in's process table holds."""
        procs = {}
        for f in (self.root / "_standin" / "proc").iterdir():
            procs[int(f.name)] = f.read_text().split()
        return procs

    def package_installed(self) -> bool:
        return (self.root / "usr" / "local" / "pkg" / "softflowd.inc").exists()

    def rcfile(self) -> Path:
        return self.root / "usr" / "local" / "etc" / "rc.d" / "softflowd.sh"

    def fault(self, name: str) -> None:
        (self.root / "_standin" / "faults" / name).touch()

    def clear_fault(self, name: str) -> None:
        (self.root / "_standin" / "faults" / name).unlink()

    def package_commands(self) -> list[dict]:
        """The softflowd command lines the package would build from config.xml, real paths."""
        p = subprocess.run(
            [self.php, str(self.root / "_tools" / "softflowd_commands.php")],
            capture_output=True, text=True, check=True, timeout=30,
        )
        return json.loads(p.stdout)


def require_php() -> str:
    """The real PHP CLI (Debian package php-cli); fails the test, naming it, when missing."""
    php = shutil.which("php")
    if php is None:
        pytest.fail("required tool 'php' is not installed (install it with: apt-get install -y php-cli)", pytrace=False)
    p = subprocess.run([php, "-r", "echo PHP_VERSION;"], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.fail(f"the PHP CLI at {php} does not run: {p.stderr}", pytrace=False)
    return php


def require_posix_shell() -> str:
    """dash: a POSIX shell without bash extensions, the closest here to FreeBSD's /bin/sh."""
    path = shutil.which("dash")
    if path is None:
        pytest.fail("required tool 'dash' is not installed (install it with: apt-get install -y dash)", pytrace=False)
    return path
