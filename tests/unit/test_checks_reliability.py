"""grading.reliability without a cluster: the pod failure policy evaluated as the Job controller evaluates it,
label selectors, and each check's verdict on plain objects (the client calls replaced by canned answers)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from kubelab.errors import CheckFailed
from kubelab.grading import reliability
from kubelab.grading.reliability import failure_policy_action, selects


def _rule(action, operator, values, container=None):
    req = {"operator": operator, "values": values}
    if container:
        req["containerName"] = container
    return {"action": action, "onExitCodes": req}


@pytest.mark.parametrize("rules, code, action", [
    ([], 22, "Count"),                                                       # no policy: backoffLimit counts it
    ([_rule("FailJob", "In", [22])], 22, "FailJob"),
    ([_rule("FailJob", "In", [22])], 7, "Count"),
    ([_rule("FailJob", "NotIn", [0])], 7, "FailJob"),                        # fails on every exit
    ([_rule("FailJob", "In", [22], container="other")], 22, "Count"),        # another container's rule
    ([_rule("FailJob", "In", [22], container="fetch")], 22, "FailJob"),
    ([_rule("Ignore", "In", [22]), _rule("FailJob", "In", [22])], 22, "Ignore"),   # the first match wins
    ([{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}, _rule("FailJob", "In", [22])],
     22, "FailJob"),                                                         # a condition rule does not match an exit
    ([_rule("FailJob", "NotIn", [1])], 0, "Count"),                          # exit code 0 never matches
])
def test_failure_policy_action_follows_the_job_controller(rules, code, action):
    assert failure_policy_action({"rules": rules}, "fetch", code) == action


def test_selects_match_labels_and_expressions():
    labels = {"app": "m", "tier": "gpu"}
    assert selects({"matchLabels": {"app": "m"}}, labels) and selects({}, labels) and selects(None, labels)
    assert not selects({"matchLabels": {"app": "n"}}, labels)
    assert selects({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gpu", "cpu"]}]}, labels)
    assert not selects({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gpu"]}]}, labels)
    assert selects({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, labels)
    assert not selects({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, labels)


class _Api:
    """The ApiClient as the checks use it: sanitize_for_serialization (here the canned answers are JSON already)."""

    def sanitize_for_serialization(self, obj):
        return obj


@pytest.fixture
def canned(monkeypatch):
    def install(**answers):
        def client(api, group):
            return SimpleNamespace(**{name: (lambda *a, _v=value, **k: _v) for name, value in answers.items()})
        monkeypatch.setattr(reliability, "client", client)
        return _Api()
    return install


def _job(spec, status):
    return {"metadata": {"name": "j"}, "spec": spec, "status": status}


FAILED_BY_POLICY = {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "PodFailurePolicy"}]}


def test_job_fails_fast_passes_on_the_controllers_verdict_and_a_policy_that_retries(canned):
    policy = {"rules": [_rule("FailJob", "In", [22], container="fetch")]}
    api = canned(read_namespaced_job=_job({"podFailurePolicy": policy}, FAILED_BY_POLICY))
    assert reliability.job_fails_fast(api, "j", "ns", container="fetch", exit_code=22, retried=7, timeout=0).passed


def test_job_fails_fast_refuses_backoff_limit_zero_and_a_policy_that_never_retries(canned):
    api = canned(read_namespaced_job=_job({"backoffLimit": 0}, {
        "failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}))
    with pytest.raises(CheckFailed, match="no podFailurePolicy"):
        reliability.job_fails_fast(api, "j", "ns", container="fetch", exit_code=22, retried=7, timeout=0)
    api = canned(read_namespaced_job=_job({"podFailurePolicy": {"rules": [_rule("FailJob", "NotIn", [0])]}},
                                          FAILED_BY_POLICY))
    with pytest.raises(CheckFailed, match="exit code 7 means FailJob"):
        reliability.job_fails_fast(api, "j", "ns", container="fetch", exit_code=22, retried=7, timeout=0)


def test_job_indexed_complete_wants_every_index_and_the_mode(canned):
    done = {"completedIndexes": "0-3", "conditions": [{"type": "Complete", "status": "True"}]}
    api = canned(read_namespaced_job=_job({"completionMode": "Indexed", "completions": 4, "parallelism": 2}, done))
    assert reliability.job_indexed_complete(api, "j", "ns", completions=4, parallelism=2, timeout=0).passed
    api = canned(read_namespaced_job=_job({"completions": 4, "parallelism": 2}, {"succeeded": 4}))
    with pytest.raises(CheckFailed, match="NonIndexed"):
        reliability.job_indexed_complete(api, "j", "ns", completions=4, parallelism=2, timeout=0)


def _owned(name, complete):
    return {"metadata": {"ownerReferences": [{"kind": "CronJob", "name": name, "controller": True}]},
            "status": {"conditions": [{"type": "Complete", "status": "True"}] if complete else []}}


def test_schedule_skips_overlap_wants_forbid_and_a_completed_run(canned):
    jobs = SimpleNamespace(items=[_owned("refresh", True)])
    api = canned(read_namespaced_cron_job={"spec": {"concurrencyPolicy": "Forbid", "successfulJobsHistoryLimit": 5}},
                 list_namespaced_job=jobs)
    assert reliability.schedule_skips_overlap(api, "refresh", "ns", history=5, timeout=0).passed
    api = canned(read_namespaced_cron_job={"spec": {"concurrencyPolicy": "Replace"}}, list_namespaced_job=jobs)
    with pytest.raises(CheckFailed, match="replaces"):
        reliability.schedule_skips_overlap(api, "refresh", "ns", timeout=0)
    api = canned(read_namespaced_cron_job={"spec": {"concurrencyPolicy": "Forbid"}},
                 list_namespaced_job=SimpleNamespace(items=[_owned("other", True)]))
    with pytest.raises(CheckFailed, match="has not run yet"):
        reliability.schedule_skips_overlap(api, "refresh", "ns", timeout=0)


def _score_job(init, complete=True):
    template = {"spec": {"initContainers": init, "containers": [
        {"name": "scorer", "volumeMounts": [{"name": "logs", "mountPath": "/logs"}]}]}}
    return _job({"template": template}, {"conditions": [{"type": "Complete", "status": str(complete)}]})


def test_native_sidecar_wants_restart_policy_always_and_a_shared_volume(canned):
    shipper = {"name": "ship", "restartPolicy": "Always", "volumeMounts": [{"name": "logs", "mountPath": "/l"}]}
    assert reliability.native_sidecar(canned(read_namespaced_job=_score_job([shipper])), "j", "ns", timeout=0).passed
    plain = {k: v for k, v in shipper.items() if k != "restartPolicy"}
    with pytest.raises(CheckFailed, match="no init container with restartPolicy"):
        reliability.native_sidecar(canned(read_namespaced_job=_score_job([plain])), "j", "ns", timeout=0)
    alone = {"name": "ship", "restartPolicy": "Always"}
    with pytest.raises(CheckFailed, match="mounts no volume"):
        reliability.native_sidecar(canned(read_namespaced_job=_score_job([alone])), "j", "ns", timeout=0)


def _hpa(target, conditions, minimum=2, maximum=6, name="web"):
    return {"spec": {"scaleTargetRef": {"kind": "Deployment", "name": name}, "minReplicas": minimum,
                     "maxReplicas": maximum, "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}]},
            "status": {"conditions": [{"type": t, "status": s, "reason": r, "message": m}
                                      for t, s, r, m in conditions]}}


ACTIVE = [("AbleToScale", "True", "ReadyForNewScale", ""), ("ScalingActive", "True", "ValidMetricFound", "")]


def test_hpa_on_cpu_reads_the_controllers_conditions(canned):
    dep = {"spec": {"replicas": 2}}
    api = canned(list_namespaced_horizontal_pod_autoscaler=SimpleNamespace(items=[_hpa(70, ACTIVE)]),
                 read_namespaced_deployment=dep)
    assert reliability.hpa_on_cpu(api, "web", "ns", min_replicas=2, max_replicas=6, utilization=70, timeout=0).passed
    api = canned(list_namespaced_horizontal_pod_autoscaler=SimpleNamespace(items=[_hpa(80, ACTIVE)]),
                 read_namespaced_deployment=dep)
    with pytest.raises(CheckFailed, match=r"CPU targets \[\('Utilization', 80\)\]"):
        reliability.hpa_on_cpu(api, "web", "ns", min_replicas=2, max_replicas=6, utilization=70, timeout=0)
    no_request = [("AbleToScale", "True", "SucceededGetScale", ""), ("ScalingActive", "False", "FailedGetResourceMetric",
                  "failed to get cpu utilization: missing request for cpu in container server")]
    api = canned(list_namespaced_horizontal_pod_autoscaler=SimpleNamespace(items=[_hpa(70, no_request)]),
                 read_namespaced_deployment=dep)
    with pytest.raises(CheckFailed, match="missing request for cpu"):
        reliability.hpa_on_cpu(api, "web", "ns", min_replicas=2, max_replicas=6, utilization=70, timeout=0)
    api = canned(list_namespaced_horizontal_pod_autoscaler=SimpleNamespace(items=[_hpa(70, ACTIVE, name="other")]),
                 read_namespaced_deployment=dep)
    with pytest.raises(CheckFailed, match="no HorizontalPodAutoscaler"):
        reliability.hpa_on_cpu(api, "web", "ns", min_replicas=2, max_replicas=6, utilization=70, timeout=0)


def _pdb(desired, allowed, expected=3):
    return {"metadata": {"generation": 1}, "spec": {"selector": {"matchLabels": {"app": "m"}}},
            "status": {"observedGeneration": 1, "expectedPods": expected, "currentHealthy": expected,
                       "desiredHealthy": desired, "disruptionsAllowed": allowed}}


@pytest.mark.parametrize("pdb, evicts, passes", [
    (_pdb(2, 1), True, True),
    (_pdb(0, 3), True, False),      # maxUnavailable 100 %: every pod may go at once
    (_pdb(3, 0), False, False),     # minAvailable 3: no drain ever finishes
])
def test_pdb_keeps_reads_the_disruption_controller_and_an_eviction_dry_run(canned, monkeypatch, pdb, evicts, passes):
    dep = {"spec": {"replicas": 3, "selector": {"matchLabels": {"app": "m"}},
                    "template": {"metadata": {"labels": {"app": "m"}}}}}
    api = canned(read_namespaced_deployment=dep,
                 list_namespaced_pod_disruption_budget=SimpleNamespace(items=[pdb]))
    monkeypatch.setattr(reliability.raw, "pods", lambda *a: [{"metadata": {"name": "m-1"}}])
    monkeypatch.setattr(reliability, "_evictable", lambda *a: None if evicts else "429 Too Many Requests")
    if passes:
        assert reliability.pdb_keeps(api, "m", "ns", healthy=2, timeout=0).passed
    else:
        with pytest.raises(CheckFailed, match="keeps"):
            reliability.pdb_keeps(api, "m", "ns", healthy=2, timeout=0)


def _reranker(probe):
    container = {"name": "server", **({"readinessProbe": probe} if probe else {})}
    return {"metadata": {"generation": 2}, "spec": {"replicas": 2, "template": {"spec": {"containers": [container]}}},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2}}


def _slice(*ready):
    return SimpleNamespace(items=[{"endpoints": [{"addresses": [f"10.0.0.{i}"], "conditions": {"ready": r}}
                                                 for i, r in enumerate(ready)]}])


def test_readiness_gates_wants_a_network_probe_and_ready_endpoints(canned):
    http = {"httpGet": {"path": "/", "port": "http"}}
    api = canned(read_namespaced_deployment=_reranker(http), list_namespaced_endpoint_slice=_slice(True, True))
    assert reliability.readiness_gates(api, "r", "r", "ns", ready=2, timeout=0).passed
    for probe in (None, {"exec": {"command": ["true"]}}):   # removed, or a probe that asks nothing
        api = canned(read_namespaced_deployment=_reranker(probe), list_namespaced_endpoint_slice=_slice(True, True))
        with pytest.raises(CheckFailed, match="no readiness probe that asks the server"):
            reliability.readiness_gates(api, "r", "r", "ns", ready=2, timeout=0)
    api = canned(read_namespaced_deployment=_reranker(http), list_namespaced_endpoint_slice=_slice(True, False))
    with pytest.raises(CheckFailed, match="1 ready endpoints, wanted 2"):
        reliability.readiness_gates(api, "r", "r", "ns", ready=2, timeout=0)
