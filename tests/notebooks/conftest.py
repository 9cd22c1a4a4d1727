"""The notebook tier: the topic notebooks run against one real embedded cluster for the session."""
from __future__ import annotations

import pytest

from tests.helpers import start_session_cluster


@pytest.fixture(scope="session")
def local_cluster():
    cluster = start_session_cluster()
    yield cluster
    cluster.down(delete=True)
