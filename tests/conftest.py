"""Test tiers by folder: tests/unit (no cluster, and none can be started: the cluster fixtures are not
defined there), tests/cluster, tests/notebooks and tests/course (nbgrader round trips) with the session
cluster from their own conftest.py.
Each test gets its tier's marker, so `pytest -m unit` runs the fast tier alone."""
from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("unit", "cluster", "notebooks", "course")
# the longest files (about 20 minutes each on 2 cores), collected first so that `make test`'s workers start them at once
LONGEST = ("course/test_class_assignments.py", "course/test_capstone_platform.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        tier = Path(item.fspath).relative_to(Path(__file__).parent).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: every test lives in one tier folder: {', '.join(TIERS)}")
        item.add_marker(getattr(pytest.mark, tier))
    where = lambda item: Path(item.fspath).relative_to(Path(__file__).parent).as_posix()
    items.sort(key=lambda item: LONGEST.index(where(item)) if where(item) in LONGEST else len(LONGEST))   # stable


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep
