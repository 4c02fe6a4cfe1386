"""The exporter runs in a stock python image: nothing but the standard library and netviz_config."""

import json
import subprocess
import sys


from tests.flow_exporter.helpers import REPO

PROBE = r"""
import json, os, sys, sysconfig
import flow_exporter.cli, flow_exporter.aggregate, flow_exporter.exposition, flow_exporter.mapping
import flow_exporter.reader, flow_exporter.record, flow_exporter.series, flow_exporter.server
import flow_exporter.services, flow_exporter.settings, flow_exporter.dns, flow_exporter.names
stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
repo = os.path.realpath(os.getcwd())
outside = sorted(
    name for name, module in sys.modules.items()
    if getattr(module, "__file__", None)
    and not os.path.realpath(module.__file__).startswith((stdlib, os.path.join(repo, "flow_exporter"),
                                                          os.path.join(repo, "netviz_config")))
)
print(json.dumps(outside))
"""


def test_every_module_imports_with_site_packages_disabled():
    # -S: no site-packages (so not the .venv either); the working directory gives flow_exporter and
    # netviz_config, as the ConfigMap mount does in the pod.
    result = subprocess.run([sys.executable, "-S", "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_the_command_runs_with_site_packages_disabled():
    result = subprocess.run([sys.executable, "-S", "-m", "flow_exporter", "--help"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--series-budget" in result.stdout
