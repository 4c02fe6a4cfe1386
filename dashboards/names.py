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


def left_join(expr: str, on: str, labels: str, known: str, itself: str, addresses: str | None = None) -> str:
    """`expr` with `labels` (comma-separated) from `known` (one row per value of `on`); a row whose
    `on` value `known` lacks keeps it, with label `itself` holding that value (a left join: no row
    is lost).

    PromQL has no left join and shares no subexpression: without `addresses` the join is an inner
    join `or` the rows it missed, which evaluates `expr` twice. `addresses` (one series of value 1
    per value of `on`, covering every one `expr` can hold) makes the right side complete instead:
    `known`, else the value itself, so one inner join keeps every row and `expr` is evaluated once."""
    if addresses is not None:
        default = f'label_replace({addresses}, "{itself}", "$1", "{on}", "(.*)")'
        return f"({expr}) * on ({on}) group_left ({labels}) ({known} or on ({on}) {default})"
    return (
        f"(({expr}) * on ({on}) group_left ({labels}) {known}) or "
        f'label_replace(({expr}) unless on ({on}) {known}, "{itself}", "$1", "{on}", "(.*)")'
    )


def with_name(sel: str, expr: str, address_label: str = "host", name_label: str = "name",
              addresses: str | None = None) -> str:
    """`expr` with label `name_label` holding the name of the address in `address_label`: its
    netviz_host_info name, else the address itself (`left_join`; `addresses`: every address `expr`
    can hold, so that `expr` is evaluated once)."""
    return left_join(expr, address_label, name_label, names(sel, address_label, name_label), name_label, addresses)
