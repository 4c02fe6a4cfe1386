"""Read `network.toml` into a validated `NetworkConfig`, or fail with every problem named.

Two passes: the first reads each value against its field (type, form, unknown keys); the second
checks what only the whole network can tell (overlaps, nodes outside every subnet, duplicates).
Errors are collected, not raised one by one, so a user fixes a file in one go.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import typing
from typing import Any, Optional, Union

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


def parse(raw: dict, source: str = "<config>", base_dir: str = ".", *, check_files: bool = True) -> NetworkConfig:
    problems: list[str] = []
    config = _read(NetworkConfig, raw, "", problems)
    if not problems:
        config = dataclasses.replace(config, base_dir=base_dir)
        problems.extend(_whole_network_problems(config))
        if check_files:
            problems.extend(_missing_files(config))
    if problems:
        raise ConfigError(source, problems)
    return config


def _describe(value: Any) -> str:
    return repr(value) if not isinstance(value, dict) else "a table"


def _read(cls, raw: Any, path: str, problems: list[str]):
    """Build dataclass `cls` from the TOML table `raw`, appending problems for bad fields."""
    where = path or "top level"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table, but {_describe(raw)} was provided")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    for key in raw:
        if key not in fields:
            known = ", ".join(sorted(fields))
            problems.append(f"{_join(path, key)}: unknown key (expected one of: {known})")
    values = {}
    for name, f in fields.items():
        field_path = _join(path, name)
        if name not in raw:
            if f.metadata.get("required"):
                problems.append(f"{field_path}: missing required value ({f.metadata['doc']})")
            continue
        value = _convert(hints[name], raw[name], field_path, problems)
        if value is _BAD:
            continue
        check = f.metadata.get("check")
        if check is not None and value is not None:
            expected = check(value)
            if expected:
                problems.append(f"{field_path}: expected {expected}, but {_describe(raw[name])} was provided")
                continue
        values[name] = value
    try:
        return cls(**values)
    except TypeError:
        return None  # a required field is missing; already reported


_BAD = object()


def _convert(hint, value: Any, path: str, problems: list[str]):
    origin = typing.get_origin(hint)
    if origin is Union:  # Optional[X]
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(inner, value, path, problems)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list, but {_describe(value)} was provided")
            return _BAD
        before = len(problems)
        items = tuple(_convert(item, v, f"{path}[{i}]", problems) for i, v in enumerate(value))
        return _BAD if len(problems) > before else items
    if dataclasses.is_dataclass(hint):
        before = len(problems)
        result = _read(hint, value, path, problems)
        return _BAD if len(problems) > before or result is None else result
    # bool is an int in Python: check it first so `port = true` is refused.
    if isinstance(value, bool) != (hint is bool) or not isinstance(value, hint):
        problems.append(f"{path}: expected {_TYPE_NAMES[hint]}, but {_describe(value)} was provided")
        return _BAD
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _whole_network_problems(config: NetworkConfig) -> list[str]:
    problems = []
    nets = [(i, s, ipaddress.ip_network(s.cidr)) for i, s in enumerate(config.subnets)]
    for a, (i, sa, na) in enumerate(nets):
        for j, sb, nb in nets[a + 1 :]:
            if na.version == nb.version and na.overlaps(nb):
                problems.append(
                    f"subnets[{j}].cidr: expected a network that overlaps no other subnet, but "
                    f"{sb.cidr!r} overlaps subnets[{i}] {sa.name!r} ({sa.cidr})"
                )
    problems += _duplicates("subnets", "name", [s.name for s in config.subnets])
    problems += _duplicates("subnets", "netflow_if_index", [s.netflow_if_index for s in config.subnets])
    problems += _duplicates("subnets", "pfsense_interface", [s.pfsense_interface for s in config.subnets])
    problems += _duplicates("kubernetes.nodes", "name", [n.name for n in config.kubernetes.nodes])
    problems += _duplicates("kubernetes.nodes", "address", [n.address for n in config.kubernetes.nodes])
    problems += _duplicates("hosts", "address", [h.address for h in config.hosts])
    if "external" in {s.name for s in config.subnets}:
        i = [s.name for s in config.subnets].index("external")
        problems.append(f"subnets[{i}].name: expected a name other than 'external' (it labels addresses in no subnet)")
    for i, node in enumerate(config.kubernetes.nodes):
        if config.subnet_of(node.address) is None:
            problems.append(
                f"kubernetes.nodes[{i}].address: expected an address inside a configured subnet, "
                f"but {node.address!r} ({node.name}) is in none of: " + ", ".join(s.cidr for s in config.subnets)
            )
    wanted = config.goflow2.collector_node
    if wanted and wanted not in {n.name for n in config.kubernetes.nodes}:
        problems.append(
            f"goflow2.collector_node: expected the name of a kubernetes.nodes entry, but {wanted!r} was provided"
        )
    if config.pfsense.manage_softflowd:
        if not config.pfsense.ssh_host_key:
            problems.append(
                "pfsense.ssh_host_key: missing required value with pfsense.manage_softflowd = true "
                "(pin pfSense's host key: ssh-keyscan -t ed25519 <pfSense address>)"
            )
        watched = [(i, s) for i, s in enumerate(config.subnets) if s.pfsense_interface]
        if not watched:
            problems.append(
                "subnets: expected at least one subnet with pfsense_interface when pfsense.manage_softflowd = true "
                "(the interfaces softflowd watches)"
            )
        # The pfSense package numbers its interfaces 1..n in the order given; netviz gives them in
        # netflow_if_index order, so the indexes must be exactly 1..n for the count-once rule.
        for n, (i, s) in enumerate(sorted(watched, key=lambda w: w[1].netflow_if_index or 0), start=1):
            if s.netflow_if_index != n:
                problems.append(
                    f"subnets[{i}].netflow_if_index: expected {n} (the subnets with a pfsense_interface are "
                    f"numbered 1..{len(watched)} by the pfSense package, in netflow_if_index order), but "
                    f"{s.netflow_if_index!r} was provided"
                )
                break
    backend = config.state.backend
    if backend != "local" and getattr(config.state, backend) is None:
        problems.append(f"state.{backend}: missing required table for state.backend = {backend!r}")
    return problems


def _missing_files(config: NetworkConfig) -> list[str]:
    problems = []
    for chart in ("prometheus", "grafana"):
        values_file = getattr(config.monitoring, chart).values_file
        if values_file and not os.path.isfile(config.resolve_path(values_file)):
            problems.append(
                f"monitoring.{chart}.values_file: expected a readable YAML file, but {values_file!r} "
                f"({config.resolve_path(values_file)}) does not exist"
            )
    return problems


def _duplicates(section: str, key: str, values: list) -> list[str]:
    seen: dict = {}
    problems = []
    for i, v in enumerate(values):
        if v is None:
            continue
        if v in seen:
            problems.append(
                f"{section}[{i}].{key}: expected a unique value, but {v!r} is also {section}[{seen[v]}].{key}"
            )
        else:
            seen[v] = i
    return problems


__all__ = ["ConfigError", "load", "parse", "config_path", "DEFAULT_PATH", "ENV_VAR", "checks"]
