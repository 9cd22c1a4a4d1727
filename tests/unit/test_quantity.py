import pytest

from kubelab._k8s.quantity import mem_gib, to_float


@pytest.mark.parametrize("q,expected", [("500m", 0.5), ("2", 2.0), (3, 3.0), (None, 0.0), ("1k", 1000.0)])
def test_cpu(q, expected):
    assert to_float(q) == expected


def test_memory():
    assert to_float("1Ki") == 1024 and to_float("1M") == 1e6 and mem_gib("64Gi") == 64


def test_bad_quantity_raises_value_error():
    with pytest.raises(ValueError):
        to_float("lots")
