"""A real Kubernetes control plane for the tests: etcd and kube-apiserver, built from their Go modules
(tests/support/go_tools.py: `ETCD_VERSION`, `KUBERNETES_VERSION`) and started on 127.0.0.1.

    with Etcd() as etcd, ApiServer(etcd, "managed") as api:
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "goflow2"}})
        api.get("v1", "Namespace", "goflow2")

One etcd serves a whole test session; each `ApiServer` keeps its objects under an etcd prefix of its
own, so each is an empty cluster of its own (namespaces cannot be deleted here: without the
controller manager a deleted namespace stays Terminating for ever).

What runs is the real API server: authentication by bearer token (`--token-auth-file`: an admin
in `system:masters`, and a `prometheus` user that RBAC lets list and watch what the prometheus
chart's own ClusterRole lets its server read), authorization by RBAC, admission, validation,
defaulting, storage in etcd. What does not run: kube-controller-manager, the scheduler, kubelets.
Nothing is scheduled or started, no ReplicaSet or pod is made from a Deployment or a DaemonSet, no
Endpoints are made from a Service. Where a test needs what those would have made, it makes it
itself and says so (`create_default_service_account`, `set_pod_status`).

The API server serves a certificate it signs itself (`--cert-dir`); `ca_file` is that file, which
clients (Python here, Prometheus, Helm) verify the server against.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterable, Optional

from .netns import stop_process_groups
from .tools import free_port, require_tool

START_TIMEOUT = 90.0
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"

# The prometheus-community prometheus chart's server ClusterRole (templates/clusterrole.yaml at
# prometheus-29.27.0), the rules that matter for discovery: what the chart's Prometheus may read.
PROMETHEUS_CLUSTER_ROLE_RULES = [
    {"apiGroups": [""], "resources": ["nodes", "nodes/proxy", "nodes/metrics", "services", "endpoints", "pods",
                                       "ingresses", "configmaps"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["extensions", "networking.k8s.io"], "resources": ["ingresses/status", "ingresses"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
    {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
]
PROMETHEUS_USER = "prometheus"


class KubernetesError(AssertionError):
    """A control-plane process failed, or the API server answered a request with an error."""

    def __init__(self, message: str, status: int = 0, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body


class ProcessExited(KubernetesError):
    """A control-plane process is gone: waiting longer would not help."""


def _wait(what: str, predicate, timeout: float, logs=lambda: "") -> Any:
    """Poll `predicate` until it returns something true (returned); fail naming `what`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except ProcessExited:
            raise
        except (OSError, urllib.error.URLError, KubernetesError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(0.1)
    raise KubernetesError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r}){logs()}")


