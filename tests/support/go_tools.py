"""The tools the tests build from Go modules: GoFlow2, Prometheus 3 (server and promtool), Helm.

    python -m tests.support.go_tools            # build what is missing (make test runs this)
    python -m tests.support.go_tools --print    # where each binary is, and its version

Versions (defined once, in netviz_config/schema.py, beside the pins they follow):
- GoFlow2 `GOFLOW2_RELEASE` (v2.2.6), the release the pinned image `GOFLOW2_IMAGE` is built from;
- Prometheus `PROMETHEUS_CHART_APP_VERSION` (v3.14.0), the appVersion of the pinned prometheus
  chart. Prometheus publishes release v3.X.Y as Go module version v0.3XX.Y (v3.14.0 = v0.314.0).
`NETVIZ_GOFLOW2_VERSION=v2.2.7` / `NETVIZ_PROMETHEUS_VERSION=v3.14.1` build and test others.
- Helm `HELM_VERSION` (below): the CLI the chart tests render templates with (not deployed).

Each tool goes into the git-ignored `.tools/<name>-<version>/` of the repository, and is reused
when that folder holds every binary and the stamp written after a successful build. Nothing is
committed: the sources stay in Go's module cache; for Prometheus a small wrapper module is written
next to its binaries (see below).

GoFlow2: `go install github.com/netsampler/goflow2/v2/cmd/goflow2@<version>` (its go.mod has no
replace directives), with `-ldflags -X main.version=<version>` so `goflow2 -v` names it.

Prometheus: `go install github.com/prometheus/prometheus/cmd/prometheus@v0.314.0` is refused by Go
("The go.mod file for the module providing named packages contains one or more replace
directives"): v0.314.0's go.mod has `replace cloud.google.com/go => cloud.google.com/go v0.123.0`.
So when upstream's go.mod (read from the module cache after `go mod download`) has replace
directives, a wrapper module is generated: `module netviz.local/tools/prometheus`, upstream's `go`
line, `require github.com/prometheus/prometheus <module version>`, upstream's replace lines copied
verbatim, a tools.go importing both commands under a build tag; then `go mod tidy` and `go build`
of both commands. Without replace directives, plain `go install` is used. `-ldflags` set
`github.com/prometheus/common/version.Version` so `prometheus --version` names the release. Built
without the `builtinassets` tag: no web UI, the HTTP API is complete (FACTS).

A missing `go`, or a module the proxy cannot serve, stops with a message naming it.
Standard library only.
"""

from __future__ import annotations

import argparse
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
    commands: tuple[str, ...]  # package paths inside the module, e.g. ("cmd/goflow2",)
    ldflags: str

    @property
    def directory(self) -> Path:
        return TOOLS_DIR / f"{self.name}-{self.version}"

    @property
    def binaries(self) -> dict[str, Path]:
        return {c.rsplit("/", 1)[-1]: self.directory / c.rsplit("/", 1)[-1] for c in self.commands}

    def packages(self) -> list[str]:
        return [f"{self.module}/{c}" for c in self.commands]

    def is_built(self) -> bool:
        stamp = self.directory / STAMP
        if not stamp.is_file() or not all(p.is_file() and os.access(p, os.X_OK) for p in self.binaries.values()):
            return False
        try:
            return json.loads(stamp.read_text()).get("version") == self.version
        except ValueError:
            return False


def goflow2() -> GoTool:
    version = os.environ.get("NETVIZ_GOFLOW2_VERSION") or GOFLOW2_RELEASE
    return GoTool(
        name="goflow2",
        module=GOFLOW2_MODULE,
        version=version,
        release=version,
        commands=("cmd/goflow2",),
        ldflags=f"-X main.version={version} -X main.buildinfos=(netviz-test-build)",
    )


def prometheus() -> GoTool:
    release = os.environ.get("NETVIZ_PROMETHEUS_VERSION") or PROMETHEUS_CHART_APP_VERSION
    common = "github.com/prometheus/common/version"
    plain = release.lstrip("v")
    module_version = prometheus_module_version(release)
    return GoTool(
        name="prometheus",
        module=PROMETHEUS_MODULE,
        version=module_version,
        release=plain,
        commands=("cmd/prometheus", "cmd/promtool"),
        ldflags=f"-X {common}.Version={plain} -X {common}.Revision=module-{module_version} "
        f"-X {common}.Branch=release -X {common}.BuildUser=netviz -X {common}.BuildDate=unknown",
    )


def helm() -> GoTool:
    return GoTool(
        name="helm",
        module=HELM_MODULE,
        version=HELM_VERSION,
        release=HELM_VERSION,
        commands=("cmd/helm",),
        ldflags=f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
    )


def tools() -> list[GoTool]:
    return [goflow2(), prometheus(), helm()]


BINARY_TOOLS = {"goflow2": goflow2, "prometheus": prometheus, "promtool": prometheus, "helm": helm}


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
        *replace_lines(go_mod),
        "",
    ])
    imports = "\n".join(f'\t_ "{p}"' for p in tool.packages())
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
    if not replaces:
        for package in tool.packages():
            _run([go, "install", ldflags, f"{package}@{tool.version}"], what=what, fetching=True,
                 env={"GOBIN": str(out)})
        method = "go install"
    else:
        src = out / "module"
        src.mkdir()
        for name, text in wrapper_module(tool, go_mod).items():
            (src / name).write_text(text)
        _run([go, "mod", "tidy"], what=what, fetching=True, cwd=src)
        _run([go, "build", ldflags, "-o", str(out) + "/", *tool.packages()], what=what, cwd=src)
        method = "wrapper module (upstream go.mod has replace directives: " + "; ".join(replaces) + ")"
    missing = [str(p) for p in tool.binaries.values() if not p.is_file()]
    if missing:
        raise GoToolError(f"building {what} left no {', '.join(missing)}")
    (out / STAMP).write_text(json.dumps({"module": tool.module, "version": tool.version, "method": method,
                                         "go": subprocess.run([go, "version"], capture_output=True, text=True).stdout.strip()},
                                        indent=1) + "\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Go tools the tests run (GoFlow2, Prometheus, Helm).")
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
    except GoToolError as e:
        print(f"netviz: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
