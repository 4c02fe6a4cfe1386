"""Names for addresses: configured ones, and reverse DNS for the rest, never on the hot path.

What the dashboards show beside an address comes from the info metric
`netviz_host_info{host, name, source}` (1 per named address), which they join on the address.
A name is never a label of a flow counter, so a host that gets renamed in DNS never splits a series.

* `source="config"`: every host and Kubernetes node of network.toml, always exported. A configured
  name wins: such an address is never looked up.
* `source="dns"`: the PTR name of an address the exporter's series hold now (local hosts, external
  peers, conversation ends), when reverse DNS gave one that passes `clean_name`.

How lookups stay off the hot path: the ingest loop never touches this module. Each /metrics
scrape hands the addresses of its snapshot to `NameResolver.request`, which only queues the ones
without a fresh cache entry (local hosts before external peers) in a bounded queue, or counts
them as dropped when it is full; they are asked for again at a later scrape. A few worker
threads take addresses from the queue, wait for the per-second query budget, and ask the
system's resolver (dns.py, with its own timeout). Answers, names and "no name" alike, are kept
in a bounded cache (least recently answered evicted) for `cache_for` (failures and "no name" for
`negative_cache_for`); a name whose entry has expired is still shown until its new answer comes.
A name shows up in the scrape after its answer, typically the second scrape after the address
first appears.

DNS names are untrusted (anyone who controls a PTR zone chooses them): `clean_name` accepts a
name only if it is at most MAX_NAME_LENGTH characters of letters, digits, '-', '_' and '.', in
labels of 1-63, and does not read as an IP address (it would pose as another host); it is
lower-cased. Anything else is refused (`invalid_name`) and the address keeps showing as itself.
The exposition escapes label values as always.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional

from . import dns

log = logging.getLogger("flow_exporter.names")

CONFIG = "config"
DNS = "dns"

MAX_NAME_LENGTH = 128
_NAME = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$")

# netviz_flow_exporter_name_lookups_total{outcome}: dns.OUTCOMES, with NAME split into a name
# shown and a name refused.
INVALID_NAME = "invalid_name"
LOOKUP_OUTCOMES = (*dns.OUTCOMES, INVALID_NAME)


@dataclass(frozen=True)
class NamesSettings:
    """What the resolver needs (netviz_config's [names], in seconds)."""

    enabled: bool
    timeout: float
    queries_per_second: int
    workers: int
    queue_size: int
    cache_size: int
    cache_for: float
    negative_cache_for: float
    strip_domain: str = ""


def settings_from_config(cfg) -> NamesSettings:
    from netviz_config.checks import seconds

    n = cfg.names
    return NamesSettings(
        enabled=n.enabled, timeout=seconds(n.timeout), queries_per_second=n.queries_per_second,
        workers=n.workers, queue_size=n.queue_size, cache_size=n.cache_size, cache_for=seconds(n.cache_for),
        negative_cache_for=seconds(n.negative_cache_for), strip_domain=n.strip_domain.lower().strip("."),
    )


def clean_name(raw: bytes, strip_domain: str = "") -> Optional[str]:
    """The name to show for a PTR name from DNS, or None if it may not be shown (module docstring).
    `strip_domain` (e.g. `home.arpa`) is cut off the end: `truenas.home.arpa` -> `truenas`."""
    try:
        text = raw.decode("ascii").rstrip(".").lower()
    except UnicodeDecodeError:
        return None
    if strip_domain and text.endswith("." + strip_domain):
        text = text[: -len(strip_domain) - 1]
    if not text or len(text) > MAX_NAME_LENGTH or not _NAME.match(text):
        return None
    try:
        ipaddress.ip_address(text)
        return None  # "10.0.10.15" as the name of another address would lie
    except ValueError:
        return text


class _Entry:
    __slots__ = ("name", "expires")

    def __init__(self, name: Optional[str], expires: float):
        self.name = name  # None: no name (or none that may be shown)
        self.expires = expires


class NameResolver:
    """See the module docstring. `lookup(address) -> dns.Answer` is the DNS query (default: the
    nameservers of `resolv_conf`, asked by dns.query_ptr with the configured timeout)."""

    def __init__(self, settings: NamesSettings, config_names: Mapping[str, str], *,
                 lookup: Optional[Callable[[str], dns.Answer]] = None, resolv_conf: str = dns.RESOLV_CONF,
                 clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.config_names = dict(config_names)
        self._lookup = lookup or (lambda address: dns.query_ptr(address, dns.nameservers(resolv_conf), settings.timeout))
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._cache: OrderedDict[str, _Entry] = OrderedDict()  # least recently answered first
        self._local: deque = deque()  # queued local addresses: asked before ...
        self._external: deque = deque()  # ... external ones
        self._pending: set = set()  # queued or being asked
        self._tokens = float(settings.queries_per_second)  # the per-second budget, a token bucket
        self._refilled = clock()
        self._stopped = False
        self._threads: list[threading.Thread] = []
        self.outcomes = dict.fromkeys(LOOKUP_OUTCOMES, 0)
        self.dropped = 0  # addresses not queued: the queue was full

    # ---- the scrape side (HTTP threads) -----------------------------------------------------

    def request(self, local: Iterable[str], external: Iterable[str] = ()) -> None:
        """Queue the addresses that have no fresh answer, local ones first. Never blocks for longer
        than a few dictionary look-ups per address."""
        if not self.settings.enabled:
            return
        with self._lock:
            now = self._clock()
            queued = 0
            for addresses, queue in ((local, self._local), (external, self._external)):
                for address in addresses:
                    if address in self.config_names or address in self._pending:
                        continue
                    entry = self._cache.get(address)
                    if entry is not None and entry.expires > now:
                        continue
                    if len(self._local) + len(self._external) >= self.settings.queue_size:
                        self.dropped += 1
                        continue
                    queue.append(address)
                    self._pending.add(address)
                    queued += 1
            if queued:
                self._wake.notify(queued)

    def info(self, addresses: Iterable[str]) -> list[tuple[str, str, str]]:
        """(address, name, source) for every configured name and for each of `addresses` with a
        DNS name, sorted."""
        rows = {address: (address, name, CONFIG) for address, name in self.config_names.items()}
        with self._lock:
            for address in addresses:
                if address in rows:
                    continue
                entry = self._cache.get(address)
                if entry is not None and entry.name is not None:
                    rows[address] = (address, entry.name, DNS)
        return sorted(rows.values())

    def stats(self) -> dict:
        with self._lock:
            return {"outcomes": dict(self.outcomes), "dropped": self.dropped, "cached": len(self._cache),
                    "queued": len(self._local) + len(self._external)}

    # ---- the workers -----------------------------------------------------------------------

    def start(self) -> "NameResolver":
        if self.settings.enabled and not self._threads:
            for i in range(self.settings.workers):
                thread = threading.Thread(target=self._work, name=f"names-{i}", daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stopped = True
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _next(self) -> Optional[str]:
        """The next address to ask for, once the budget allows a query; None when stopping."""
        with self._lock:
            while not self._stopped:
                if not (self._local or self._external):
                    self._wake.wait()
                    continue
                now = self._clock()
                rate = self.settings.queries_per_second
                self._tokens = min(float(rate), self._tokens + (now - self._refilled) * rate)
                self._refilled = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return (self._local or self._external).popleft()
                self._wake.wait((1 - self._tokens) / rate)  # stop() wakes it early
        return None

    def _work(self) -> None:
        while True:
            address = self._next()
            if address is None:
                return
            try:
                answer = self._lookup(address)
            except Exception:  # a bug in a lookup must not kill the worker; the address is asked later
                log.exception("reverse lookup of an address failed")
                answer = dns.Answer(dns.FAILED)
            name = None
            outcome = answer.outcome
            if outcome == dns.NAME:
                name = clean_name(answer.name or b"", self.settings.strip_domain)
                if name is None:
                    outcome = INVALID_NAME
            ttl = self.settings.cache_for if name is not None else self.settings.negative_cache_for
            with self._lock:
                self._pending.discard(address)
                self.outcomes[outcome] += 1
                previous = self._cache.pop(address, None)
                if name is None and previous is not None and previous.name is not None and outcome in (
                        dns.FAILED, dns.TIMEOUT, dns.UNREACHABLE):
                    name = previous.name  # the resolver failing says nothing about the name: keep it
                self._cache[address] = _Entry(name, self._clock() + ttl)
                while len(self._cache) > self.settings.cache_size:
                    self._cache.popitem(last=False)


def snapshot_addresses(series) -> tuple[set, set]:
    """(local, external) addresses of a series snapshot's keys (series.py families), the ones
    whose names the dashboards show."""
    from .series import CONVERSATIONS, EXTERNAL_PEER, HOST
    from .settings import EXTERNAL

    local, external = set(), set()
    for key, _counters in series:
        family = key[0]
        if family == HOST:
            local.add(key[2])
        elif family == EXTERNAL_PEER:
            external.add(key[1])
        elif family in CONVERSATIONS:  # (family, (src, src_subnet), (dst, dst_subnet), service key)
            for address, subnet in key[1:3]:
                (external if subnet == EXTERNAL else local).add(address)
    return local, external
