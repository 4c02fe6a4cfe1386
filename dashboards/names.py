"""Names beside addresses, in PromQL: one join for every panel and alert that shows a host.

Names come from the flow exporter's info metric netviz_host_info{host, name, source} (network.toml's
names, else reverse DNS), never from a counter's labels: a query that shows an address joins it on
the address, and an address with no name shows itself.
"""

from __future__ import annotations

from .config import selector

HOST_INFO = "netviz_host_info"


def names(sel: str, address_label: str = "host", name_label: str = "name") -> str:
    """netviz_host_info as {address_label, name_label} (one row per address: max over scrapes' duplicates)."""
    info = f"max by (host, name) ({HOST_INFO}{selector(sel)})"
    if address_label != "host":
        info = f'label_replace({info}, "{address_label}", "$1", "host", "(.*)")'
    if name_label != "name":
        info = f'label_replace({info}, "{name_label}", "$1", "name", "(.*)")'
    return info


def with_name(sel: str, expr: str, address_label: str = "host", name_label: str = "name",
              addresses: str | None = None) -> str:
    """`expr` with label `name_label` holding the name of the address in `address_label`: its
    netviz_host_info name, else the address itself (a left join: no row is lost).

    PromQL has no left join and shares no subexpression: without `addresses` the join is an inner
    join `or` the rows it missed, which evaluates `expr` twice. `addresses` (one series of value 1
    per address, label `address_label`, covering every address `expr` can hold) makes the right side
    complete instead: each address's name, else the address itself, so one inner join keeps every
    row and `expr` is evaluated once."""
    info = names(sel, address_label, name_label)
    if addresses is not None:
        itself = f'label_replace({addresses}, "{name_label}", "$1", "{address_label}", "(.*)")'
        return f"({expr}) * on ({address_label}) group_left ({name_label}) ({info} or on ({address_label}) {itself})"
    return (
        f"(({expr}) * on ({address_label}) group_left ({name_label}) {info}) or "
        f'label_replace(({expr}) unless on ({address_label}) {info}, "{name_label}", "$1", "{address_label}", "(.*)")'
    )
