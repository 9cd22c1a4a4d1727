"""The Gateway API as DataFrames: Gateways (class, listeners, the conditions and address their controller wrote),
routes (HTTPRoute, GRPCRoute) with the status each parent's controller wrote (`status.parents[].conditions`), and
the backends of each rule with its weight read as a share of the rule's traffic. Read-only.

    kl.observe.routes.gateways(api, ns)          # one row per Gateway: Accepted, Programmed, address
    kl.observe.routes.route_status(api, ns)      # one row per route and parentRef: Accepted, ResolvedRefs, why
    kl.observe.routes.route_backends(api, ns)    # one row per backendRef: weight and share
"""
from __future__ import annotations

import pandas as pd

from .._k8s.apierrors import call

__all__ = ["GROUP", "VERSION", "backend_shares", "condition", "gateways", "gateways_frame", "route_backends",
           "route_backends_frame", "route_status", "route_status_frame", "routes"]

GROUP, VERSION = "gateway.networking.k8s.io", "v1"
ROUTE_KINDS = {"httproutes": "HTTPRoute", "grpcroutes": "GRPCRoute"}


def condition(conditions: list[dict] | None, type_: str) -> dict | None:
    """The condition of `type_` in a list of conditions (a Gateway's, or one parent's of a route)."""
    return next((c for c in conditions or [] if c.get("type") == type_), None)


def _said(c: dict | None) -> str:
    """A condition as `True (Accepted)`, or `-` if the controller has not written it."""
    return f"{c.get('status')} ({c.get('reason')})" if c else "-"


def gateways_frame(objs: list[dict]) -> pd.DataFrame:
    """Columns: gateway, class, listeners (name:PROTOCOL/port), Accepted, Programmed, address, message (Programmed's)."""
    rows = []
    for g in objs:
        conds = (g.get("status") or {}).get("conditions")
        rows.append({"gateway": g["metadata"]["name"], "class": g["spec"].get("gatewayClassName"),
                     "listeners": ", ".join(f"{x['name']}:{x['protocol']}/{x['port']}" for x in g["spec"]["listeners"]),
                     "Accepted": _said(condition(conds, "Accepted")), "Programmed": _said(condition(conds, "Programmed")),
                     "address": ", ".join(a["value"] for a in (g.get("status") or {}).get("addresses") or []) or "none",
                     "message": (condition(conds, "Programmed") or {}).get("message", "")})
    return pd.DataFrame(rows, columns=["gateway", "class", "listeners", "Accepted", "Programmed", "address", "message"])


def routes(api, namespace: str, plural: str = "httproutes") -> list[dict]:
    """The routes of one kind (`httproutes`, `grpcroutes`) in `namespace`, as plain dicts."""
    from kubernetes import client
    return call(client.CustomObjectsApi(api).list_namespaced_custom_object, GROUP, VERSION, namespace, plural)["items"]


def gateways(api, namespace: str) -> pd.DataFrame:
    return gateways_frame(routes(api, namespace, "gateways"))


def route_status_frame(objs: list[dict]) -> pd.DataFrame:
    """One row per route and parentRef the controller answered for. Columns: kind, route, parent
    (gateway/sectionName), controller, Accepted, ResolvedRefs (each `status (reason)`), why (the message of
    the first condition that is not True; empty when both are True). A route no controller answered has one
    row with `-` in each condition."""
    rows = []
    for r in objs:
        base = {"kind": r.get("kind", ""), "route": r["metadata"]["name"]}
        parents = (r.get("status") or {}).get("parents") or []
        for p in parents:
            ref, conds = p.get("parentRef") or {}, p.get("conditions") or []
            bad = next((c for c in conds if c.get("type") in ("Accepted", "ResolvedRefs") and c.get("status") != "True"),
                       None)
            rows.append({**base, "parent": ref.get("name", "") + (f"/{ref['sectionName']}" if ref.get("sectionName") else ""),
                         "controller": p.get("controllerName", ""), "Accepted": _said(condition(conds, "Accepted")),
                         "ResolvedRefs": _said(condition(conds, "ResolvedRefs")),
                         "why": (bad or {}).get("message", "")})
        if not parents:
            rows.append({**base, "parent": ", ".join(x.get("name", "") for x in r["spec"].get("parentRefs") or []),
                         "controller": "", "Accepted": "-", "ResolvedRefs": "-", "why": "no controller has answered"})
    return pd.DataFrame(rows, columns=["kind", "route", "parent", "controller", "Accepted", "ResolvedRefs", "why"])


def route_status(api, namespace: str) -> pd.DataFrame:
    """route_status_frame of the namespace's HTTPRoutes and GRPCRoutes."""
    return route_status_frame([r for plural in ROUTE_KINDS for r in routes(api, namespace, plural)])


def backend_shares(backend_refs: list[dict]) -> dict[str, float]:
    """The share of a rule's requests each backend gets: weight / sum of weights (a weight left out is 1, the
    API's default; all weights 0 leaves no share). Keyed by `name` (`Kind/name` for a kind other than Service)."""
    weights = {}
    for b in backend_refs or []:
        key = b["name"] if b.get("kind", "Service") == "Service" else f"{b['kind']}/{b['name']}"
        weights[key] = weights.get(key, 0) + b.get("weight", 1)
    total = sum(weights.values())
    return {k: (w / total if total else 0.0) for k, w in weights.items()}


def _matches(rule: dict) -> str:
    out = []
    for m in rule.get("matches") or [{}]:
        path = m.get("path") or {}
        text = [f"{path.get('type', 'PathPrefix')} {path.get('value', '/')}"] if "method" not in m else \
            [f"{(m['method'] or {}).get('service', '*')}/{(m['method'] or {}).get('method', '*')}"]
        text += [f"{h['name']}: {h['value']}" for h in m.get("headers") or []]
        out.append(", ".join(text))
    return " | ".join(out)


def route_backends_frame(objs: list[dict]) -> pd.DataFrame:
    """One row per rule and backendRef. Columns: route, rule (its index), matches, backend (name:port),
    weight (as written; 1 if left out), share (of the rule's requests)."""
    rows = []
    for r in objs:
        for i, rule in enumerate(r["spec"].get("rules") or []):
            shares = backend_shares(rule.get("backendRefs"))
            for b in rule.get("backendRefs") or []:
                key = b["name"] if b.get("kind", "Service") == "Service" else f"{b['kind']}/{b['name']}"
                rows.append({"route": r["metadata"]["name"], "rule": i, "matches": _matches(rule),
                             "backend": key + (f":{b['port']}" if b.get("port") else ""),
                             "weight": b.get("weight", 1), "share": round(shares[key], 3)})
    return pd.DataFrame(rows, columns=["route", "rule", "matches", "backend", "weight", "share"])


def route_backends(api, namespace: str, plural: str = "httproutes") -> pd.DataFrame:
    return route_backends_frame(routes(api, namespace, plural))
