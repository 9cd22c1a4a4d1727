"""PromQL as DataFrames: Prometheus's HTTP API (/api/v1/query, /query_range, /targets, /alerts, /rules).

    kl.promql(api, "up")                                          # instant: one row per series
    kl.promql(api, "rate(apiserver_request_total[1m])", start="-10m", step="5s")   # range: one row per point
    kl.promql("http://prometheus.monitoring:9090", "up")          # any Prometheus, by URL

`api` is the cluster (kl.connect()): the embedded cluster's own Prometheus, else $KUBELAB_PROMETHEUS (a real
cluster's, e.g. kube-prometheus-stack's port-forwarded). Every frame has the series' labels as columns, then
`time` (UTC) and `value`, and a `simulated` column: True where the series says simulated="true" (kwok's
kubelet metrics, the simulated GPUs), so a simulated number is never shown as measured.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

import pandas as pd

from .. import settings
from .._k8s.poll import until
from ..errors import ClusterUnavailable, UsageError, WaitTimeout

__all__ = ["PROMETHEUS_ENV", "alert_state", "alerts", "epoch", "frame", "promql", "prometheus_url", "rule_files", "rules",
           "rules_frame", "targets", "wait_for_series"]

PROMETHEUS_ENV = settings.PROMETHEUS
_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def prometheus_url(api_or_url) -> str:
    """The Prometheus of `api_or_url`: a URL as given; the embedded cluster's own; else $KUBELAB_PROMETHEUS."""
    if isinstance(api_or_url, str):
        if not api_or_url.startswith(("http://", "https://")):
            raise UsageError(f"{api_or_url!r} is not a Prometheus URL", "pass http://host:port, or the ApiClient")
        return api_or_url.rstrip("/")
    from ..cluster.local import LocalCluster

    context = getattr(api_or_url, "kubelab_context", None) or ""
    if context.startswith("kwok-"):
        cluster = LocalCluster(context.removeprefix("kwok-"))
        if str(cluster.kubeconfig) == getattr(api_or_url, "kubelab_kubeconfig", None) and cluster.prometheus.configured():
            return cluster.prometheus.url
    if settings.current().prometheus:
        return settings.current().prometheus.rstrip("/")
    raise UsageError(f"no Prometheus is known for this cluster (context {context or 'unknown'!r})",
                     f"set {PROMETHEUS_ENV}=http://host:port (e.g. `kubectl -n monitoring port-forward "
                     "svc/kube-prometheus-stack-prometheus 9090` then http://127.0.0.1:9090), or pass the URL; "
                     "the embedded cluster runs its own: `kubelab cluster up`")


def _timestamp(value, now: float) -> float:
    """Seconds since the epoch from a datetime/Timestamp, a number, "now" or "-10m" (relative to now)."""
    if value is None or value == "now":
        return now
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, timedelta):
        return now + value.total_seconds()
    if isinstance(value, str):
        m = _RELATIVE.match(value.strip())
        if m:
            return now - float(m.group(1)) * _UNITS[m.group(2)]
        try:
            value = pd.Timestamp(value)
        except ValueError:
            raise UsageError(f"{value!r} is not a time", 'use "-10m", "now", an ISO time or a datetime') from None
    if isinstance(value, datetime):
        ts = pd.Timestamp(value)
        return (ts.tz_localize(timezone.utc) if ts.tzinfo is None else ts).timestamp()
    raise UsageError(f"{value!r} is not a time", 'use "-10m", "now", an ISO time or a datetime')


def epoch(value, now: float | None = None) -> float:
    """Seconds since the epoch of a time as `promql` takes it (a datetime, a number, "now", "-10m"; `now` default the
    clock)."""
    return _timestamp(value, datetime.now(timezone.utc).timestamp() if now is None else now)


def _seconds(step) -> float:
    if isinstance(step, timedelta):
        return step.total_seconds()
    if isinstance(step, str):
        m = _RELATIVE.match("-" + step.strip())
        if not m:
            raise UsageError(f"step {step!r} is not a duration", 'use e.g. "5s", "1m" or a number of seconds')
        return float(m.group(1)) * _UNITS[m.group(2)]
    return float(step)


def _value(v: str) -> float:
    return float(v) if v not in ("NaN", "+Inf", "-Inf") else {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}[v]


