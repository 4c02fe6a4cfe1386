"""A real Prometheus server for tests and `promtool`: the Prometheus 3 release the pinned prometheus
chart deploys (its appVersion, v3.14.0), built from its Go module (tests/support/go_tools.py).

    with PrometheusServer({"global": {"scrape_interval": "1s"},
                           "scrape_configs": [{"job_name": "x", "static_configs": [{"targets": [addr]}]}]}) as prom:
        prom.wait_for_scrape("x")
        value = prom.query_value('sum(up{job="x"})')

The server listens on a free 127.0.0.1 port with a fresh storage folder, is ready when `/-/ready`
answers, and is always stopped (and its folder removed) on leaving the `with` block. Its log is
kept and quoted in every failure message.

Its Kubernetes discovery asks a real API server in tests/kubernetes/ (tests/support/kubernetes.py).
Tests that only need a job's relabelling applied to a few pods, without a cluster, use
`swap_kubernetes_sd_for_file_sd`: it turns a pod-discovery job into a file-discovery job whose
targets carry the `__meta_kubernetes_*` labels the given pods would have, so the job's own relabel
rules run in the real server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from copy import deepcopy
from typing import Any, Iterable, Optional, Union

from .tools import free_port, require_tool

DEFAULT_TIMEOUT = 30.0


class PrometheusError(AssertionError):
    """The server failed to start, a query failed, or a wait timed out. Carries the server log."""


def promtool(*args: str, input: Optional[str] = None, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the real `promtool` with `args`; with `check`, fail with its output unless it exits 0.

    `promtool("check", "metrics", input=exposition_text)`, `promtool("check", "rules", path)`,
    `promtool("test", "rules", path)`, `promtool("check", "config", path)`."""
    exe = require_tool("promtool")
    proc = subprocess.run([exe, *args], input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise PrometheusError(
            f"promtool {' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


class PrometheusServer:
    """One real Prometheus process. Use as a context manager (or `start()` / `stop()`).

    config: the prometheus.yml content, as a dict (written as JSON, which YAML reads) or a YAML string.
    rule_files: optional {file name: YAML text}; written beside the config and added to `rule_files`
        (only when `config` is a dict).
    scrape_interval: when `config` is a dict without `global.scrape_interval`, this one is set (1s,
        so tests wait little). Evaluation interval likewise.
    storage_path: an existing TSDB folder to serve (benchmarks/dashboard_bench.py's), kept on stop;
        default: a fresh one in the server's temp folder.
    request_timeout: seconds an API call may take (the benchmark's raw queries take minutes).
    """

    def __init__(
        self,
        config: Union[dict, str],
        *,
        rule_files: Optional[dict[str, str]] = None,
        scrape_interval: str = "1s",
        extra_args: Iterable[str] = (),
        start_timeout: float = DEFAULT_TIMEOUT,
        storage_path: Optional[str] = None,
        request_timeout: float = 30,
    ):
        self._config = deepcopy(config)
        self._rule_files = dict(rule_files or {})
        self._scrape_interval = scrape_interval
        self._extra_args = list(extra_args)
        self._start_timeout = start_timeout
        self._storage_path = storage_path
        self._request_timeout = request_timeout
        self._proc: Optional[subprocess.Popen] = None
        self._dir: Optional[str] = None
        self._log_path: Optional[str] = None
        self.port: Optional[int] = None

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise PrometheusError("Prometheus is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> str:
        return os.path.join(self._dir, "prometheus.yml")

    @property
    def directory(self) -> str:
        """The server's own temp folder (config, rules, storage, log); removed on stop."""
        return self._dir

    def __enter__(self) -> "PrometheusServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "PrometheusServer":
        exe = require_tool("prometheus")
        self._dir = tempfile.mkdtemp(prefix="netviz-prometheus-")
        self._log_path = os.path.join(self._dir, "prometheus.log")
        self._write_config()
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probing and binding it
            self.port = free_port()
            args = [
                exe,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self._storage_path or os.path.join(self._dir, 'data')}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--web.enable-admin-api",
                "--log.level=info",
                *self._extra_args,
            ]
            log = open(self._log_path, "ab")
            try:
                self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            finally:
                log.close()
            try:
                self._wait_ready()
                return self
            except PrometheusError as e:
                last_error = str(e)
                self._kill()
                if "address already in use" not in self.log().lower():
                    break
        self.stop()
        raise PrometheusError(last_error)

    def stop(self) -> None:
        self._kill()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def log(self) -> str:
        """The server's output so far (empty once stopped)."""
        try:
            with open(self._log_path, "r", errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def _log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def _write_config(self) -> None:
        config = self._config
        if isinstance(config, dict):
            config.setdefault("global", {})
            config["global"].setdefault("scrape_interval", self._scrape_interval)
            config["global"].setdefault("evaluation_interval", self._scrape_interval)
            if self._rule_files:
                paths = []
                for name, text in self._rule_files.items():
                    path = os.path.join(self._dir, os.path.basename(name))
                    with open(path, "w") as f:
                        f.write(text)
                    paths.append(path)
                config["rule_files"] = list(config.get("rule_files", [])) + paths
            text = json.dumps(config, indent=2)
        else:
            if self._rule_files:
                raise ValueError("rule_files needs the config as a dict (add rule_files to the YAML yourself)")
            text = config
        with open(self.config_path, "w") as f:
            f.write(text)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PrometheusError(
                    f"prometheus exited with code {self._proc.returncode} while starting\n"
                    f"--- config\n{self._config_text()}\n--- log\n{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.1)
        raise PrometheusError(f"prometheus not ready after {self._start_timeout}s\n--- log\n{self._log_tail()}")

    def _config_text(self) -> str:
        try:
            with open(self.config_path) as f:
                return f.read()
        except OSError:
            return "<unreadable>"

    def reload(self, config: Union[dict, str, None] = None) -> None:
        """Write `config` (if given) and make the running server reload it; fail if it rejects it."""
        if config is not None:
            self._config = deepcopy(config)
            self._rule_files = {}
            self._write_config()
        try:
            self._request("/-/reload", method="POST")
        except PrometheusError as e:
            raise PrometheusError(f"reload rejected: {e}\n--- log\n{self._log_tail()}") from None

    # ---- HTTP API --------------------------------------------------------------------------

    def _request(self, path: str, params: Optional[dict] = None, method: str = "GET") -> Any:
        url = self.url + path
        data = None
        if params:
            encoded = urllib.parse.urlencode(params)
            if method == "GET":
                url += "?" + encoded
            else:
                data = encoded.encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(req, timeout=self._request_timeout) as r:
                body = r.read()
        except urllib.error.HTTPError as e:
            body = e.read().decode(errors="replace")
            raise PrometheusError(f"{method} {path} {params or ''}: HTTP {e.code}: {body}") from None
        except (urllib.error.URLError, OSError) as e:
            raise PrometheusError(f"{method} {path}: {e}\n--- log\n{self._log_tail()}") from None
        if not body:
            return None
        try:
            doc = json.loads(body)
        except ValueError:
            return body.decode(errors="replace")
        if isinstance(doc, dict) and doc.get("status") == "error":
            raise PrometheusError(f"{method} {path} {params or ''}: {doc.get('errorType')}: {doc.get('error')}")
        return doc.get("data") if isinstance(doc, dict) and "data" in doc else doc

    def query(self, expr: str, time: Optional[float] = None) -> list[dict]:
        """Instant query; returns the result list (`[{"metric": {...}, "value": [ts, "v"]}, ...]`
        for a vector; for a scalar or string, a one-element list `[{"metric": {}, "value": [ts, "v"]}]`)."""
        params = {"query": expr}
        if time is not None:
            params["time"] = repr(float(time))
        data = self._request("/api/v1/query", params, method="POST")
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        """Range query; returns the result list (`[{"metric": {...}, "values": [[ts, "v"], ...]}]`)."""
        params = {"query": expr, "start": repr(float(start)), "end": repr(float(end)), "step": repr(float(step))}
        return self._request("/api/v1/query_range", params, method="POST")["result"]

    def query_value(self, expr: str, time: Optional[float] = None) -> Optional[float]:
        """The value of a query that returns at most one series: a float, or None if it returns none.
        Fails when it returns several series (so a too-loose selector cannot pass by accident)."""
        result = self.query(expr, time)
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(f"{expr!r} returned {len(result)} series, expected at most one: {result}")
        return float(result[0]["value"][1])

    def query_map(self, expr: str, by: Union[str, Iterable[str]], time: Optional[float] = None) -> dict:
        """{label value (or tuple of values): float} of a vector query, keyed by label(s) `by`.
        Fails if two series share a key."""
        keys = [by] if isinstance(by, str) else list(by)
        out: dict = {}
        for series in self.query(expr, time):
            key = tuple(series["metric"].get(k, "") for k in keys)
            key = key[0] if isinstance(by, str) else key
            if key in out:
                raise PrometheusError(f"{expr!r}: two series with {dict(zip(keys, key if isinstance(key, tuple) else (key,)))}")
            out[key] = float(series["value"][1])
        return out

    def targets(self, state: str = "active") -> list[dict]:
        """`/api/v1/targets`: the active targets (state="active", default) or dropped ones ("dropped")."""
        data = self._request("/api/v1/targets", {"state": state})
        return data["droppedTargets" if state == "dropped" else "activeTargets"]

    def job_targets(self, job: str) -> list[dict]:
        """Active targets of scrape job `job` (matched on `scrapePool`)."""
        return [t for t in self.targets() if t.get("scrapePool") == job]

    def metadata(self, metric: Optional[str] = None) -> dict:
        params = {"metric": metric} if metric else None
        return self._request("/api/v1/metadata", params)

    def series(self, match: str) -> list[dict]:
        return self._request("/api/v1/series", {"match[]": match})

    def rules(self) -> list[dict]:
        return self._request("/api/v1/rules")["groups"]

    def alerts(self) -> list[dict]:
        """`/api/v1/alerts`: the alerts pending or firing now (a resolved one is gone), each with its
        labels, annotations, state and value."""
        return self._request("/api/v1/alerts")["alerts"]

    def buildinfo(self) -> dict:
        """`/api/v1/status/buildinfo`: version, revision, goVersion ... of the running server."""
        return self._request("/api/v1/status/buildinfo")

    # ---- waiting ---------------------------------------------------------------------------

    def wait_for_targets(
        self, job: str, count: Optional[int] = None, health: str = "up", timeout: float = DEFAULT_TIMEOUT
    ) -> list[dict]:
        """Wait until job `job` has targets (exactly `count` if given) all with health `health`
        ("up", or "down" to wait for a failing scrape); returns them."""
        deadline = time.monotonic() + timeout
        seen: list[dict] = []
        while time.monotonic() < deadline:
            seen = self.job_targets(job)
            if seen and (count is None or len(seen) == count) and all(t["health"] == health for t in seen):
                return seen
            time.sleep(0.2)
        summary = [(t.get("scrapeUrl"), t.get("health"), t.get("lastError")) for t in seen]
        raise PrometheusError(
            f"job {job!r}: waited {timeout}s for {count if count is not None else 'any number of'} target(s) "
            f"with health {health!r}; have {summary}\n--- log\n{self._log_tail()}"
        )

    def wait_for_scrape(self, job: str, after: Optional[float] = None, count: Optional[int] = None,
                        timeout: float = DEFAULT_TIMEOUT) -> list[dict]:
        """Wait until every target of `job` is up and was scraped after wall-clock time `after`
        (default: now, i.e. a scrape that began after this call). Use it after changing what a
        target serves, so the next query sees the change."""
        after = time.time() if after is None else after
        deadline = time.monotonic() + timeout
        seen: list[dict] = []
        while time.monotonic() < deadline:
            seen = self.job_targets(job)
            if seen and (count is None or len(seen) == count) and all(
                t["health"] == "up" and _parse_rfc3339(t.get("lastScrape")) > after for t in seen
            ):
                return seen
            time.sleep(0.2)
        summary = [(t.get("scrapeUrl"), t.get("health"), t.get("lastScrape"), t.get("lastError")) for t in seen]
        raise PrometheusError(
            f"job {job!r}: no successful scrape of every target after {after} within {timeout}s; have {summary}\n"
            f"--- log\n{self._log_tail()}"
        )

    def wait_for_rule_evaluation(self, after: Optional[float] = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until every rule group was evaluated after `after` (default: now)."""
        after = time.time() if after is None else after
        deadline = time.monotonic() + timeout
        groups: list[dict] = []
        while time.monotonic() < deadline:
            groups = self.rules()
            if groups and all(_parse_rfc3339(g.get("lastEvaluation")) > after for g in groups):
                return
            time.sleep(0.2)
        raise PrometheusError(f"rule groups not evaluated after {after} within {timeout}s: {groups}")


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _parse_rfc3339(text: Optional[str]) -> float:
    """Prometheus' timestamps (`2026-11-25T08:10:01.123456789Z`) as epoch seconds; 0 if absent."""
    if not text:
        return 0.0
    import datetime

    m = _RFC3339.match(text)
    if not m:
        return 0.0
    base, frac, zone = m.groups()
    zone = "+00:00" if zone == "Z" else zone
    dt = datetime.datetime.fromisoformat(base + zone)
    if dt.year < 1971:  # Go's zero time: never scraped
        return 0.0
    return dt.timestamp() + (float(frac) if frac else 0.0)


# ---- Kubernetes pod discovery, simulated with file discovery ---------------------------------

_META = "__meta_kubernetes_"


def sanitize_label_name(name: str) -> str:
    """Prometheus' strutil.SanitizeLabelName: every character outside [a-zA-Z0-9_] becomes `_`."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def pod(
    name: str,
    *,
    namespace: str = "default",
    ip: str = "127.0.0.1",
    node: str = "node-0",
    labels: Optional[dict[str, str]] = None,
    annotations: Optional[dict[str, str]] = None,
    containers: Optional[list[dict]] = None,
    init_containers: Optional[list[dict]] = None,
    phase: str = "Running",
    ready: Union[bool, str] = True,
    host_ip: str = "",
    uid: str = "",
    controller: Optional[tuple[str, str]] = None,
) -> dict:
    """A pod description for `swap_kubernetes_sd_for_file_sd`, in the flat form it reads.

    containers: `[{"name": "caretta", "image": "...", "ports": [{"name": "prom-metrics",
    "containerPort": 7117, "protocol": "TCP"}]}]`. controller: (kind, name), e.g. ("DaemonSet", "caretta").
    """
    return {
        "name": name,
        "namespace": namespace,
        "ip": ip,
        "node": node,
        "labels": dict(labels or {}),
        "annotations": dict(annotations or {}),
        "containers": list(containers or []),
        "init_containers": list(init_containers or []),
        "phase": phase,
        "ready": ready,
        "host_ip": host_ip,
        "uid": uid,
        "controller": controller,
    }


def _normalize_pod(p: dict) -> dict:
    """Accept the flat form of `pod()` or a Kubernetes Pod manifest (metadata/spec/status)."""
    if "metadata" not in p:
        return pod(**p)
    meta, spec, status = p.get("metadata", {}), p.get("spec", {}), p.get("status", {})
    owner = next((o for o in meta.get("ownerReferences", []) if o.get("controller")), None)
    ready = next((c.get("status", "Unknown") for c in status.get("conditions", []) if c.get("type") == "Ready"), "Unknown")
    return pod(
        meta["name"],
        namespace=meta.get("namespace", "default"),
        ip=status.get("podIP", ""),
        node=spec.get("nodeName", ""),
        labels=meta.get("labels"),
        annotations=meta.get("annotations"),
        containers=spec.get("containers"),
        init_containers=spec.get("initContainers"),
        phase=status.get("phase", ""),
        ready=ready,
        host_ip=status.get("hostIP", ""),
        uid=meta.get("uid", ""),
        controller=(owner["kind"], owner["name"]) if owner else None,
    )


def pod_targets(p: dict) -> list[dict]:
    """The targets Prometheus' Kubernetes pod discovery (role: pod) makes of one pod, as file_sd
    groups `[{"targets": [address], "labels": {...}}, ...]`: one per container port, one per
    container without ports (address = pod IP); none for a pod without an IP (Prometheus skips it).
    Mirrors discovery/kubernetes/pod.go (buildPod, podLabels)."""
    p = _normalize_pod(p)
    if not p["ip"]:
        return []
    ready = p["ready"]
    ready = ("true" if ready else "false") if isinstance(ready, bool) else str(ready).lower()
    common = {
        _META + "namespace": p["namespace"],
        _META + "pod_name": p["name"],
        _META + "pod_ip": p["ip"],
        _META + "pod_ready": ready,
        _META + "pod_phase": p["phase"],
        _META + "pod_node_name": p["node"],
        _META + "pod_host_ip": p["host_ip"],
        _META + "pod_uid": p["uid"],
    }
    for k, v in p["labels"].items():
        common[_META + "pod_label_" + sanitize_label_name(k)] = v
        common[_META + "pod_labelpresent_" + sanitize_label_name(k)] = "true"
    for k, v in p["annotations"].items():
        common[_META + "pod_annotation_" + sanitize_label_name(k)] = v
        common[_META + "pod_annotationpresent_" + sanitize_label_name(k)] = "true"
    if p["controller"]:
        kind, name = p["controller"]
        common[_META + "pod_controller_kind"] = kind
        common[_META + "pod_controller_name"] = name
    host = f"[{p['ip']}]" if ":" in p["ip"] else p["ip"]
    groups = []
    all_containers = [(c, False) for c in p["containers"]] + [(c, True) for c in p["init_containers"]]
    for c, is_init in all_containers:
        base = {
            _META + "pod_container_name": c.get("name", ""),
            _META + "pod_container_image": c.get("image", ""),
            _META + "pod_container_init": "true" if is_init else "false",
        }
        ports = c.get("ports") or []
        if not ports:
            groups.append({"targets": [p["ip"]], "labels": {**common, **base}})
            continue
        for port in ports:
            number = str(port["containerPort"])
            labels = {
                **common,
                **base,
                _META + "pod_container_port_name": port.get("name", ""),
                _META + "pod_container_port_number": number,
                _META + "pod_container_port_protocol": port.get("protocol", "TCP"),
            }
            groups.append({"targets": [f"{host}:{number}"], "labels": labels})
    return groups


def swap_kubernetes_sd_for_file_sd(job: dict, pods: list[dict], directory: Optional[str] = None) -> dict:
    """A copy of scrape job `job` whose `kubernetes_sd_configs` (role: pod) are replaced by one
    `file_sd_configs` entry listing the targets that discovery would produce for `pods`, with the
    `__meta_kubernetes_pod_*` labels it would set. The job's `relabel_configs`, `metrics_path`,
    `scheme`, limits etc. are kept, so a real Prometheus applies them exactly.

    pods: dicts made by `pod(...)` (flat form) or Kubernetes Pod manifests. A pod's IP and
    container port become the target address: point them at a test server (127.0.0.1, its port).
    `namespaces.names` of the discovery config is honoured (pods elsewhere are not discovered);
    roles other than `pod` and `selectors` are refused rather than simulated wrongly.

    directory: where the targets file is written (default: a new temp folder, removed when the
    interpreter exits). Empty label values are left out, as Prometheus treats them as absent.
    """
    job = deepcopy(job)
    sd_configs = job.pop("kubernetes_sd_configs", None)
    if not sd_configs:
        raise ValueError(f"job {job.get('job_name')!r} has no kubernetes_sd_configs to swap")
    groups = []
    for sd in sd_configs:
        role = sd.get("role")
        if role != "pod":
            raise ValueError(f"only role 'pod' is simulated, but job {job.get('job_name')!r} uses role {role!r}")
        if sd.get("selectors"):
            raise ValueError(f"job {job.get('job_name')!r}: kubernetes_sd selectors are not simulated")
        names = (sd.get("namespaces") or {}).get("names")
        for p in pods:
            for g in pod_targets(p):
                if names and g["labels"][_META + "namespace"] not in names:
                    continue
                g = {"targets": g["targets"], "labels": {k: v for k, v in g["labels"].items() if v != ""}}
                groups.append(g)
    if directory is None:
        directory = _temp_dir()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{sanitize_label_name(job.get('job_name', 'job'))}-pods.json")
    with open(path, "w") as f:
        json.dump(groups, f, indent=1)
    job["file_sd_configs"] = list(job.get("file_sd_configs", [])) + [{"files": [path], "refresh_interval": "1s"}]
    return job


_temp_dirs: list[str] = []


def _temp_dir() -> str:
    import atexit

    d = tempfile.mkdtemp(prefix="netviz-file-sd-")
    if not _temp_dirs:
        atexit.register(lambda: [shutil.rmtree(x, ignore_errors=True) for x in _temp_dirs])
    _temp_dirs.append(d)
    return d
