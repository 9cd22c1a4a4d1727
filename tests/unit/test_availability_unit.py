"""The availability check's pure parts: runs of bad scrapes, and a request that cannot mean anything."""
import pytest

import kubelab as kl
from kubelab.errors import UsageError
from kubelab.grading.availability import STEP, _gaps

pytestmark = pytest.mark.unit


def test_gaps_are_runs_of_consecutive_bad_scrapes():
    steps = [100 + i * STEP for i in range(8)]
    assert _gaps(steps, set()) == []
    assert _gaps(steps, {steps[1], steps[2], steps[5]}) == [(steps[1], steps[2]), (steps[5], steps[5])]
    assert _gaps(steps, set(steps)) == [(steps[0], steps[-1])]


def test_zero_ready_endpoints_is_refused_before_any_query():
    with pytest.raises(UsageError, match="ready >= 1"):
        kl.grading.stayed_available(None, "web", "ns", since="-1m", ready=0)
