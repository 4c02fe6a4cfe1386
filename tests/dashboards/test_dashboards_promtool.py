"""Every expression of both dashboards, variables substituted, is valid PromQL to promtool.

Each becomes a recording rule in one rules file and `promtool check rules` (the real one, of the
Prometheus 3 the pinned chart deploys) must accept the file. A deliberately broken expression proves the
check can fail.
"""

from __future__ import annotations

import json

import pytest

import dashboards
from tests.dashboards.dashboard_exprs import PROMTOOL_VALUES, expressions, leftover_variables, regex_value, substitute
from tests.support.prometheus import PrometheusError, promtool

BOARDS = {
    "pod topology": dashboards.render_pod_topology,
    "network flows": dashboards.render_network_flows,
}

# Variables also tried with one and with several values, as Grafana would send them.
VALUE_SETS = [
    PROMTOOL_VALUES,
    {**PROMTOOL_VALUES, "namespace": regex_value("shop"), "kind": regex_value("Deployment"),
     "workload": regex_value("cart"), "port": regex_value("8080"), "subnet": regex_value("storage"),
     "proto": regex_value("TCP")},
    {**PROMTOOL_VALUES, "namespace": regex_value("shop", "data"), "kind": regex_value("Deployment", "StatefulSet"),
     "workload": regex_value("cart", "postgres"), "port": regex_value("5432", "8080"),
     "subnet": regex_value("storage", "kubernetes"), "proto": regex_value("TCP", "UDP")},
]


def _rules_file(tmp_path, exprs: list[str]) -> str:
    rules = [{"record": f"netviz:dashboard_query:{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard-queries.rules.json"  # JSON is YAML
    path.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}, indent=2))
    return str(path)


@pytest.mark.parametrize("board", sorted(BOARDS))
@pytest.mark.parametrize("values", range(len(VALUE_SETS)))
def test_every_expression_passes_promtool_check_rules(board, values, tmp_path):
    # GIVEN every query of the dashboard, Grafana's variables replaced as Grafana would
    found = expressions(BOARDS[board]())
    assert len(found) >= 5, f"{board}: only {len(found)} expressions found"
    exprs = []
    for e in found:
        text = substitute(e.expr, VALUE_SETS[values])
        assert not leftover_variables(text), f"{e.where}: variables left after substitution: {leftover_variables(text)}"
        exprs.append(text)
    # WHEN promtool checks them as recording rules THEN it accepts every one
    proc = promtool("check", "rules", _rules_file(tmp_path, exprs))
    assert f"SUCCESS: {len(exprs)} rules found" in proc.stdout, proc.stdout + proc.stderr


def test_promtool_rejects_a_broken_expression(tmp_path):
    # The check above is not vacuous: an unbalanced expression fails it.
    with pytest.raises(PrometheusError, match="parse error|could not parse|unexpected"):
        promtool("check", "rules", _rules_file(tmp_path, ["sum by (x) (rate(foo[5m])"]))
