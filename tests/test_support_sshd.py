"""The `pfsense_ssh` helper (tests/support/sshd.py): a real OpenSSH server on a network-namespace
host, logging `admin` into the STAND-IN for pfSense's console menu (tests/pfsense/standin/etc/
rc.initial) over a pfSense STAND-IN root. The clients are the real OpenSSH ssh, scp and ssh-agent,
run on the lab's deployer host."""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET

from tests.pfsense.standin_harness import SCRIPT
from tests.support.sshd import PfSenseSsh, new_host_key_line
from tests.support.tools import require_tool

REMOTE_SCRIPT = "/tmp/netviz-pfsense-softflowd.sh"
ENABLE = f"sh {REMOTE_SCRIPT} enable --collector-ip 10.0.20.100 --collector-port 32055 --interfaces lan,opt1"


def accepted_logins(pf: PfSenseSsh) -> list[str]:
    return [line for line in pf.sshd_log().splitlines() if line.startswith(f"Accepted publickey for {pf.user} ")]


def test_pinned_host_key_runs_the_scripts_help_and_enable_through_the_menu_shell(pfsense_ssh: PfSenseSsh):
    """GIVEN the server's host key pinned in a known_hosts file (StrictHostKeyChecking=yes)
    WHEN the script is copied with the scp protocol (`scp -O`: `scp -t /tmp` on the far side, run
    by the login shell, as Terraform uploads) and run with --help, then with enable
    THEN both work through the menu stand-in: the upload lands in pfSense's own /tmp, --help
    prints the usage, enable changes the stand-in's config.xml as on pfSense."""
    pf = pfsense_ssh
    before = pf.standin.config_bytes()

    upload = pf.scp_to(SCRIPT, REMOTE_SCRIPT)
    assert upload.returncode == 0, upload.stderr
    assert (pf.remote_tmp / "netviz-pfsense-softflowd.sh").read_bytes() == SCRIPT.read_bytes()

    usage = pf.ssh(f"sh {REMOTE_SCRIPT} --help")
    assert usage.returncode == 0, usage.stderr
    assert "pfsense_softflowd.sh enable --collector-ip IP --collector-port PORT --interfaces lan,opt1" in usage.stdout
    assert pf.standin.config_bytes() == before

    enable = pf.ssh(ENABLE)
    assert enable.returncode == 0, enable.stdout + enable.stderr
    assert "OK: one softflowd per interface (lan,opt1) exports NetFlow v9 to 10.0.20.100:32055" in enable.stdout
    config = ET.fromstring(pf.standin.config_bytes())
    assert config.findtext("./installedpackages/softflowd/config/enable") == "enabled"
    assert config.findtext("./revision/description") == (
        "(system): netviz: softflowd exports NetFlow v9 to 10.0.20.100:32055 from lan,opt1 (pfsense_softflowd.sh enable)"
    )
    assert len(pf.standin.processes()) == 2
    assert len(accepted_logins(pf)) == 3


def test_a_wrong_pinned_host_key_is_refused_before_anything_runs(pfsense_ssh: PfSenseSsh, tmp_path):
    """GIVEN another ed25519 key pinned for the server's address
    WHEN ssh connects to run enable (and a marker command)
    THEN ssh refuses the host (exit 255, "Host key verification failed"), the server logs no
    login, and config.xml is byte-identical."""
    pf = pfsense_ssh
    assert pf.scp_to(SCRIPT, REMOTE_SCRIPT).returncode == 0
    logins, before = len(accepted_logins(pf)), pf.standin.config_bytes()
    wrong = tmp_path / "wrong_known_hosts"
    other = new_host_key_line(tmp_path / "other-key")
    assert other != pf.host_key
    wrong.write_text(f"{pf.address} {other}\n")

    run = pf.ssh(f"touch /tmp/ran; {ENABLE}", known_hosts=wrong)

    assert run.returncode == 255, run.stdout + run.stderr
    assert "Host key verification failed" in run.stderr
    assert len(accepted_logins(pf)) == logins
    assert not (pf.remote_tmp / "ran").exists()
    assert pf.standin.config_bytes() == before


