"""An edge's width on both node graphs (dashboards.config.with_edge_width), on a real Prometheus 3.14:
1 below `edge_width_from` bytes, one more at each `edge_width_factor` times that (a millionth
either side of each step), for zero, the default steps and others."""

from __future__ import annotations

import pytest

from dashboards.config import DashboardConfig, edge_width_steps, with_edge_width
from tests.support.prometheus import PrometheusServer


@pytest.fixture(scope="module")
def prom():
    with PrometheusServer({"scrape_configs": []}) as server:
        yield server


def _widths(prom, cfg: DashboardConfig, byte_counts: list[float]) -> dict[float, str]:
    edges = " or ".join(f'label_replace(vector({b!r}), "id", "e{i}", "", "")' for i, b in enumerate(byte_counts))
    rows = prom.query(with_edge_width(cfg, edges))
    got = {int(r["metric"]["id"][1:]): (r["metric"]["thickness"], float(r["value"][1])) for r in rows}
    assert {byte_counts[i]: value for i, (_, value) in got.items()} == {b: float(b) for b in byte_counts}  # bytes kept
    return {byte_counts[i]: width for i, (width, _) in got.items()}


@pytest.mark.parametrize("cfg", [DashboardConfig(), DashboardConfig(edge_width_from=1000, edge_width_factor=10),
                                 DashboardConfig(edge_width_from=3, edge_width_factor=7)])
def test_each_step_starts_at_its_byte_count(prom, cfg):
    first, second, third = edge_width_steps(cfg)
    # a millionth below and above each step: the width is a logarithm, exact up to rounding
    below, above = (lambda b: b * (1 - 1e-6)), (lambda b: b * (1 + 1e-6))
    expected = {0: "1", below(first): "1", first: "2", above(first): "2", below(second): "2", above(second): "3",
                below(third): "3", above(third): "4", third * 1000: "4"}
    assert _widths(prom, cfg, sorted(expected)) == expected
