"""Networking: the endpoints of Services (from their EndpointSlices) as DataFrames, and what the
NetworkPolicies of a namespace allow, as an enforcing CNI would decide it."""
from __future__ import annotations

import pandas as pd

from .._k8s import raw

__all__ = ["endpoint_slices", "network_allows", "network_policies"]

ENDPOINT_COLUMNS = ["service", "slice", "address", "ready", "serving", "terminating", "pod", "node", "ports"]


def endpoint_slices(api, namespace: str, *, service: str | None = None) -> pd.DataFrame:
    """The EndpointSlices of `namespace` (only those of `service` if given), one row per endpoint.

    Columns: service, slice, address (the pod IP), ready / serving / terminating (the endpoint's
    conditions), pod (targetRef), node, ports ("name:port/protocol", comma-joined)."""
    from kubernetes import client

    selector = f"kubernetes.io/service-name={service}" if service else None
    kw = {"label_selector": selector} if selector else {}
    rows = []
    for s in raw.items(client.DiscoveryV1Api(api).list_namespaced_endpoint_slice, namespace, **kw):
        svc = (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name", "")
        ports = ",".join(f"{p.get('name') or '-'}:{p.get('port')}/{p.get('protocol', 'TCP')}"
                         for p in s.get("ports") or [])
        for e in s.get("endpoints") or []:
            cond = e.get("conditions") or {}
            for address in e.get("addresses") or []:
                rows.append({"service": svc, "slice": s["metadata"]["name"], "address": address,
                             "ready": bool(cond.get("ready")), "serving": bool(cond.get("serving")),
                             "terminating": bool(cond.get("terminating")),
                             "pod": (e.get("targetRef") or {}).get("name", ""), "node": e.get("nodeName", ""),
                             "ports": ports})
    df = pd.DataFrame(rows, columns=ENDPOINT_COLUMNS)
    return df.sort_values(["service", "pod"], kind="stable").reset_index(drop=True)


# -- NetworkPolicy semantics: what an enforcing CNI would allow -------------------------------------
# The embedded cluster has no CNI, so nothing enforces NetworkPolicies there; these functions compute
# the decision a conforming CNI makes from the policies, for pods in one namespace (the Kubernetes rules:
# a pod selected by no policy of a direction is open in that direction; selected pods allow only what
# some selecting policy's rule allows; ingress AND egress must both allow a connection).

def _matches(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector (matchLabels, matchExpressions) matches `labels`; {} matches everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], set(e.get("values") or [])
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) \
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def _types(policy: dict) -> set[str]:
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return set(spec["policyTypes"])
    return {"Ingress"} | ({"Egress"} if spec.get("egress") is not None else set())


def _port_ok(rule_ports, port: int, port_names: dict[str, int], protocol: str) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if (p.get("protocol") or "TCP") != protocol:
            continue
        want = p.get("port")
        if want is None:
            return True
        number = port_names.get(want) if isinstance(want, str) else want
        end = p.get("endPort") or number
        if number is not None and number <= port <= end:
            return True
    return False


def _peer_ok(peers, labels: dict) -> bool:
    """Peers of one namespace: podSelector alone, or with a namespaceSelector that the namespace matches
    (the namespace's own labels are not known here: a namespaceSelector is taken to match it only when it
    is empty). ipBlocks never match a pod."""
    if not peers:
        return True
    return any("ipBlock" not in p and (p.get("namespaceSelector") in (None, {}))
               and _matches(p.get("podSelector"), labels) for p in peers)


def network_allows(policies, source: dict, target: dict, port: int, protocol: str = "TCP",
                   target_ports: dict[str, int] | None = None) -> bool:
    """Whether a connection from a pod labelled `source` to a pod labelled `target` (both in the namespace of
    `policies`) on `port` is allowed by those NetworkPolicies. `target_ports` names the target's container
    ports ({"http": 8080}) for rules that give a port by name (pure: no API call)."""
    policies = [raw.plain(p) for p in policies]
    names = target_ports or {}

    def direction(kind: str, selected: dict, peer: dict, rule_key: str, peer_key: str, port_names) -> bool:
        selecting = [p for p in policies if kind in _types(p) and _matches((p.get("spec") or {}).get("podSelector"), selected)]
        if not selecting:
            return True
        return any(_peer_ok(rule.get(peer_key), peer) and _port_ok(rule.get("ports"), port, port_names, protocol)
                   for p in selecting for rule in (p.get("spec") or {}).get(rule_key) or [])

    return (direction("Ingress", target, source, "ingress", "from", names)
            and direction("Egress", source, target, "egress", "to", names))


def network_policies(api, namespace: str) -> list[dict]:
    """The NetworkPolicies of `namespace` as plain objects."""
    from kubernetes import client
    return raw.items(client.NetworkingV1Api(api).list_namespaced_network_policy, namespace)
