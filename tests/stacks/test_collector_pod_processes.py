"""The goflow2 pod as synthesized, run as processes: what is deployed is what is tested.

From the synthesized goflow2 stack this test takes the init container's command (makes the FIFO),
the collector container's command (the shell wrapper around GoFlow2), the exporter container's
command and environment, and the ConfigMap holding the exporter's code, network.toml and the
GoFlow2 mapping. It lays the ConfigMap out as the volume mounts would, and runs the three commands
with only their paths moved into a temp folder. What cannot run here is swapped, and named:
  * the Kubernetes pod itself (a stand-in: processes sharing a folder as the emptyDir);
  * GoFlow2's binary (a stand-in: tests/flow_exporter/goflow2_file_writer.py, which opens and
    writes its file the way GoFlow2's file transport does), started through the wrapper as deployed.
Then each container restarts in turn, and every record written must be counted.
"""

from __future__ import annotations

import os
import select
import stat
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from netviz_constructs.flow_collector import APP_DIR, CONFIG_DIR, FLOWS_DIR
from tests.flow_exporter.helpers import goflow2_line, parse_exposition, wait_until
from tests.synth import REPO

WRITER = REPO / "tests" / "flow_exporter" / "goflow2_file_writer.py"
BYTES = "netviz_flow_bytes_total"


@pytest.fixture(scope="module")
def pod(synthesized):
    deployment = synthesized.resource("goflow2", "kubernetes_deployment_v1", "goflow2_deployment")
    spec = deployment["spec"]["template"]["spec"]
    files = synthesized.resource("goflow2", "kubernetes_config_map_v1", "goflow2_files")["data"]
    return spec, files


