"""The tools the tests build from Go modules: GoFlow2, Prometheus 3 (server and promtool), Helm, and a
Kubernetes control plane (kube-apiserver and etcd); and the files the tests read from a Go module
without building it (the Prometheus Operator's CRDs).

    python -m tests.support.go_tools            # build what is missing (make test runs this)
    python -m tests.support.go_tools --print    # where each binary is, and its version

Versions (defined once, in netviz_config/schema.py, beside the pins they follow):
- GoFlow2 `GOFLOW2_RELEASE` (v2.2.6), the release the pinned image `GOFLOW2_IMAGE` is built from;
- Prometheus `PROMETHEUS_CHART_APP_VERSION` (v3.14.0), the appVersion of the pinned prometheus
  chart. Prometheus publishes release v3.X.Y as Go module version v0.3XX.Y (v3.14.0 = v0.314.0).
`NETVIZ_GOFLOW2_VERSION=v2.2.7` / `NETVIZ_PROMETHEUS_VERSION=v3.14.1` build and test others.
Versions of what netviz does not deploy but is tested against (below, each overridable the same way):
- Helm `HELM_VERSION`: the CLI the chart tests render templates with;
- kube-apiserver `KUBERNETES_VERSION` (`NETVIZ_KUBERNETES_VERSION`) and etcd `ETCD_VERSION`
  (`NETVIZ_ETCD_VERSION`): the API server that reads every object netviz deploys
  (tests/support/kubernetes.py);
- the Prometheus Operator `PROMETHEUS_OPERATOR_VERSION` (`NETVIZ_PROMETHEUS_OPERATOR_VERSION`): its
  `operator` command, which turns PodMonitors and PrometheusRules into a Prometheus configuration,
  and its CRDs, copied from its module's example/prometheus-operator-crd/ folder.

Each tool goes into the git-ignored `.tools/<name>-<version>/` of the repository, and is reused
when that folder holds every binary and the stamp written after a successful build. Nothing is
committed: the sources stay in Go's module cache; where upstream's go.mod has replace directives a
small wrapper module is written next to the binaries (see below).

GoFlow2: `go install github.com/netsampler/goflow2/v2/cmd/goflow2@<version>` (its go.mod has no
replace directives), with `-ldflags -X main.version=<version>` so `goflow2 -v` names it.

Prometheus: `go install github.com/prometheus/prometheus/cmd/prometheus@v0.314.0` is refused by Go
("The go.mod file for the module providing named packages contains one or more replace
directives"): v0.314.0's go.mod has `replace cloud.google.com/go => cloud.google.com/go v0.123.0`.
So when upstream's go.mod (read from the module cache after `go mod download`) has replace
directives, a wrapper module is generated: `module netviz.local/tools/prometheus`, upstream's `go`
line, `require github.com/prometheus/prometheus <module version>`, upstream's replace lines, a
tools.go importing the commands under a build tag; then `go mod tidy` and `go build` of each
command. Without replace directives, plain `go install` is used. `-ldflags` set
`github.com/prometheus/common/version.Version` so `prometheus --version` names the release. Built
without the `builtinassets` tag: no web UI, the HTTP API is complete (FACTS).

kube-apiserver and etcd: upstream's go.mod replaces its sibling modules with folders of its own
repository (`k8s.io/api => ./staging/src/k8s.io/api`, `go.etcd.io/etcd/api/v3 => ../api`), which a
module from the proxy does not have. The wrapper replaces each such module with its published
release instead (`k8s.io/api => k8s.io/api v0.36.3` for Kubernetes v1.36.3; etcd's siblings at
etcd's own version): `sibling_version`.

tsdbgen (benchmarks/tsdbgen/, netviz's own code): writes a Prometheus TSDB of synthetic series for
benchmarks/dashboard_bench.py, with the tsdb package of the Prometheus module above; spanbench
(benchmarks/spanbench/, likewise) runs queries through its promql engine for
benchmarks/span_bench.py. Each is built the same way as a wrapper module, with its own Go files in
place of tools.go; its folder's name carries a hash of those files, so an edit rebuilds it.

A missing `go`, or a module the proxy cannot serve, stops with a message naming it.
Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

REPO = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO / ".tools"
STAMP = ".built.json"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from netviz_config.schema import GOFLOW2_RELEASE, PROMETHEUS_CHART_APP_VERSION  # noqa: E402

GOFLOW2_MODULE = "github.com/netsampler/goflow2/v2"
HELM_MODULE = "helm.sh/helm/v3"
HELM_VERSION = "v3.22.0"
PROMETHEUS_MODULE = "github.com/prometheus/prometheus"
KUBERNETES_MODULE = "k8s.io/kubernetes"
KUBERNETES_VERSION = "v1.36.3"
ETCD_MODULE = "go.etcd.io/etcd/server/v3"
ETCD_VERSION = "v3.6.6"
PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_OPERATOR_VERSION = "v0.86.1"
PROMETHEUS_OPERATOR_CRD_DIR = "example/prometheus-operator-crd"


class GoToolError(RuntimeError):
    """A Go tool cannot be built; the message names what is missing and the command that failed."""


def prometheus_module_version(release: str) -> str:
    """Prometheus release v3.X.Y as its Go module version v0.3XX.Y (v3.14.0 -> v0.314.0)."""
    m = re.fullmatch(r"v?3\.(\d+)\.(\d+)", release)
    if not m:
        raise GoToolError(f"Prometheus release {release!r}: expected v3.X.Y (module versions are known for 3.x only)")
    minor, patch = int(m.group(1)), int(m.group(2))
    if minor > 99:
        raise GoToolError(f"Prometheus release {release!r}: minor version above 99 has no known module version")
    return f"v0.3{minor:02d}.{patch}"


@dataclass(frozen=True)
class GoTool:
    name: str
    module: str
    version: str  # the module version
    release: str  # what the binary reports (`-v` / `--version`)
    commands: tuple[tuple[str, str], ...]
    """(package path inside the module, "" for the module's root; binary name), e.g. ("cmd/goflow2", "goflow2")."""
    ldflags: str
    sibling_version: str = ""
    """The version a replace directive of upstream's go.mod that points into upstream's own
    repository (`=> ./staging/...`, `=> ../api`) is resolved to: the same module at this version."""
    own_source: str = ""
    """A folder of netviz's own Go files (package main, relative to the repository) built against
    `module`: the binary is that program, not one of upstream's commands."""

    @property
    def source_hash(self) -> str:
        """The own source's files, hashed: part of the folder's name, so an edit is a new build."""
        if not self.own_source:
            return ""
        digest = hashlib.sha256()
        for path in sorted((REPO / self.own_source).glob("*.go")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()[:12]

    @property
    def directory(self) -> Path:
        suffix = f"-{self.source_hash}" if self.own_source else ""
        return TOOLS_DIR / f"{self.name}-{self.version}{suffix}"

    @property
    def binaries(self) -> dict[str, Path]:
        return {binary: self.directory / binary for _, binary in self.commands}

    def packages(self) -> dict[str, str]:
        """Binary name -> Go package path."""
        if self.own_source:
            return {binary: "." for _, binary in self.commands}
        return {binary: f"{self.module}/{path}" if path else self.module for path, binary in self.commands}

    def is_built(self) -> bool:
        stamp = self.directory / STAMP
        if not stamp.is_file() or not all(p.is_file() and os.access(p, os.X_OK) for p in self.binaries.values()):
            return False
        try:
            return json.loads(stamp.read_text()).get("version") == self.version
        except ValueError:
            return False


def _pinned(variable: str, default: str) -> str:
    """The version to build: the environment's `variable` if set, else the pin."""
    return os.environ.get(variable) or default


def goflow2() -> GoTool:
    version = _pinned("NETVIZ_GOFLOW2_VERSION", GOFLOW2_RELEASE)
    return GoTool(
        name="goflow2",
        module=GOFLOW2_MODULE,
        version=version,
        release=version,
        commands=(("cmd/goflow2", "goflow2"),),
        ldflags=f"-X main.version={version} -X main.buildinfos=(netviz-test-build)",
    )


def prometheus() -> GoTool:
    release = _pinned("NETVIZ_PROMETHEUS_VERSION", PROMETHEUS_CHART_APP_VERSION)
    common = "github.com/prometheus/common/version"
    plain = release.lstrip("v")
    module_version = prometheus_module_version(release)
    return GoTool(
        name="prometheus",
        module=PROMETHEUS_MODULE,
        version=module_version,
        release=plain,
        commands=(("cmd/prometheus", "prometheus"), ("cmd/promtool", "promtool")),
        ldflags=f"-X {common}.Version={plain} -X {common}.Revision=module-{module_version} "
        f"-X {common}.Branch=release -X {common}.BuildUser=netviz -X {common}.BuildDate=unknown",
    )


def _own_prometheus_program(name: str) -> GoTool:
    """netviz's own Go program benchmarks/<name>, built against the pinned Prometheus module."""
    prometheus_tool = prometheus()
    return GoTool(
        name=name,
        module=PROMETHEUS_MODULE,
        version=prometheus_tool.version,
        release=prometheus_tool.release,
        commands=(("", name),),
        ldflags="-s -w",
        own_source=f"benchmarks/{name}",
    )


def tsdbgen() -> GoTool:
    return _own_prometheus_program("tsdbgen")


def spanbench() -> GoTool:
    return _own_prometheus_program("spanbench")


def helm() -> GoTool:
    return GoTool(
        name="helm",
        module=HELM_MODULE,
        version=HELM_VERSION,
        release=HELM_VERSION,
        commands=(("cmd/helm", "helm"),),
        ldflags=f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
    )


def kubernetes_staging_version(release: str) -> str:
    """The version Kubernetes release v1.X.Y publishes its staging modules at (k8s.io/api ...): v0.X.Y."""
    m = re.fullmatch(r"v1\.(\d+)\.(\d+)", release)
    if not m:
        raise GoToolError(f"Kubernetes release {release!r}: expected v1.X.Y")
    return f"v0.{m.group(1)}.{m.group(2)}"


def kube_apiserver() -> GoTool:
    version = _pinned("NETVIZ_KUBERNETES_VERSION", KUBERNETES_VERSION)
    staging = kubernetes_staging_version(version)
    minor = version.split(".")[1]
    pkg = "k8s.io/component-base/version"
    return GoTool(
        name="kubernetes",
        module=KUBERNETES_MODULE,
        version=version,
        release=version,
        commands=(("cmd/kube-apiserver", "kube-apiserver"),),
        # What /version reports (and what the API server takes as its own version).
        ldflags=f"-X {pkg}.gitVersion={version} -X {pkg}.gitMajor=1 -X {pkg}.gitMinor={minor} "
        f"-X {pkg}.gitTreeState=clean -X {pkg}.buildDate=1970-01-01T00:00:00Z",
        sibling_version=staging,
    )


def etcd() -> GoTool:
    version = _pinned("NETVIZ_ETCD_VERSION", ETCD_VERSION)
    return GoTool(
        name="etcd",
        module=ETCD_MODULE,
        version=version,
        release=version,
        commands=(("", "etcd"),),  # the module's root is etcd's main package
        ldflags="",
        sibling_version=version,
    )


def prometheus_operator() -> GoTool:
    version = _pinned("NETVIZ_PROMETHEUS_OPERATOR_VERSION", PROMETHEUS_OPERATOR_VERSION)
    return GoTool(
        name="prometheus-operator",
        module=PROMETHEUS_OPERATOR_MODULE,
        version=version,
        release=version,
        commands=(("cmd/operator", "operator"),),
        ldflags=f"-X github.com/prometheus/common/version.Version={version.lstrip('v')}",
        sibling_version=version,  # pkg/apis/monitoring and pkg/client are published at the operator's version
    )


def tools() -> list[GoTool]:
    return [goflow2(), prometheus(), tsdbgen(), spanbench(), helm(), etcd(), kube_apiserver(), prometheus_operator()]


BINARY_TOOLS = {
    "goflow2": goflow2,
    "prometheus": prometheus,
    "promtool": prometheus,
    "helm": helm,
    "etcd": etcd,
    "kube-apiserver": kube_apiserver,
    "operator": prometheus_operator,
    "tsdbgen": tsdbgen,
    "spanbench": spanbench,
}


@dataclass(frozen=True)
class ModuleFiles:
    """Files the tests read from a Go module's source, copied into .tools/ (nothing is built)."""

    name: str
    module: str
    version: str
    folder: str
    """Folder inside the module whose *.yaml files are copied."""

    @property
    def directory(self) -> Path:
        return TOOLS_DIR / f"{self.name}-{self.version}"

    def is_built(self) -> bool:
        stamp = self.directory / STAMP
        try:
            return json.loads(stamp.read_text()).get("version") == self.version
        except (OSError, ValueError):
            return False

    def files(self) -> dict[str, Path]:
        return {p.name: p for p in sorted(self.directory.glob("*.yaml"))}


def prometheus_operator_crds() -> ModuleFiles:
    return ModuleFiles(
        name="prometheus-operator-crds",
        module=PROMETHEUS_OPERATOR_MODULE,
        version=_pinned("NETVIZ_PROMETHEUS_OPERATOR_VERSION", PROMETHEUS_OPERATOR_VERSION),
        folder=PROMETHEUS_OPERATOR_CRD_DIR,
    )


def module_files() -> list[ModuleFiles]:
    return [prometheus_operator_crds()]


def binary(name: str) -> tuple[Optional[Path], GoTool]:
    """(path of binary `name` if its pinned build is there, else None; the tool it belongs to)."""
    tool = BINARY_TOOLS[name]()
    return (tool.binaries[name] if tool.is_built() else None), tool


def build_command() -> str:
    return "make go-tools   (or: python -m tests.support.go_tools)"


# ---- building ------------------------------------------------------------------------------


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise GoToolError(
            "`go` is not installed (or not on PATH): the tests build GoFlow2 and Prometheus from their "
            "Go modules. Install Go >= 1.26 (https://go.dev/dl/) and run again."
        )
    return go


def _run(args: Sequence[str], *, what: str, fetching: bool = False, cwd: Optional[Path] = None,
         env: Optional[dict] = None) -> str:
    """Run a go command; on failure raise GoToolError quoting it. `fetching`: the step downloads
    modules, so a failure is reported as the module proxy not serving `what`."""
    print("+ " + " ".join(args) + (f"   (in {cwd})" if cwd else ""), flush=True)
    proc = subprocess.run(list(args), cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        if fetching:
            proxy = os.environ.get("GOPROXY") or _go_env("GOPROXY")
            raise GoToolError(f"the Go module proxy could not serve {what} (GOPROXY={proxy}): "
                              f"`{' '.join(args)}` exited {proc.returncode}:\n{output}")
        raise GoToolError(f"building {what} failed: `{' '.join(args)}` exited {proc.returncode}:\n{output}")
    return proc.stdout


def _go_env(name: str) -> str:
    try:
        return subprocess.run([_go(), "env", name], capture_output=True, text=True).stdout.strip()
    except (GoToolError, OSError):
        return ""


def upstream_go_mod(tool: GoTool) -> str:
    """The tool module's own go.mod, downloaded into (and read from) Go's module cache."""
    what = f"{tool.module}@{tool.version}"
    info = json.loads(_run([_go(), "mod", "download", "-json", what], what=what, fetching=True))
    return Path(info["GoMod"]).read_text()


def replace_lines(go_mod: str) -> list[str]:
    """Every replace directive of a go.mod, as `replace A => B` lines (block form flattened)."""
    lines, in_block = [], False
    for raw in go_mod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if in_block:
            if line == ")":
                in_block = False
            elif line:
                lines.append(f"replace {line}")
        elif line.startswith("replace"):
            rest = line[len("replace"):].strip()
            if rest == "(":
                in_block = True
            elif rest:
                lines.append(f"replace {rest}")
    return lines


def required_modules(go_mod: str) -> set[str]:
    """The module paths a go.mod's require directives name (both forms)."""
    found, in_block = set(), False
    for raw in go_mod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if in_block:
            if line == ")":
                in_block = False
            elif line:
                found.add(line.split()[0])
        elif line.startswith("require"):
            rest = line[len("require"):].strip()
            if rest == "(":
                in_block = True
            elif rest:
                found.add(rest.split()[0])
    return found


def resolve_local_replaces(go_mod: str, sibling_version: str) -> list[str]:
    """The replace lines of `go_mod`, where each replacement by a folder of upstream's own
    repository (`A => ./staging/src/A`, `A => ../a`) becomes the published module `A` at
    `sibling_version` when upstream requires `A`, and is dropped when it does not (etcd's
    `go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY` guards: nothing in the build names them). Without
    a sibling version such lines are kept as they are (and Go will refuse them)."""
    required = required_modules(go_mod)
    out = []
    for line in replace_lines(go_mod):
        m = re.fullmatch(r"replace (\S+)(?: (\S+))? => (\.{1,2}/\S*)", line)
        if m and sibling_version:
            if m.group(1) in required:
                out.append(f"replace {m.group(1)} => {m.group(1)} {sibling_version}")
        else:
            out.append(line)
    return out


def go_directive(go_mod: str) -> str:
    m = re.search(r"^go\s+(\S+)\s*$", go_mod, re.M)
    if not m:
        raise GoToolError("upstream go.mod has no `go` line")
    return m.group(1)


def wrapper_module(tool: GoTool, go_mod: str) -> dict[str, str]:
    """The files of the generated module that builds `tool` despite its replace directives."""
    go_mod_text = "\n".join([
        "// Generated by netviz (tests/support/go_tools.py): builds upstream's commands with the",
        "// replace directives copied from upstream's own go.mod. Not netviz code; never committed.",
        f"module netviz.local/tools/{tool.name}",
        "",
        f"go {go_directive(go_mod)}",
        "",
        f"require {tool.module} {tool.version}",
        "",
        *resolve_local_replaces(go_mod, tool.sibling_version),
        "",
    ])
    imports = "\n".join(f'\t_ "{p}"' for p in tool.packages().values())
    tools_go = f"//go:build tools\n\n// Package tools pins the commands built from {tool.module}.\npackage tools\n\nimport (\n{imports}\n)\n"
    return {"go.mod": go_mod_text, "tools.go": tools_go}


def build(tool: GoTool, force: bool = False) -> bool:
    """Build `tool` into its folder unless already built; True when it built."""
    if tool.is_built() and not force:
        return False
    go = _go()
    out = tool.directory
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    try:
        _build_into(tool, go, out)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # no half-built folder is ever taken for a build
        raise
    return True


def _build_into(tool: GoTool, go: str, out: Path) -> None:
    what = f"{tool.module}@{tool.version}"
    go_mod = upstream_go_mod(tool)
    replaces = replace_lines(go_mod)
    ldflags = f"-ldflags={tool.ldflags}"
    if not replaces and not tool.own_source:
        for package in tool.packages().values():
            _run([go, "install", ldflags, f"{package}@{tool.version}"], what=what, fetching=True,
                 env={"GOBIN": str(out)})
        method = "go install"
    else:
        src = out / "module"
        src.mkdir()
        for name, text in wrapper_module(tool, go_mod).items():
            (src / name).write_text(text)
        if tool.own_source:  # netviz's own program in place of upstream's commands
            (src / "tools.go").unlink()
            for path in (REPO / tool.own_source).glob("*.go"):
                shutil.copy(path, src / path.name)
        _run([go, "mod", "tidy"], what=what, fetching=True, cwd=src)
        for binary, package in tool.packages().items():  # one at a time: `-o` names each binary
            _run([go, "build", ldflags, "-o", str(out / binary), package], what=what, cwd=src)
        method = ("wrapper module (upstream go.mod has replace directives; the wrapper's: "
                  + "; ".join(resolve_local_replaces(go_mod, tool.sibling_version)) + ")")
    missing = [str(p) for p in tool.binaries.values() if not p.is_file()]
    if missing:
        raise GoToolError(f"building {what} left no {', '.join(missing)}")
    (out / STAMP).write_text(json.dumps({"module": tool.module, "version": tool.version, "method": method,
                                         "source": tool.source_hash,
                                         "go": subprocess.run([go, "version"], capture_output=True, text=True).stdout.strip()},
                                        indent=1) + "\n")


def fetch_files(files: ModuleFiles, force: bool = False) -> bool:
    """Copy `files.folder`'s YAML files out of the module cache into `files.directory` unless
    already there; True when it copied."""
    if files.is_built() and not force:
        return False
    what = f"{files.module}@{files.version}"
    info = json.loads(_run([_go(), "mod", "download", "-json", what], what=what, fetching=True))
    source = Path(info["Dir"]) / files.folder
    found = sorted(source.glob("*.yaml"))
    if not found:
        raise GoToolError(f"{what} has no {files.folder}/*.yaml")
    if files.directory.exists():
        shutil.rmtree(files.directory)
    files.directory.mkdir(parents=True)
    for path in found:
        shutil.copyfile(path, files.directory / path.name)
    (files.directory / STAMP).write_text(json.dumps({"module": files.module, "version": files.version,
                                                     "folder": files.folder}, indent=1) + "\n")
    return True


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Go tools the tests run (GoFlow2, Prometheus, Helm, "
                                     "kube-apiserver, etcd) and copy the Prometheus Operator's CRDs.")
    parser.add_argument("--print", action="store_true", help="print where each binary is; build nothing")
    parser.add_argument("--force", action="store_true", help="rebuild even when built")
    args = parser.parse_args(argv)
    try:
        for tool in tools():
            if args.print:
                state = "built" if tool.is_built() else "NOT BUILT"
                for name, path in tool.binaries.items():
                    print(f"{name} {tool.release} ({tool.module}@{tool.version}): {path} [{state}]")
                continue
            if build(tool, force=args.force):
                print(f"netviz: built {tool.name} {tool.release} into {tool.directory}", flush=True)
            else:
                print(f"netviz: {tool.name} {tool.release} already built in {tool.directory}", flush=True)
        for files in module_files():
            if args.print:
                state = "copied" if files.is_built() else "NOT COPIED"
                print(f"{files.name} ({files.module}@{files.version} {files.folder}): {files.directory} [{state}]")
            elif fetch_files(files, force=args.force):
                print(f"netviz: copied {files.name} {files.version} into {files.directory}", flush=True)
            else:
                print(f"netviz: {files.name} {files.version} already in {files.directory}", flush=True)
    except GoToolError as e:
        print(f"netviz: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
