"""The prometheus chart's alerting rule file: the user's rule groups, then netviz's.

How the chart reads it (prometheus-community `prometheus` 29.27.0, and every version since 2019:
charts/prometheus/templates/cm.yaml): each entry of `serverFiles` becomes a file of the server's
ConfigMap, mounted at /etc/config, written with `toYaml` (never `tpl`, so `{{ $labels.x }}` in
an annotation reaches Prometheus as written); `serverFiles."prometheus.yml".rule_files` lists
/etc/config/alerting_rules.yml by default. Helm merges maps between values files but replaces a
list, so netviz's `groups` must carry the user's own groups over, or a later values file would
drop them.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

RULE_FILE = "alerting_rules.yml"
"""The `serverFiles` entry netviz's groups go into (the chart's default alerting rule file)."""
RULE_FILE_PATH = "/etc/config/" + RULE_FILE
"""Where Prometheus reads it: the chart mounts its ConfigMap at /etc/config."""
FIELD = "monitoring.prometheus.values_file: serverFiles"


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{FIELD}{where} must be a mapping, but a {type(value).__name__} was given")
    return value


def user_groups(user_values: Mapping[str, Any]) -> list[dict]:
    """The rule groups of the user's own `serverFiles."alerting_rules.yml"`, as written."""
    server_files = _mapping(user_values.get("serverFiles"), "")
    rules = _mapping(server_files.get(RULE_FILE), f'."{RULE_FILE}"')
    groups = rules.get("groups")
    if groups is None:
        return []
    if not isinstance(groups, list) or not all(isinstance(g, Mapping) and g.get("name") for g in groups):
        raise ValueError(f'{FIELD}."{RULE_FILE}".groups must be a list of rule groups, each with a name')
    return [dict(g) for g in groups]


def user_rule_files(user_values: Mapping[str, Any]) -> list | None:
    """The user's own `serverFiles."prometheus.yml".rule_files`, or None where they keep the chart's."""
    server_files = _mapping(user_values.get("serverFiles"), "")
    prometheus_yml = _mapping(server_files.get("prometheus.yml"), '."prometheus.yml"')
    rule_files = prometheus_yml.get("rule_files")
    if rule_files is not None and not isinstance(rule_files, list):
        raise ValueError(f'{FIELD}."prometheus.yml".rule_files must be a list of paths')
    return rule_files


def alerting_rules_values(user_values: Mapping[str, Any], ours: Sequence[Mapping[str, Any]]) -> dict:
    """netviz's part of the chart values for its rule groups `ours` (nothing when there are none):
    the user's groups first, then ours, in the chart's alerting rule file; and, where the user's
    values list their own rule files without that one, their list with it appended."""
    if not ours:
        return {}
    theirs = user_groups(user_values)
    clash = {g["name"] for g in theirs} & {g["name"] for g in ours}
    if clash:
        # Prometheus refuses a rule file naming a group twice.
        raise ValueError(f'{FIELD}."{RULE_FILE}" already has rule group(s) {sorted(clash)}, which netviz adds; rename yours')
    server_files: dict[str, Any] = {RULE_FILE: {"groups": [*theirs, *(dict(g) for g in ours)]}}
    rule_files = user_rule_files(user_values)
    if rule_files is not None and RULE_FILE_PATH not in rule_files:
        server_files["prometheus.yml"] = {"rule_files": [*rule_files, RULE_FILE_PATH]}
    return {"serverFiles": server_files}
