"""The engine's real CLI (cdktf 0.21 pinned in package.json, or CDK Terrain's in engines/cdktn)
synthesizes all three stacks, as `make synth` runs it."""

import json
import subprocess

from netviz_constructs.cdk import ENGINE
from tests.support.engines import cli_synth
from tests.synth import REPO


def test_cli_synth_writes_the_three_stacks(tmp_path):
    stacks, output = cli_synth(ENGINE, tmp_path / "cdktf.out")
    # Node 20 is supported here but end-of-life for jsii: the Makefile silences that banner, and
    # only for Node 20, so `make synth` greets nobody with a red error.
    assert "end-of-life" not in output, output
    for stack in ("caretta", "goflow2", "platform"):
        assert stacks[stack]["resource"], stack
        assert stacks[stack]["//"]["metadata"]["version"] == {"cdktf": "0.21.0", "cdktn": "0.24.0"}[ENGINE]
    manifest = json.loads((tmp_path / "cdktf.out" / "manifest.json").read_text())
    assert sorted(manifest["stacks"]["platform"]["dependencies"]) == ["caretta", "goflow2"]


def test_package_json_accepts_the_current_node_lts_releases():
    """Node 20 (this machine), 22 and 24 (current LTS) are accepted; 18 and 26 are not promised."""
    engines = json.loads((REPO / "package.json").read_text())["engines"]["node"]
    script = "const s=require('semver'); console.log(JSON.stringify(process.argv.slice(2).map(v => s.satisfies(v, process.argv[1]))))"
    for v, ok in zip(["20.20.2", "22.12.0", "24.1.0", "18.20.0", "26.0.0"], [True, True, True, False, False]):
        out = subprocess.run(["node", "-e", script, engines, v], cwd=REPO / "node_modules", capture_output=True, text=True, check=True)
        assert json.loads(out.stdout) == [ok], (v, engines)
