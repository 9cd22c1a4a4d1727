"""Checks on NetworkPolicies by their semantics: which pods may reach which, computed from the policies
the learner applied the way an enforcing CNI decides it (the embedded cluster has no CNI, so no packet
is sent; on a cluster with one, the same policies cut the real traffic).

A target in another namespace (`target_namespace=`, e.g. the cluster DNS in kube-system) is judged on
both sides: the egress policies of the source's namespace and the ingress policies of the target's. The
namespaceSelectors of their peers are matched against the other namespace's real labels by the API
server (a list of that namespace with the selector), so `kubernetes.io/metadata.name: kube-system` works."""
from __future__ import annotations

from .._k8s import raw
from ..observe.network import network_allows, network_policies
from .engine import CheckResult, Part, client, read, run

__all__ = ["reachable", "unreachable"]

_NO_POD = {"ipBlock": {"cidr": "0.0.0.0/32"}}   # a peer that matches no pod (the evaluator never matches ipBlocks)


def _facing(api, policies, direction: str, peer_namespace: str) -> list[dict]:
    """The policies of one namespace for one direction ("Ingress" or "Egress") only, their peers resolved
    for pods of `peer_namespace`, another namespace: a peer whose namespaceSelector matches that namespace
    becomes `namespaceSelector: {}` (any namespace, which the same-namespace evaluator understands); a peer
    without one means the policy's own namespace, so it matches nothing there."""
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    matches: dict[str | None, bool] = {}

    def selects(selector) -> bool:
        key = raw.label_selector(selector)
        if key not in matches:
            matches[key] = not key or bool(client(api, "CoreV1Api").list_namespace(
                label_selector=key, field_selector=f"metadata.name={peer_namespace}").items)
        return matches[key]

    out = []
    for p in map(raw.plain, policies):
        spec = p.get("spec") or {}
        # the API server's defaulting: Ingress always, Egress when egress rules are given
        types = spec.get("policyTypes") or ["Ingress"] + (["Egress"] if spec.get("egress") is not None else [])
        if direction not in types:
            continue
        rules = []
        for rule in spec.get(rules_key) or []:
            peers = rule.get(peers_key)
            if peers:  # an empty or absent list means every peer, everywhere: kept as it is
                peers = [{**peer, "namespaceSelector": {}} if peer.get("namespaceSelector") is not None
                         and selects(peer["namespaceSelector"]) else _NO_POD for peer in peers]
                rule = {**rule, peers_key: peers}
            rules.append(rule)
        out.append({"spec": {"podSelector": spec.get("podSelector") or {}, "policyTypes": [direction],
                             rules_key: rules}})
    return out


def _check(api, namespace: str, source: dict, target: dict, port: int, target_ports, allowed: bool,
           target_namespace: str | None, protocol: str) -> CheckResult:
    across = target_namespace not in (None, namespace)
    where = f"pods {target} of namespace {target_namespace!r}" if across else f"pods {target}"
    what = f"pods {source} -> {where} on port {port}" + ("" if protocol == "TCP" else f"/{protocol}")
    policies_of = lambda ns: read(lambda: network_policies(api, ns), "NetworkPolicies", ns)

    def fetch():
        if not across:
            return [policies_of(namespace)]
        out = read(lambda: _facing(api, policies_of(namespace), "Egress", target_namespace), "Namespaces")
        into = read(lambda: _facing(api, policies_of(target_namespace), "Ingress", namespace), "Namespaces")
        return [out, into]

    decide = lambda sides: all(network_allows(p, source, target, port, protocol, target_ports=target_ports)
                               for p in sides)
    expect = "allowed" if allowed else "denied"

    def scope(sides) -> str:
        if not across:
            return f"the NetworkPolicies of {namespace!r} ({len(sides[0])} of them)"
        return (f"the egress policies of {namespace!r} ({len(sides[0])}) and the ingress policies of "
                f"{target_namespace!r} ({len(sides[1])})")

    hint = ("a connection needs an ingress rule of the target's policies AND an egress rule of the source's "
            "policies (when a policy of that direction selects them)")
    if across:
        hint += f"; a peer in namespace {target_namespace} is named by a namespaceSelector (its label " \
                f"kubernetes.io/metadata.name: {target_namespace}) in the same `to`/`from` item as the podSelector"
    parts = [Part(lambda sides: decide(sides) == allowed,
                  lambda sides: f"{what} is {'denied' if allowed else 'allowed'} by {scope(sides)}, expected {expect}",
                  hint)]
    return run("reachable" if allowed else "unreachable", fetch, parts, f"{what} is {expect}")


def reachable(api, namespace: str, *, source: dict, target: dict, port: int,
              target_ports: dict[str, int] | None = None, target_namespace: str | None = None,
              protocol: str = "TCP") -> CheckResult:
    """Pods labelled `source` in `namespace` may connect to pods labelled `target` (in `target_namespace`,
    by default the same) on `port` (named ports of the target in `target_ports`), under the NetworkPolicies."""
    return _check(api, namespace, source, target, port, target_ports, True, target_namespace, protocol)


def unreachable(api, namespace: str, *, source: dict, target: dict, port: int,
                target_ports: dict[str, int] | None = None, target_namespace: str | None = None,
                protocol: str = "TCP") -> CheckResult:
    """Pods labelled `source` may NOT connect to pods labelled `target` on `port`."""
    return _check(api, namespace, source, target, port, target_ports, False, target_namespace, protocol)