def frame(data: dict) -> pd.DataFrame:
    """The `data` of a Prometheus query response as a DataFrame (pure): label columns (sorted, `__name__`
    first when present), then time (UTC), value, simulated. Vector: a row per series; matrix: a row per point."""
    kind, result = data.get("resultType"), data.get("result") or []
    if kind in ("scalar", "string"):
        t, v = result
        rows, labels = [{"time": t, "value": _value(v) if kind == "scalar" else v}], []
    else:
        labels = sorted({k for s in result for k in s.get("metric", {})}, key=lambda k: (k != "__name__", k))
        rows = []
        for s in result:
            metric = s.get("metric", {})
            points = (s.get("values") or []) if kind == "matrix" else ([s["value"]] if "value" in s else [])
            for t, v in points:
                rows.append({**{k: metric.get(k, "") for k in labels}, "time": t, "value": _value(v)})
    df = pd.DataFrame(rows, columns=[*labels, "time", "value"])
    # Prometheus's times are seconds with millisecond precision: whole milliseconds, not float noise
    df["time"] = pd.to_datetime((df["time"].astype(float) * 1000).round().astype("int64"), unit="ms", utc=True)
    df["simulated"] = (df["simulated"] == "true") if "simulated" in labels else False
    return df


def _get(url: str, path: str, params: dict | None = None, timeout: float = 15) -> dict:
    import requests

    try:
        resp = requests.get(f"{url}{path}", params=params, timeout=timeout)
    except requests.RequestException as err:
        raise ClusterUnavailable(f"Prometheus is not answering at {url}: {type(err).__name__}",
                                 "start the embedded cluster (`kubelab cluster up` runs Prometheus), or check the URL "
                                 f"/ ${PROMETHEUS_ENV} (a real cluster's Prometheus needs a port-forward)") from None
    try:
        body = resp.json()
    except ValueError:
        raise ClusterUnavailable(f"{url}{path} did not answer as Prometheus's API does (HTTP {resp.status_code})",
                                 f"point {PROMETHEUS_ENV} at Prometheus itself (http://host:9090)") from None
    if body.get("status") != "success":
        what = (params or {}).get("query")
        raise UsageError(f"Prometheus refused {('the query ' + repr(what)) if what else path}: "
                         f"{body.get('errorType', 'error')}: {body.get('error', resp.reason)}",
                         "fix the PromQL (the message says where); query names with `kl.promql(api, "
                         "'count by (__name__) ({__name__=~\"PREFIX.*\"})')`" if what else "check the parameters")
    return body["data"]


def promql(api_or_url, query: str, start=None, end=None, step=None, *, time=None, timeout: float = 15) -> pd.DataFrame:
    """A PromQL query as a DataFrame. Instant (no `start`): one row per series at `time` (default now). Range
    (`start`, e.g. "-10m", a datetime or epoch seconds; `end` default now; `step` default ~250 points, at least
    1 s): one row per series and point. A syntax error or an unknown function is a UsageError with
    Prometheus's own message; no Prometheus is ClusterUnavailable."""
    url = prometheus_url(api_or_url)
    now = datetime.now(timezone.utc).timestamp()
    if start is None:
        params = {"query": query}
        if time is not None:
            params["time"] = _timestamp(time, now)
        return frame(_get(url, "/api/v1/query", params, timeout))
    t0, t1 = _timestamp(start, now), _timestamp(end, now)
    if t1 <= t0:
        raise UsageError(f"the range ends before it starts ({start!r} -> {end!r})", "give start before end")
    seconds = _seconds(step) if step is not None else max(1.0, round((t1 - t0) / 250))
    return frame(_get(url, "/api/v1/query_range", {"query": query, "start": t0, "end": t1, "step": seconds}, timeout))


def wait_for_series(api_or_url, query: str, timeout: float = 30, every: float = 1.0) -> pd.DataFrame:
    """The instant `query` once it returns at least one series (a pod just started is in Prometheus only after
    the next scrape of its exporter). After `timeout` s a WaitTimeout that says which targets are not up."""
    def step():
        df = promql(api_or_url, query)
        return len(df) > 0, df

    def timed_out(_df):
        down = targets(api_or_url).query("health != 'up'")
        where = ("; targets not up: " + ", ".join(f"{r.job} {r.instance} ({r.last_error or r.health})"
                                                  for r in down.itertuples())) if len(down) else "; every target is up"
        return WaitTimeout(f"Prometheus returned no series for {query!r} within {timeout:.0f} s{where}",
                           "check that the metric exists (`kl.promql(api, 'count by (__name__) ({__name__=~\"PREFIX.*\"})')`)"
                           " and that the labels you select on match")
    return until(step, timeout, every=every, timeout_error=timed_out)


