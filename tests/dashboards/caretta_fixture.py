"""Caretta's `/metrics`, as its agent writes it, for a made-up cluster whose bytes we know.

What an agent exports (groundcover-com/caretta pkg/caretta/caretta.go, FACTS): the gauge
`caretta_links_observed` with labels link_id, client_id, client_name, client_namespace,
client_kind, server_id, server_name, server_namespace, server_kind, server_port, role, where
  client_id = fnv32a(name + namespace), link_id = fnv32a(client name+ns+server name+ns) + role,
  role 1 = the client's socket (its value: bytes the client sent), role 2 = the server's socket,
and the value is the socket's cumulative bytes_sent since the agent started (it drops to a
small number when the agent restarts). Written by client_golang's text format: `# HELP`,
`# TYPE`, labels sorted by name, floats in Go's shortest 'g' form (1.2345e+06).
Unresolvable peers are kind/namespace `external`, nodes kind/namespace `node`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

HELP = "total bytes_sent value of links observed by caretta since its launch"
CLIENT, SERVER = 1, 2


def fnv32a(text: str) -> int:
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64), as client_golang's expfmt writes sample values."""
    if value == 0:
        return "0"
    if value == int(value) and abs(value) < 1e21:
        digits = str(abs(int(value))).rstrip("0") or "0"
        exponent = len(str(abs(int(value)))) - 1
    else:
        sign, digit_tuple, exp = Decimal(repr(abs(value))).normalize().as_tuple()
        digits = "".join(map(str, digit_tuple))
        exponent = len(digits) + exp - 1
    sign = "-" if value < 0 else ""
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return sign + repr(abs(value)).removesuffix(".0") if value != int(value) else sign + str(abs(int(value)))


@dataclass(frozen=True)
class Workload:
    name: str
    namespace: str
    kind: str

    @property
    def id(self) -> str:
        return str(fnv32a(self.name + self.namespace))


@dataclass(frozen=True)
class Link:
    client: Workload
    server: Workload
    port: int
    role: int

    @property
    def link_id(self) -> str:
        c, s = self.client, self.server
        return str((fnv32a(c.name + c.namespace + s.name + s.namespace) + self.role) & 0xFFFFFFFF)  # uint32 sum

    def labels(self) -> dict[str, str]:
        c, s = self.client, self.server
        return {
            "link_id": self.link_id,
            "client_id": c.id,
            "client_name": c.name,
            "client_namespace": c.namespace,
            "client_kind": c.kind,
            "server_id": s.id,
            "server_name": s.name,
            "server_namespace": s.namespace,
            "server_kind": s.kind,
            "server_port": str(self.port),
            "role": str(self.role),
        }


def exposition(values: dict[Link, float]) -> str:
    """One agent's /metrics body for these links and their cumulative bytes."""
    lines = [f"# HELP caretta_links_observed {HELP}", "# TYPE caretta_links_observed gauge"]
    samples = []
    for link, value in values.items():
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(link.labels().items()))
        samples.append(f"caretta_links_observed{{{labels}}} {go_float(value)}")
    lines += sorted(samples)
    return "\n".join(lines) + "\n"


def increase(values: list[float]) -> float:
    """What Prometheus' increase() counts over exactly these successive samples: drops are resets."""
    total = 0.0
    for before, after in zip(values, values[1:]):
        total += after - before if after >= before else after
    return total


# ---- the made-up cluster ----------------------------------------------------------------------

FRONTEND = Workload("frontend", "shop", "Deployment")
CART = Workload("cart", "shop", "Deployment")
POSTGRES = Workload("postgres", "data", "StatefulSet")
COREDNS = Workload("coredns", "kube-system", "Deployment")
BACKUP = Workload("backup", "data", "CronJob")
NODE_AGENT = Workload("node-agent", "monitoring", "DaemonSet")
VISITOR = Workload("203.0.113.7", "external", "external")
OBJECT_STORE = Workload("s3.example.net", "external", "external")
KUBELET = Workload("k8s-node-1", "node", "node")

MiB = 1024**2
GiB = 1024**3

# (link, cumulative bytes at phase 0, 1, 2); the agent restarts between phases 1 and 2, so every
# value drops and increase() must add the post-restart value instead of subtracting.
AGENT_A: list[tuple[Link, tuple[float, float, float]]] = [
    (Link(FRONTEND, CART, 8080, CLIENT), (1_000_000, 3_000_000, 500_000)),            # +2.5 MB
    (Link(FRONTEND, CART, 8080, SERVER), (4_000_000, 7_000_000, 1_000_000)),          # +4 MB
    (Link(CART, POSTGRES, 5432, CLIENT), (10 * MiB, 60 * MiB, 20 * MiB)),             # +70 MiB
    (Link(CART, POSTGRES, 5432, SERVER), (50 * MiB, 150 * MiB, 40 * MiB)),            # +140 MiB
    (Link(FRONTEND, COREDNS, 53, CLIENT), (2_000, 5_000, 1_000)),                     # +4 kB
    (Link(FRONTEND, COREDNS, 53, SERVER), (3_000, 9_000, 2_000)),                     # +8 kB
    (Link(VISITOR, FRONTEND, 443, SERVER), (100_000, 900_000, 300_000)),              # +1.1 MB
    (Link(BACKUP, OBJECT_STORE, 443, CLIENT), (1 * GiB, 9 * GiB, 4 * GiB)),           # +12 GiB
    (Link(NODE_AGENT, KUBELET, 10250, CLIENT), (7_000, 8_000, 3_500)),                # +4.5 kB
]

PHASES = 3


def phase_values(agent, phase: int) -> dict[Link, float]:
    return {link: values[phase] for link, values in agent}


def expected_bytes(agent) -> dict[Link, float]:
    return {link: increase(list(values)) for link, values in agent}


# Two agents (a DaemonSet on two nodes): cart has a replica on each node, postgres runs on node 1.
# Both agents export the client side of cart -> postgres under the same labels (only Prometheus'
# `instance` tells them apart); agent B alone exports postgres' server side.
TWO_AGENTS = {
    "node-0": [(Link(CART, POSTGRES, 5432, CLIENT), (0, 10 * MiB, 30 * MiB))],
    "node-1": [
        (Link(CART, POSTGRES, 5432, CLIENT), (0, 5 * MiB, 25 * MiB)),
        (Link(CART, POSTGRES, 5432, SERVER), (0, 40 * MiB, 200 * MiB)),
    ],
}
