"""Fixtures of the pfSense script tests: a fresh STAND-IN for pfSense per test (standin_harness.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.pfsense.standin_harness import SCRIPT, PfSenseStandIn, require_php, require_posix_shell


@pytest.fixture
def pfsense(tmp_path: Path) -> PfSenseStandIn:
    """A fresh STAND-IN for pfSense: softflowd package not installed, nothing exported yet."""
    return PfSenseStandIn(tmp_path / "pfsense-root", require_php(), require_posix_shell())


@pytest.fixture(autouse=True)
def _script_exists():
    assert SCRIPT.is_file(), f"{SCRIPT} is missing"
    assert os.access(SCRIPT, os.X_OK), f"{SCRIPT} is not executable"
