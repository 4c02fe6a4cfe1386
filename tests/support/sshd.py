"""A real OpenSSH server on a network-namespace host that logs into a pfSense STAND-IN (needs root).

    with PfSenseSsh(tmp_path) as pf:        # or the `pfsense_ssh` fixture (tests/support/fixtures.py)
        pf.scp_to(script, "/tmp/netviz-pfsense-softflowd.sh")
        pf.ssh("sh /tmp/netviz-pfsense-softflowd.sh --help")              # key file
        pf.ssh("sh /tmp/netviz-pfsense-softflowd.sh disable", auth="agent")
        pf.run(["terraform", "apply", ...], cwd=...)                      # on the deployer host
        pf.standin.config_bytes()                                         # what the script changed

Topology: a tests/support/netns.Lab, so nothing is connected to the root namespace and no
namespace has a route anywhere else:

    deployer 10.0.30.10 --- lab router --- pfsense 10.0.20.1, sshd on port 22

Run every client (ssh, scp, terraform) on the deployer host: `command()`/`run()` wrap it in
`ip netns exec`. Files are shared (only the network is separate), except pfSense's /tmp (below).

The pfsense host:
- `/usr/sbin/sshd -D -e` (Debian's openssh-server) with a config modelled on the one pfSense
  generates with key-only login (pfsense/pfsense src/etc/sshd: KexAlgorithms, Ciphers, MACs,
  PermitRootLogin, UseDNS no, the sftp subsystem), and an ed25519 host key generated here
  (`host_key` is its public key line, to pin: Terraform's `host_key`, or `known_hosts`).
- the account `admin`, uid 0 and home <root>/root like pfSense's admin, its authorized_keys in
  <root>/root/.ssh/, and as login shell the STAND-IN for pfSense's console menu, <root>/etc/rc.initial
  (tests/pfsense/standin/etc/rc.initial: runs `/bin/sh -c "$@"` for -c, as pfSense's does, after
  pointing the script at the stand-in root). The account exists only on that host: its
  /etc/passwd and /etc/shadow are files in /etc/netns/<namespace>/, which `ip netns exec` binds
  over /etc; they hold root, sshd (privilege separation), nobody and admin, no password.
- its own /tmp, as pfSense has: sshd runs in a private mount namespace where <root>/tmp is bound
  over /tmp (so scp to /tmp/... and Terraform's /tmp/terraform_*.sh land in the stand-in, never
  in the machine's /tmp) and /run is a private tmpfs holding sshd's /run/sshd. That is why the
  stand-in root and sshd's files live under /var/tmp/netviz-sshd-<pid>-<hex>/, not under /tmp.

Client credentials, generated per server: `private_key` (an ed25519 key file, 0600) and a real
ssh-agent holding the same key at `agent_socket` (SSH_AUTH_SOCK). Keys live in temporary files
only; no key material is ever printed.

Readiness is sshd's own "Server listening on" line and ssh-agent's SSH_AUTH_SOCK line (no sleep).
`close()` (or leaving the `with`) stops the agent, sshd and every session (the Lab kills what runs
in its namespaces and deletes them) and removes the /var/tmp folder, also when start-up failed.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Mapping, Optional, Sequence

from .netns import Lab
from .tools import require_root, require_tool

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
WORK_PARENT = Path("/var/tmp")
_WORK_PREFIX = "netviz-sshd-"
_WORK_NAME = re.compile(rf"^{_WORK_PREFIX}(\d+)-")

PFSENSE_ADDRESS = "10.0.20.1"
DEPLOYER_ADDRESS = "10.0.30.10"
USER = "admin"

# From pfSense's generated sshd_config (src/etc/sshd), key-only login; paths are Debian's.
_SSHD_CONFIG = """\
# netviz test sshd: modelled on the sshd_config pfSense writes (src/etc/sshd), "Login via Key only"
KexAlgorithms curve25519-sha256@libssh.org,diffie-hellman-group-exchange-sha256
Port 22
ListenAddress {address}
AddressFamily inet
HostKey {host_key}
PidFile none
ClientAliveInterval 30
PermitRootLogin yes
KbdInteractiveAuthentication no
PasswordAuthentication no
PubkeyAuthentication yes
UsePAM no
UseDNS no
LoginGraceTime 30s
VersionAddendum none
AllowAgentForwarding no
X11Forwarding no
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr
MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-512,hmac-sha2-256,umac-128@openssh.com
Subsystem sftp {sftp_server}
# test-only: one account, keys from its home like pfSense's (/root/.ssh/authorized_keys), quiet
AllowUsers {user}
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
PrintMotd no
PrintLastLog no
LogLevel VERBOSE
SetEnv NETVIZ_STANDIN_ROOT={standin_root}
"""

# Runs inside the pfsense host's namespace: a private mount namespace, then sshd.
_LAUNCH = """\
set -e
mount -t tmpfs -o mode=0755,size=1m netviz-run /run
mkdir -m 0755 /run/sshd
mount --bind "$1" /tmp
"$2" -t -f "$3"
exec "$2" -D -e -f "$3"
"""


class SshdError(RuntimeError):
    pass


def _keygen(path: Path, comment: str) -> str:
    """A new ed25519 key pair at `path` (no passphrase); returns the public key line without comment."""
    subprocess.run(
        [require_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True, capture_output=True, timeout=30,
    )
    kind, blob, *_ = path.with_name(path.name + ".pub").read_text().split()
    return f"{kind} {blob}"


def new_host_key_line(directory: Path) -> str:
    """The public key line of a fresh ed25519 key that is NOT the server's (for "wrong key" tests)."""
    directory.mkdir(parents=True, exist_ok=True)
    return _keygen(directory / f"other-{secrets.token_hex(4)}", "not-the-server")