def test_key_file_and_agent_each_authenticate_on_their_own(pfsense_ssh: PfSenseSsh, tmp_path):
    """GIVEN the client key as a file and in a real ssh-agent
    WHEN ssh uses only the key file (no agent), then only the agent (no key file)
    THEN both log in; and each is what authenticates: an emptied agent, or another key file, is
    refused ("Permission denied")."""
    pf = pfsense_ssh

    by_file = pf.ssh("echo by-file", auth="key")
    by_agent = pf.ssh("echo by-agent", auth="agent")

    assert (by_file.returncode, by_file.stdout) == (0, "by-file\n"), by_file.stderr
    assert (by_agent.returncode, by_agent.stdout) == (0, "by-agent\n"), by_agent.stderr
    assert len(accepted_logins(pf)) == 2

    listed = subprocess.run([require_tool("ssh-add"), "-L"], env={"SSH_AUTH_SOCK": str(pf.agent_socket)},
                            capture_output=True, text=True, timeout=30)
    assert listed.stdout.split()[:2] == pf.public_key.split(), listed.stdout
    emptied = subprocess.run([require_tool("ssh-add"), "-D"], env={"SSH_AUTH_SOCK": str(pf.agent_socket)},
                             capture_output=True, text=True, timeout=30)
    assert emptied.returncode == 0, emptied.stderr
    refused = pf.ssh("echo by-agent", auth="agent")
    assert refused.returncode == 255 and "Permission denied" in refused.stderr, refused.stderr

    stranger = tmp_path / "stranger"
    subprocess.run([require_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    options = pf.client_options("key")
    options[options.index(f"IdentityFile={pf.private_key}")] = f"IdentityFile={stranger}"
    denied = pf.run(["ssh", *options, pf.address, "echo stranger"])
    assert denied.returncode == 255 and "Permission denied" in denied.stderr, denied.stderr
    assert len(accepted_logins(pf)) == 2


def test_multi_word_commands_keep_their_words_and_their_exit_status(pfsense_ssh: PfSenseSsh):
    """The menu stand-in runs `/bin/sh -c "$@"` (pfSense since 2020): a command keeps its words and
    quoting, runs in pfSense's shell with the stand-in's environment, and its exit status is the
    session's (what Terraform sees)."""
    pf = pfsense_ssh

    words = pf.ssh("printf '<%s>' one 'two words' \"three  spaced\" '$HOME;not-run'")
    failed = pf.ssh("echo partial; exit 3")
    env = pf.ssh('echo "$USER $NETVIZ_PFSENSE_ROOT $TMPDIR"; pwd')

    assert (words.returncode, words.stdout) == (0, "<one><two words><three  spaced><$HOME;not-run>"), words.stderr
    assert (failed.returncode, failed.stdout) == (3, "partial\n")
    root = pf.standin.root
    assert env.stdout.splitlines() == [f"admin {root} {root / 'tmp'}", str(root / "root")]


def test_sftp_uploads_work_too(pfsense_ssh: PfSenseSsh):
    """OpenSSH's scp without -O speaks sftp: the sftp subsystem is also started by the login shell."""
    pf = pfsense_ssh
    upload = pf.scp_to(SCRIPT, "/tmp/by-sftp.sh", legacy=False)
    assert upload.returncode == 0, upload.stderr
    assert (pf.remote_tmp / "by-sftp.sh").read_bytes() == SCRIPT.read_bytes()


def test_with_an_rc_local_pfsense_2_7_prints_a_banner_that_breaks_scp_and_sftp(pfsense_ssh: PfSenseSsh):
    """GIVEN an /etc/rc.local on the stand-in (pfSense CE 2.7.x's rc.initial then launches it in the
    background on every login and prints ">>> Launching rc.local in background..." on stdout)
    WHEN a command runs, and the script is uploaded by scp -O and by sftp
    THEN the banner comes before the command's output and rc.local ran; both uploads fail, as the
    banner corrupts their protocols (Terraform's upload fails the same way, see the README)."""
    pf = pfsense_ssh
    marker = pf.standin.root / "_standin" / "rc.local.ran"
    (pf.standin.root / "etc" / "rc.local").write_text(f"echo ran >>{marker}\n")

    run = pf.ssh("echo command")
    legacy = pf.scp_to(SCRIPT, REMOTE_SCRIPT)
    sftp = pf.scp_to(SCRIPT, REMOTE_SCRIPT, legacy=False)

    assert (run.returncode, run.stdout) == (0, ">>> Launching rc.local in background...\ncommand\n"), run.stderr
    assert marker.read_text().startswith("ran\n")
    assert legacy.returncode != 0 and ">>> Launching rc.local in background..." in legacy.stderr, legacy.stderr
    assert sftp.returncode != 0 and "Received message too long" in sftp.stderr, sftp.stderr
    assert not (pf.remote_tmp / "netviz-pfsense-softflowd.sh").exists()


def test_teardown_leaves_no_sshd_agent_namespace_or_files(tmp_path):
    """GIVEN a server started and used
    WHEN it is closed (here: by an exception inside the `with`, as a failing test would)
    THEN its sshd and ssh-agent are gone, its namespaces and /etc/netns entries deleted, its
    /var/tmp folder removed."""
    namespaces, work, pids = [], None, []
    try:
        with PfSenseSsh(tmp_path / "client") as pf:
            assert pf.ssh("true").returncode == 0
            namespaces = [pf.lab.namespace_of("pfsense"), pf.lab.namespace_of("deployer"), pf.lab.router]
            work = pf.work
            pids = [pf._sshd_proc.pid, pf._agent.pid]
            assert all(os.path.exists(f"/proc/{pid}") for pid in pids)
            raise RuntimeError("a failing test")
    except RuntimeError as e:
        assert str(e) == "a failing test"

    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert namespaces and not [ns for ns in namespaces if ns in listed]
    assert not [ns for ns in namespaces if os.path.exists(f"/etc/netns/{ns}")]
    assert work is not None and not work.exists()
    assert not [pid for pid in pids if os.path.exists(f"/proc/{pid}")]


TERRAFORM_CONFIG = """
variable "host_key" { type = string }
variable "use_agent" { type = bool }
variable "private_key_file" { type = string }
variable "script" { type = string }

# Built-ins only (terraform init downloads nothing). A destroy-time provisioner and its
# connection may only read self: everything they need is carried in `input`.
resource "terraform_data" "pfsense" {
  input = {
    host_key         = var.host_key
    use_agent        = var.use_agent
    private_key_file = var.private_key_file
    script           = var.script
  }
  connection {
    type        = "ssh"
    host        = "10.0.20.1"
    user        = "admin"
    host_key    = self.input.host_key
    agent       = self.input.use_agent
    private_key = self.input.use_agent ? null : file(self.input.private_key_file)
    timeout     = "20s"
  }
  provisioner "file" {
    source      = self.input.script
    destination = "/tmp/netviz-pfsense-softflowd.sh"
  }
  provisioner "remote-exec" {
    inline = [
      "printf '<%s>' one 'two words'; echo",
      "/bin/sh /tmp/netviz-pfsense-softflowd.sh enable --collector-ip 10.0.20.100 --collector-port 32055 --interfaces lan,opt1",
    ]
  }
  provisioner "remote-exec" {
    when   = destroy
    inline = ["/bin/sh /tmp/netviz-pfsense-softflowd.sh disable"]
  }
}
"""


def test_terraform_file_and_remote_exec_run_the_script_through_the_menu_shell(pfsense_ssh: PfSenseSsh, tmp_path):
    """GIVEN a throwaway Terraform config: a built-in terraform_data with an SSH connection pinned
    to the server's host key, a file provisioner uploading the script and remote-exec running it
    WHEN the real Terraform CLI runs init, apply with the key file, apply switching the stored
    connection to the agent (an in-place update: no provisioner runs), then destroy
    THEN the first apply uploads (scp -vt /tmp, through the login shell) and enables, destroy
    disables through the agent; the script lands in pfSense's /tmp; remote-exec leaves its emptied
    /tmp/terraform_<n>.sh there; no private key material is in Terraform's output, log or state."""
    pf = pfsense_ssh
    terraform = require_tool("terraform")
    work = tmp_path / "terraform"
    work.mkdir()
    (work / "main.tf").write_text(TERRAFORM_CONFIG)
    log = tmp_path / "terraform.log"
    env = {"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_LOG": "DEBUG", "TF_LOG_PATH": str(log)}
    args = ["-input=false", "-no-color", "-auto-approve", f"-var=host_key={pf.host_key}", f"-var=script={SCRIPT}",
            f"-var=private_key_file={pf.private_key}"]

    init = pf.run([terraform, "init", "-input=false", "-no-color"], cwd=work, env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    create = pf.run([terraform, "apply", *args, "-var=use_agent=false"], cwd=work, env=env, auth="key")
    assert create.returncode == 0, create.stdout + create.stderr
    enabled = ET.fromstring(pf.standin.config_bytes()).findtext("./installedpackages/softflowd/config/enable")
    states = [(work / "terraform.tfstate").read_text()]
    switch = pf.run([terraform, "apply", *args, "-var=use_agent=true"], cwd=work, env=env, auth="agent")
    assert switch.returncode == 0, switch.stdout + switch.stderr
    states.append((work / "terraform.tfstate").read_text())
    destroy = pf.run([terraform, "destroy", *args, "-var=use_agent=true"], cwd=work, env=env, auth="agent")
    assert destroy.returncode == 0, destroy.stdout + destroy.stderr

    assert enabled == "enabled"
    assert "(remote-exec): <one><two words>" in create.stdout
    assert "OK: one softflowd per interface (lan,opt1)" in create.stdout
    assert "(remote-exec):   SSH Agent: false" in create.stdout
    assert "1 changed" in switch.stdout and "Provisioning" not in switch.stdout
    assert "(remote-exec):   SSH Agent: true" in destroy.stdout and "Private key: false" in destroy.stdout
    assert "OK: no softflowd runs" in destroy.stdout
    assert ET.fromstring(pf.standin.config_bytes()).findtext("./installedpackages/softflowd/config/enable") == "off"
    assert (pf.remote_tmp / "netviz-pfsense-softflowd.sh").read_bytes() == SCRIPT.read_bytes()
    leftovers = sorted(pf.remote_tmp.glob("terraform_*.sh"))
    assert len(leftovers) == 2 and all(p.stat().st_size == 0 for p in leftovers), leftovers
    debug = log.read_text()
    assert "Starting remote scp process:  'scp' -vt /tmp" in debug
    assert [p.name for p in leftovers if f"starting remote command: chmod 0777 /tmp/{p.name}" in debug] == \
        [p.name for p in leftovers]
    secret_lines = [line for line in pf.private_key.read_text().splitlines() if line and not line.startswith("-----")]
    assert secret_lines
    output = create.stdout + create.stderr + switch.stdout + switch.stderr + destroy.stdout + destroy.stderr
    assert all(pf.host_key in state for state in states)  # the state is the one holding the connection's inputs
    for name, text in (("output", output), ("debug log", debug), ("state", "".join(states))):
        assert not [line for line in secret_lines if line in text], f"private key material in Terraform's {name}"
