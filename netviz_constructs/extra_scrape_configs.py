"""The prometheus chart's `extraScrapeConfigs` value: the user's jobs, then netviz's, as block YAML.

How the chart reads it (prometheus-community `prometheus` 29.27.0, charts/prometheus/templates/
cm.yaml, `{{ tpl $root.Values.extraScrapeConfigs $root | indent 4 }}`): the string goes through
Helm's `tpl`, so `{{ ... }}` in it is a Go template, and the result is pasted as text, every line
indented by 4, right after the `scrape_configs:` entries the chart renders itself. Only a
block-style YAML list continues that list: JSON or any flow-style list pasted there is invalid YAML,
Prometheus cannot load its config and the release is rolled back.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import yaml

FIELD = "monitoring.prometheus.values_file: extraScrapeConfigs"


class _BlockDumper(yaml.SafeDumper):
    """Block style everywhere; strings that span lines as `|` blocks (still block style)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def block_yaml(jobs: Sequence[Mapping[str, Any]]) -> str:
    """`jobs` as a block-style YAML list at column 0, keys in the order given (never sorted, so
    `job_name` stays first and a re-synth gives the same text)."""
    if not jobs:
        return ""
    return yaml.dump(
        [dict(j) for j in jobs],
        Dumper=_BlockDumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=1 << 30,  # never fold a long regex onto a second line
    )


def user_jobs(user_values: Mapping[str, Any]) -> list[dict]:
    """The jobs of the user's own `extraScrapeConfigs` (adopt mode), as their values file has them."""
    text = user_values.get("extraScrapeConfigs")
    if text is None or text == "":
        return []
    if not isinstance(text, str):
        # The chart hands the value to `tpl`, which takes a string: a list here never deployed.
        raise ValueError(f"{FIELD} must be a string holding a YAML list (write `extraScrapeConfigs: |`), but a {type(text).__name__} was given")
    try:
        jobs = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(
            f"{FIELD}: netviz must read your jobs to add its own after them, but they are not YAML "
            f"as written ({e}); quote any {{{{ ... }}}} template that stands for a whole value"
        ) from None
    if jobs is None:
        return []
    if not isinstance(jobs, list) or not all(isinstance(j, dict) and j.get("job_name") for j in jobs):
        raise ValueError(f"{FIELD} must be a YAML list of scrape jobs, each with a job_name")
    return jobs


def extra_scrape_configs(user_values: Mapping[str, Any], ours: Sequence[Mapping[str, Any]]) -> str:
    """The value netviz gives `extraScrapeConfigs`: the user's jobs first, then `ours`. A later
    values file replaces the whole string, so the user's jobs must be carried over."""
    theirs = user_jobs(user_values)
    clash = {j["job_name"] for j in theirs} & {j["job_name"] for j in ours}
    if clash:
        raise ValueError(f"{FIELD} already has job(s) {sorted(clash)}, which netviz adds; remove them from your values")
    for job in ours:
        # `tpl` would evaluate it. The user's own `{{` stay: the chart templated them before too.
        if "{{" in block_yaml([job]):
            raise ValueError(f"scrape job {job['job_name']!r}: '{{{{' in a value would be evaluated by Helm's tpl")
    return block_yaml([*theirs, *ours])
