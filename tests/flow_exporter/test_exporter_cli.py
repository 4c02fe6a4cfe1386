"""`python -m flow_exporter`: flags, config errors, stdin input, HTTP endpoints (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from flow_exporter.cli import parse_listen
from tests.flow_exporter.helpers import REPO, goflow2_line, parse_exposition, value, wait_until, write_network_toml
from tests.support.tools import free_port


def run(*args, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flow_exporter", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=30, env=env, **kwargs)


def test_help_documents_every_flag():
    result = run("--help")
    assert result.returncode == 0
    for flag in ("--config PATH", "--input PATH", "--listen HOST:PORT", "--series-budget FAMILY=N", "--log-level"):
        assert flag in result.stdout
    assert "/metrics" in result.stdout and "/healthz" in result.stdout
    assert "FIFO" in result.stdout


def test_an_invalid_config_is_named_and_exits_2(tmp_path):
    config = write_network_toml(tmp_path, '\n[flow_exporter.series_budgets]\nhosts = "lots"\n')
    result = run("--config", config, "--listen", "127.0.0.1:0")
    assert result.returncode == 2
    assert "flow_exporter.series_budgets.hosts: expected a whole number, but 'lots' was provided" in result.stderr


def test_a_missing_config_is_named(tmp_path):
    result = run("--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "nope.toml" in result.stderr and "file not found" in result.stderr


@pytest.mark.parametrize("args, message", [
    (("--series-budget", "subnet_pairs=2"), "expected a whole number of at least 3 for subnet_pairs, but 'subnet_pairs=2' was provided"),
    (("--series-budget", "hosts=many"), "expected a whole number of at least 1 for hosts, but 'hosts=many' was provided"),
    (("--series-budget", "talkers=9"), "expected FAMILY=N with FAMILY one of subnet_pairs, hosts, services, "
                                       "external_peers, local_conversations, external_conversations, internet_usage, policy_violations, but 'talkers=9' "
                                       "was provided"),
    (("--listen", "localhost"), "expected HOST:PORT such as 0.0.0.0:9108, but 'localhost' was provided"),
    (("--listen", "1.2.3.4:99999"), "but '1.2.3.4:99999' was provided"),
])
def test_bad_flags_are_refused_with_the_value(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_listen_forms():
    assert parse_listen("0.0.0.0:9108") == ("0.0.0.0", 9108)
    assert parse_listen(":9108") == ("0.0.0.0", 9108)
    assert parse_listen("[::1]:9108") == ("::1", 9108)
    assert parse_listen("127.0.0.1:0") == ("127.0.0.1", 0)


def get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        assert r.status == 200
        if path == "/metrics":
            assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return r.read()


def test_stdin_records_are_served_and_the_exporter_outlives_its_input(tmp_path):
    # GIVEN a config with a hosts budget of 50, overridden on the command line to 40, a scrape interval
    # of 1s (so new series read 0 for 2s), and $NETVIZ_CONFIG (no --config) pointing at it
    config = write_network_toml(tmp_path, '\n[flow_exporter.series_budgets]\nhosts = 50\nservices = 7\n'
                                          '\n[monitoring.prometheus]\nscrape_interval = "1s"\n')
    port = free_port()
    env = {**os.environ, "NETVIZ_CONFIG": config}
    proc = subprocess.Popen([sys.executable, "-m", "flow_exporter", "--listen", f"127.0.0.1:{port}",
                             "--series-budget", "hosts=40"],
                            cwd=REPO, stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        # WHEN records and junk arrive on stdin, which then closes
        proc.stdin.write(goflow2_line(bytes=700) + b"\n" + b"junk\n" + goflow2_line(bytes=300) + b"\n")
        proc.stdin.close()
        m = wait_until("records on /metrics", lambda: (m := parse_exposition(get(port, "/metrics"))) and
                       value(m, "netviz_flow_exporter_records_total") == 3 and m)
        # THEN they are counted: at 0 while they are new (flow_exporter/series.py), then their value
        assert value(m, "netviz_flow_bytes_total", src_subnet="kubernetes", dst_subnet="storage", proto="TCP") == 0
        assert value(m, "netviz_flow_exporter_new_series") == 3 + 2 + 1 + 2  # pair, hosts, service, conversation
        m = wait_until("the new series to show their values", lambda: (m := parse_exposition(get(port, "/metrics")))
                       and value(m, "netviz_flow_exporter_new_series") == 0 and m)
        assert value(m, "netviz_flow_bytes_total", src_subnet="kubernetes", dst_subnet="storage", proto="TCP") == 1000
        assert value(m, "netviz_flow_exporter_records_rejected_total", reason="invalid_json") == 1
        # the budgets: the config's, the command line's over it
        assert value(m, "netviz_flow_exporter_family_series_limit", family="hosts") == 40
        assert value(m, "netviz_flow_exporter_family_series_limit", family="services") == 7
        assert value(m, "netviz_flow_exporter_series_limit") == 1500 + 40 + 7 + 6000 + 4000 + 4000 + 2000 + 1000
        assert get(port, "/healthz") == b"ok\n"
        with pytest.raises(urllib.error.HTTPError) as e:
            get(port, "/nothing")
        assert e.value.code == 404
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert rc == 0, stderr
    assert "stdin closed" in stderr and "Traceback" not in stderr
