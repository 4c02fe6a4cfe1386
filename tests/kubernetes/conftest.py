"""A real etcd for this folder's tests (one per test process); each test module starts its own
kube-apiserver on it, an empty cluster of its own (tests/support/kubernetes.py)."""

import pytest


@pytest.fixture(scope="session")
def etcd():
    from tests.support.kubernetes import Etcd

    with Etcd() as server:
        yield server
