"""Shared by the flow exporter tests: a small network config, GoFlow2-format lines, a metrics parser."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
import urllib.request

import netviz_config
from flow_exporter.aggregate import Aggregator
from flow_exporter.exposition import render
from flow_exporter.mapping import FIELD_NAMES
from flow_exporter.settings import from_network_config
from tests.support.tools import free_port

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def wait_until(what: str, predicate, timeout: float = 20):
    """Poll `predicate` until it is true (returned) or fail naming `what`. Connection errors count as
    "not yet" (a server still starting)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


# The shipped network.toml (two subnets softflowd watches, indexes 1 and 2, one it does not) plus
# an IPv6 subnet and host. As TOML text too, for the tests that start the real command.
with open(os.path.join(REPO, "network.toml")) as _shipped:
    NETWORK_TOML = _shipped.read() + """
[[subnets]]
name = "lab6"
cidr = "fd00:20::/64"

[[hosts]]
name = "nas6"
address = "fd00:20::15"
"""
NETWORK = tomllib.loads(NETWORK_TOML)
# A segmentation rule the tests' kubernetes -> storage NFS records break (tests that want every
# family of series add it; the others run without rules).
POLICY_TOML = """
[[policy]]
name = "kubernetes-not-to-storage"
from_subnet = "kubernetes"
to_subnet = "storage"
"""


def with_scrape_interval(toml_text: str, interval: str = "1s") -> str:
    """A network.toml's text with monitoring.prometheus.scrape_interval set to `interval`: the
    exporter's new-series window is twice it (netviz_config: NetworkConfig.new_series_zero_seconds),
    so a test that scrapes every second waits 2 s for new series' values, not the default 60 s."""
    assert "[monitoring" not in toml_text, "the file has a [monitoring] table already: set the interval there"
    return toml_text + f'\n[monitoring.prometheus]\nscrape_interval = "{interval}"\n'


def with_netflow_senders(toml_text: str, *senders: str) -> str:
    """A network.toml's text whose goflow2.netflow_senders are `senders`: for tests whose NetFlow
    reaches GoFlow2 from an address of the test machine (127.0.0.1, a pod network's node side)
    instead of pfSense's. tests/e2e/test_netflow_from_two_senders.py sends from pfSense's address itself."""
    line = "netflow_senders = [" + ", ".join(f'"{s}"' for s in senders) + "]\n"
    if "\n[goflow2]\n" in toml_text:
        return toml_text.replace("\n[goflow2]\n", "\n[goflow2]\n" + line, 1)
    return toml_text + "\n[goflow2]\n" + line


def write_network_toml(directory, extra: str = "") -> str:
    path = os.path.join(str(directory), "network.toml")
    with open(path, "w") as f:
        f.write(NETWORK_TOML + extra)
    return path


def network_config(**flow_exporter):
    raw = dict(NETWORK)
    if flow_exporter:
        raw["flow_exporter"] = flow_exporter
    return netviz_config.parse(raw)


def settings(budgets=None, zero_window=None, **flow_exporter):
    """Exporter settings of the test network; `budgets` ({family: series}) and `zero_window`
    (seconds) override the config's."""
    return from_network_config(network_config(**flow_exporter), budgets, zero_window)


class FakeClock:
    """A clock the test moves: `clock()` is the time, `clock.advance(seconds)` moves it."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def aggregator(budgets=None, fast_path=True, clock=None, zero_window=None, policy: bool = False) -> Aggregator:
    """An aggregator over the test network. Its new-series window is the config's (60 s: twice the
    default scrape interval) unless `zero_window` says otherwise; `clock` (default FakeClock())
    is its time, so scrape snapshots show new series at 0 until the test advances it. With
    `policy`, the network has POLICY_TOML's rule."""
    config = netviz_config.parse(tomllib.loads(NETWORK_TOML + POLICY_TOML)) if policy else network_config()
    exporter_settings = from_network_config(config, budgets, zero_window)
    return Aggregator(exporter_settings, fast_path=fast_path, clock=clock or FakeClock())


DEFAULTS = {
    "time_received_ns": 1764000000000000000,
    "sampling_rate": 0,
    "bytes": 1000,
    "packets": 2,
    "src_addr": "10.0.20.100",
    "dst_addr": "10.0.10.15",
    "proto": "TCP",
    "src_port": 40000,
    "dst_port": 2049,
    "in_if": 1,
    "sampler_address": "10.0.20.1",  # pfsense.address: the one sender network.toml trusts
}


def goflow2_line(**fields) -> bytes:
    """A record exactly as GoFlow2 prints it with netviz's mapping (producer/proto/messages.go:
    the mapping's fields in order, "key":value joined by ",", no spaces)."""
    values = {**DEFAULTS, **fields}
    return ("{" + ",".join(f'"{k}":{json.dumps(values[k])}' for k in FIELD_NAMES) + "}").encode()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(body: bytes) -> dict:
    """{(metric name, frozenset of (label, value)): float} of a text exposition."""
    samples = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(_LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def metrics(agg: Aggregator) -> dict:
    return parse_exposition(render(agg.snapshot()))


def value(samples: dict, metric: str, **labels) -> float:
    """One sample's value; 0 if absent (a counter that was never incremented)."""
    return samples.get((metric, frozenset(labels.items())), 0.0)


def family(samples: dict, name: str) -> dict:
    """{frozenset(labels): value} of every sample of one metric."""
    return {labels: v for (n, labels), v in samples.items() if n == name}


# ---- the exporter as a process ----------------------------------------------------------------

STARTED: list = []


class Exporter:
    """The real exporter command (`python -m flow_exporter`) on a free loopback port, reading `fifo`
    (a FIFO or a file). Started ones are listed in STARTED, for a fixture to clean up."""

    def __init__(self, config: str, fifo: str, log_path: str, wait: bool = True):
        self.port = free_port()
        self.log = open(log_path, "ab")
        STARTED.append(self)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flow_exporter", "--config", config, "--input", fifo,
             "--listen", f"127.0.0.1:{self.port}"],
            cwd=REPO, stdout=self.log, stderr=self.log,
        )
        if wait:
            wait_until("the exporter's /healthz", lambda: self.get("/healthz") == b"ok\n")

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return r.read()

    def metric(self, name: str) -> float:
        samples = parse_exposition(self.get("/metrics"))
        return sum(v for (n, _), v in samples.items() if n == name)

    def wait_for(self, name: str, want: float) -> None:
        wait_until(f"{name} == {want}", lambda: self.metric(name) == want)

    def kill(self) -> None:
        self.proc.kill()  # the harshest restart: no chance to clean up
        self.proc.wait(timeout=10)
        self.log.close()

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()
