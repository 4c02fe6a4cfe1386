"""A real etcd for this folder's tests (one per test process); each test module starts its own
kube-apiserver on it, an empty cluster of its own (tests/support/kubernetes.py)."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def etcd():
    from tests.support.kubernetes import Etcd

    with Etcd() as server:
        yield server


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Each cluster's tests in one xdist worker (`--dist loadgroup`): a module's tests of one
    parameter (a monitoring mode) share the cluster its module fixture starts, so they go to one
    worker together (and the clusters of different modes run in parallel), instead of each worker
    that gets one of them deploying the whole cluster again. Before xdist reads the groups."""
    for item in items:
        if HERE not in Path(item.path).parents:
            continue
        callspec = getattr(item, "callspec", None)
        group = f"kubernetes-{Path(item.path).stem}" + (f"-{callspec.id}" if callspec else "")
        item.add_marker(pytest.mark.xdist_group(group))
