"""The course tier: nbgrader round trips (generate, autograde) against one real embedded cluster."""
from __future__ import annotations

import pytest

from tests.helpers import start_session_cluster


@pytest.fixture(scope="session")
def local_cluster():
    cluster = start_session_cluster()
    yield cluster
    cluster.down(delete=True)


@pytest.fixture(scope="session")
def api(local_cluster):
    return local_cluster.connect()
