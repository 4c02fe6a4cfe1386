"""Names the dashboards share with the rules: kept free of imports, so `dashboards` can read them
while `alerts` is still importing `dashboards.config` (and the other way round)."""

FLOW_GROUP = "netviz-flows"
"""Rule group of the flow pipeline's alerts (GoFlow2 and the flow exporter)."""
CARETTA_GROUP = "netviz-caretta"
"""Rule group of the Caretta agents' alert."""
DEVICE_GROUP = "netviz-devices"
"""Rule group of NetvizFlowNewDevice alone: its look-back reads a week of the hosts' series, so it
is evaluated every few minutes (alerts.rules.device_interval), not at every evaluation interval."""
ROLLUP_GROUP = "netviz-rollups"
"""Rule group of the hourly rollups the Network Flows dashboard reads over long ranges
(dashboards/rollups.py): recording rules, shipped beside the flow alerts."""

FLOW_ALERTS_PREFIX = "NetvizFlow"
"""Every alert of FLOW_GROUP and DEVICE_GROUP is named so: the Network Flows dashboard lists them by
this text."""
CARETTA_ALERTS_PREFIX = "NetvizCaretta"
"""Every alert of CARETTA_GROUP is named so: the K8s Pod Topology dashboard lists them by it."""
