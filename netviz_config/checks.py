"""Checks on single config values. Each returns None when the value is good, otherwise the
form that was expected (the loader adds the field name and the value that was given)."""

from __future__ import annotations

import ipaddress
import re

REQUIRED = object()

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")
_CPU = re.compile(r"^\d+(\.\d+)?m?$")
_MEMORY = re.compile(r"^\d+(Ki|Mi|Gi|K|M|G)?$")
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")  # Prometheus' units (a day: 1d)
_SQL_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
_PFSENSE_IF = re.compile(r"^(wan|lan|opt\d{1,3})$")
# repository[:tag][@sha256:digest]; a tag of `latest` or no tag at all is not pinned.
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$")


def ip_address(value: str):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "an IPv4 or IPv6 address such as 10.0.20.1"
    return None


def ip_addresses(values) -> str | None:
    for value in values:
        if not isinstance(value, str) or ip_address(value):
            return f"a list of IPv4 or IPv6 addresses such as [\"10.0.20.1\"] ({value!r} is not one)"
    return None


def optional_ip_address(value: str):
    if not value:
        return None
    return ip_address(value) and "empty, or an IPv4 or IPv6 address such as 10.0.20.1"


def optional_domain(value: str):
    if not value or _DNS_SUBDOMAIN.match(value.lower().strip(".")):
        return None
    return "empty, or a DNS domain such as home.arpa"


def between(low: int, high: int):
    def check(value: int):
        return None if low <= value <= high else f"a whole number between {low} and {high}"

    return check


def network(value: str):
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return "a network in CIDR form with no host bits set, such as 10.0.20.0/24"
    return None


def tcp_port(value: int):
    return None if 1 <= value <= 65535 else "a port between 1 and 65535"


def node_port(value: int):
    return None if 30000 <= value <= 32767 else "a NodePort between 30000 and 32767 (Kubernetes' default range)"


def vlan_id(value: int):
    return None if 1 <= value <= 4094 else "a VLAN id between 1 and 4094"


def positive(value: int):
    return None if value > 0 else "a whole number above 0"


def at_least(minimum: int):
    def check(value: int):
        return None if value >= minimum else f"a whole number of at least {minimum}"

    return check


def non_negative(value: int):
    return None if value >= 0 else "a whole number of 0 or more"


def non_empty(value: str):
    return None if value.strip() else "a non-empty string"


def dns_label(value: str):
    return None if _DNS_LABEL.match(value) else "a DNS label: lower-case letters, digits and '-', at most 63"


def optional_object_name(value: str):
    # A Kubernetes object name (DNS subdomain), or empty. Charts paste such names into their YAML
    # as text, and the grafana chart runs its Secret name through `tpl`: anything else breaks it.
    if not value or _DNS_SUBDOMAIN.match(value):
        return None
    return "empty, or a Kubernetes object name: lower-case letters, digits, '-' and '.', at most 253"


# Kubernetes' IANA_SVC_NAME (k8s.io/apimachinery validation.IsValidPortName): a container port's
# name, and what a probe's port or a Service's targetPort may name instead of a number.
_PORT_NAME = re.compile(r"^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$")


def port_name(value: str):
    if _PORT_NAME.match(value):
        return None
    return ("a Kubernetes port name: at most 15 lower-case letters, digits and '-', with at least one "
            "letter, no '-' at either end or twice in a row")


def node_name(value: str):
    # A Node's name is a DNS subdomain, and the kubelet also writes it as the node's
    # kubernetes.io/hostname label value (at most 63), which is what Kubernetes selects nodes by.
    if len(value) <= 63 and _DNS_SUBDOMAIN.match(value):
        return None
    return ("a Kubernetes node name as `kubectl get nodes` shows it: lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 63")


def helm_release_name(value: str):
    # Helm refuses a release name over 53 characters (its objects add suffixes to it).
    if len(value) <= 53 and _DNS_LABEL.match(value):
        return None
    return "a Helm release name: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 53"


def label_key(value: str):
    return None if _LABEL_KEY.match(value) else "a Kubernetes label key such as grafana_dashboard"