def targets(api_or_url) -> pd.DataFrame:
    """The scrape targets (/api/v1/targets, active): job, instance, health, last error, last scrape."""
    data = _get(prometheus_url(api_or_url), "/api/v1/targets", {"state": "active"})
    rows = [{"job": t["labels"].get("job", ""), "instance": t["labels"].get("instance", ""),
             "path": t.get("discoveredLabels", {}).get("__metrics_path__", ""), "health": t.get("health"),
             "last_error": t.get("lastError", ""), "last_scrape": t.get("lastScrape"),
             "simulated": t["labels"].get("simulated") == "true"} for t in data.get("activeTargets", [])]
    df = pd.DataFrame(rows, columns=["job", "instance", "path", "health", "last_error", "last_scrape", "simulated"])
    # a target not scraped yet says 0001-01-01 (health "unknown"): NaT
    df["last_scrape"] = pd.to_datetime(df["last_scrape"], utc=True, format="ISO8601", errors="coerce")
    return df.sort_values(["job", "instance", "path"], ignore_index=True)


def alerts(api_or_url) -> pd.DataFrame:
    """Active alerts (/api/v1/alerts): alertname, state (pending|firing), labels, value, since."""
    data = _get(prometheus_url(api_or_url), "/api/v1/alerts")
    rows = [{"alertname": a["labels"].get("alertname", ""), "state": a.get("state"),
             "namespace": a["labels"].get("namespace", ""), "pod": a["labels"].get("pod", ""),
             "container": a["labels"].get("container", ""),
             "severity": a["labels"].get("severity", ""), "value": _value(a.get("value", "NaN")),
             "since": a.get("activeAt"), "summary": a.get("annotations", {}).get("summary", ""),
             "simulated": a["labels"].get("simulated") == "true"} for a in data.get("alerts", [])]
    df = pd.DataFrame(rows, columns=["alertname", "state", "namespace", "pod", "container", "severity", "value",
                                     "since", "summary", "simulated"])
    df["since"] = pd.to_datetime(df["since"], utc=True, format="ISO8601")
    return df


def rules_frame(data: dict, namespace: str | None = None) -> pd.DataFrame:
    """The `data` of /api/v1/rules?type=alert as rows (pure): group, alertname, state, for, expr, health, last_error,
    namespace (the rule's own `namespace` label: the learner's namespace for a rule loaded from their ConfigMap,
    "" for the cluster's own rules), file (the rule file Prometheus read it from); only `namespace`'s when given."""
    rows = [{"group": g["name"], "alertname": r["name"], "state": r.get("state"), "for": r.get("duration"),
             "expr": r.get("query"), "health": r.get("health"), "last_error": r.get("lastError", ""),
             "namespace": (r.get("labels") or {}).get("namespace", ""), "file": g.get("file", "")}
            for g in data.get("groups", []) for r in g.get("rules", []) if r.get("type", "alerting") == "alerting"]
    df = pd.DataFrame(rows, columns=["group", "alertname", "state", "for", "expr", "health", "last_error",
                                     "namespace", "file"])
    return df if namespace is None else df[df["namespace"] == namespace].reset_index(drop=True)


def rules(api_or_url, namespace: str | None = None) -> pd.DataFrame:
    """The alerting rules Prometheus evaluates (/api/v1/rules): group, name, state, for, expression, health, the
    rule's namespace label and file (`rules_frame`); `namespace=` keeps one namespace's (a learner's rules from
    their labelled ConfigMaps, `rule_files` says what the loader decided of each)."""
    return rules_frame(_get(prometheus_url(api_or_url), "/api/v1/rules", {"type": "alert"}), namespace)


def rule_files(api, namespace: str) -> pd.DataFrame:
    """The rule files in `namespace`'s ConfigMaps labelled kubelab.io/prometheus-rules=true and the embedded
    cluster's rule loader's verdict on each: configmap, key, state (loaded | refused | waiting), alerts, records,
    message (why it was refused), current (the verdict is of the data the ConfigMap holds now)."""
    from kubernetes import client

    from .._k8s.raw import items
    from .alert_rules import RULES_LABEL, rule_files_frame

    cms = items(client.CoreV1Api(api).list_namespaced_config_map, namespace, label_selector=f"{RULES_LABEL}=true")
    return rule_files_frame(cms)


def alert_state(api_or_url, alertname: str, **labels: str) -> pd.DataFrame:
    """One row: the state of `alertname` for the alerts whose labels match `labels` (e.g. namespace=ns):
    "firing" if any fires, else "pending" if any is pending, else "inactive"; `alerts` counts them. For a
    Timeline that records an alert going pending -> firing -> resolved."""
    df = alerts(api_or_url)
    df = df[df["alertname"] == alertname]
    for key, value in labels.items():
        df = df[df[key] == value] if key in df.columns else df.iloc[0:0]
    states = set(df["state"])
    state = "firing" if "firing" in states else "pending" if "pending" in states else "inactive"
    return pd.DataFrame([{"alertname": alertname, "state": state, "alerts": len(df),
                          "simulated": bool(df["simulated"].any())}])
