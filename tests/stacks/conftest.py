import pytest

from tests.synth import synth


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory):
    """The app synthesized once with the shipped network.toml (design-note values)."""
    return synth(outdir=str(tmp_path_factory.mktemp("synth")))


@pytest.fixture(scope="session")
def prometheus_yml(synthesized):
    """prometheus.yml as the pinned prometheus chart renders it from the platform stack's values
    (real Helm on the chart stand-in, tests/support/prometheus_chart.py)."""
    from tests.support.prometheus_chart import render_synthesized

    return render_synthesized(synthesized)
