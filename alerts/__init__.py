"""netviz's Prometheus alerting rules, generated like a monitoring mixin's alerts.

    from alerts import AlertRulesConfig, rule_groups
    groups = rule_groups(AlertRulesConfig.of(network_config, dashboard_config))

One config drives dashboards and alerts: the rules select series with the dashboards'
`DashboardConfig` selectors (the stacks take them from the scrape targets) and take thresholds and
`for` durations from network.toml `[alerts]`. The platform stack ships the groups to Prometheus in
every monitoring mode (README "Alerts"); the dashboards list the firing ones by name prefix.
`python -m alerts` prints them as a rule file, for a Prometheus netviz does not manage.
"""

from __future__ import annotations

from .rules import (
    CARETTA_ALERTS_PREFIX,
    CARETTA_GROUP,
    FLOW_ALERTS_PREFIX,
    DEVICE_GROUP,
    FLOW_GROUP,
    ROLLUP_GROUP,
    AlertRulesConfig,
    alert_names,
    anchor,
    rule_file_yaml,
    rule_groups,
)

__all__ = [
    "AlertRulesConfig",
    "rule_groups",
    "rule_file_yaml",
    "alert_names",
    "anchor",
    "FLOW_GROUP",
    "CARETTA_GROUP",
    "DEVICE_GROUP",
    "ROLLUP_GROUP",
    "FLOW_ALERTS_PREFIX",
    "CARETTA_ALERTS_PREFIX",
]
