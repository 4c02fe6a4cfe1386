"""Command line: read GoFlow2 JSON records, serve bounded flow metrics.

    python -m flow_exporter --config network.toml --input /flows/goflow2.fifo --listen :9108
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading
from typing import Optional, Sequence

import netviz_config

from . import __version__
from .aggregate import Aggregator
from .exposition import render, render_http, render_names
from .names import NameResolver, settings_from_config, snapshot_addresses
from .reader import InputReader
from .server import Limits, make_server
from .series import SERIES_PER_KEY
from .settings import from_network_config

log = logging.getLogger("flow_exporter")

DESCRIPTION = """\
Read GoFlow2 flow records (JSON, one per line) and serve them as Prometheus counters by subnet
pair, local host, external peer and service, each family under a series budget of its own.
Records GoFlow2 prints with the mapping from flow_exporter.mapping are parsed fastest; any
GoFlow2 JSON works. Bad lines are counted by reason and skipped."""

EPILOG = """\
HTTP: /metrics (Prometheus text format), /healthz.
Each flow is counted once even when softflowd exports it from two interfaces: see
flow_exporter/aggregate.py count_once() and the subnets' netflow_if_index in the config."""


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT, [IPv6]:PORT or :PORT (all interfaces) -> (host, port)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT such as 0.0.0.0:9108, but {value!r} was provided")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port_text)


def series_budget(value: str) -> tuple[str, int]:
    """FAMILY=N -> (family, N), N at least one key of that family."""
    family, sep, number = value.partition("=")
    if not sep or family not in SERIES_PER_KEY:
        raise argparse.ArgumentTypeError(f"expected FAMILY=N with FAMILY one of {', '.join(SERIES_PER_KEY)}, "
                                         f"but {value!r} was provided")
    least = SERIES_PER_KEY[family]
    if not number.isdigit() or int(number) < least:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least {least} for {family}, "
                                         f"but {value!r} was provided")
    return family, int(number)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flow_exporter",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"network config (network.toml) naming subnets, interface indexes and hosts; default: "
        f"${netviz_config.ENV_VAR}, else ./{netviz_config.DEFAULT_PATH}",
    )
    parser.add_argument(
        "--input",
        metavar="PATH",
        default="-",
        help="where GoFlow2 writes its records: - for stdin (default), or a FIFO (opened again "
        "whenever its writer goes away) or a regular file (followed like tail -F)",
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        type=parse_listen,
        help="address of /metrics and /healthz; default 0.0.0.0:<flow_exporter.port from the config, 9108>",
    )
    parser.add_argument(
        "--series-budget",
        metavar="FAMILY=N",
        type=series_budget,
        action="append",
        default=[],
        help="most series of one family (" + ", ".join(SERIES_PER_KEY) + "); beyond it the family's least "
        "recently updated are evicted. Repeatable; default: flow_exporter.series_budgets from the config",
    )
    parser.add_argument(
        "--no-names",
        action="store_true",
        help="no reverse DNS lookups, whatever names.enabled says (configured names are still exported)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="stderr log level (default info)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        # In the pod network.toml comes alone: the chart values files it may name are not there.
        cfg = netviz_config.load(args.config, check_files=False)
        settings = from_network_config(cfg, dict(args.series_budget))
    except (netviz_config.ConfigError, ValueError) as e:
        log.error("%s", e)
        return 2
    host, port = args.listen or ("0.0.0.0", cfg.flow_exporter.port)

    aggregator = Aggregator(settings)
    names_settings = settings_from_config(cfg)
    if args.no_names:
        names_settings = dataclasses.replace(names_settings, enabled=False)
    names = NameResolver(names_settings, settings.host_names).start()
    stop = threading.Event()
    failed = threading.Event()

    server = None

    def metrics() -> bytes:
        snapshot = aggregator.scrape_snapshot()
        # Names are asked for here, on the scrape's thread, never by the ingest loop: request()
        # only queues (flow_exporter/names.py).
        local, external = snapshot_addresses(snapshot.series)
        names.request(local, external)
        return (render(snapshot) + render_names(names.info(local | external), names.stats(), settings.kubernetes_nodes)
                + render_http(server.stats()))

    limits = Limits(max_connections=cfg.flow_exporter.http_max_connections,
                    request_timeout=netviz_config.checks.seconds(cfg.flow_exporter.http_request_timeout))
    try:
        server = make_server(host, port, metrics, limits)
    except OSError as e:
        log.error("cannot listen on %s:%s: %s", host, port, e.strerror)
        return 2

    def read_input() -> None:
        try:
            InputReader(args.input, aggregator.ingest, aggregator.note_reopen, stop).run()
        except Exception:  # a bug, not bad input (that is counted): let the orchestrator restart us
            log.exception("input reader failed")
            failed.set()
            stop.set()

    def on_signal(signum, _frame) -> None:
        log.info("received %s, exiting", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    threading.Thread(target=read_input, name="reader", daemon=True).start()
    log.info(
        "flow exporter %s: input %s, listening on %s:%s (at most %d connections, %gs for a request), %d subnets, "
        "series budgets %s, new series at 0 for %gs, reverse DNS %s",
        __version__, args.input, host, server.server_address[1], limits.max_connections, limits.request_timeout,
        len(settings.subnets),
        ", ".join(f"{k} {v}" for k, v in settings.series_budgets.items()), settings.new_series_zero_seconds,
        f"on ({names_settings.workers} workers, {names_settings.queries_per_second} queries/s)" if names_settings.enabled else "off",
    )
    while not stop.wait(1.0):
        pass
    server.shutdown()
    names.stop()
    return 1 if failed.is_set() else 0