def optional_label_key(value: str):
    return None if not value or _LABEL_KEY.match(value) else "empty, or a Kubernetes label key such as release"


def optional_label_value(value: str):
    return None if not value or _LABEL_VALUE.match(value) else "empty, or a Kubernetes label value such as kube-prometheus-stack"


def label_value(value: str):
    if not value:
        return "a non-empty name"
    return None if _LABEL_VALUE.match(value) else "letters, digits, '-', '_' or '.', starting and ending with a letter or digit, at most 63"


def version(value: str):
    return None if _VERSION.match(value) else "an exact version such as 1.2.3 (no ranges)"


def cpu_quantity(value: str):
    return None if _CPU.match(value) else "a CPU quantity such as 50m or 0.5"


def memory_quantity(value: str):
    return None if _MEMORY.match(value) else "a memory quantity such as 100Mi or 1Gi"


def duration(value: str):
    return None if _DURATION.match(value) else "a Prometheus duration such as 30s or 1m"


def positive_duration(value: str):
    if _DURATION.match(value) and seconds(value) > 0:
        return None
    return "a Prometheus duration above 0 such as 15m"


def optional_duration(value: str):
    return None if not value or _DURATION.match(value) else "empty, or a Prometheus duration such as 30s or 1m"


_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def seconds(value: str) -> float:
    """A duration `duration()` accepts (`1h30m`, `90s`, `500ms`) in seconds."""
    if not _DURATION.match(value):
        raise ValueError(f"not a duration: {value!r}")
    return sum(int(n) * _DURATION_UNITS[unit] for n, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", value))


def duration_text(seconds: float) -> str:
    """`seconds` (rounded to whole seconds) as a Prometheus duration in its largest whole unit:
    `3h`, `5m`, `400s`."""
    whole = int(round(seconds))
    for unit, size in (("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


_BYTES = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$")
_BYTE_UNITS = {None: 1, "B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
               "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def byte_size(value: str):
    return None if _BYTES.match(str(value)) else "a size such as 50GB, 500MiB or 0 (none)"


def optional_byte_size(value: str):
    problem = None if value == "" else byte_size(value)
    return problem and "empty, or " + problem


def byte_count(value: str) -> int:
    """A size `byte_size()` accepts (`50GB`, `1.5TiB`, `0`) in bytes."""
    m = _BYTES.match(str(value))
    if not m:
        raise ValueError(f"not a size: {value!r}")
    return round(float(m.group(1)) * _BYTE_UNITS[m.group(2)])


def percent(value: int):
    return None if 1 <= value <= 100 else "a whole percentage between 1 and 100"


def sql_identifier(value: str):
    return None if _SQL_IDENTIFIER.match(value) else "lower-case letters, digits and '_', starting with a letter"


def pfsense_interface(value: str):
    return None if _PFSENSE_IF.match(value) else "a pfSense interface name: wan, lan or optN"


def url(value: str):
    return None if re.match(r"^https?://[^\s]+$", value) else "an http(s) URL"


def base_url(value: str):
    # Something is appended (`#anchor`): a fragment of its own would swallow it.
    return None if re.match(r"^https?://[^\s#]+$", value) else "an http(s) URL without a #fragment"


def pinned_image(value: str):
    if not _IMAGE.match(value) or ":" not in value.rsplit("/", 1)[-1] and "@" not in value:
        return "an image with an explicit tag or digest, such as repo/name:1.2.3"
    if value.rsplit("/", 1)[-1].endswith(":latest"):
        return "a pinned tag, not latest"
    return None


_SSH_KEY = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,2}$")


def ssh_public_key(value: str):
    if not value:
        return None  # required only with pfsense.manage_softflowd: checked with the whole network
    return None if _SSH_KEY.match(value) else "an SSH public key such as 'ssh-ed25519 AAAAC3Nza...' (type and key, no host name)"


def at_least_one(value):
    return None if len(value) > 0 else "at least one entry"


def optional_one_of(*choices: str):
    def check(value: str):
        return None if not value or value in choices else "empty, or one of " + ", ".join(choices)

    return check


def one_of(*choices: str):
    def check(value: str):
        return None if value in choices else "one of " + ", ".join(choices)

    return check
