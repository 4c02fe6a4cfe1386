"""`python -m alerts [--config PATH] [--out FILE] [--caretta-selector M] [--goflow2-selector M]
[--flow-exporter-selector M]`: print (or write) netviz's alerting rules as a Prometheus rule file.

netviz's stacks ship the rules themselves in every monitoring mode; this is for a Prometheus they
do not manage (load the file with `rule_files`), e.g. one whose jobs have other names:
`python -m alerts --caretta-selector 'job="kubernetes-pods", app="caretta"' --out netviz-alerts.yml`.
Thresholds, `for` durations and the node count come from the config file (`--config`, else
$NETVIZ_CONFIG, else ./network.toml)."""

from __future__ import annotations

import argparse
import sys

import netviz_config
from dashboards.config import add_selector_arguments, config_from_arguments

from .rules import AlertRulesConfig, rule_file_yaml, rule_groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerts", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="network config (default: $NETVIZ_CONFIG, else ./network.toml)")
    parser.add_argument("--out", help="file to write (default: standard output)")
    add_selector_arguments(parser)
    args = parser.parse_args(argv)
    selectors = config_from_arguments(parser, args)
    try:
        config = netviz_config.load(args.config, check_files=False)
    except netviz_config.ConfigError as e:
        print(f"netviz: invalid network config\n{e}", file=sys.stderr)
        return 1
    text = rule_file_yaml(rule_groups(AlertRulesConfig.of(config, selectors)))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
