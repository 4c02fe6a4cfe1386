"""The two CDK engines netviz runs on (netviz_constructs/cdk.py), as the README's commands run them.

What an engine's CLI needs (its virtualenv's Python for cdktf.json's app command, its CLI, its Node
on PATH) is the Makefile's (`make engine-env ENGINE=...`): read from there, never retyped here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINES = ("cdktf", "cdktn")


def engine_env(engine: str) -> dict[str, str]:
    """This environment as `make ... ENGINE=engine` runs the CLI (nothing the test run set)."""
    p = subprocess.run(["make", "-s", "--no-print-directory", "engine-env", f"ENGINE={engine}"], cwd=REPO,
                       capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in os.environ.items() if not k.startswith("NETVIZ_")})
    assert p.returncode == 0, p.stderr
    settings = dict(line.split("=", 1) for line in p.stdout.splitlines())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETVIZ_", "JSII_", "CHECKPOINT"))}
    env.update(settings)
    makefile = (REPO / "Makefile").read_text()
    for name, value in re.findall(r"^export (\w+) := ([^$\n]*)$", makefile, re.M):
        env.setdefault(name, value.strip())
    for what in ("NETVIZ_PYTHON", "NETVIZ_CDK_CLI"):
        if not Path(settings[what]).exists():
            pytest.fail(f"the {engine} engine is not set up ({settings[what]} is missing): run make setup ENGINE={engine}",
                        pytrace=False)
    return env


def cli_synth(engine: str, outdir: Path, config: Path | None = None, timeout: float = 600) -> tuple[dict, str]:
    """`<engine CLI> synth` of the repository (for `config`, default network.toml) into `outdir`:
    ({stack: its cdk.tf.json}, the CLI's output). Fails with the CLI's output."""
    env = engine_env(engine)
    env["CI"] = "1"
    if config is not None:
        env["NETVIZ_CONFIG"] = str(config)
    p = subprocess.run([env["NETVIZ_CDK_CLI"], "synth", "--output", str(outdir)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{engine} synth failed:\n{p.stdout}\n{p.stderr}"
    manifest = json.loads((outdir / "manifest.json").read_text())
    return {name: json.loads((outdir / meta["synthesizedStackPath"]).read_text())
            for name, meta in manifest["stacks"].items()}, p.stdout + p.stderr
