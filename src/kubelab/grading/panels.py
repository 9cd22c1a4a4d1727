"""Checks of a learner's dashboard panels (PromQL): what Prometheus answers for the learner's query, compared with
the same figure worked out from the API now, never the query's spelling. Any query that answers the figure passes
(a join either way round, a label renamed with label_replace); one that answers another figure fails (by node instead
of by pool, pods counted instead of GPUs, a missing filter).

    kl.grading.query_answers(api, QUERY, truth=lambda: {"h100": 2.0, "a100": 3.0}, about="GPUs requested by pool")

`query` may be a callable that reads the query from the cluster (a panel stored in a ConfigMap) and raises Missing
when it is not there; `truth` is called at each look, so the figure and the answer are read together.
"""
from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Callable

from ..errors import KubelabError
from .engine import CheckResult, Missing, Part, run

__all__ = ["answers_match", "gpu_requests", "query_answers", "stored_query"]

SCRAPE_WAIT = 8.0   # seconds: the state metrics are scraped every 5 s, so a change shows within one scrape


def answers_match(rows: list[tuple[set[str], float]], truth: dict[str, float], rel_tol: float = 1e-6) -> bool:
    """Each row (the set of a series' label values, its value) is labelled with exactly one key of `truth` and valued
    with its number, and every key has one row (pure)."""
    found: dict[str, float] = {}
    for values, value in rows:
        keys = values & set(truth)
        if len(keys) != 1:
            return False
        key = keys.pop()
        if key in found:
            return False
        found[key] = value
    return set(found) == set(truth) and all(math.isclose(found[k], float(v), rel_tol=rel_tol, abs_tol=1e-9)
                                            for k, v in truth.items())


def query_answers(api, query: str | Callable[[], str], truth: Callable[[], dict[str, float]], *, about: str,
                  hint: str, name: str = "query_answers", timeout: float = SCRAPE_WAIT) -> CheckResult:
    """The PromQL `query` answers `about` (one part): one series per key of `truth()`, labelled with that key (in any
    label) and valued with its number. A query Prometheus refuses is Missing with Prometheus's own message."""
    from ..observe.prometheus import promql

    def fetch():
        text = query() if callable(query) else query
        try:
            answer = promql(api, text)
        except KubelabError as err:   # a PromQL error, or no Prometheus
            raise Missing(err.problem, err.fix) from None
        labels = [c for c in answer.columns if c not in ("time", "value", "simulated")]
        rows = [({str(v) for v in row[labels] if v}, float(row["value"])) for _, row in answer.iterrows()]
        return SimpleNamespace(rows=rows, truth=truth())

    def said(o) -> str:
        got = "; ".join(f"{sorted(v)} = {x:g}" for v, x in o.rows) or "no series"
        want = ", ".join(f"{k} = {v:g}" for k, v in sorted(o.truth.items())) or "no series"
        return f"the query answers {got}; the API says {want} ({about})"

    return run(name, fetch, [Part(lambda o: answers_match(o.rows, o.truth), said, hint)],
               f"the query answers {about}, as the API does", timeout=timeout)


def stored_query(api, namespace: str, configmap: str, key: str) -> Callable[[], str]:
    """The `query` of query_answers for a panel stored as a dashboard stores it: key `key` of ConfigMap `configmap`
    (read at each look; Missing, with the fix, where it is not there)."""
    from kubernetes import client

    from .engine import read

    def query() -> str:
        cm = read(lambda: client.CoreV1Api(api).read_namespaced_config_map(configmap, namespace),
                  f"ConfigMap {configmap!r}", namespace)
        text = (cm.data or {}).get(key)
        if not text:
            raise Missing(f"ConfigMap {configmap!r} has no key {key!r} (keys: {sorted(cm.data or {}) or 'none'})",
                          f"add the panel's query under the key {key}")
        return text
    return query


def gpu_requests(api, namespace: str, *, by_label: str | None = None) -> dict[str, float]:
    """A panel's truth from the API: nvidia.com/gpu requested by `namespace`'s scheduled, not finished pods, summed by
    their node's name, or by the node's label `by_label` (a pool)."""
    from kubernetes import client

    from .._k8s.quantity import to_float

    core = client.CoreV1Api(api)
    key = {n.metadata.name: (n.metadata.labels or {}).get(by_label, "") if by_label else n.metadata.name
           for n in core.list_node().items}
    out: dict[str, float] = {}
    for pod in core.list_namespaced_pod(namespace).items:
        if not pod.spec.node_name or pod.status.phase in ("Succeeded", "Failed"):
            continue
        for c in pod.spec.containers:
            res = c.resources
            n = to_float(((res and res.requests) or {}).get("nvidia.com/gpu")
                         or ((res and res.limits) or {}).get("nvidia.com/gpu") or 0)
            if n:
                k = key.get(pod.spec.node_name, pod.spec.node_name)
                out[k] = out.get(k, 0) + n
    return out
