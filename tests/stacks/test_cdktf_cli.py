"""The real cdktf CLI (pinned in package.json, installed in node_modules) synthesizes all three stacks."""

import json
import os
import re
import subprocess

from tests.synth import REPO

CLI = REPO / "node_modules" / ".bin" / "cdktf"


def makefile_environment() -> dict[str, str]:
    """This environment as the README's commands run: the Makefile's exports on top, and none of
    the settings the test run itself made."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JSII_", "CHECKPOINT"))}
    for name, value in re.findall(r"^export (\w+) := (.*)$", (REPO / "Makefile").read_text(), re.M):
        env[name] = value.strip()
    return env


def test_cdktf_synth_writes_the_three_stacks(tmp_path):
    assert CLI.exists(), f"cdktf CLI missing at {CLI}: run `npm ci` (the README's test command does)"
    out = tmp_path / "cdktf.out"
    env = dict(makefile_environment(), CI="1")
    proc = subprocess.run(
        [str(CLI), "synth", "--output", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Node 20 is supported here but end-of-life for jsii: the Makefile silences that banner, and
    # only for Node 20, so `make synth` greets nobody with a red error.
    assert "end-of-life" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    for stack in ("caretta", "goflow2", "platform"):
        tf = json.loads((out / "stacks" / stack / "cdk.tf.json").read_text())
        assert tf["resource"], stack
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["stacks"]["platform"]["dependencies"]) == ["caretta", "goflow2"]


def test_package_json_accepts_the_current_node_lts_releases():
    """Node 20 (this machine), 22 and 24 (current LTS) are accepted; 18 and 26 are not promised."""
    engines = json.loads((REPO / "package.json").read_text())["engines"]["node"]
    script = "const s=require('semver'); console.log(JSON.stringify(process.argv.slice(2).map(v => s.satisfies(v, process.argv[1]))))"
    for v, ok in zip(["20.20.2", "22.12.0", "24.1.0", "18.20.0", "26.0.0"], [True, True, True, False, False]):
        out = subprocess.run(["node", "-e", script, engines, v], cwd=REPO / "node_modules", capture_output=True, text=True, check=True)
        assert json.loads(out.stdout) == [ok], (v, engines)
