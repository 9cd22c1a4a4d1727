"""Grading: checks of the LIVE cluster state for nbgrader test cells, and partial credit that cannot give
marks by mistake. The engine (`engine`: Part, run, CheckResult, Partial) and the checks by topic:
`workloads` (rollouts, Services), `scheduling` (GPU requests, placement, quota), `rbac` (what a subject
may do, asked of the API server), `objects` (existence, keys, Helm releases). A new check goes in the
module of its topic: fetch the live objects once, list its Parts, call `run`, and export it here.

    kl.grading.deployment_ready(api, "web", ns, replicas=3)       # passes, or raises CheckFailed
    p = kl.grading.Partial(out_of=2)
    p.check(kl.grading.cannot, api, "list", "secrets", ns, as_user=f"system:serviceaccount:{ns}:model")
    p                                                              # the cell's score, a number
"""
from .engine import CheckResult, Part, Partial
from .objects import configmap_has_keys, helm_release_deployed, resource_exists, secret_has_keys
from .rbac import can, cannot
from .scheduling import pod_requests_gpu, pod_scheduled_on_pool, quota_caps_gpus
from .workloads import deployment_ready, service_selects, statefulset_ready

__all__ = ["CheckResult", "Part", "Partial", "can", "cannot", "configmap_has_keys", "deployment_ready",
           "helm_release_deployed", "pod_requests_gpu", "pod_scheduled_on_pool", "quota_caps_gpus",
           "resource_exists", "secret_has_keys", "service_selects", "statefulset_ready"]
