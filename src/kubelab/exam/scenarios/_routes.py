"""What the Gateway API scenarios share (no scenario here): reading a route and its Gateway, and the status that Envoy
Gateway (the embedded cluster's controller, docs/serving-platform.md) writes on a route for each parent it names.

A route's repair is graded from that status, never from how its parentRef or backendRef is spelled: the entry the
controller wrote for the Gateway of the ticket (status.parents[], controllerName Envoy Gateway's), its Accepted and
ResolvedRefs conditions True for the route's current generation (a condition written for an earlier spec says
nothing of the repair)."""
from __future__ import annotations

from ...cluster.gateway import CONTROLLER
from ...grading.engine import Part
from ..checks import get

__all__ = ["GROUP", "VERSION", "condition", "gateway", "listeners", "parent_entries", "route", "route_condition_part",
           "selected_listeners"]

GROUP, VERSION = "gateway.networking.k8s.io", "v1"


def _custom(api, namespace: str, plural: str, name: str, what: str) -> dict:
    from kubernetes import client
    custom = client.CustomObjectsApi(api)
    return get(lambda n, ns, **kw: custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, n, **kw),
               name, namespace, what=what)


def route(api, namespace: str, name: str) -> dict:
    return _custom(api, namespace, "httproutes", name, f"HTTPRoute {name!r}")


def gateway(api, namespace: str, name: str) -> dict:
    return _custom(api, namespace, "gateways", name, f"Gateway {name!r}")


def listeners(gw: dict) -> list[tuple]:
    """The Gateway's listeners as (name, port, protocol, hostname), in order."""
    return [(li.get("name"), li.get("port"), li.get("protocol"), li.get("hostname"))
            for li in (gw.get("spec") or {}).get("listeners") or []]


def parent_entries(rt: dict, gateway_name: str, namespace: str) -> list[dict]:
    """The status entries Envoy Gateway wrote on route `rt` for a parentRef to the Gateway `gateway_name` of
    `namespace` (group and kind defaulted as the API defines them)."""
    out = []
    for entry in (rt.get("status") or {}).get("parents") or []:
        ref = entry.get("parentRef") or {}
        if (entry.get("controllerName") == CONTROLLER and ref.get("name") == gateway_name
                and ref.get("group", GROUP) == GROUP and ref.get("kind", "Gateway") == "Gateway"
                and ref.get("namespace", namespace) == namespace):
            out.append(entry)
    return out


def condition(entry: dict, kind: str) -> dict:
    return next((c for c in entry.get("conditions") or [] if c.get("type") == kind), {})


def _current(rt: dict, entry: dict, kind: str) -> bool:
    c = condition(entry, kind)
    return c.get("status") == "True" and c.get("observedGeneration") == (rt.get("metadata") or {}).get("generation")


def selected_listeners(gw: dict, entry: dict) -> set[str]:
    """The names of the Gateway's listeners a parentRef selects: its sectionName and port, when set, must match."""
    ref = entry.get("parentRef") or {}
    return {name for name, port, _, _ in listeners(gw)
            if ref.get("sectionName") in (None, name) and ref.get("port") in (None, port)}


def route_condition_part(route_key: str, route_name: str, gateway_name: str, namespace: str, *,
                         listener: str | None = None, gw_key: str = "gateway") -> Part:
    """A live part: Envoy Gateway accepted route state[route_key] on the Gateway `gateway_name` (Accepted and
    ResolvedRefs True for its current generation), through the listener `listener` when given."""
    def good(s) -> list[dict]:
        return [e for e in parent_entries(s[route_key], gateway_name, namespace)
                if _current(s[route_key], e, "Accepted") and _current(s[route_key], e, "ResolvedRefs")
                and (listener is None or listener in selected_listeners(s[gw_key], e))]

    def problem(s) -> str:
        entries = parent_entries(s[route_key], gateway_name, namespace)
        if not entries:
            return f"HTTPRoute {route_name!r} has no status from Envoy Gateway for the Gateway {gateway_name!r}"
        said = "; ".join(f"{k} {condition(e, k).get('status', '?')} ({condition(e, k).get('reason', 'not written')})"
                         for e in entries for k in ("Accepted", "ResolvedRefs"))
        on = f" through its listener {listener!r}" if listener else ""
        return f"Envoy Gateway does not serve HTTPRoute {route_name!r} on the Gateway {gateway_name!r}{on}: {said}"

    return Part(lambda s: bool(good(s)), problem,
                f"`kubectl get httproute {route_name} -o yaml`: status.parents[].conditions say what Envoy Gateway "
                "decided, and why")
