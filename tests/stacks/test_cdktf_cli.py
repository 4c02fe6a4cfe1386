"""The real cdktf CLI (pinned in package.json, installed in node_modules) synthesizes all three stacks."""

import json
import os
import subprocess

from tests.synth import REPO

CLI = REPO / "node_modules" / ".bin" / "cdktf"


def test_cdktf_synth_writes_the_three_stacks(tmp_path):
    assert CLI.exists(), f"cdktf CLI missing at {CLI}: run `npm ci` (the README's test command does)"
    out = tmp_path / "cdktf.out"
    env = dict(os.environ, CHECKPOINT_DISABLE="1", JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1", CI="1")
    proc = subprocess.run(
        [str(CLI), "synth", "--output", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for stack in ("caretta", "goflow2", "platform"):
        tf = json.loads((out / "stacks" / stack / "cdk.tf.json").read_text())
        assert tf["resource"], stack
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["stacks"]["platform"]["dependencies"]) == ["caretta", "goflow2"]
