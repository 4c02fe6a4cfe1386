import pytest

from tests.synth import synth


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory):
    """The app synthesized once with the shipped network.toml (design-note values)."""
    return synth(outdir=str(tmp_path_factory.mktemp("synth")))
