"""Grading: checks of the LIVE cluster state for nbgrader test cells, and partial credit that cannot give
marks by mistake. The engine (`engine`: Part, run, CheckResult, Partial) and the checks by topic:
`workloads` (rollouts, Services), `scheduling` (GPU requests, placement, quota), `rbac` (what a subject
may do: SubjectAccessReviews and real requests), `admission` (what admission refuses, accepts, defaults),
`objects` (existence, keys, Helm releases), `helm` (charts, the
OCI registry, tests, canary, rollback), `lint` (kubeconform, kube-score on files), `network`
(NetworkPolicy semantics), `routes` (Gateway API routes: the status their controller wrote, where a
request goes, canary weights), `gpu_report` (a GPU report's columns, units and numbers against the API). `scaling` (KEDA: the HPA it made, the
metric it reads, replicas after a load step). `alerting` (a learner's Prometheus alert rules: loaded, firing).
`availability` (a Service's ready endpoints over a past window, from Prometheus's record: a rolling upgrade).
`panels` (a learner's PromQL panel: what Prometheus answers against the same figure from the API). A new check goes in the
module of its topic: fetch the live objects once, list its Parts, call `run`, and export it here.

    kl.grading.deployment_ready(api, "web", ns, replicas=3)       # passes, or raises CheckFailed
    p = kl.grading.Partial(out_of=2)
    p.check(kl.grading.cannot, api, "list", "secrets", ns, as_user=f"system:serviceaccount:{ns}:model")
    p                                                              # the cell's score, a number
"""
from .admission import admission_accepts, admission_refuses, limitrange_defaults
from .alerting import alert_fires, alert_on_load, alert_quiet, alert_rule_loaded, idle_gpu_alert
from .availability import stayed_available
from . import dryrun
from .engine import CheckResult, Part, Partial, grader
from .helm import (chart_lint_clean, chart_published, chart_renders_valid, helm_test_passed, release_from_registry,
                   release_keeps_no_secret, rolled_back)
from .lint import kube_score_clean, kubeconform_valid
from .network import reachable, unreachable
from .panels import query_answers
from .objects import configmap_has_keys, helm_release_deployed, resource_exists, secret_has_keys
from .rbac import can, cannot, request_as
from .queues import job_admitted, job_borrowed, job_gang_admitted, job_node_provisioned, job_reclaimed
from .gpu_report import gpu_report_matches
from .scaling import scales_on_load, scales_to_zero
from .routes import canary_traffic, route_accepted, route_serves, route_weights, traffic_promoted
from .scheduling import (claim_allocated, pod_pending_because, pod_requests_gpu, pod_scheduled_on_pool, preempted,
                         quota_caps_gpus)
from .upgrades import pool_upgraded
from .workloads import deployment_ready, env_from, service_selects, statefulset_ready

__all__ = ["CheckResult", "Part", "Partial", "dryrun", "admission_accepts", "admission_refuses", "alert_fires", "alert_on_load", "alert_quiet", "alert_rule_loaded", "idle_gpu_alert", "can", "canary_traffic",
           "cannot", "chart_lint_clean", "chart_published", "chart_renders_valid", "claim_allocated", "configmap_has_keys",
           "deployment_ready", "env_from", "gpu_report_matches", "grader", "helm_release_deployed", "helm_test_passed",
           "job_admitted", "job_borrowed", "job_gang_admitted", "job_node_provisioned", "job_reclaimed", "kube_score_clean", "kubeconform_valid", "limitrange_defaults", "pod_pending_because", "pod_requests_gpu",
           "pod_scheduled_on_pool", "pool_upgraded", "preempted", "query_answers", "quota_caps_gpus", "reachable", "release_from_registry",
           "release_keeps_no_secret", "request_as", "resource_exists", "rolled_back", "route_accepted", "route_serves", "route_weights", "scales_on_load",
           "scales_to_zero", "secret_has_keys",
           "service_selects", "stayed_available", "statefulset_ready", "traffic_promoted", "unreachable"]
