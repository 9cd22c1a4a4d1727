"""A node pool's rolling upgrade, graded from what the cluster did: the learner changed the NodePool's node template
in place (its image label), Karpenter replaced every node of the pool (drift: a new node first, then the old one
drained through the Eviction API, which honours PodDisruptionBudgets), the workload runs ready on the new nodes, and
its Service kept ready endpoints the whole time (Prometheus's record, grading.availability).

    kl.grading.pool_upgraded(api, f"{ns}-serving", "model-server", ns)

On the embedded cluster the node image is the label kubelab.io/node-image of the pool's node template (batch.IMAGE_LABEL;
on a real cluster it is the EC2NodeClass's AMI, and the same drift replaces the nodes).
"""
from __future__ import annotations

from types import SimpleNamespace

from .._k8s.raw import is_ready
from ..batch import IMAGE_LABEL, NODEPOOL_LABEL
from ..errors import CheckFailed
from .availability import stayed_available
from .engine import CheckResult, Part, client, outcome, read, run

__all__ = ["pool_upgraded"]

UPGRADE_WAIT = 120.0   # seconds to wait for Karpenter: measured ~20 s without a PDB, ~30 s with one


def _template_labels(pool: dict) -> dict:
    return (((pool.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def pool_upgraded(api, node_pool: str, deployment: str, namespace: str, *, to: str = "v2", label: str = IMAGE_LABEL,
                  service: str | None = None, ready: int = 1, timeout: float = UPGRADE_WAIT) -> CheckResult:
    """NodePool `node_pool` makes `label`=`to` nodes, changed in place (1); Karpenter replaced every node of the pool
    (1); every pod of Deployment `deployment` is ready on a new node (1); Service `service` (default: named as the
    Deployment) kept `ready` ready endpoints at every scrape from the first new node on (1: Karpenter drains an old
    node only once its replacement is initialized, so no outage of the upgrade starts before). Waits up to `timeout`
    s for the replacement; passes, or raises CheckFailed with the points earned."""
    service = service or deployment
    core = client(api, "CoreV1Api")

    def fetch_pool():
        return read(lambda: client(api, "CustomObjectsApi").get_cluster_custom_object(
            "karpenter.sh", "v1", "nodepools", node_pool), f"NodePool {node_pool!r}")

    pool_part = [Part(lambda np: _template_labels(np).get(label) == to,
                      lambda np: f"NodePool {node_pool!r} still makes nodes with {label}="
                                 f"{_template_labels(np).get(label)}, not {to}",
                      f"set spec.template.metadata.labels {{{label}: {to}}} of NodePool {node_pool} (after what "
                      f"keeps {deployment} available while Karpenter drains its nodes)", static=True)]

    def fetch_fleet():
        d = read(lambda: client(api, "AppsV1Api").read_namespaced_deployment(deployment, namespace),
                 f"Deployment {deployment!r}", namespace)
        selector = ",".join(f"{k}={v}" for k, v in (d.spec.selector.match_labels or {}).items())
        nodes = core.list_node(label_selector=f"{NODEPOOL_LABEL}={node_pool}").items
        pods = [p for p in read(lambda: core.list_namespaced_pod(namespace, label_selector=selector).items,
                                f"the pods of {deployment}", namespace) if not p.metadata.deletion_timestamp]
        image = {n.metadata.name: (n.metadata.labels or {}).get(label) for n in nodes}
        return SimpleNamespace(image=image, pods=pods,
                               created=[n.metadata.creation_timestamp for n in nodes if image[n.metadata.name] == to])

    old = lambda f: sorted(n for n, image in f.image.items() if image != to)
    off = lambda f: [p.metadata.name for p in f.pods if not is_ready(p.status) or f.image.get(p.spec.node_name) != to]
    fleet_parts = [
        Part(lambda f: bool(f.image) and not old(f),
             lambda f: (f"Karpenter has not replaced node(s) {', '.join(old(f))} of NodePool {node_pool!r} yet "
                        f"(not {to})" if f.image else f"NodePool {node_pool!r} has no node"),
             f"`kubectl get nodeclaims` (a Drifted condition: Karpenter will replace it) and `kubectl get events -n "
             f"{namespace}`: a PodDisruptionBudget that allows no eviction (minAvailable equal to the replicas) blocks "
             "the drain for ever"),
        Part(lambda f: bool(f.pods) and not off(f),
             lambda f: (f"pod(s) {', '.join(off(f))} of {deployment} are not ready on a {to} node of NodePool "
                        f"{node_pool!r}" if f.pods else f"no pod of {deployment} runs"),
             f"the workload stays Deployment {deployment} on NodePool {node_pool}: `kubectl get pods -n {namespace} "
             "-o wide`"),
    ]
    name, success = "pool_upgraded", f"NodePool {node_pool!r} upgraded to {to}, {service} available throughout"
    results = [outcome(run, name, fetch_pool, pool_part, f"NodePool {node_pool!r} makes {to} nodes")]
    if results[0].passed:
        results.append(outcome(run, name, fetch_fleet, fleet_parts, f"every node and ready pod on {to}",
                                timeout=timeout))
        if results[-1].passed:
            since = min(fetch_fleet().created).timestamp()
            # availability's own parts (the endpoints, the record) count as one: one thing the upgrade must keep
            kept = outcome(stayed_available, api, service, namespace, since=since, ready=ready)
            results.append(CheckResult(kept.name, kept.passed, float(kept.passed), 1, kept.message, kept.hint))
    earned = sum(r.points for r in results)
    failed = next((r for r in results if not r.passed), None)
    if failed is None:
        return CheckResult(name, True, 4, 4, success)
    result = CheckResult(name, False, earned, 4, failed.message, failed.hint)
    raise CheckFailed(result.message, result.hint, result=result)
