"""The set-up that builds GoFlow2, Prometheus 3, Helm, etcd, kube-apiserver and the Prometheus
Operator from their Go modules (tests/support/go_tools.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from netviz_config.schema import GOFLOW2_IMAGE, GOFLOW2_RELEASE, PROMETHEUS_CHART_APP_VERSION, PROMETHEUS_CHART_VERSION
from tests.support import go_tools
from tests.support.tools import require_tool

REPO = go_tools.REPO


def run_setup(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.support.go_tools", *args], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=300)


def test_versions_follow_the_pins_they_are_defined_beside():
    assert GOFLOW2_IMAGE == "netsampler/goflow2:c9824f4" and GOFLOW2_RELEASE == "v2.2.6"
    assert (PROMETHEUS_CHART_VERSION, PROMETHEUS_CHART_APP_VERSION) == ("29.27.0", "v3.14.0")
    assert go_tools.goflow2().version == GOFLOW2_RELEASE
    assert go_tools.prometheus().version == "v0.314.0"
    assert (go_tools.kube_apiserver().version, go_tools.kube_apiserver().sibling_version) == ("v1.36.3", "v0.36.3")
    assert (go_tools.etcd().version, go_tools.etcd().sibling_version) == ("v3.6.6", "v3.6.6")
    assert go_tools.prometheus_operator().version == go_tools.prometheus_operator_crds().version == "v0.86.1"


@pytest.mark.parametrize("variable, tool, version", [
    ("NETVIZ_KUBERNETES_VERSION", go_tools.kube_apiserver, "v1.35.4"),
    ("NETVIZ_ETCD_VERSION", go_tools.etcd, "v3.6.13"),
    ("NETVIZ_PROMETHEUS_OPERATOR_VERSION", go_tools.prometheus_operator, "v0.87.0"),
])
def test_each_control_plane_version_can_be_overridden(monkeypatch, variable, tool, version):
    monkeypatch.setenv(variable, version)
    assert tool().version == version and tool().directory.name.endswith(version)


def test_kubernetes_publishes_its_staging_modules_at_v0():
    assert go_tools.kubernetes_staging_version("v1.36.3") == "v0.36.3"
    with pytest.raises(go_tools.GoToolError, match="v2.0.0"):
        go_tools.kubernetes_staging_version("v2.0.0")


def test_replaces_by_upstreams_own_folders_become_the_published_siblings():
    go_mod = ("module k8s.io/kubernetes\n\ngo 1.26.0\n\nrequire (\n\tk8s.io/api v0.0.0\n\tgo.etcd.io/etcd/api/v3 v3.6.6\n)\n\n"
              "replace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n\tgo.etcd.io/etcd/api/v3 => ../api\n"
              "\tgo.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY\n\tcloud.google.com/go => cloud.google.com/go v0.123.0\n)\n")
    assert go_tools.required_modules(go_mod) == {"k8s.io/api", "go.etcd.io/etcd/api/v3"}
    assert go_tools.resolve_local_replaces(go_mod, "v0.36.3") == [
        "replace k8s.io/api => k8s.io/api v0.36.3",
        "replace go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 v0.36.3",
        # not required by anything: a guard against a dependency, dropped
        "replace cloud.google.com/go => cloud.google.com/go v0.123.0",
    ]
    assert go_tools.resolve_local_replaces(go_mod, "")[:2] == ["replace k8s.io/api => ./staging/src/k8s.io/api",
                                                               "replace go.etcd.io/etcd/api/v3 => ../api"]


@pytest.mark.parametrize("release, module", [("v3.14.0", "v0.314.0"), ("v3.4.1", "v0.304.1"), ("3.16.0", "v0.316.0")])
def test_prometheus_releases_map_to_their_module_versions(release, module):
    assert go_tools.prometheus_module_version(release) == module


@pytest.mark.parametrize("release", ["v2.53.0", "v3.14", "latest"])
def test_a_release_with_no_known_module_version_is_refused(release):
    with pytest.raises(go_tools.GoToolError, match=release):
        go_tools.prometheus_module_version(release)


def test_replace_directives_are_read_in_both_forms():
    go_mod = "module m\n\ngo 1.25.8\n\nreplace a.b/c => a.b/c v1.0.0 // pinned\n\nreplace (\n\tx/y => x/y v0.1.0\n\n\tz => ../z\n)\n"
    assert go_tools.replace_lines(go_mod) == ["replace a.b/c => a.b/c v1.0.0", "replace x/y => x/y v0.1.0", "replace z => ../z"]
    assert go_tools.go_directive(go_mod) == "1.25.8"
    assert go_tools.replace_lines("module m\n\ngo 1.24\n") == []


def test_the_wrapper_module_copies_upstreams_replace_line_and_go_version():
    tool = go_tools.prometheus()
    upstream = go_tools.upstream_go_mod(tool)  # from the module cache once downloaded
    assert "replace cloud.google.com/go => cloud.google.com/go v0.123.0" in upstream
    files = go_tools.wrapper_module(tool, upstream)
    lines = files["go.mod"].splitlines()
    assert "module netviz.local/tools/prometheus" in lines
    assert f"go {go_tools.go_directive(upstream)}" in lines
    assert "require github.com/prometheus/prometheus v0.314.0" in lines
    assert "replace cloud.google.com/go => cloud.google.com/go v0.123.0" in lines
    assert files["tools.go"].startswith("//go:build tools\n")
    for command in ("cmd/prometheus", "cmd/promtool"):
        assert f'_ "github.com/prometheus/prometheus/{command}"' in files["tools.go"]


def test_the_built_tools_report_the_pinned_releases():
    assert subprocess.run([require_tool("goflow2"), "-v"], capture_output=True, text=True).stdout.startswith("GoFlow2 v2.2.6 ")
    for name in ("prometheus", "promtool"):
        out = subprocess.run([require_tool(name), "--version"], capture_output=True, text=True).stdout
        assert out.startswith(f"{name}, version 3.14.0 "), out
    stamp = (go_tools.prometheus().directory / go_tools.STAMP).read_text()
    assert "wrapper module" in stamp and "cloud.google.com/go" in stamp  # go install is refused: replace
    assert subprocess.run([require_tool("kube-apiserver"), "--version"], capture_output=True, text=True).stdout == "Kubernetes v1.36.3\n"
    assert subprocess.run([require_tool("etcd"), "--version"], capture_output=True, text=True).stdout.startswith("etcd Version: 3.6.6\n")
    stamp = (go_tools.kube_apiserver().directory / go_tools.STAMP).read_text()
    assert "replace k8s.io/api => k8s.io/api v0.36.3" in stamp


def test_the_operators_crds_are_copied_from_its_module():
    files = go_tools.prometheus_operator_crds()
    assert files.is_built(), f"not copied: run {go_tools.build_command()}"
    assert {"monitoring.coreos.com_podmonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml"} <= set(files.files())


def test_built_tools_are_reused_without_go():
    proc = run_setup({"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    for built in ("goflow2 v2.2.6", "prometheus 3.14.0", "etcd v3.6.6", "kubernetes v1.36.3", "prometheus-operator v0.86.1"):
        assert f"{built} already built" in proc.stdout, proc.stdout
    assert "prometheus-operator-crds v0.86.1 already in" in proc.stdout


def test_a_missing_go_stops_the_setup_naming_it():
    proc = run_setup({"PATH": "/usr/bin:/bin", "NETVIZ_GOFLOW2_VERSION": "v2.2.99"})
    assert proc.returncode == 1
    assert "`go` is not installed" in proc.stderr


def test_a_module_the_proxy_cannot_serve_stops_the_setup_naming_it():
    proc = run_setup({"GOPROXY": "off", "NETVIZ_GOFLOW2_VERSION": "v2.2.99"})
    assert proc.returncode == 1
    assert "the Go module proxy could not serve github.com/netsampler/goflow2/v2@v2.2.99" in proc.stderr
    assert not (go_tools.TOOLS_DIR / "goflow2-v2.2.99").exists()  # nothing half-built is left


def test_a_kubernetes_release_the_proxy_cannot_serve_stops_the_setup_naming_it():
    proc = run_setup({"GOPROXY": "off", "NETVIZ_KUBERNETES_VERSION": "v1.36.99"})
    assert proc.returncode == 1
    assert "the Go module proxy could not serve k8s.io/kubernetes@v1.36.99" in proc.stderr
    assert not (go_tools.TOOLS_DIR / "kubernetes-v1.36.99").exists()


def test_a_tool_not_built_fails_the_test_naming_the_module_and_the_setup(monkeypatch):
    monkeypatch.setenv("NETVIZ_GOFLOW2_VERSION", "v2.2.99")
    with pytest.raises(pytest.fail.Exception, match=r"goflow2/v2@v2\.2\.99.*make go-tools"):
        require_tool("goflow2")


def test_make_test_builds_the_go_tools_and_no_debian_prometheus():
    make = shutil.which("make")
    assert make, "make is needed"
    out = subprocess.run([make, "-n", "-o", ".venv/.installed", "-o", "node_modules/.installed", "test"], cwd=REPO,
                         capture_output=True, text=True).stdout
    assert "-m tests.support.go_tools" in out
    assert out.index("-m tests.support.go_tools") < out.index("-m pytest")
    packages = next(line for line in (REPO / "Makefile").read_text().splitlines() if line.startswith("DEBIAN_PACKAGES"))
    assert "prometheus" not in packages


def test_every_debian_package_a_test_tool_comes_from_is_installed_by_make_test():
    # A fresh machine gets the tools from `make test`'s apt-get (DEBIAN_PACKAGES), so a tool the
    # tests require (tests/support/tools.py APT_PACKAGES) from a package missing there fails on it.
    from tests.support.tools import APT_PACKAGES

    line = next(line for line in (REPO / "Makefile").read_text().splitlines() if line.startswith("DEBIAN_PACKAGES"))
    packages = set(line.split(":=", 1)[1].split())
    essential = {"util-linux"}  # Essential: yes in Debian, on every machine
    assert set(APT_PACKAGES.values()) - essential <= packages
