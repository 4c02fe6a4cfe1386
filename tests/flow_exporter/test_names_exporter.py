"""The exporter command with names: run in a network namespace whose resolv.conf names a real
dnsmasq on another namespace host, as the goflow2 pod's dnsConfig names pfSense. Names from DNS
show up as netviz_host_info, never in a counter's labels; a DNS server that never answers holds
up no record.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import pytest

from tests.flow_exporter.helpers import (REPO, family, goflow2_line, parse_exposition, value, wait_until,
                                        with_scrape_interval, write_network_toml)
from tests.support.dns import DnsServer
from tests.support.goflow2 import PodNetwork

PORT = 9108


@pytest.fixture
def exporter(tmp_path):
    """start(extra_toml) -> (records file, metrics url), the exporter running in its own namespace
    with resolv.conf naming the DNS server (names, and 198.51.100.0/24 that never answers)."""
    net = PodNetwork()
    dns = None
    procs = []
    try:
        dns = DnsServer({"10.0.10.30": "laptop.home.arpa", "203.0.113.10": "mirror.example.net",
                         "10.0.20.100": "dns-name-of-node-0.home.arpa"},
                        silent=["198.51.100.0/24"], client_namespace=net.namespace)
        with open(f"/etc/netns/{net.namespace}/resolv.conf", "w") as f:
            f.write(f"nameserver {dns.address}\n")

        def start(extra: str = ""):
            # a 1 s scrape interval: new series read 0 for 2 s, not the default 60 (helpers.with_scrape_interval)
            config = write_network_toml(tmp_path, with_scrape_interval(extra))
            records = tmp_path / "records.jsonl"
            records.write_bytes(b"")
            log = open(tmp_path / "exporter.log", "wb")
            procs.append(net.start([sys.executable, "-s", "-m", "flow_exporter", "--config", config, "--input", str(records),
                                    "--listen", f"{net.pod_ip}:{PORT}"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT))
            url = f"http://{net.pod_ip}:{PORT}/metrics"
            wait_until("the exporter answering", lambda: scrape(url))
            return records, url

        yield start
    finally:
        net.close()  # kills the exporter
        if dns is not None:
            dns.close()


def scrape(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return parse_exposition(r.read())


def append(path, lines) -> None:
    with open(path, "ab") as f:
        f.write(b"".join(line + b"\n" for line in lines))


def test_names_from_dns_are_an_info_metric_and_never_a_counter_label(exporter):
    records, url = exporter()
    append(records, [
        goflow2_line(src_addr="10.0.10.30", dst_addr="203.0.113.10", in_if=2, bytes=500),
        goflow2_line(src_addr="10.0.20.100", dst_addr="10.0.10.30", in_if=1, bytes=700),
    ])

    def named():
        info = family(scrape(url), "netviz_host_info")
        return {dict(k)["host"]: (dict(k)["name"], dict(k)["source"]) for k in info}

    names = wait_until("both DNS names", lambda: (n := named()) and "10.0.10.30" in n and "203.0.113.10" in n and n)
    assert names["10.0.10.30"] == ("laptop.home.arpa", "dns")
    assert names["203.0.113.10"] == ("mirror.example.net", "dns")
    assert names["10.0.20.100"] == ("k8s-node-0", "config")  # configured: its DNS name is never used
    # a record after the name is known adds to the same series: a name never splits one
    append(records, [goflow2_line(src_addr="10.0.10.30", dst_addr="203.0.113.10", in_if=2, bytes=300)])
    samples = wait_until("the third record, past the new series' window", lambda: (s := scrape(url)) and
                         value(s, "netviz_flow_exporter_records_total") == 3 and value(s, "netviz_flow_exporter_new_series") == 0 and s)
    # the counters keep their labels: the address (or configured name), never a DNS name
    assert value(samples, "netviz_host_bytes_total", subnet="storage", host="10.0.10.30", name="10.0.10.30",
                 direction="sent") == 800
    assert value(samples, "netviz_external_bytes_total", peer="203.0.113.10", direction="outbound") == 800
    assert not any("laptop" in v or "mirror" in v for (n, labels) in samples if n != "netviz_host_info" for _, v in labels)
    assert value(samples, "netviz_flow_exporter_name_lookups_total", outcome="name") == 2


def test_a_dns_server_that_never_answers_holds_up_no_record(exporter):
    # one worker, 2 s per lookup, 255 addresses whose lookups all time out: over 8 minutes of DNS work
    records, url = exporter("\n[names]\nworkers = 1\ntimeout = \"2s\"\nqueue_size = 64\n")
    first = [goflow2_line(src_addr=f"198.51.100.{i}", dst_addr="10.0.20.100", in_if=1) for i in range(1, 256)]
    append(records, first)
    wait_until("the first records read", lambda: value(scrape(url), "netviz_flow_exporter_records_total") == 255)
    wait_until("lookups queued", lambda: value(scrape(url), "netviz_flow_exporter_names_queued") > 0)
    # while the worker waits on DNS, 50,000 more records are read and counted
    start = time.monotonic()
    append(records, [goflow2_line(src_addr=f"198.51.100.{i % 255 + 1}", dst_addr="10.0.20.100", in_if=1,
                                  src_port=1024 + i % 50000) for i in range(50_000)])
    samples = wait_until("every record read", lambda: (s := scrape(url)) and
                         value(s, "netviz_flow_exporter_records_total") == 50_255 and s, timeout=60)
    took = time.monotonic() - start
    samples = wait_until("the new series' window passed", lambda: (s := scrape(url)) and
                         value(s, "netviz_flow_exporter_new_series") == 0 and s)
    assert value(samples, "netviz_flow_exporter_names_queued") > 0, "the lookups were done before: nothing was shown"
    assert value(samples, "netviz_flow_exporter_name_lookups_total", outcome="timeout") < 255
    assert sum(v for k, v in family(samples, "netviz_host_bytes_total").items() if ("host", "10.0.20.100") in k) == 50_255 * 1000
    assert took < 30, f"50,000 records took {took:.1f}s"
