"""`python -m dashboards [--out DIR] [--check] [--caretta-selector M] [--goflow2-selector M]
[--flow-exporter-selector M]`: write (or verify) the rendered dashboards.

Without selectors it renders what is committed in dashboards/rendered/; with them (for a
Prometheus whose jobs have other names) it renders dashboards to import by hand, e.g.
`python -m dashboards --out /tmp/netviz --caretta-selector 'job="kubernetes-pods", app="caretta"'`."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from . import render_all
from .config import add_selector_arguments, config_from_arguments

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rendered")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards", description=__doc__)
    parser.add_argument("--out", default=DEFAULT_OUT, help="folder to write into (default: dashboards/rendered)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file differs from the code")
    parser.add_argument("--no-rollups", action="store_true",
                        help="sum over ranges with raw increase() only: for a Prometheus without netviz's rules "
                             "(slow over long ranges; README \"Long ranges\")")
    add_selector_arguments(parser)
    args = parser.parse_args(argv)
    config = dataclasses.replace(config_from_arguments(parser, args), rollups=not args.no_rollups)
    stale = []
    os.makedirs(args.out, exist_ok=True)
    for name, text in sorted(render_all(config).items()):
        path = os.path.join(args.out, name)
        current = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
            continue
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {path}")
    if stale:
        print("stale (run `python -m dashboards`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
