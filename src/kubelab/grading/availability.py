"""Checks of a Service's availability over a past window, read from Prometheus's record of the cluster's state: what
the EndpointSlice controller decided at every scrape (which of the Service's pods were ready endpoints), not what the
learner says happened. Graded this way: a rolling upgrade of a node pool (cordon, drain, surge) during which the
service must keep serving.

    t0 = time.time()
    ...                                                            # drain the nodes, one at a time
    kl.grading.stayed_available(api, "model-server", ns, since=t0, ready=1)

The record is the state exporter's kube_endpointslice_endpoints{ready="true"} joined with kube_endpointslice_labels
(observe.state_metrics.READY_ENDPOINTS): only the slices the endpointslice controller made from the Service's own
pods count, so an Endpoints object or EndpointSlice written by hand (mirrored, or another manager's) adds nothing. Its
resolution is the scrape interval: an outage shorter than one scrape can pass unseen, and the check says so.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from types import SimpleNamespace

from ..errors import ClusterUnavailable, UsageError
from ..observe import prometheus
from ..observe.state_metrics import READY_ENDPOINTS
from .engine import CheckResult, Missing, Part, run

__all__ = ["stayed_available"]

STEP = 5.0                       # seconds: the embedded cluster's scrape interval (cluster.prometheus.SCRAPE_INTERVAL)
STATE_JOB = "kube-state-metrics"  # cluster.prometheus.STATE_METRICS_JOB: the job name kube-prometheus-stack gives it


def _query(api, query: str, t0: float, t1: float):
    try:
        return prometheus.promql(api, query, start=t0, end=t1, step=STEP)
    except (ClusterUnavailable, UsageError) as err:
        raise Missing(f"cannot read Prometheus: {err.problem}", err.fix or "start the cluster (`kubelab cluster up`)")


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%S")


def _gaps(steps: list[float], bad: set[float]) -> list[tuple[float, float]]:
    """The runs of consecutive `steps` that are in `bad`, as (first, last) (pure)."""
    runs: list[tuple[float, float]] = []
    for t in steps:
        if t not in bad:
            continue
        if runs and runs[-1][1] == t - STEP:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs


def stayed_available(api, service: str, namespace: str, *, since, until=None, ready: int = 1) -> CheckResult:
    """Service `service` of `namespace` had at least `ready` ready endpoints (pods the endpointslice controller
    counted ready) at every scrape from `since` to `until` (default now; epoch seconds, a datetime, or "-10m"), as
    Prometheus recorded it (1 part), and Prometheus recorded the cluster's state at every scrape of that window (1
    part: without a record nothing can be shown). One look at the record (the past does not change): passes, or
    raises CheckFailed."""
    if ready < 1:
        raise UsageError(f"ready={ready}: a Service with no ready endpoint serves nobody", "ask for ready >= 1")

    def fetch():
        now = time.time()
        t0, t1 = prometheus.epoch(since, now), prometheus.epoch(until, now)
        if t1 - t0 < STEP:
            raise Missing(f"the window {_clock(t0)}-{_clock(t1)} UTC is shorter than one scrape ({STEP:.0f} s)",
                          "record the start time before the change (t0 = time.time()) and check after it")
        steps = [t0 + i * STEP for i in range(int((t1 - t0) // STEP) + 1)]
        record = _query(api, f'count_over_time(up{{job="{STATE_JOB}"}}[{2 * STEP:.0f}s]) > 0', t0, t1)
        recorded = {round(t.timestamp() - t0) for t in record["time"]}
        counts = _query(api, READY_ENDPOINTS.format(namespace=namespace, service=service), t0, t1)
        by_time = {round(t.timestamp() - t0): v for t, v in zip(counts["time"], counts["value"])}
        ready_at = {t: by_time.get(round(t - t0), 0.0) for t in steps}   # no series: no ready endpoint
        unrecorded = {t for t in steps if round(t - t0) not in recorded}   # judged neither way (the first part)
        return SimpleNamespace(steps=steps, t0=t0, t1=t1, ready_at=ready_at, unrecorded=_gaps(steps, unrecorded),
                               short=_gaps(steps, {t for t in steps if ready_at[t] < ready} - unrecorded))

    def unrecorded(o) -> str:
        first, last = o.unrecorded[0]
        return (f"Prometheus has no record of the cluster's state from {_clock(first)} to {_clock(last)} UTC "
                f"({len(o.unrecorded)} gap(s) in {_clock(o.t0)}-{_clock(o.t1)}): availability there cannot be shown")

    def short(o) -> str:
        first, last = o.short[0]
        low = min(o.ready_at[t] for t in o.steps if first <= t <= last)
        more = f" (and {len(o.short) - 1} more time(s))" if len(o.short) > 1 else ""
        return (f"Service {service!r} had {low:.0f} ready endpoint(s), fewer than {ready}, from {_clock(first)} to "
                f"{_clock(last)} UTC (~{last - first + STEP:.0f} s){more}")

    parts = [
        Part(lambda o: not o.unrecorded, unrecorded,
             "keep the cluster's Prometheus running through the change (`kubelab cluster status`)"),
        Part(lambda o: not o.short, short,
             "keep serving through the change: a PodDisruptionBudget (minAvailable) that `kubectl drain` respects, "
             "replicas on more than one node (topologySpreadConstraints), a rollout with maxUnavailable: 0, and one "
             "node drained at a time, its replacement Ready first (see it: kl.promql(api, "
             "kl.observe.state_metrics.READY_ENDPOINTS.format(namespace=ns, service=...), start=t0))"),
    ]
    return run("stayed_available", fetch, parts,
                    f"Service {service!r} kept >= {ready} ready endpoint(s) at every {STEP:.0f} s scrape of the window")
