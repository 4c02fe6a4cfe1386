"""The address classifier: its IPv4 shortcut (socket.inet_pton, no ipaddress object: a flood of new
addresses is all cache misses) agrees with a plain ipaddress classification on every string, valid
or not, canonical or not."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings as hsettings, strategies as st

from flow_exporter.settings import EXTERNAL, Classifier
from tests.flow_exporter.helpers import settings

SETTINGS = settings()


def reference(text: str):
    """(canonical address, subnet, if_index, name) by ipaddress alone, or None if not an address."""
    if "%" in text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    canonical = str(ip)
    name = SETTINGS.host_names.get(canonical, canonical)
    for s in SETTINGS.subnets:
        if ip.version == s.network.version and ip in s.network:
            return canonical, s.name, s.netflow_if_index, name
    return canonical, EXTERNAL, None, canonical


def classified(text):
    info = Classifier(SETTINGS).lookup(text)
    return None if info is None else (info.address, info.subnet, info.if_index, info.name)


octet = st.one_of(st.integers(0, 255).map(str), st.integers(256, 999).map(str), st.sampled_from(["00", "01", "007", ""]),
                  st.text("0123456789 +-x", max_size=4))
dotted = st.lists(octet, min_size=1, max_size=6).map(".".join)
near_local = st.sampled_from(["10.0.20.", "10.0.10.", "192.168.1.", "10.0.21.", "192.168.0."]).flatmap(
    lambda prefix: octet.map(lambda last: prefix + last))
anything = st.one_of(dotted, near_local, st.text(max_size=20),
                     st.sampled_from(["::ffff:10.0.20.5", "::ffff:1.2.3.4", "fd00:20::15", "1.2.3.4\n", " 1.2.3.4",
                                      "1.2.3.4 ", "١.٢.٣.٤", "1.2.3.4%eth0", "0x7f.0.0.1", "127.1", "1e1.0.0.1"]))


@hsettings(max_examples=1500, deadline=None)
@given(anything)
def test_the_classifier_agrees_with_ipaddress_on_any_string(text):
    assert classified(text) == reference(text)
    if text.isascii():
        assert classified(text.encode()) == reference(text)  # as the fast path holds it


def test_configured_hosts_subnet_edges_and_mapped_addresses():
    assert classified("10.0.10.15") == ("10.0.10.15", "storage", 2, "truenas")
    assert classified(b"10.0.20.0") == ("10.0.20.0", "kubernetes", 1, "10.0.20.0")
    assert classified("10.0.20.255") == ("10.0.20.255", "kubernetes", 1, "10.0.20.255")
    assert classified("10.0.21.0") == ("10.0.21.0", EXTERNAL, None, "10.0.21.0")
    assert classified("::ffff:10.0.20.100") == ("10.0.20.100", "kubernetes", 1, "k8s-node-0")
    assert classified("01.0.20.100") is None and classified("10.0.20.256") is None