class _Process:
    """A control-plane process with its own folder and log, stopped (and the folder removed) on close."""

    name = "process"

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix=f"netviz-{self.name}-")
        self.log_path = os.path.join(self.directory, f"{self.name}.log")
        self.proc: Optional[subprocess.Popen] = None

    def _start(self, args: list[str]) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def _start_on_free_ports(self, command, ready, what) -> None:
        """Start `command()` (which picks free ports) and wait for `ready`; a port taken between
        picking and binding it gets another try, three in all. `what()` names what is waited for."""
        for _attempt in range(3):
            self._start(command())
            try:
                _wait(what(), ready, START_TIMEOUT, self.log_tail)
                return
            except KubernetesError:
                if self.proc.poll() is None or "address already in use" not in self.log_tail():
                    raise
        raise KubernetesError(f"{self.name} found no free port in 3 tries{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                text = f.read().splitlines()[-lines:]
        except OSError:
            return ""
        return f"\n--- {self.name} log (last {lines} lines)\n" + "\n".join(text)

    def _check_running(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise ProcessExited(f"{self.name} exited {self.proc.returncode}{self.log_tail()}")

    def close(self) -> None:
        if self.proc is not None:
            stop_process_groups([self.proc], grace=5)
            self.proc = None
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Etcd(_Process):
    """One etcd member on 127.0.0.1 (free client and peer ports), its data in a fresh folder."""

    name = "etcd"

    def __init__(self) -> None:
        super().__init__()
        exe = require_tool("etcd")

        def command() -> list[str]:
            client, peer = free_port(), free_port()
            self.url = f"http://127.0.0.1:{client}"
            return [
                exe, "--name", "netviz-test", "--data-dir", os.path.join(self.directory, f"data-{client}"),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-cluster", f"netviz-test=http://127.0.0.1:{peer}",
                "--log-level", "warn",
            ]

        try:
            self._start_on_free_ports(command, self._healthy, lambda: f"etcd's {self.url}/health")
        except BaseException:
            self.close()
            raise

    def _healthy(self) -> bool:
        self._check_running()
        with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
            return json.loads(r.read()).get("health") == "true"


class ApiServer(_Process):
    """A kube-apiserver over `etcd`, its objects under `/registry-<cluster>`: an empty cluster."""

    name = "kube-apiserver"

    def __init__(self, etcd: Etcd, cluster: str) -> None:
        super().__init__()
        self.cluster = cluster
        self.admin_token = secrets.token_hex(16)
        self.prometheus_token = secrets.token_hex(16)
        self._resources: dict[tuple[str, str], tuple[str, bool]] = {}
        self._openssl = require_tool("openssl")
        self.ca_file = os.path.join(self.directory, "certs", "apiserver.crt")
        # Client certificates (for programs that take no token, the Prometheus Operator) are signed
        # by a CA of this cluster's own.
        self._client_ca = os.path.join(self.directory, "client-ca")
        try:
            self._start_server(etcd, require_tool("kube-apiserver"))
            self._ssl = ssl.create_default_context(cafile=self.ca_file)
            self._grant_prometheus()
        except BaseException:
            self.close()
            raise

    def _start_server(self, etcd: Etcd, exe: str) -> None:
        cert_dir = os.path.dirname(self.ca_file)
        os.makedirs(cert_dir)
        tokens = os.path.join(self.directory, "tokens.csv")
        with open(tokens, "w") as f:  # token,user,uid,"group1,group2"
            f.write(f'{self.admin_token},admin,admin,"system:masters"\n')
            f.write(f"{self.prometheus_token},{PROMETHEUS_USER},{PROMETHEUS_USER}\n")
        sa_key = os.path.join(self.directory, "sa.key")
        sa_pub = os.path.join(self.directory, "sa.pub")
        self._run_openssl("genrsa", "-out", sa_key, "2048")
        self._run_openssl("rsa", "-in", sa_key, "-pubout", "-out", sa_pub)
        self._run_openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=netviz-test-client-ca",
                          "-keyout", self._client_ca + ".key", "-out", self._client_ca + ".crt")
        def command() -> list[str]:
            self.port = free_port()
            self.url = f"https://127.0.0.1:{self.port}"
            return [
                exe,
                f"--etcd-servers={etcd.url}",
                f"--etcd-prefix=/registry-{self.cluster}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.port}",
                f"--cert-dir={cert_dir}",
                f"--token-auth-file={tokens}",
                f"--client-ca-file={self._client_ca}.crt",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                # Caretta's agents run privileged (eBPF); every kubeadm, k3s or Talos cluster allows it.
                "--allow-privileged=true",
                "--profiling=false",
            ]

        self._start_on_free_ports(command, self._ready, lambda: f"{self.url}/readyz")

    def _run_openssl(self, *args: str) -> None:
        proc = subprocess.run([self._openssl, *args], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise KubernetesError(f"openssl {' '.join(args)} exited {proc.returncode}: {proc.stderr}")

    def client_certificate(self, user: str, groups: Iterable[str] = ()) -> tuple[str, str]:
        """(certificate file, key file) authenticating as `user` in `groups` (the subject's CN and Os)."""
        base = os.path.join(self.directory, f"client-{user}")
        subject = "".join(f"/O={g}" for g in groups) + f"/CN={user}"
        self._run_openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", base + ".key", "-out", base + ".csr")
        self._run_openssl("x509", "-req", "-in", base + ".csr", "-CA", self._client_ca + ".crt", "-CAkey", self._client_ca + ".key",
                          "-CAcreateserial", "-days", "2", "-out", base + ".crt")
        return base + ".crt", base + ".key"

    # ---- raw requests ------------------------------------------------------------------------

    def _ready(self) -> bool:
        self._check_running()
        if not os.path.exists(self.ca_file):
            return False
        context = ssl.create_default_context(cafile=self.ca_file)
        request = urllib.request.Request(self.url + "/readyz", headers={"Authorization": f"Bearer {self.admin_token}"})
        with urllib.request.urlopen(request, timeout=5, context=context) as r:
            return r.read() == b"ok"

    def request(self, method: str, path: str, body: Any = None, *, params: Optional[dict] = None,
                content_type: str = "application/json", token: Optional[str] = None, ok: Iterable[int] = (200, 201)) -> Any:
        """`method` `path` (with `params`), `body` sent as JSON; the decoded JSON answer. An answer
        outside `ok` raises KubernetesError carrying the status and the API's Status object."""
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token or self.admin_token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30, context=self._ssl) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = raw.decode(errors="replace")
        if status not in tuple(ok):
            message = answer.get("message") if isinstance(answer, dict) else answer
            raise KubernetesError(f"{method} {path}: HTTP {status}: {message}", status, answer)
        return answer

    # ---- objects -----------------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural resource name, namespaced) of a kind, from the API server's own discovery."""
        key = (api_version, kind)
        if key not in self._resources:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            for r in self.request("GET", base)["resources"]:
                if "/" not in r["name"]:
                    self._resources[(api_version, r["kind"])] = (r["name"], r["namespaced"])
        if key not in self._resources:
            raise KubernetesError(f"the API server serves no {kind} in {api_version}")
        return self._resources[key]

    def path(self, api_version: str, kind: str, namespace: Optional[str] = None, name: Optional[str] = None) -> str:
        plural, namespaced = self.resource(api_version, kind)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if namespaced:
            if not namespace:
                raise KubernetesError(f"{kind} is namespaced: a namespace is needed")
            base += f"/namespaces/{namespace}"
        return f"{base}/{plural}" + (f"/{name}" if name else "")

    def _object_path(self, obj: dict, with_name: bool = False) -> str:
        meta = obj.get("metadata", {})
        return self.path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta.get("name") if with_name else None)

    def create(self, obj: dict, *, strict: bool = True, token: Optional[str] = None) -> dict:
        """POST `obj`; with `strict`, an unknown or duplicated field is refused (fieldValidation=Strict)."""
        params = {"fieldValidation": "Strict"} if strict else None
        return self.request("POST", self._object_path(obj), obj, params=params, token=token)

    def dry_run_create(self, obj: dict) -> dict:
        return self.request("POST", self._object_path(obj), obj, params={"dryRun": "All", "fieldValidation": "Strict"})

    def apply(self, obj: dict, *, field_manager: str) -> dict:
        """Server-side apply of `obj` (what Terraform's kubernetes_manifest does), strict, forcing conflicts."""
        return self.request("PATCH", self._object_path(obj, with_name=True), obj,
                            params={"fieldManager": field_manager, "fieldValidation": "Strict", "force": "true"},
                            content_type="application/apply-patch+yaml")

    def get(self, api_version: str, kind: str, name: str, namespace: Optional[str] = None) -> dict:
        return self.request("GET", self.path(api_version, kind, namespace, name))

    def list(self, api_version: str, kind: str, namespace: Optional[str] = None) -> list[dict]:
        if namespace is None and self.resource(api_version, kind)[1]:
            plural = self.resource(api_version, kind)[0]
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            return self.request("GET", f"{base}/{plural}")["items"]
        return self.request("GET", self.path(api_version, kind, namespace))["items"]

    def set_pod_status(self, namespace: str, name: str, *, phase: str, pod_ip: str, node_ip: str = "") -> dict:
        """Write a pod's status through its status subresource, as its kubelet would (STAND-IN for
        the kubelet: nothing runs the pod here; the test runs its processes itself)."""
        pod = self.get("v1", "Pod", name, namespace)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ready = "True" if phase == "Running" else "False"
        pod["status"] = {
            "phase": phase,
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "hostIP": node_ip or pod_ip,
            "startTime": now,
            "conditions": [{"type": t, "status": ready if t in ("Ready", "ContainersReady") else "True",
                            "lastTransitionTime": now} for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
        }
        return self.request("PUT", self.path("v1", "Pod", namespace, name) + "/status", pod)

    def create_default_service_account(self, namespace: str) -> None:
        """The `default` ServiceAccount of `namespace`, which the controller manager's serviceaccount
        controller makes in every namespace (STAND-IN: no controller runs here). The ServiceAccount
        admission plugin refuses a pod in a namespace without it."""
        try:
            self.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}})
        except KubernetesError as e:
            if e.status != 409:
                raise

    def install_crds(self, documents: Iterable[dict]) -> list[str]:
        """Create each CustomResourceDefinition and wait until the API server serves its kind."""
        names = []
        for crd in documents:
            self.create(crd)
            names.append(crd["metadata"]["name"])
        for crd in documents:
            group = crd["spec"]["group"]
            kind = crd["spec"]["names"]["kind"]
            version = next(v["name"] for v in crd["spec"]["versions"] if v.get("served"))

            def served(group=group, version=version, kind=kind) -> bool:
                self._resources.pop((f"{group}/{version}", kind), None)
                try:
                    self.resource(f"{group}/{version}", kind)
                    return True
                except KubernetesError:
                    return False

            _wait(f"the API server to serve {kind}.{group}", served, START_TIMEOUT, self.log_tail)
        return names

    # ---- who may do what ---------------------------------------------------------------------

    def _grant_prometheus(self) -> None:
        """The `prometheus` user gets what the prometheus chart's ClusterRole grants its server."""
        self.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "netviz-test-prometheus-server"}, "rules": PROMETHEUS_CLUSTER_ROLE_RULES})
        self.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "netviz-test-prometheus-server"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "netviz-test-prometheus-server"},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": PROMETHEUS_USER}]})

    def can(self, token: str, verb: str, resource: str, namespace: str = "") -> bool:
        """What RBAC answers for the token's user (a SelfSubjectAccessReview made with that token)."""
        review = self.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": verb, "resource": resource, "namespace": namespace}}}, token=token)
        return bool(review["status"].get("allowed"))

    # ---- clients -----------------------------------------------------------------------------

    def kubeconfig(self, path: str, token: Optional[str] = None) -> str:
        """A kubeconfig for this cluster (Helm, or a user's kubectl), written to `path`."""
        with open(self.ca_file, "rb") as f:
            ca = base64.b64encode(f.read()).decode()
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": self.cluster,
            "clusters": [{"name": self.cluster, "cluster": {"server": self.url, "certificate-authority-data": ca}}],
            "users": [{"name": "admin", "user": {"token": token or self.admin_token}}],
            "contexts": [{"name": self.cluster, "context": {"cluster": self.cluster, "user": "admin"}}],
        }
        with open(path, "w") as f:
            json.dump(config, f)
        os.chmod(path, 0o600)
        return path

    def version(self) -> dict:
        return self.request("GET", "/version")