class Pod:
    """Processes standing in for the pod's containers, with the pod's paths moved under `root`."""

    def __init__(self, root, spec, files):
        self.root = root
        self.spec = spec
        self.containers = {c["name"]: c for c in spec["container"]}
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, str] = {}
        self._mount_volumes(files)

    def path(self, pod_path: str) -> str:
        return str(self.root) + pod_path

    def move(self, text: str) -> str:
        for pod_dir in (FLOWS_DIR, CONFIG_DIR, APP_DIR):
            text = text.replace(pod_dir, self.path(pod_dir))
        return text

    def _mount_volumes(self, files):
        os.makedirs(self.path(FLOWS_DIR))  # the emptyDir
        mounts = {v["name"]: v for v in self.spec["volume"]}
        for volume, mount_dir in (("code", APP_DIR), ("config", CONFIG_DIR)):
            for item in mounts[volume]["config_map"]["items"]:
                target = self.path(f"{mount_dir}/{item['path']}")
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "w") as f:
                    f.write(files[item["key"]])
        # GoFlow2's binary, swapped for the file-transport stand-in: it takes the path GoFlow2
        # would write (-transport.file=...) from the deployed arguments.
        stub = self.root / "goflow2"
        stub.write_text(textwrap.dedent(f"""\
            #!{sys.executable}
            import os, sys
            path = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("-transport.file=")][0]
            os.execv({sys.executable!r}, [{sys.executable!r}, {str(WRITER)!r}, path])
            """))
        stub.chmod(0o755)

    def init(self):
        (init,) = self.spec["init_container"]
        subprocess.run([self.move(a) for a in init["command"]], check=True, timeout=30)

    def start_collector(self):
        command = [self.move(a) for a in self.containers["goflow2"]["command"]]
        assert command[2].endswith('exec /goflow2 "$@"'), command
        command[2] = command[2].replace("/goflow2", str(self.root / "goflow2"))
        self.procs["goflow2"] = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )

    def collector_says(self, timeout: float = 10) -> str:
        out = self.procs["goflow2"].stdout
        ready, _, _ = select.select([out], [], [], timeout)
        assert ready, f"the collector said nothing within {timeout}s (blocked opening the FIFO?)"
        return out.readline().strip()

    def send(self, nbytes: int, count: int) -> None:
        writer = self.procs["goflow2"]
        for _ in range(count):
            writer.stdin.write("send " + goflow2_line(bytes=nbytes, in_if=0).decode() + "\n")
            assert self.collector_says() == "ok"

    def stop_collector(self):
        writer = self.procs.pop("goflow2")
        writer.stdin.close()
        assert writer.wait(timeout=10) == 0
        writer.stdout.close()

    def start_exporter(self, port: int):
        exporter = self.containers["flow-exporter"]
        command = [self.move(a) for a in exporter["command"]]
        command = [sys.executable if a == "python" else a for a in command]
        command = [f"--listen=127.0.0.1:{port}" if a.startswith("--listen=") else a for a in command]
        env = {e["name"]: self.move(e["value"]) for e in exporter["env"]}
        env["PATH"] = os.environ["PATH"]
        log = str(self.root / "exporter.log")
        self.logs["flow-exporter"] = log
        # cwd is the pod root: the repo's own packages are not importable, only the ConfigMap's.
        self.procs["flow-exporter"] = subprocess.Popen(
            [command[0], "-s", *command[1:]], env=env, cwd=self.root, stdout=open(log, "ab"), stderr=subprocess.STDOUT
        )
        self.port = port
        wait_until("the exporter's /healthz", lambda: self.get("/healthz") == b"ok\n")

    def kill_exporter(self):
        proc = self.procs.pop("flow-exporter")
        proc.kill()
        proc.wait(timeout=10)

    def get(self, path: str) -> bytes:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.read()
        except OSError:
            return b""

    def counted_bytes(self) -> float:
        samples = parse_exposition(self.get("/metrics"))
        return sum(v for (n, _), v in samples.items() if n == BYTES)

    def wait_for_bytes(self, want: float) -> None:
        wait_until(f"{BYTES} == {want}", lambda: self.counted_bytes() == want)

    def cleanup(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def running(tmp_path, pod):
    from tests.support.tools import free_port

    spec, files = pod
    p = Pod(tmp_path, spec, files)
    p.free_port = free_port
    yield p
    p.cleanup()


def test_exporter_runs_from_the_configmap_alone(running):
    code = running.path(f"{APP_DIR}/flow_exporter/__main__.py")
    assert os.path.isfile(code)
    assert os.path.isfile(running.path(f"{APP_DIR}/netviz_config/loader.py"))
    assert os.path.isfile(running.path(f"{CONFIG_DIR}/network.toml"))


def test_collector_pod_survives_each_container_restarting(running):
    running.init()
    assert stat.S_ISFIFO(os.stat(running.path(f"{FLOWS_DIR}/goflow2.fifo")).st_mode)
    running.init()  # an init container may run again (pod restart with the volume kept): no error

    # The collector starts before the exporter and is not held up: the wrapper's read-write
    # descriptor means GoFlow2's O_WRONLY open of the FIFO does not wait for a reader.
    running.start_collector()
    assert running.collector_says() == "opened"
    running.send(1, 3)  # buffered in the pipe until the exporter reads it

    running.start_exporter(running.free_port())
    running.wait_for_bytes(3)

    # The exporter restarts: GoFlow2's writes wait in the pipe instead of failing, and are counted
    # by the next exporter.
    running.kill_exporter()
    running.send(10, 3)
    running.start_exporter(running.free_port())
    running.wait_for_bytes(30)  # a fresh exporter counts from zero: only what it read

    # The collector restarts: the exporter sees the end of the pipe, waits for the next writer,
    # and counts what the new collector writes.
    running.stop_collector()
    wait_until("the exporter to see the collector go", lambda: "waiting for the next writer" in open(running.logs["flow-exporter"]).read())
    running.start_collector()
    assert running.collector_says() == "opened"
    running.send(100, 3)
    running.wait_for_bytes(330)
    assert running.procs["flow-exporter"].poll() is None, "the exporter must never exit"


def test_exporter_starts_with_a_config_naming_files_it_does_not_get(tmp_path):
    """The ConfigMap holds network.toml alone; a values_file it names (adopt mode) is not there."""
    from tests.support.tools import free_port
    from tests.synth import config_text, synth

    (tmp_path / "prometheus-values.yaml").write_text("server: {}\n")
    text = config_text(lambda t: t + '\n[monitoring.prometheus]\nvalues_file = "prometheus-values.yaml"\n')
    out = synth(text, outdir=str(tmp_path))
    deployment = out.resource("goflow2", "kubernetes_deployment_v1", "goflow2_deployment")
    files = out.resource("goflow2", "kubernetes_config_map_v1", "goflow2_files")["data"]
    p = Pod(tmp_path / "pod", deployment["spec"]["template"]["spec"], files)
    try:
        p.init()
        p.start_collector()
        assert p.collector_says() == "opened"
        p.start_exporter(free_port())
        p.send(7, 1)
        p.wait_for_bytes(7)
    finally:
        p.cleanup()
