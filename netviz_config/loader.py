"""Read `network.toml` into a validated `NetworkConfig`, or fail with every problem named, in one go.

One reading: each value is checked against its field (type, form, unknown keys), and what only the
whole network can tell (overlaps, nodes outside every subnet, duplicates, limits between fields) is
checked on what was read. A field that could not be read is marked broken; a whole-network check
that needs a broken field is skipped (it would only repeat the problem, or crash), every other one
runs. All problems are reported together, in the order their fields appear in the file, so a user
fixes a file in one pass.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import typing
from typing import Any, Iterable, Optional, Union

from . import checks
from .schema import NetworkConfig

DEFAULT_PATH = "network.toml"
ENV_VAR = "NETVIZ_CONFIG"

_TYPE_NAMES = {str: "a string", int: "a whole number", bool: "true or false"}


class ConfigError(ValueError):
    """The config file is not valid. `problems` lists one line per bad field."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))


def config_path(explicit: Optional[str] = None) -> str:
    """The file to read: the argument, else $NETVIZ_CONFIG, else ./network.toml."""
    return explicit or os.environ.get(ENV_VAR) or DEFAULT_PATH


def load(path: Optional[str] = None, *, check_files: bool = True) -> NetworkConfig:
    """Read and validate the config at `path` (default: `config_path()`).

    check_files: also require the files it names (chart values files) to exist. The flow exporter
    turns it off: it gets network.toml alone, in a ConfigMap, and reads none of those files."""
    path = config_path(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(path, [f"file not found (set {ENV_VAR} or pass the path of your network.toml)"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(path, [f"not valid TOML: {e}"]) from None
    return parse(raw, source=path, base_dir=os.path.dirname(os.path.abspath(path)), check_files=check_files)


class _Reading:
    """Problems found so far, each with the path of its field, and the fields that are broken."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []
        self.broken: set[str] = set()

    def problem(self, path: str, message: str, *, broken: bool = True) -> None:
        self.problems.append((path, message))
        if broken:
            self.broken.add(path)

    def ok(self, *paths: str) -> bool:
        """None of `paths` is broken, nor inside something broken (a table or list that failed)."""
        return not any(_is_within(path, b) for path in paths for b in self.broken)


def _is_within(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith(ancestor + ".") or path.startswith(ancestor + "[")


def parse(raw: dict, source: str = "<config>", base_dir: str = ".", *, check_files: bool = True) -> NetworkConfig:
    reading = _Reading()
    config = dataclasses.replace(_read(NetworkConfig, raw, "", reading), base_dir=base_dir)
    for path, message in _whole_network_problems(config, reading.ok):
        reading.problem(path, message, broken=False)
    if check_files:
        for path, message in _missing_files(config, reading.ok):
            reading.problem(path, message, broken=False)
    if reading.problems:
        order = _file_order(raw)
        ranked = sorted(enumerate(reading.problems), key=lambda item: (_position(item[1][0], order), item[0]))
        raise ConfigError(source, [f"{path}: {message}" for _, (path, message) in ranked])
    return config


def _file_order(raw: Any, path: str = "", order: Optional[dict] = None) -> dict[str, int]:
    """Every path of the file, numbered in the order it appears (TOML tables keep their key order)."""
    order = {} if order is None else order
    order.setdefault(path, len(order))
    if isinstance(raw, dict):
        for key, value in raw.items():
            _file_order(value, _join(path, key), order)
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            _file_order(value, f"{path}[{i}]", order)
    return order


def _position(path: str, order: dict[str, int]) -> tuple[int, int]:
    """Where `path` is in the file; a path the file lacks (a missing value) goes right after the
    last thing its nearest present ancestor holds."""
    if path in order:
        return order[path], 0
    parent = path
    while parent:
        parent = parent.rsplit(".", 1)[0] if "." in parent else (parent.rsplit("[", 1)[0] if "[" in parent else "")
        if parent in order:
            inside = [i for p, i in order.items() if _is_within(p, parent)]
            return max(inside), 1
    return len(order), 1


def _describe(value: Any) -> str:
    return repr(value) if not isinstance(value, dict) else "a table"


def _read(cls, raw: Any, path: str, reading: _Reading):
    """Build dataclass `cls` from the TOML table `raw`. A bad or missing field becomes None and is
    marked broken (with its problem), so the object is always built and the other fields checked."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    if not isinstance(raw, dict):
        reading.problem(path or "top level", f"expected a table, but {_describe(raw)} was provided")
        raw = {}
    replaced = getattr(cls, "replaced_keys", {})
    for key in raw:
        if key in replaced:
            reading.problem(_join(path, key), f"no longer a setting: {replaced[key]}")
        elif key not in fields:
            known = ", ".join(sorted(fields))
            reading.problem(_join(path, key), f"unknown key (expected one of: {known})")
    values = {}
    for name, f in fields.items():
        field_path = _join(path, name)
        if name not in raw:
            if f.metadata.get("required"):
                reading.problem(field_path, f"missing required value ({f.metadata['doc']})")
                values[name] = None
            continue
        value = _convert(hints[name], raw[name], field_path, reading)
        if value is _BAD:
            values[name] = None
            continue
        check = f.metadata.get("check")
        if check is not None and value is not None:
            expected = check(value)
            if expected:
                reading.problem(field_path, f"expected {expected}, but {_describe(raw[name])} was provided")
                values[name] = None
                continue
        values[name] = value
    return cls(**values)


_BAD = object()


def _convert(hint, value: Any, path: str, reading: _Reading):
    origin = typing.get_origin(hint)
    if origin is Union:  # Optional[X]
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(inner, value, path, reading)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            reading.problem(path, f"expected a list, but {_describe(value)} was provided")
            return _BAD
        items = [_convert(item, v, f"{path}[{i}]", reading) for i, v in enumerate(value)]
        return tuple(None if v is _BAD else v for v in items)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            reading.problem(path, f"expected a table, but {_describe(value)} was provided")
            return _BAD
        return _read(hint, value, path, reading)
    # bool is an int in Python: check it first so `port = true` is refused.
    if isinstance(value, bool) != (hint is bool) or not isinstance(value, hint):
        reading.problem(path, f"expected {_TYPE_NAMES[hint]}, but {_describe(value)} was provided")
        return _BAD
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


Problem = tuple[str, str]


def _whole_network_problems(config: NetworkConfig, ok) -> Iterable[Problem]:
    """What only the whole network can tell. `ok(*paths)`: those fields were read well."""
    subnets = [(i, s) for i, s in enumerate(config.subnets or ()) if s is not None]
    nets = [(i, s, ipaddress.ip_network(s.cidr)) for i, s in subnets if ok(f"subnets[{i}].cidr")]
    for a, (i, sa, na) in enumerate(nets):
        for j, sb, nb in nets[a + 1 :]:
            if na.version == nb.version and na.overlaps(nb):
                yield (f"subnets[{j}].cidr", f"expected a network that overlaps no other subnet, but {sb.cidr!r} "
                                             f"overlaps subnets[{i}] {sa.name!r} ({sa.cidr})")
    for i, s in subnets:
        if s.name == "external":
            yield (f"subnets[{i}].name", "expected a name other than 'external' (it labels addresses in no subnet)")
    yield from _duplicates("subnets", "name", [s.name if s else None for s in config.subnets or ()])
    yield from _duplicates("subnets", "netflow_if_index", [s.netflow_if_index if s else None for s in config.subnets or ()])
    yield from _duplicates("subnets", "pfsense_interface", [s.pfsense_interface if s else None for s in config.subnets or ()])

    nodes = [(i, n) for i, n in enumerate(config.kubernetes.nodes or ()) if n is not None] if config.kubernetes else []
    hosts = [(i, h) for i, h in enumerate(config.hosts or ()) if h is not None]
    # Hosts and nodes both name devices in the dashboards: each name and each address once.
    devices = [(f"hosts[{i}]", h) for i, h in hosts] + [(f"kubernetes.nodes[{i}]", n) for i, n in nodes]
    yield from _duplicates_among(devices, "name")
    yield from _duplicates_among(devices, "address")

    every_subnet = range(len(config.subnets or ()))
    all_cidrs = ok("subnets", *(f"subnets[{i}].cidr" for i in every_subnet))
    for i, node in nodes:
        if all_cidrs and ok(f"kubernetes.nodes[{i}].address") and config.subnet_of(node.address) is None:
            yield (f"kubernetes.nodes[{i}].address", f"expected an address inside a configured subnet, but "
                   f"{node.address!r} ({node.name}) is in none of: " + ", ".join(s.cidr for _, s in subnets))

    for i, host in hosts:  # a limit on internet usage counts only an address of your subnets
        field = f"hosts[{i}].internet_volume_limit"
        if all_cidrs and ok(field, f"hosts[{i}].address") and host.internet_volume_limit \
                and config.subnet_of(host.address) is None:
            yield (field, f"expected no limit for {host.address!r} ({host.name}): the flow exporter counts internet "
                          "usage of addresses inside a configured subnet only, and it is in none")

    if ok("goflow2.collector_node", "kubernetes.nodes", *(f"kubernetes.nodes[{i}].name" for i, _ in nodes)):
        wanted = config.goflow2.collector_node
        if wanted and wanted not in {n.name for _, n in nodes}:
            yield ("goflow2.collector_node", f"expected the name of a kubernetes.nodes entry, but {wanted!r} was provided")
    yield from _policy_problems(config, ok, {s.name for _, s in subnets})
    if ok("goflow2.netflow_senders"):
        senders = [ipaddress.ip_address(a) for a in config.goflow2.netflow_senders]
        for i, address in enumerate(senders):
            if address in senders[:i]:
                yield (f"goflow2.netflow_senders[{i}]", f"expected a unique address, but {config.goflow2.netflow_senders[i]!r} "
                                                        f"is also goflow2.netflow_senders[{senders.index(address)}]")
    # Each stack creates its own namespace: a second create of the same one is refused by Kubernetes
    # (and a destroy of one stack would delete the other's). In adopt mode the monitoring namespace
    # is the user's own, which netviz must not create, nor delete.
    namespaces = [("caretta.namespace", "caretta"), ("goflow2.namespace", "goflow2")]
    if ok("monitoring.mode") and config.monitoring.mode in ("managed", "adopt"):
        namespaces.insert(0, ("monitoring.namespace", "monitoring"))
    seen: dict = {}
    for path, section in namespaces:
        if not ok(path):
            continue
        name = getattr(config, section).namespace
        if name in seen:
            yield (path, f"expected a namespace other than {seen[name]} ({name!r}): each stack creates its own "
                         "namespace, and Kubernetes refuses a second one of the same name")
        else:
            seen[name] = path
    # Both containers of the collector pod share one network namespace: one port each.
    if ok("goflow2.metrics_port", "flow_exporter.port") and config.goflow2.metrics_port == config.flow_exporter.port:
        yield ("flow_exporter.port", f"expected a port other than goflow2.metrics_port (both serve in one pod), "
                                     f"but {config.flow_exporter.port} was provided for both")

    # Every scraper must take a 0 sample of a new series: the window must cover a scrape interval.
    window, interval = "flow_exporter.new_series_zero_window", "monitoring.prometheus.scrape_interval"
    if ok(window, interval) and config.flow_exporter.new_series_zero_window:
        scrape_s = checks.seconds(config.monitoring.prometheus.scrape_interval)
        if config.new_series_zero_seconds < scrape_s:
            yield (window, f"expected at least {interval} ({config.monitoring.prometheus.scrape_interval}: a "
                           f"scraper must scrape a new series at least once while it reads 0), but "
                           f"{config.flow_exporter.new_series_zero_window!r} was provided")

    rollup = "monitoring.prometheus.rollup_interval"
    if ok(rollup, interval):
        value = config.monitoring.prometheus.rollup_interval
        if not 4 * checks.seconds(config.monitoring.prometheus.scrape_interval) <= checks.seconds(value) <= 6 * 3600:
            yield (rollup, f"expected at least 4 scrape intervals ({interval} {config.monitoring.prometheus.scrape_interval}) "
                           f"and at most 6h (the dashboards look a day back for the newest rollup), but {value!r} was provided")
    # The alerts' windows must hold enough samples for one missed scrape.
    for key in ("count_window", "new_device_window", "internet_volume_window"):
        field, value = f"alerts.{key}", getattr(config.alerts, key)
        if ok(field, interval) and value:
            least = 4 * checks.seconds(config.monitoring.prometheus.scrape_interval)
            if checks.seconds(value) < least:
                yield (field, f"expected at least 4 scrape intervals ({interval} {config.monitoring.prometheus.scrape_interval}: "
                              f"a window holds enough samples for one missed scrape), but {value!r} was provided")
    if ok("alerts.new_device_window", "alerts.new_device_lookback") and \
            checks.seconds(config.alerts.new_device_lookback) <= checks.seconds(config.alerts.new_device_window):
        yield ("alerts.new_device_lookback", f"expected longer than alerts.new_device_window "
                                             f"({config.alerts.new_device_window}: a device is new for that long), but "
                                             f"{config.alerts.new_device_lookback!r} was provided")
    managed = ok("pfsense.manage_softflowd") and config.pfsense.manage_softflowd
    if managed and ok("pfsense.ssh_host_key") and not config.pfsense.ssh_host_key:
        yield ("pfsense.ssh_host_key", "missing required value with pfsense.manage_softflowd = true "
                                       "(pin pfSense's host key: ssh-keyscan -t ed25519 <pfSense address>)")
    if managed and ok("subnets", *(f"subnets[{i}].pfsense_interface" for i in every_subnet)):
        watched = [(i, s) for i, s in subnets if s.pfsense_interface]
        if not watched:
            yield ("subnets", "expected at least one subnet with pfsense_interface when pfsense.manage_softflowd = true "
                              "(the interfaces softflowd watches)")
        # The pfSense package numbers its interfaces 1..n in the order given; netviz gives them in
        # netflow_if_index order, so the indexes must be exactly 1..n for the count-once rule.
        if ok(*(f"subnets[{i}].netflow_if_index" for i in every_subnet)):
            for n, (i, s) in enumerate(sorted(watched, key=lambda w: w[1].netflow_if_index or 0), start=1):
                if s.netflow_if_index != n:
                    yield (f"subnets[{i}].netflow_if_index", f"expected {n} (the subnets with a pfsense_interface are "
                           f"numbered 1..{len(watched)} by the pfSense package, in netflow_if_index order), but "
                           f"{s.netflow_if_index!r} was provided")
                    break
    if ok("state.backend"):
        backend = config.state.backend
        if backend != "local" and ok(f"state.{backend}") and getattr(config.state, backend) is None:
            yield (f"state.{backend}", f"missing required table for state.backend = {backend!r}")


def _policy_problems(config: NetworkConfig, ok, subnet_names: set) -> Iterable[Problem]:
    rules = [(i, r) for i, r in enumerate(config.policy or ()) if r is not None]
    yield from _duplicates("policy", "name", [r.name if r else None for r in config.policy or ()])
    known = subnet_names | {"external"}
    for i, rule in rules:
        ends = []
        for end in ("from_subnet", "to_subnet"):
            value = getattr(rule, end)
            if ok(f"policy[{i}].{end}") and value not in known:
                yield (f"policy[{i}].{end}", f"expected a subnet's name or external ({', '.join(sorted(known))}), "
                                              f"but {value!r} was provided")
            else:
                ends.append(value)
        if len(ends) == 2 and ends[0] == ends[1]:
            yield (f"policy[{i}].to_subnet", f"expected another subnet than from_subnet: traffic within "
                                             f"{ends[0]!r} never crosses pfSense, so netviz never sees it")


def _missing_files(config: NetworkConfig, ok) -> Iterable[Problem]:
    for chart in ("prometheus", "grafana"):
        path = f"monitoring.{chart}.values_file"
        if not ok(path):
            continue
        values_file = getattr(config.monitoring, chart).values_file
        if values_file and not os.path.isfile(config.resolve_path(values_file)):
            yield (path, f"expected a readable YAML file, but {values_file!r} "
                         f"({config.resolve_path(values_file)}) does not exist")


def _duplicates(section: str, key: str, values: list) -> Iterable[Problem]:
    yield from _duplicates_among([(f"{section}[{i}]", {key: v}) for i, v in enumerate(values)], key)


def _duplicates_among(entries: list, key: str) -> Iterable[Problem]:
    """Each later entry whose `key` repeats an earlier one's. `entries`: (path, object or dict)."""
    seen: dict = {}
    for path, entry in entries:
        value = entry.get(key) if isinstance(entry, dict) else getattr(entry, key)
        if value is None:
            continue
        if value in seen:
            yield (f"{path}.{key}", f"expected a unique value, but {value!r} is also {seen[value]}.{key}")
        else:
            seen[value] = path


__all__ = ["ConfigError", "load", "parse", "config_path", "DEFAULT_PATH", "ENV_VAR", "checks"]
