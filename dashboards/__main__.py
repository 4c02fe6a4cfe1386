"""`python -m dashboards [--out DIR] [--check]`: write (or verify) the rendered dashboards."""

from __future__ import annotations

import argparse
import os
import sys

from . import render_all

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rendered")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards", description=__doc__)
    parser.add_argument("--out", default=DEFAULT_OUT, help="folder to write into (default: dashboards/rendered)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file differs from the code")
    args = parser.parse_args(argv)
    stale = []
    os.makedirs(args.out, exist_ok=True)
    for name, text in sorted(render_all().items()):
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
