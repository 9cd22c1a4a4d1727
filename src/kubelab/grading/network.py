"""Checks on NetworkPolicies by their semantics: which pods may reach which, computed from the policies
the learner applied the way an enforcing CNI decides it (the embedded cluster has no CNI, so no packet
is sent; on a cluster with one, the same policies cut the real traffic)."""
from __future__ import annotations

from ..observe.network import network_allows, network_policies
from .engine import CheckResult, Part, read, run

__all__ = ["reachable", "unreachable"]


def _check(api, namespace: str, source: dict, target: dict, port: int, target_ports, allowed: bool) -> CheckResult:
    what = f"pods {source} -> pods {target} on port {port}"
    fetch = lambda: read(lambda: network_policies(api, namespace), "NetworkPolicies", namespace)
    expect = "allowed" if allowed else "denied"
    parts = [Part(lambda policies: network_allows(policies, source, target, port, target_ports=target_ports) == allowed,
                  lambda policies: f"{what} is {'denied' if allowed else 'allowed'} by the NetworkPolicies of "
                                   f"{namespace!r} ({len(policies)} of them), expected {expect}",
                  "a connection needs an ingress rule of the target's policies AND an egress rule of the "
                  "source's policies (when a policy of that direction selects them)")]
    return run("reachable" if allowed else "unreachable", fetch, parts, f"{what} is {expect}")


def reachable(api, namespace: str, *, source: dict, target: dict, port: int,
              target_ports: dict[str, int] | None = None) -> CheckResult:
    """Pods labelled `source` may connect to pods labelled `target` on `port` (named ports of the target
    in `target_ports`), under the namespace's NetworkPolicies."""
    return _check(api, namespace, source, target, port, target_ports, True)


def unreachable(api, namespace: str, *, source: dict, target: dict, port: int,
                target_ports: dict[str, int] | None = None) -> CheckResult:
    """Pods labelled `source` may NOT connect to pods labelled `target` on `port`."""
    return _check(api, namespace, source, target, port, target_ports, False)
