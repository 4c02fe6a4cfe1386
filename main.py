#!/usr/bin/env python3
"""netviz: one App, three stacks (caretta, goflow2, platform), all from one network config.

The config is read and validated before any stack is built: a bad value stops synth with a
message naming the field, and no Terraform is written."""

from __future__ import annotations

import sys

import netviz_config


def main() -> int:
    path = netviz_config.config_path()
    try:
        config = netviz_config.load(path)
    except netviz_config.ConfigError as error:
        print(f"netviz: invalid network config\n{error}", file=sys.stderr)
        return 2
    with open(path, encoding="utf-8") as f:
        config_toml = f.read()

    # Imported only now: loading the provider bindings takes seconds, wasted on a bad config.
    from netviz_constructs.cdk import App

    from stacks.app import build

    app = App()
    build(app, config, config_toml)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
