"""A panel's answer against the API's figure (pure): every correct shape matches, other figures do not."""
import pytest

from kubelab.grading.panels import answers_match

pytestmark = pytest.mark.unit

TRUTH = {"h100": 2.0, "a100": 3.0}


@pytest.mark.parametrize("rows", [
    [({"h100"}, 2.0), ({"a100"}, 3.0)],
    [({"a100", "ns-1"}, 3.0), ({"h100", "ns-1"}, 2.0)],          # another label beside the pool's, any order
    [({"h100"}, 2.0000000001), ({"a100"}, 3.0)],                  # float noise
])
def test_the_figure_matches_in_any_shape(rows):
    assert answers_match(rows, TRUTH)


@pytest.mark.parametrize("rows", [
    [({"h100-0"}, 2.0), ({"a100-1"}, 3.0)],                       # by node, not by pool
    [({"h100"}, 1.0), ({"a100"}, 3.0)],                           # pods counted, not GPUs
    [({"h100"}, 2.0)],                                            # a pool left out
    [({"h100"}, 2.0), ({"a100"}, 3.0), ({"t4"}, 1.0)],            # a pool the API does not have
    [({"h100", "a100"}, 5.0)],                                    # one series naming both
    [({"h100"}, 1.0), ({"h100"}, 1.0), ({"a100"}, 3.0)],          # one pool in two series
    [],
])
def test_another_figure_does_not(rows):
    assert not answers_match(rows, TRUTH)


def test_no_gpus_anywhere_is_no_series():
    assert answers_match([], {})
    assert not answers_match([({"h100"}, 0.0)], {})
