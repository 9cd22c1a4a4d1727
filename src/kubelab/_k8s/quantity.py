"""Kubernetes quantities ("500m", "1Gi", "2") parsed in one place, on top of the official client's parser."""
from __future__ import annotations

from functools import lru_cache

from kubernetes.utils import parse_quantity


def to_float(q: str | int | float | None) -> float:
    """Any quantity as a plain number (cores for CPU, bytes for memory, a count for GPUs); None -> 0.
    A malformed quantity raises ValueError."""
    if q is None or q == "":
        return 0.0
    return float(parse_quantity(q))


@lru_cache(maxsize=4096)
def qty(q) -> float:
    """to_float, cached: quantities repeat a lot across pods ("500m", "1Gi"), so each string is parsed once."""
    return to_float(q)


def mem_gib(q) -> float:
    return to_float(q) / 2**30


def checked(value: str, examples: str = '"16", "500m", "64Gi"') -> str:
    """`value` if it is a Kubernetes quantity; a ValueError that shows `examples` otherwise (for validators)."""
    try:
        parse_quantity(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a Kubernetes quantity (examples: {examples})") from None
    return value
