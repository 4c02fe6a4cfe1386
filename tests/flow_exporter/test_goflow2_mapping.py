"""The GoFlow2 -mapping file prints every field the exporter reads, and only GoFlow2's own fields."""

import dataclasses
import json
import re

import flow_exporter.record as record
from flow_exporter.mapping import FIELD_NAMES, goflow2_mapping_yaml
from flow_exporter.series import FLOW
from flow_exporter.aggregate import Aggregator
from tests.flow_exporter.helpers import DEFAULTS, aggregator, goflow2_line, settings

# GoFlow2's JSON field names (pb/flow.proto, as listed in the project's FACTS).
GOFLOW2_FIELDS = set("""
type time_received_ns sequence_num sampling_rate sampler_address time_flow_start_ns time_flow_end_ns
bytes packets src_addr dst_addr etype proto src_port dst_port in_if out_if src_mac dst_mac src_vlan
dst_vlan vlan_id ip_tos forwarding_status ip_ttl ip_flags tcp_flags icmp_type icmp_code
ipv6_flow_label fragment_id fragment_offset src_as dst_as next_hop next_hop_as src_net dst_net
bgp_next_hop bgp_communities as_path mpls_ttl mpls_label mpls_ip observation_domain_id
observation_point_id layer_stack layer_size ipv6_routing_header_addresses ipv6_routing_header_seg_left
""".split())


def mapping_fields(text: str) -> list[str]:
    """formatter.fields of the generated YAML, read by its exact layout (no YAML library at run time)."""
    lines = [line for line in text.splitlines() if line and not line.lstrip().startswith("#")]
    assert lines[0] == "formatter:"
    assert lines[1] == "  fields:"
    fields = []
    for line in lines[2:]:
        m = re.fullmatch(r"    - ([a-z0-9_]+)(\s+#.*)?", line)
        assert m, f"unexpected YAML line {line!r}"
        fields.append(m.group(1))
    return fields


class RecordingDict(dict):
    """A dict that remembers which keys were looked at."""

    seen: set = set()

    def __contains__(self, key):
        RecordingDict.seen.add(key)
        return super().__contains__(key)

    def __getitem__(self, key):
        RecordingDict.seen.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        RecordingDict.seen.add(key)
        return super().get(key, default)


def test_every_field_the_parser_reads_is_in_the_mapping(monkeypatch):
    # GIVEN GoFlow2's default output: every field it has
    everything = {name: 0 for name in GOFLOW2_FIELDS} | DEFAULTS
    RecordingDict.seen = set()
    monkeypatch.setattr(record.json, "loads", lambda text: json.JSONDecoder(object_hook=RecordingDict).decode(text))
    # WHEN the reference parser reads it
    assert isinstance(record.parse_line(json.dumps(everything).encode()), record.Record)
    # THEN what it looked at is exactly the mapping's fields
    assert RecordingDict.seen == set(mapping_fields(goflow2_mapping_yaml()))


def test_the_mapping_lists_real_goflow2_fields_in_the_fast_paths_order():
    fields = mapping_fields(goflow2_mapping_yaml())
    assert fields == list(FIELD_NAMES)
    assert set(fields) <= GOFLOW2_FIELDS
    assert re.findall(rb'"([a-z_]+)":', record.FAST_LINE.pattern) == [f.encode() for f in fields]


def test_a_line_printed_with_the_mapping_takes_the_fast_path():
    assert record.FAST_LINE.fullmatch(goflow2_line())
    # and GoFlow2's README example (all fields, another order) still counts, via json.loads
    readme = (b'{"type":"SFLOW_5","time_received_ns":1681583295157626000,"sequence_num":2999,'
              b'"sampling_rate":100,"sampler_address":"192.168.0.1","time_flow_start_ns":1681583295157626000,'
              b'"time_flow_end_ns":1681583295157626000,"bytes":1500,"packets":1,"src_addr":"fd01::1",'
              b'"dst_addr":"fd01::2","etype":"IPv6","proto":"TCP","src_port":443,"dst_port":50001,"in_if":0}')
    assert record.FAST_LINE.fullmatch(readme) is None
    untrusted = aggregator()  # its sender, 192.168.0.1, is not pfsense.address
    untrusted.ingest([readme])
    assert (untrusted.snapshot().untrusted, untrusted.snapshot().series) == (1, [])
    agg = Aggregator(dataclasses.replace(settings(), netflow_senders=("192.168.0.1",)))
    agg.ingest([readme])
    snap = agg.snapshot()
    assert [(k, v) for k, v in snap.series if k[0] == FLOW] == [((FLOW, "external", "external", "TCP"), (150000, 100, 1))]
