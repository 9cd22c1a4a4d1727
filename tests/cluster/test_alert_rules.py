"""Learners' alert rules on the real API server and the real Prometheus: a learner's labelled ConfigMap (applied with
the learner's own rights) is loaded by the rule loader of the state-metrics process; its alert fires labelled with
the learner's namespace even though the file claims another; an expression Prometheus cannot parse and a template
it refuses on reload are refused with readable messages, the learner reads the verdict and the Events, and the
other rules stay loaded; deleting the ConfigMap removes its rule; the grading checks pass and fail on that."""
from __future__ import annotations

import uuid

import pytest
from kubernetes import client

import kubelab as kl
from kubelab import manifests
from kubelab.course import sandbox
from kubelab.errors import CheckFailed, Forbidden
from kubelab.observe import prometheus
from kubelab.observe.alert_rules import RULES_LABEL
from tests.helpers import eventually

GOOD = """
groups:
- name: drill
  rules:
  - alert: AlwaysOnDrill
    expr: vector(1) > 0
    for: 0s
    labels: {severity: warning, namespace: kube-system}
    annotations: {summary: "a drill"}
"""
BAD_EXPR = "groups: [{name: b, rules: [{alert: BrokenDrill, expr: 'sum(rate(up[1m])'}]}]\n"
BAD_TEMPLATE = "groups: [{name: t, rules: [{alert: TemplateDrill, expr: 'vector(1)', annotations: {summary: '{{ $labels.pod'}}]}]\n"


def configmap(name: str, data: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {RULES_LABEL: "true"}}, "data": data}


@pytest.fixture
def learner_box(api):
    learner = f"a{uuid.uuid4().hex[:6]}"
    box = sandbox.sandbox(api, "alerts", learner)
    yield box
    sandbox.cleanup(api, learner)


def _apply(as_learner, obj, namespace):
    try:
        return manifests.apply(as_learner, obj, namespace=namespace)
    except Forbidden:
        return None   # the learner's RoleBinding takes a moment


def test_a_learners_rule_fires_labelled_with_their_namespace_bad_ones_are_refused_and_delete_removes_it(api, learner_box):
    ns, as_learner = learner_box.namespace, learner_box.client()
    eventually(lambda: _apply(as_learner, configmap("drills", {"drill.rules.yaml": GOOD}), ns), timeout=30,
               what="the learner's ConfigMap applied")
    eventually(lambda: _apply(as_learner, configmap("broken", {"expr.yaml": BAD_EXPR, "template.yaml": BAD_TEMPLATE,
                                                               "README": "not a rule file"}), ns),
               timeout=30, what="the second ConfigMap applied")

    # graded from what Prometheus decided: loaded, healthy, firing with the learner's namespace, never kube-system
    kl.grading.alert_rule_loaded(api, ns, "AlwaysOnDrill", timeout=30)
    kl.grading.alert_fires(api, ns, "AlwaysOnDrill", within=30)
    fired = prometheus.alerts(api).query("alertname == 'AlwaysOnDrill'")
    assert set(fired["namespace"]) == {ns}

    # the learner reads the verdict (the annotation) and the Events with their own rights
    def judged():
        df = prometheus.rule_files(as_learner, ns)
        return [df] if len(df) == 3 and (df["state"] != "waiting").all() else None
    files = eventually(judged, timeout=30, what="the loader's verdict on every rule key")[0].set_index("key")
    assert files.loc["drill.rules.yaml", "state"] == "loaded"
    assert files.loc["drill.rules.yaml", "alerts"] == ["AlwaysOnDrill"]
    assert "namespace 'kube-system'" in files.loc["drill.rules.yaml", "message"]
    assert files.loc["expr.yaml", "state"] == "refused"
    assert "could not parse expression" in files.loc["expr.yaml", "message"]
    assert files.loc["template.yaml", "state"] == "refused"
    assert "Prometheus refused the file on reload" in files.loc["template.yaml", "message"]
    events = eventually(lambda: [e for e in client.CoreV1Api(as_learner).list_namespaced_event(ns).items
                                 if e.reason == "RulesRefused" and e.involved_object.name == "broken"],
                        timeout=10, what="the RulesRefused Event")
    assert "expr.yaml" in events[0].message

    # the refused files never reached Prometheus, whose last reload succeeded with the good rule still in it
    assert set(prometheus.rules(api, ns)["alertname"]) == {"AlwaysOnDrill"}
    assert prometheus.promql(api, "prometheus_config_last_reload_successful")["value"].tolist() == [1.0]
    with pytest.raises(CheckFailed, match="the rule loader refused"):
        kl.grading.alert_rule_loaded(api, ns, "BrokenDrill", timeout=0)

    client.CoreV1Api(as_learner).delete_namespaced_config_map("drills", ns)
    eventually(lambda: prometheus.rules(api, ns).empty, timeout=30, what="the deleted ConfigMap's rule gone")
    with pytest.raises(CheckFailed, match="no alerting rule 'AlwaysOnDrill'"):
        kl.grading.alert_fires(api, ns, "AlwaysOnDrill", within=0)
