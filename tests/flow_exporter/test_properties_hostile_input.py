"""Property tests: hostile lines never crash the exporter nor cost a good record, and the fast path
never disagrees with the reference parser."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from flow_exporter.mapping import FIELD_NAMES
from flow_exporter.reader import LineSplitter
from flow_exporter.record import MAX_LINE_BYTES
from flow_exporter.series import CONVERSATIONS, label_values
from flow_exporter.services import PORT_PROTOCOLS, WELL_KNOWN_PORTS
from tests.flow_exporter.helpers import NETWORK, aggregator, family, metrics, value

PROPS = hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ADDRESSES = [
    "10.0.20.100", "10.0.20.7", "10.0.10.15", "10.0.10.200", "192.168.1.127", "192.168.1.9",
    "fd00:20::15", "fd00:20::abcd", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "2001:db8::1",
]
PROTOCOLS = ["TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "", "GRE"]
PORTS = [0, 22, 53, 443, 2049, 6443, 40000, 65535]

good_records = st.fixed_dictionaries({
    "time_received_ns": st.integers(0, 2**63),
    # Every small rate, 0 ("none sent": 1) and 1 to 4 each, so that a parser which multiplies from
    # the wrong threshold on (above 2, say) disagrees with the model; and large ones.
    "sampling_rate": st.one_of(st.integers(0, 4), st.sampled_from([10, 1000, 2**32 - 1, 2**63])),
    "bytes": st.integers(0, 10**12),
    "packets": st.integers(0, 10**6),
    "src_addr": st.sampled_from(ADDRESSES),
    "dst_addr": st.sampled_from(ADDRESSES),
    "proto": st.sampled_from(PROTOCOLS),
    "src_port": st.sampled_from(PORTS),
    "dst_port": st.sampled_from(PORTS),
    "in_if": st.sampled_from([0, 1, 2, 9]),
    # pfsense.address (trusted), the same as an IPv4-mapped IPv6 address (trusted too), and senders
    # nobody configured (their records skipped, counted as untrusted).
    "sampler_address": st.sampled_from(["10.0.20.1", "10.0.20.1", "::ffff:10.0.20.1", "10.0.20.66", "fd00:20::1"]),
})
TRUSTED_SENDERS = {ipaddress.ip_address("10.0.20.1")}


def goflow2_text(record: dict) -> bytes:
    return ("{" + ",".join(f'"{k}":{json.dumps(record[k])}' for k in FIELD_NAMES) + "}").encode()


def layouts(record: dict) -> st.SearchStrategy[bytes]:
    """The same record as GoFlow2 prints it with our mapping, or in other valid JSON layouts."""
    return st.sampled_from([
        goflow2_text(record),
        json.dumps(record).encode(),  # spaces
        json.dumps(dict(reversed(list(record.items())))).encode(),  # another order
        json.dumps({**record, "type": "IPFIX", "out_if": 3}).encode(),  # more fields
    ])


good_lines = good_records.flatmap(lambda r: st.tuples(st.just(r), layouts(r)))

_no_newline = st.binary(max_size=300).map(lambda b: b.replace(b"\n", b""))


def _mutated(record: dict) -> st.SearchStrategy[bytes]:
    """A record made invalid in one of the ways the issue lists."""
    def without(field):
        return {k: v for k, v in record.items() if k != field}

    return st.one_of(
        st.sampled_from(FIELD_NAMES).map(lambda f: json.dumps(without(f)).encode()),
        st.tuples(st.sampled_from(FIELD_NAMES), st.sampled_from([None, [], {}, 1.5, True, "x"]))
        # A string where a string belongs is no hostile type (an address that is not one is
        # invalid_address below; a sender that is not one is untrusted: test_trusted_senders.py).
        .filter(lambda fv: not (fv[0] in ("src_addr", "dst_addr", "proto", "sampler_address") and isinstance(fv[1], str)))
        .map(lambda fv: json.dumps({**record, fv[0]: fv[1]}).encode()),
        st.sampled_from(["time_received_ns", "sampling_rate", "bytes", "packets", "src_port", "dst_port", "in_if"])
        .map(lambda f: json.dumps({**record, f: -1}).encode()),
        st.sampled_from(["src_addr", "dst_addr"]).flatmap(
            lambda f: st.sampled_from(["", "10.0.20.300", "::g", "1.2.3", "fe80::1%eth0", "localhost", "1.2.3.4 "])
            .map(lambda bad: json.dumps({**record, f: bad}).encode())),
        st.just(goflow2_text(record)[:-1]),  # truncated: invalid JSON
        st.just(goflow2_text(record) + b"," * 10),
        st.just(b" " * (MAX_LINE_BYTES + 1) + goflow2_text(record)),  # too long, though a record inside
    )


hostile_lines = st.one_of(
    st.just(b""),
    st.sampled_from([b" ", b"\t\r", b"null", b"[]", b"{}", b"0", b'"x"', b"[" * 3000, b"{" * 100]),
    _no_newline,
    st.text(max_size=200).map(lambda t: t.replace("\n", "").encode("utf-8", "surrogatepass")),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                 lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
                 max_leaves=8).map(lambda v: json.dumps(v).encode()),
    st.integers(MAX_LINE_BYTES + 1, 3 * MAX_LINE_BYTES).map(lambda n: b"7" * n),
    # From the trusted sender: a record from anyone else is skipped as untrusted before its fields
    # are looked at (an invalid address in it is never classified).
    good_records.map(lambda r: {**r, "sampler_address": "10.0.20.1"}).flatmap(_mutated),
)


def expected_metrics(records: list[dict]) -> dict:
    """An independent, naive model of what the exporter must count."""
    nets = [(s["name"], ipaddress.ip_network(s["cidr"]), s.get("netflow_if_index")) for s in NETWORK["subnets"]]
    names = {h["address"]: h["name"] for h in NETWORK["hosts"]} | {n["address"]: n["name"] for n in NETWORK["kubernetes"]["nodes"]}
    known_if = {i for _, _, i in nets if i is not None}

    def where(addr):
        ip = ipaddress.ip_address(addr)
        for name, net, index in nets:
            if ip.version == net.version and ip in net:
                return name, index
        return "external", None

    out = Counter()
    duplicates = untrusted = 0
    for r in records:
        sender = ipaddress.ip_address(r["sampler_address"])
        if (getattr(sender, "ipv4_mapped", None) or sender) not in TRUSTED_SENDERS:
            untrusted += 1
            continue
        (s_net, s_if), (d_net, d_if) = where(r["src_addr"]), where(r["dst_addr"])
        if r["in_if"] in known_if:
            point = s_if if s_if is not None else d_if
            if point is not None and point != r["in_if"]:
                duplicates += 1
                continue
        rate = max(r["sampling_rate"], 1)
        nbytes = r["bytes"] * rate
        proto = r["proto"] if r["proto"] in ("TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "GRE") else "other"
        pair = (("dst_subnet", d_net), ("proto", proto), ("src_subnet", s_net))
        out[("netviz_flow_bytes_total", pair)] += nbytes
        out[("netviz_flow_packets_total", pair)] += r["packets"] * rate
        out[("netviz_flows_total", pair)] += 1
        src = str(ipaddress.ip_address(r["src_addr"]))
        dst = str(ipaddress.ip_address(r["dst_addr"]))
        if s_net != "external":
            out[("netviz_host_bytes_total", (("direction", "sent"), ("host", src), ("name", names.get(src, src)), ("subnet", s_net)))] += nbytes
        if d_net != "external":
            out[("netviz_host_bytes_total", (("direction", "received"), ("host", dst), ("name", names.get(dst, dst)), ("subnet", d_net)))] += nbytes
        if s_net != "external" and d_net == "external":
            out[("netviz_external_bytes_total", (("direction", "outbound"), ("peer", dst)))] += nbytes
            out[("netviz_host_internet_bytes_total", (("direction", "sent"), ("host", src), ("name", names.get(src, src)), ("subnet", s_net)))] += nbytes
        if s_net == "external" and d_net != "external":
            out[("netviz_external_bytes_total", (("direction", "inbound"), ("peer", src)))] += nbytes
            out[("netviz_host_internet_bytes_total", (("direction", "received"), ("host", dst), ("name", names.get(dst, dst)), ("subnet", d_net)))] += nbytes
        port = "other"
        if proto in PORT_PROTOCOLS:
            for p in (r["dst_port"], r["src_port"]):
                if p in WELL_KNOWN_PORTS:
                    port = p
                    break
        service = WELL_KNOWN_PORTS[port] if port != "other" else "other"
        out[("netviz_service_bytes_total", (("port", str(port)), ("proto", proto), ("service", service)))] += nbytes
        conversation = (("dst", dst), ("dst_subnet", d_net), ("port", str(port)), ("proto", proto), ("service", service),
                        ("src", src), ("src_subnet", s_net))
        out[("netviz_conversation_bytes_total", conversation)] += nbytes
        out[("netviz_conversation_packets_total", conversation)] += r["packets"] * rate
    return {"series": {(n, frozenset(l)): v for (n, l), v in out.items()}, "duplicates": duplicates,
            "untrusted": untrusted}


def feed(agg, lines: list[bytes], cuts: list[int]) -> None:
    """Send the lines as one byte stream, cut into chunks at arbitrary places, the way reads arrive."""
    stream = b"".join(line + b"\n" for line in lines)
    splitter = LineSplitter()
    positions = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    for start, end in zip(positions, positions[1:]):
        out = splitter.feed(stream[start:end])
        if out:
            agg.ingest(out)


FLOW_FAMILIES = ("netviz_flow_bytes_total", "netviz_flow_packets_total", "netviz_flows_total",
                 "netviz_host_bytes_total", "netviz_host_internet_bytes_total", "netviz_external_bytes_total", "netviz_service_bytes_total",
                 "netviz_conversation_bytes_total", "netviz_conversation_packets_total")


@PROPS
@given(st.lists(st.one_of(good_lines.map(lambda g: ("good", g)), hostile_lines.map(lambda h: ("bad", h))), max_size=60),
       st.lists(st.integers(0, 10**6), max_size=20))
def test_hostile_lines_interleaved_with_good_ones_never_cost_a_good_record(items, cuts):
    good = [record for kind, (record, _) in ((k, v) for k, v in items if k == "good")]
    lines = [v[1] if kind == "good" else v for kind, v in items]
    agg = aggregator()
    feed(agg, lines, cuts)
    m = metrics(agg)
    want = expected_metrics(good)
    got = {k: v for k, v in m.items() if k[0] in FLOW_FAMILIES}
    # parse_exposition reads floats; compare exactly through the snapshot for large integers
    snap = agg.snapshot()
    assert len(got) == len(want["series"])
    assert set(got) == set(want["series"])
    exact = {}
    from flow_exporter.exposition import FLOW_METRICS
    for key, counters in snap.series:
        for families, index, name, label_names, _ in FLOW_METRICS:
            if key[0] in families:
                exact[(name, frozenset(zip(label_names, label_values(key))))] = counters[index]
    assert exact == want["series"]
    assert snap.records == len(lines)
    assert sum(snap.rejected.values()) == len(lines) - len(good)
    assert snap.duplicates == want["duplicates"]
    assert snap.untrusted == want["untrusted"]
    conversations = sum(1 for name, _ in want["series"] if name.startswith("netviz_conversation_"))
    assert value(m, "netviz_flow_exporter_series") == len(want["series"])
    assert sum(value(m, "netviz_flow_exporter_family_series", family=f) for f in CONVERSATIONS) == conversations


# Lines near the fast path's layout: GoFlow2's format with edge values and single-byte damage.
edge_ints = st.sampled_from([0, 1, 2, 3, 9, 10, 65535, 65536, 99999, 100000, 2**32 - 1, 2**32, 10**18, 10**19 - 1,
                             10**19, 2**64 - 1, 2**64, -1, -0])
edge_text = st.sampled_from(["10.0.20.100", "fd00:20::15", "::ffff:10.0.10.15", "1.2.3.4.5", ":::", "0.0.0.0",
                             "ffff::ffff:ffff:ffff:ffff:ffff:ffff:ffff", "TCP", "tcp", "", "A" * 17, "1e5"])


@st.composite
def near_fast_lines(draw):
    record = draw(good_records)
    for field in draw(st.lists(st.sampled_from(FIELD_NAMES), max_size=3)):
        record[field] = draw(edge_ints if draw(st.booleans()) else edge_text)
    line = bytearray(goflow2_text(record))
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(line)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = draw(st.sampled_from(b'0 1-9"\\:.,{}eE+aZ\t\x00\xff'))
        if action == "insert":
            line[at:at] = bytes([byte])
        elif line:
            at = min(at, len(line) - 1)
            if action == "delete":
                del line[at]
            else:
                line[at] = byte
    if draw(st.booleans()):  # a leading zero: valid for a regex that forgot it, invalid JSON
        line = bytes(line).replace(b'"bytes":', b'"bytes":0', 1)
    return bytes(line)


@PROPS
@given(st.lists(near_fast_lines(), min_size=1, max_size=40))
def test_the_fast_path_agrees_with_the_reference_parser(lines):
    fast, strict = aggregator(fast_path=True), aggregator(fast_path=False)
    fast.ingest(lines)
    strict.ingest(lines)
    a, b = fast.snapshot(), strict.snapshot()
    assert a.series == b.series
    assert (a.records, a.rejected, a.duplicates, a.unmapped_interface, a.newest_ns, a.untrusted) == \
           (b.records, b.rejected, b.duplicates, b.unmapped_interface, b.newest_ns, b.untrusted)


def test_the_fast_path_is_taken_for_goflow2_lines():
    # Guards the property above from passing vacuously: the fast path really runs on these lines.
    from flow_exporter.record import FAST_LINE
    assert all(FAST_LINE.fullmatch(goflow2_text({**r})) for r in [
        {"time_received_ns": 10**19 - 1, "sampling_rate": 0, "bytes": 0, "packets": 0, "src_addr": "fd00:20::15",
         "dst_addr": "1.1.1.1", "proto": "", "src_port": 65535, "dst_port": 0, "in_if": 999999999,
         "sampler_address": "ffff::ffff:ffff:ffff:ffff:ffff:ffff:ffff"}])


@PROPS
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
       st.lists(st.integers(0, 2000), max_size=15))
def test_line_splitting_does_not_depend_on_where_reads_end(lines, cuts):
    limit = 16
    stream = b"".join(line + b"\n" for line in lines)
    splitter = LineSplitter(max_line=limit)
    out = []
    positions = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    for start, end in zip(positions, positions[1:]):
        out += splitter.feed(stream[start:end])
    out += splitter.end()
    # every line comes out once, in order; a line over the limit comes out over the limit too (whole,
    # or cut to limit + 1 bytes if it spanned reads), so the parser rejects it as line_too_long
    assert len(out) == len(lines)
    for got, line in zip(out, lines):
        if len(line) <= limit:
            assert got == line
        else:
            assert len(got) > limit and line.startswith(got)


@pytest.mark.parametrize("rate", [0, 1, 2, 3, 4, 10, 2**32, 2**63])
def test_both_parsers_apply_every_sampling_rate_alike(rate):
    """The fast path and the json.loads fallback multiply by the same rates (0 and 1 mean 1): a
    fallback that multiplies only above 2 must fail here, whatever the property tests draw."""
    record = {"time_received_ns": 1, "sampling_rate": rate, "bytes": 1500, "packets": 3, "src_addr": "10.0.20.100",
              "dst_addr": "1.1.1.1", "proto": "TCP", "src_port": 50000, "dst_port": 443, "in_if": 1,
              "sampler_address": "10.0.20.1"}
    fast_line, fallback_line = goflow2_text(record), json.dumps(record).encode()  # spaces: not the fast layout
    agg = aggregator()
    agg.ingest([fast_line, fallback_line])
    assert agg.snapshot().fallback == 1
    m = metrics(agg)
    pair = {"src_subnet": "kubernetes", "dst_subnet": "external", "proto": "TCP"}
    assert value(m, "netviz_flow_bytes_total", **pair) == 2 * 1500 * max(rate, 1)
    assert value(m, "netviz_flow_packets_total", **pair) == 2 * 3 * max(rate, 1)
