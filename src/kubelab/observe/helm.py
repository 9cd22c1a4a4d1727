"""Helm releases as DataFrames, from `helm` itself and from the Secrets Helm keeps them in."""
from __future__ import annotations

import json

import pandas as pd

from .._k8s import raw
from ..tools import helm

__all__ = ["history", "release_secrets", "values"]

HISTORY_COLUMNS = ["revision", "updated", "status", "chart", "app_version", "description"]


def history(api, name: str, namespace: str) -> pd.DataFrame:
    """`helm history NAME -o json` as a DataFrame (columns: HISTORY_COLUMNS), oldest revision first."""
    rows = json.loads(helm(api, "history", name, "--namespace", namespace, "-o", "json") or "[]")
    df = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    df["updated"] = pd.to_datetime(df["updated"], utc=True, format="ISO8601")
    return df.sort_values("revision").reset_index(drop=True)


def values(api, name: str, namespace: str, *, revision: int | None = None) -> dict:
    """The computed values (chart defaults merged with -f/--set) of a release revision, as a dict.
    Values may hold secrets in other charts: print only the keys you need."""
    args = ["get", "values", name, "--namespace", namespace, "--all", "-o", "json"]
    if revision is not None:
        args += ["--revision", str(revision)]
    return json.loads(helm(api, *args) or "{}")


def release_secrets(api, namespace: str) -> pd.DataFrame:
    """The Secrets Helm keeps its releases in (type helm.sh/release.v1): name, release, revision, status
    and the data KEYS. The values (the gzipped release, with every value given) are never read out."""
    from kubernetes import client
    items = raw.items(client.CoreV1Api(api).list_namespaced_secret, namespace, field_selector="type=helm.sh/release.v1")
    rows = [{"secret": s["metadata"]["name"], "type": s.get("type", ""), "release": raw.labels(s).get("name", ""),
             "revision": int(raw.labels(s).get("version", 0)),
             "status": raw.labels(s).get("status", ""), "keys": sorted((s.get("data") or {}).keys())}
            for s in items]
    df = pd.DataFrame(rows, columns=["secret", "type", "release", "revision", "status", "keys"])
    return df.sort_values("revision").reset_index(drop=True)
