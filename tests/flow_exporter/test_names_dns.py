"""Names by reverse DNS against a real DNS server: Debian's dnsmasq on a network-namespace host
(tests/support/dns.py): PTR answers, NXDOMAIN, SERVFAIL, timeouts, hostile names, a resolver that
is down; the resolver's queue, budget and cache; and nothing of it in the way of the counting.
"""

from __future__ import annotations

import socket
import time

import pytest

from flow_exporter import dns
from flow_exporter.exposition import render_names
from flow_exporter.names import INVALID_NAME, MAX_NAME_LENGTH, NameResolver, NamesSettings, clean_name
from tests.flow_exporter.helpers import wait_until
from tests.support.dns import DnsServer, reverse

NAMED = {
    "10.0.10.30": "laptop.home.arpa",
    "10.0.10.31": "Printer-2.Home.Arpa.",  # upper case, trailing dot
    "10.0.10.15": "not-truenas.home.arpa",  # configured as truenas: config wins, never asked
    "203.0.113.10": "mirror.example.net",
}
LONG = ".".join(["a" * 60] * 3)  # 182 characters: a valid DNS name, too long to show
HOSTILE = {
    "10.0.10.40": 'evil"name',
    "10.0.10.41": "x}{y",
    "10.0.10.42": "back\\slash",
    "10.0.10.43": "<script>alert(1)</script>",
    "10.0.10.44": "10.0.20.1",  # an address posing as a name
    "10.0.10.45": LONG,
    "10.0.10.46": "-dash.example",
    "10.0.10.47": "two words.example",
}
SERVFAIL = "203.0.113.7"
SILENT = "203.0.113.8"
CONFIG_NAMES = {"10.0.10.15": "truenas"}


def settings(**changes) -> NamesSettings:
    values = dict(enabled=True, timeout=1.0, queries_per_second=100, workers=2, queue_size=64, cache_size=100,
                  cache_for=3600.0, negative_cache_for=600.0)
    values.update(changes)
    return NamesSettings(**values)


@pytest.fixture(scope="module")
def server():
    with DnsServer({**NAMED, **HOSTILE}, servfail=[SERVFAIL], silent=[SILENT, "198.51.100.0/24"]) as s:
        yield s


@pytest.fixture
def resolv_conf(server, tmp_path):
    path = tmp_path / "resolv.conf"
    path.write_text(f"# as the pod's dnsConfig writes it\nnameserver {server.address}\n")
    return str(path)


def resolver(resolv_conf, **changes) -> NameResolver:
    return NameResolver(settings(**changes), CONFIG_NAMES, resolv_conf=resolv_conf).start()


# ---- the DNS client (flow_exporter/dns.py) ------------------------------------------------------


def test_ptr_answers_come_back_as_dnsmasq_holds_them(server):
    assert dns.query_ptr("10.0.10.30", [server.address], 2.0) == dns.Answer(dns.NAME, b"laptop.home.arpa")
    assert dns.query_ptr("10.0.10.40", [server.address], 2.0) == dns.Answer(dns.NAME, b'evil"name')
    assert dns.query_ptr("10.0.10.45", [server.address], 2.0) == dns.Answer(dns.NAME, LONG.encode())


def test_nxdomain_is_no_name(server):
    assert dns.query_ptr("10.0.10.99", [server.address], 2.0) == dns.Answer(dns.NO_NAME)


def test_servfail_is_failed(server):
    # the server really answers SERVFAIL (rcode 2) for that zone ...
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.connect((server.address, 53))
        s.send(dns.build_query(7, reverse(SERVFAIL)))
        assert s.recv(4096)[3] & 0x0F == 2
    # ... and the client says so
    assert dns.query_ptr(SERVFAIL, [server.address], 2.0) == dns.Answer(dns.FAILED)


def test_a_server_that_never_answers_times_out_after_the_timeout(server):
    start = time.monotonic()
    assert dns.query_ptr(SILENT, [server.address], 0.8) == dns.Answer(dns.TIMEOUT)
    assert 0.8 <= time.monotonic() - start < 1.5


def test_a_resolver_that_is_down_is_unreachable_at_once(tmp_path):
    with DnsServer({"10.0.10.30": "laptop.home.arpa"}) as down:
        down.stop()
        # A namespace this new may not send its very first ICMP error (the kernel's ICMP rate limit
        # starts with no credit): that lookup ends at its timeout. From then on "port unreachable"
        # comes back at once.
        assert dns.query_ptr("10.0.10.30", [down.address], 1.0).outcome in (dns.UNREACHABLE, dns.TIMEOUT)
        start = time.monotonic()
        assert dns.query_ptr("10.0.10.30", [down.address], 5.0) == dns.Answer(dns.UNREACHABLE)
        assert time.monotonic() - start < 1.0  # ICMP port unreachable, not the 5 s timeout
        # the next nameserver of resolv.conf answers when the first is down
        with DnsServer({"10.0.10.30": "laptop.home.arpa"}) as up:
            assert dns.query_ptr("10.0.10.30", [down.address, up.address], 2.0) == dns.Answer(dns.NAME, b"laptop.home.arpa")


def test_no_nameserver_is_unreachable():
    assert dns.query_ptr("10.0.10.30", [], 1.0) == dns.Answer(dns.UNREACHABLE)


def test_nameservers_are_read_from_resolv_conf(tmp_path):
    path = tmp_path / "resolv.conf"
    path.write_text("# comment\nsearch home.arpa\nnameserver 10.0.20.1\nnameserver not-an-address\n"
                    "options timeout:1\nnameserver fd00::53\nnameserver 10.0.20.2\nnameserver 10.0.20.3\n")
    assert dns.nameservers(str(path)) == ("10.0.20.1", "fd00::53", "10.0.20.2")  # at most three, as libc
    assert dns.nameservers(str(tmp_path / "missing")) == ()


def _reply(query_id: int, qname: str, rcode: int = 0, answers: bytes = b"", ancount: int = 0, flags: int = 0x8180) -> bytes:
    question = dns.build_query(query_id, qname)[12:]
    return dns._HEADER.pack(query_id, flags | rcode, 1, ancount, 0, 0) + question + answers


def test_replies_to_another_query_are_ignored():
    qname = reverse("10.0.10.30")
    assert dns.parse_reply(_reply(2, qname), 1, qname) is None  # another id
    assert dns.parse_reply(_reply(1, reverse("10.0.10.31")), 1, qname) is None  # another question
    assert dns.parse_reply(_reply(1, qname, flags=0x0100), 1, qname) is None  # a query, not a response
    assert dns.parse_reply(_reply(1, qname.upper()), 1, qname) == dns.Answer(dns.NO_NAME)  # case is not a difference


def test_malformed_names_are_refused_not_followed():
    qname = reverse("10.0.10.30")
    ptr = b"\xc0\x0c" + b"\x00\x0c\x00\x01\x00\x00\x00\x3c"
    loop = _reply(1, qname, answers=ptr + b"\x00\x02" + b"\xc0\x2a", ancount=1)  # a pointer to itself
    assert dns.parse_reply(loop, 1, qname) == dns.Answer(dns.FAILED)
    past_end = _reply(1, qname, answers=ptr + b"\x00\x05" + b"\x3fabcd", ancount=1)  # a label past the end
    assert dns.parse_reply(past_end, 1, qname) == dns.Answer(dns.FAILED)
    good = _reply(1, qname, answers=ptr + b"\x00\x05" + b"\x03abc\x00", ancount=1)
    assert dns.parse_reply(good, 1, qname) == dns.Answer(dns.NAME, b"abc")


# ---- which names may be shown ---------------------------------------------------------------------


def test_clean_names_are_lower_case_without_the_trailing_dot():
    assert clean_name(b"Printer-2.Home.Arpa.") == "printer-2.home.arpa"
    assert clean_name(b"truenas.home.arpa", "home.arpa") == "truenas"
    assert clean_name(b"home.arpa", "home.arpa") == "home.arpa"  # nothing left to cut: as it is
    longest = "a" * 63 + "." + "b" * 62 + ".c"
    assert len(longest) == MAX_NAME_LENGTH == 128 and clean_name(longest.encode()) == longest
    assert clean_name((longest + "c").encode()) is None  # one character over


@pytest.mark.parametrize("name", [n.encode() for n in HOSTILE.values()] + [b"", b".", b"caf\xc3\xa9.example", b"a..b"])
def test_hostile_names_are_refused(name):
    assert clean_name(name) is None


# ---- the resolver (flow_exporter/names.py) ---------------------------------------------------------


def test_names_come_from_dns_and_config_names_win(server, resolv_conf):
    names = resolver(resolv_conf)
    try:
        local = {"10.0.10.30", "10.0.10.31", "10.0.10.15", "10.0.10.99"}
        names.request(local, {"203.0.113.10"})
        wait_until("every lookup answered", lambda: sum(names.stats()["outcomes"].values()) == 4)
        rows = names.info(local | {"203.0.113.10"})
        assert rows == [
            ("10.0.10.15", "truenas", "config"),
            ("10.0.10.30", "laptop.home.arpa", "dns"),
            ("10.0.10.31", "printer-2.home.arpa", "dns"),
            ("203.0.113.10", "mirror.example.net", "dns"),
        ]  # 10.0.10.99 has no name: not listed, the dashboards show its address
        assert names.stats()["outcomes"] == {**dict.fromkeys(names.outcomes, 0), "name": 3, "no_name": 1}
        assert reverse("10.0.10.15") not in server.queries()  # a configured name is never asked for
        # answers are cached: asking again sends nothing
        before = len(server.queries())
        names.request(local, {"203.0.113.10"})
        assert names.stats()["queued"] == 0 and len(server.queries()) == before
    finally:
        names.stop()


def test_hostile_names_from_dns_are_never_shown(server, resolv_conf):
    from tests.support.prometheus import promtool

    names = resolver(resolv_conf)
    try:
        names.request(set(HOSTILE))
        wait_until("every lookup answered", lambda: sum(names.stats()["outcomes"].values()) == len(HOSTILE))
        assert names.stats()["outcomes"][INVALID_NAME] == len(HOSTILE)
        assert names.info(set(HOSTILE)) == [("10.0.10.15", "truenas", "config")]
        text = render_names(names.info(set(HOSTILE)), names.stats())
        promtool("check", "metrics", input=text.decode())  # valid exposition text
    finally:
        names.stop()


def test_failures_are_counted_by_outcome_and_keep_a_known_name(tmp_path):
    with DnsServer({"10.0.10.30": "laptop.home.arpa"}, servfail=[SERVFAIL], silent=[SILENT]) as server:
        conf = tmp_path / "resolv.conf"
        conf.write_text(f"nameserver {server.address}\n")
        now = [1000.0]
        names = NameResolver(settings(timeout=0.5, cache_for=60.0, negative_cache_for=60.0), {},
                             resolv_conf=str(conf), clock=lambda: now[0]).start()
        try:
            names.request({"10.0.10.30"}, {SERVFAIL, SILENT})
            wait_until("three answers", lambda: sum(names.stats()["outcomes"].values()) == 3)
            outcomes = names.stats()["outcomes"]
            assert (outcomes["name"], outcomes["failed"], outcomes["timeout"]) == (1, 1, 1)
            # the resolver goes down; the name expires and is asked for again: unreachable, and the
            # name it had stays (a resolver failing says nothing about the name)
            server.stop()
            now[0] += 61
            names.request({"10.0.10.30"})
            # (unreachable; or a timeout if the namespace's first ICMP error was rate-limited)
            wait_until("the lookup after expiry", lambda: names.stats()["outcomes"]["unreachable"]
                       + names.stats()["outcomes"]["timeout"] == 2)
            assert names.info({"10.0.10.30"}) == [("10.0.10.30", "laptop.home.arpa", "dns")]
        finally:
            names.stop()


def test_no_name_is_remembered_for_the_negative_time_only(server, resolv_conf):
    now = [0.0]
    names = NameResolver(settings(negative_cache_for=600.0), {}, resolv_conf=resolv_conf, clock=lambda: now[0]).start()
    try:
        names.request({"10.0.10.98"})
        wait_until("the answer", lambda: names.stats()["outcomes"]["no_name"] == 1)
        names.request({"10.0.10.98"})
        now[0] += 599
        names.request({"10.0.10.98"})
        assert names.stats()["queued"] == 0 and names.stats()["outcomes"]["no_name"] == 1
        now[0] += 2
        names.request({"10.0.10.98"})
        wait_until("the second answer", lambda: names.stats()["outcomes"]["no_name"] == 2)
        assert server.queries().count(reverse("10.0.10.98")) == 2
    finally:
        names.stop()


def test_the_cache_is_bounded(server, resolv_conf):
    names = resolver(resolv_conf, cache_size=2)
    try:
        names.request({"10.0.10.30", "10.0.10.31", "203.0.113.10"})
        wait_until("three answers", lambda: names.stats()["outcomes"]["name"] == 3)
        assert names.stats()["cached"] == 2
        assert len([r for r in names.info({"10.0.10.30", "10.0.10.31", "203.0.113.10"}) if r[2] == "dns"]) == 2
    finally:
        names.stop()


def test_queries_keep_to_the_per_second_budget(server, resolv_conf):
    # 4 queries per second (a burst of 4, then one every 1/4 s): 16 lookups take at least 3 s
    addresses = {f"10.0.11.{i}" for i in range(16)}
    names = resolver(resolv_conf, queries_per_second=4, workers=4)
    try:
        start = time.monotonic()
        names.request(addresses)
        wait_until("16 answers", lambda: names.stats()["outcomes"]["no_name"] == 16, timeout=30)
        assert time.monotonic() - start >= (16 - 4) / 4
        asked = [q for q in server.queries() if q.endswith(".11.0.10.in-addr.arpa")]
        assert sorted(asked) == sorted(reverse(a) for a in addresses)  # each asked once
    finally:
        names.stop()


def test_a_full_queue_drops_requests_and_nothing_waits_for_dns(server, resolv_conf):
    # every lookup times out (1 s) on 2 workers; the queue holds 8
    addresses = [f"198.51.100.{i}" for i in range(1, 201)]
    names = resolver(resolv_conf, timeout=1.0, workers=2, queue_size=8)
    try:
        start = time.monotonic()
        names.request(set(), addresses)
        took = time.monotonic() - start
        stats = names.stats()
        assert stats["dropped"] == 200 - 8 and stats["queued"] <= 8
        assert took < 0.5, f"request() took {took:.2f}s: it must only queue"
        # while both workers wait for DNS, the scrape side answers at once
        start = time.monotonic()
        names.info(addresses)
        names.stats()
        assert time.monotonic() - start < 0.5
        wait_until("the queue emptied by timeouts", lambda: names.stats()["outcomes"]["timeout"] == 8, timeout=30)
        # the dropped ones are asked for at a later scrape
        names.request(set(), addresses)
        assert names.stats()["queued"] == 8
    finally:
        names.stop()


def test_local_hosts_are_asked_before_external_peers(server, resolv_conf):
    # queued before the one worker starts: it takes the local host first, whatever the order given
    names = NameResolver(settings(workers=1), {}, resolv_conf=resolv_conf)
    before = len(server.queries())
    names.request({"10.0.10.30"}, [f"198.51.100.{i}" for i in range(1, 4)])
    names.request({"10.0.10.31"})
    names.start()
    try:
        wait_until("both local names", lambda: names.stats()["outcomes"]["name"] == 2, timeout=10)
        assert server.queries()[before:before + 2] == [reverse("10.0.10.30"), reverse("10.0.10.31")]
    finally:
        names.stop()


def test_names_off_asks_nothing(server, resolv_conf):
    names = resolver(resolv_conf, enabled=False)
    before = len(server.queries())
    names.request({"10.0.10.30"}, {"203.0.113.10"})
    assert names.stats()["queued"] == 0 and len(server.queries()) == before
    assert names.info({"10.0.10.30"}) == [("10.0.10.15", "truenas", "config")]  # configured names still shown