class PfSenseSsh:
    """See the module docstring. `client_dir` holds the client's files (keys, known_hosts, HOME)."""

    address = PFSENSE_ADDRESS
    port = 22
    user = USER

    def __init__(self, client_dir: Path, start_timeout: float = 30):
        require_root("a real sshd on a network-namespace host")
        self._sshd = require_tool("sshd")
        for tool in ("ssh", "scp", "ssh-keygen", "ssh-agent", "ssh-add", "unshare"):
            require_tool(tool)
        if not Path(SFTP_SERVER).exists():
            raise SshdError(f"{SFTP_SERVER} is missing (install it with: apt-get install -y openssh-server)")
        from tests.pfsense.standin_harness import PfSenseStandIn, require_php, require_posix_shell

        self.client_dir = Path(client_dir)
        self.client_dir.mkdir(parents=True, exist_ok=True)
        self.lab: Optional[Lab] = None
        self._agent: Optional[subprocess.Popen] = None
        self._sshd_proc: Optional[subprocess.Popen] = None
        self._log_lines: list[str] = []
        self._log_lock = threading.Lock()
        self._listening = threading.Event()
        self._closed = False
        remove_stale_work_dirs()
        self.work = Path(tempfile.mkdtemp(prefix=f"{_WORK_PREFIX}{os.getpid()}-{secrets.token_hex(3)}", dir=WORK_PARENT))
        self.work.chmod(0o755)
        try:
            self.standin = PfSenseStandIn(self.work / "pfsense-root", require_php(), require_posix_shell())
            self._prepare_server()
            self._prepare_client()
            self._start_lab()
            self._start_sshd(start_timeout)
            self._start_agent(start_timeout)
        except BaseException:
            self.close()
            raise

    # ---- start-up ---------------------------------------------------------------------------

    def _prepare_server(self) -> None:
        root = self.standin.root
        self.sshd_dir = self.work / "sshd"
        self.sshd_dir.mkdir(mode=0o700)
        self.host_key = _keygen(self.sshd_dir / "ssh_host_ed25519_key", "")
        home = root / "root"
        (home / ".ssh").mkdir(parents=True, mode=0o700)
        home.chmod(0o700)
        self.login_shell = root / "etc" / "rc.initial"
        if not os.access(self.login_shell, os.X_OK):
            raise SshdError(f"the menu stand-in {self.login_shell} is missing or not executable")
        self.sshd_config = self.sshd_dir / "sshd_config"
        self.sshd_config.write_text(_SSHD_CONFIG.format(
            address=self.address, host_key=self.sshd_dir / "ssh_host_ed25519_key", sftp_server=SFTP_SERVER,
            user=self.user, standin_root=root,
        ))

    def _prepare_client(self) -> None:
        keys = self.client_dir / "keys"
        keys.mkdir(mode=0o700, exist_ok=True)
        self.private_key = keys / "id_ed25519"
        self.public_key = _keygen(self.private_key, "netviz-test-client")
        authorized = self.standin.root / "root" / ".ssh" / "authorized_keys"
        authorized.write_text(self.public_key + " netviz-test-client\n")
        authorized.chmod(0o600)
        self.known_hosts = self.client_dir / "known_hosts"
        self.known_hosts.write_text(f"{self.address} {self.host_key}\n")
        self.home = self.client_dir / "home"  # an empty HOME: no ~/.ssh of the machine is used
        self.home.mkdir(mode=0o700, exist_ok=True)
        # A short path (a Unix socket's is limited to 108 bytes; pytest's tmp paths can be long).
        agent_dir = self.work / "agent"
        agent_dir.mkdir(mode=0o700)
        self.agent_socket = agent_dir / "sock"

    def _start_lab(self) -> None:
        self.lab = Lab()
        self.lab.add_network("pfsense-lan", "10.0.20.254/24")
        self.lab.add_network("deployer", "10.0.30.1/24")
        self.lab.add_host("pfsense", self.address, network="pfsense-lan")
        self.lab.add_host("deployer", DEPLOYER_ADDRESS, network="deployer")
        self.lab.assert_isolated()
        etc = Path("/etc/netns") / self.lab.namespace_of("pfsense")
        passwd, shadow = [], []
        for name in ("root", "sshd", "nobody"):
            try:
                pw = pwd.getpwnam(name)
            except KeyError:
                if name == "sshd":
                    raise SshdError("user 'sshd' is missing (install it with: apt-get install -y openssh-server)")
                continue
            passwd.append(f"{pw.pw_name}:x:{pw.pw_uid}:{pw.pw_gid}:{pw.pw_gecos}:{pw.pw_dir}:{pw.pw_shell}")
            shadow.append(f"{pw.pw_name}:*:19000::::::")
        # pfSense's admin: uid 0, home /root, the console menu as shell (here: under the stand-in root).
        passwd.append(f"{self.user}:x:0:0:System Administrator:{self.standin.root / 'root'}:{self.login_shell}")
        shadow.append(f"{self.user}:*:19000::::::")
        (etc / "passwd").write_text("\n".join(passwd) + "\n")
        (etc / "passwd").chmod(0o644)
        (etc / "shadow").write_text("\n".join(shadow) + "\n")
        (etc / "shadow").chmod(0o600)

    def _start_sshd(self, timeout: float) -> None:
        self._sshd_proc = self.lab.start(
            "pfsense",
            ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", _LAUNCH, "launch-sshd",
             str(self.standin.root / "tmp"), self._sshd, str(self.sshd_config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1,
        )
        threading.Thread(target=self._read_log, args=(self._sshd_proc.stderr,), daemon=True).start()
        listening = f"Server listening on {self.address} port {self.port}."
        if not self._listening.wait(timeout):
            raise SshdError(f"sshd did not report {listening!r} within {timeout}s; its log:\n{self.sshd_log()}")
        if listening not in self.sshd_log():
            self._sshd_proc.wait(timeout=10)
            raise SshdError(f"sshd exited ({self._sshd_proc.returncode}) before listening; its log:\n{self.sshd_log()}")

    def _read_log(self, stream) -> None:
        listening = f"Server listening on {self.address} port {self.port}."
        for line in stream:
            with self._log_lock:
                self._log_lines.append(line.rstrip("\n"))
            if listening in line:
                self._listening.set()
        self._listening.set()  # sshd ended: let a waiter see it

    def _start_agent(self, timeout: float) -> None:
        self._agent = subprocess.Popen(
            [require_tool("ssh-agent"), "-D", "-a", str(self.agent_socket)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
        ready = threading.Event()
        lines: list[str] = []

        def read():
            for line in self._agent.stdout:
                lines.append(line)
                if line.startswith("SSH_AUTH_SOCK="):
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(timeout) or self._agent.poll() is not None:
            raise SshdError(f"ssh-agent did not start: {''.join(lines)}")
        add = subprocess.run(
            [require_tool("ssh-add"), str(self.private_key)], capture_output=True, text=True, timeout=30,
            env={"SSH_AUTH_SOCK": str(self.agent_socket), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
        if add.returncode != 0:
            raise SshdError(f"ssh-add failed: {add.stderr.strip()}")

    # ---- using ------------------------------------------------------------------------------

    def sshd_log(self) -> str:
        with self._log_lock:
            return "\n".join(self._log_lines)

    @property
    def remote_tmp(self) -> Path:
        """pfSense's /tmp as seen from here (the stand-in root's tmp/)."""
        return self.standin.root / "tmp"

    def client_env(self, auth: str = "key", extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
        """The environment of a client on the deployer host: an empty HOME, and SSH_AUTH_SOCK only
        for agent authentication."""
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin", "HOME": str(self.home)}
        if auth == "agent":
            env["SSH_AUTH_SOCK"] = str(self.agent_socket)
        elif auth != "key":
            raise ValueError(f"auth must be 'key' or 'agent', not {auth!r}")
        env.update(extra or {})
        return env

    def client_options(self, auth: str = "key", known_hosts: Optional[Path] = None) -> list[str]:
        """OpenSSH client options (ssh and scp): this server's pinned key only, and either the
        key file (no agent) or the agent (no key file)."""
        options = [
            "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts or self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=20", "-o", f"User={self.user}", "-o", f"Port={self.port}",
        ]
        if auth == "key":
            options += ["-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes", "-o", f"IdentityFile={self.private_key}"]
        elif auth == "agent":
            options += ["-o", f"IdentityAgent={self.agent_socket}", "-o", "IdentityFile=none"]
        else:
            raise ValueError(f"auth must be 'key' or 'agent', not {auth!r}")
        return options

    def command(self, args: Sequence[str]) -> list[str]:
        """`args` wrapped to run on the deployer host."""
        return self.lab.command("deployer", list(args))

    def run(self, args: Sequence[str], *, auth: str = "key", env: Optional[Mapping[str, str]] = None,
            cwd: Optional[Path] = None, timeout: float = 120, input: Optional[str] = None) -> subprocess.CompletedProcess:
        """Run `args` on the deployer host (with `client_env(auth, env)`), to completion."""
        return subprocess.run(
            self.command(args), env=self.client_env(auth, env), cwd=cwd, capture_output=True, text=True,
            timeout=timeout, input=input, stdin=None if input is not None else subprocess.DEVNULL,
        )

    def ssh(self, remote_command: str, *, auth: str = "key", known_hosts: Optional[Path] = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        """`ssh admin@pfsense remote_command` from the deployer host (one string, as sshd passes it
        to the login shell)."""
        return self.run(["ssh", *self.client_options(auth, known_hosts), self.address, remote_command],
                        auth=auth, timeout=timeout)

    def scp_to(self, local: Path, remote_path: str, *, auth: str = "key", legacy: bool = True,
               timeout: float = 120) -> subprocess.CompletedProcess:
        """Copy `local` to pfSense. legacy=True speaks the scp protocol (`scp -O`: the remote end
        runs `scp -t DIR` through the login shell, as Terraform's file and remote-exec uploads do);
        legacy=False uses the sftp subsystem (OpenSSH's default)."""
        return self.run(["scp", *(["-O"] if legacy else []), "-q", *self.client_options(auth), str(local),
                         f"{self.address}:{remote_path}"], auth=auth, timeout=timeout)

    # ---- teardown ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._agent is not None and self._agent.poll() is None:
            try:
                os.killpg(self._agent.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self._agent.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._agent.pid, signal.SIGKILL)
                self._agent.wait(timeout=10)
        if self.lab is not None:
            self.lab.close()  # kills sshd and every session in its namespaces, deletes them
        shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self) -> "PfSenseSsh":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def remove_stale_work_dirs() -> list[Path]:
    """Remove /var/tmp/netviz-sshd-<pid>-* folders whose creating process is gone."""
    removed = []
    for d in WORK_PARENT.glob(f"{_WORK_PREFIX}*"):
        m = _WORK_NAME.match(d.name)
        if not m:
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed

