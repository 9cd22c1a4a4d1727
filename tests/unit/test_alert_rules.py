"""Learners' alert rules without a cluster: the shape checks of a rule file (Prometheus's rulefmt), the namespace
label forced on every rule, the files' names, the verdict read back, the rules of one namespace from
/api/v1/rules, the rules folder's glob in prometheus.yml, and the rule loader's sync against a fake Prometheus
(parse_query, /-/reload that refuses a file): an invalid file is never written, a refused reload is rolled back,
a deleted ConfigMap's files go."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from kubelab.cluster.prometheus import scrape_config
from kubelab.daemons import rule_loader
from kubelab.observe import alert_rules, prometheus
from kubelab.observe.alert_rules import RULES_LABEL, VERDICT_ANNOTATION, check_rule_file, file_name, file_prefix

GOOD = """
groups:
- name: serving
  interval: 10s
  rules:
  - alert: QueueBacklog
    expr: sum(nv_inference_pending_request_count) > 10
    for: 30s
    labels: {severity: warning, namespace: team-b, priority: 1}
    annotations: {summary: "{{ $value }} waiting"}
  - record: namespace:queue:sum
    expr: sum by (namespace) (nv_inference_pending_request_count)
"""


def test_a_valid_file_reads_its_rules_and_every_rule_gets_the_configmaps_namespace():
    rf = check_rule_file(GOOD)
    assert rf.problems == [] and rf.alerts == ["QueueBacklog"] and rf.records == ["namespace:queue:sum"]
    assert [e for _, e in rf.exprs] == ["sum(nv_inference_pending_request_count) > 10",
                                       "sum by (namespace) (nv_inference_pending_request_count)"]
    out = yaml.safe_load(rf.text("team-a"))
    rules = out["groups"][0]["rules"]
    assert [r["labels"]["namespace"] for r in rules] == ["team-a", "team-a"]
    assert rules[0]["labels"]["priority"] == "1" and rules[0]["for"] == "30s"       # text, as Prometheus reads it
    assert rules[0]["annotations"]["summary"] == "{{ $value }} waiting"
    assert out["groups"][0]["interval"] == "10s"
    assert rf.replaced == ["'QueueBacklog': namespace 'team-b' -> 'team-a'"]


def test_durations_read_as_prometheus_writes_them():
    assert check_rule_file("groups: [{name: g, interval: 1m30s, rules: [{alert: A, expr: up, for: 1h}]}]").problems == []
    assert check_rule_file("groups: [{name: g, interval: 1s, rules: []}]").problems == []


def test_group_labels_cannot_claim_another_namespace_either():
    rf = check_rule_file("groups: [{name: g, labels: {namespace: other}, rules: [{alert: A, expr: up == 0}]}]")
    out = yaml.safe_load(rf.text("mine"))
    assert out["groups"][0]["labels"] == {"namespace": "mine"}
    assert out["groups"][0]["rules"][0]["labels"] == {"namespace": "mine"}


@pytest.mark.parametrize("text, said", [
    ("groups: [", "not YAML"),
    ("- alert: A\n  expr: up", "a mapping with `groups:`"),
    ("groups: []\nrules: []", "field 'rules' not found in a rule file"),
    ("groups: [{rules: [{alert: A, expr: up}]}]", "`name` must be set"),
    ("groups: [{name: g, rules: []}, {name: g, rules: []}]", "is repeated in the same file"),
    ("groups: [{name: g, interval: 5, rules: []}]", "interval: 5 is not a Prometheus duration"),
    ("groups: [{name: g, interval: 500ms, rules: []}]", "interval 500ms is below the 1 s"),
    ("groups: [{name: g, interval: 0s, rules: []}]", "interval 0s is below the 1 s"),
    ("groups: [{name: g, rules: [{alert: A}]}]", "field 'expr' must be set"),
    ("groups: [{name: g, rules: [{expr: up}]}]", "one of 'record' or 'alert' must be set"),
    ("groups: [{name: g, rules: [{alert: A, record: b, expr: up}]}]", "only one of 'record' and 'alert'"),
    ("groups: [{name: g, rules: [{alert: A, expr: up, for: 5 minutes}]}]", "is not a Prometheus duration"),
    ("groups: [{name: g, rules: [{alert: A, expr: up, severity: page}]}]", "field 'severity' not found in a rule"),
    ("groups: [{name: g, rules: [{record: x, expr: up, for: 1m}]}]", "invalid field 'for' in recording rule"),
    ("groups: [{name: g, rules: [{record: 'a b', expr: up}]}]", "invalid recording rule name"),
    ("groups: [{name: g, rules: [{alert: A, expr: up, labels: [a]}]}]", "labels must be a mapping"),
])
def test_a_file_prometheus_would_refuse_is_refused_with_rulefmts_reason(text, said):
    problems = check_rule_file(text).problems
    assert any(said in p for p in problems), problems


def test_file_names_read_back_and_fit_a_file_system():
    assert file_name("team-a", "alerts", "serving.rules.yaml") == "team-a_alerts_serving.rules.yaml"
    assert alert_rules.namespace_of_file("/x/rules.d/team-a_alerts_serving.rules.yaml") == "team-a"
    # one ConfigMap's files share a prefix that no other ConfigMap's starts with
    assert not file_name("team-a", "alerts.b", "k.yaml").startswith(file_prefix("team-a", "alerts"))
    long = file_name("n" * 63, "c" * 253, "k" * 200 + ".yaml")
    assert len(long.encode()) <= 255 and long.startswith(file_prefix("n" * 63, "c" * 253))
    assert alert_rules.is_rule_key("a.rules.yaml") and alert_rules.is_rule_key("a.yml")
    assert not alert_rules.is_rule_key("README.md")


def cm(data: dict, annotation: str | None = None, name="alerts") -> dict:
    meta = {"name": name, "namespace": "team-a", "uid": "u1", "labels": {RULES_LABEL: "true"}}
    if annotation is not None:
        meta["annotations"] = {VERDICT_ANNOTATION: annotation}
    return {"metadata": meta, "data": data}


def test_the_verdict_reads_back_and_a_stale_one_says_waiting():
    data = {"a.yaml": GOOD, "b.yaml": "x", "notes.txt": "hello"}
    keys = {"a.yaml": {"state": "loaded", "alerts": ["QueueBacklog"], "records": []},
            "b.yaml": {"state": "refused", "message": "not YAML"}}
    df = alert_rules.rule_files_frame([cm(data, alert_rules.verdict(data, keys))])
    assert list(df["key"]) == ["a.yaml", "b.yaml"] and list(df["state"]) == ["loaded", "refused"]
    assert df["current"].all() and df.iloc[1]["message"] == "not YAML"
    stale = alert_rules.rule_files_frame([cm({**data, "a.yaml": GOOD + "\n"}, alert_rules.verdict(data, keys))])
    assert set(stale["state"]) == {"waiting"} and not stale["current"].any()
    assert list(alert_rules.rule_files_frame([cm(data)])["state"]) == ["waiting", "waiting"]


def test_rules_of_one_namespace_are_those_labelled_with_it():
    data = {"groups": [
        {"name": "kubelab.pods", "file": "/repo/cluster/prometheus/rules.yaml", "rules": [
            {"type": "alerting", "name": "KubePodCrashLooping", "health": "ok", "labels": {"severity": "warning"}}]},
        {"name": "serving", "file": "/w/rules.d/team-a_alerts_a.yaml", "rules": [
            {"type": "alerting", "name": "QueueBacklog", "health": "ok", "labels": {"namespace": "team-a"}},
            {"type": "recording", "name": "namespace:queue:sum", "health": "ok", "labels": {"namespace": "team-a"}}]}]}
    assert len(prometheus.rules_frame(data)) == 2
    mine = prometheus.rules_frame(data, "team-a")
    assert list(mine["alertname"]) == ["QueueBacklog"] and mine.iloc[0]["file"].endswith("team-a_alerts_a.yaml")
    assert prometheus.rules_frame(data, "team-b").empty


def test_prometheus_yml_globs_the_rules_folder_as_prometheus_allows():
    config = scrape_config([], "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "/repo/rules.yaml", "/w/prometheus/rules.d")
    assert config["rule_files"] == ["/repo/rules.yaml", "/w/prometheus/rules.d/*"]
    # config/config.go patRulePath: at most one `*`, in the last path element
    assert all(re.match(r"^[^*]*(\*[^/]*)?$", f) for f in config["rule_files"])


class FakeLoader(rule_loader.RuleLoader):
    """The loader with its ConfigMaps given, Prometheus faked: parse_query refuses `BAD`, a reload refuses a file
    with `{{ bad` in it (as a template Prometheus cannot parse), the verdicts recorded in a dict."""

    def __init__(self, tmp_path, configmaps: dict):
        super().__init__(None, "http://prometheus.invalid", tmp_path / "rules.d", start=False)
        self.configmaps.store = configmaps
        self.reloads, self.verdicts, self.down = 0, {}, False

    def parse_error(self, expr):
        return "could not parse expression: 1:1: parse error: unexpected identifier" if "BAD" in expr else None

    def reload(self):
        if self.down:
            raise rule_loader.requests.ConnectionError("connection refused")
        self.reloads, self.unloaded = self.reloads + 1, False
        bad = [f.name for f in self.dir.iterdir() if "{{ bad" in f.read_text()]
        return f"failed to reload config: {bad[0]}: template: bad" if bad else None

    def record(self, cm, keys):
        self.verdicts[(cm["namespace"], cm["name"])] = keys


def slim(data: dict, name="alerts", namespace="team-a") -> dict:
    return rule_loader.slim_configmap({"metadata": {"name": name, "namespace": namespace, "uid": "u"}, "data": data})


def test_the_loader_writes_valid_files_only_rolls_back_a_refused_reload_and_removes_deleted_ones(tmp_path):
    template = "groups: [{name: t, rules: [{alert: T, expr: up, annotations: {summary: '{{ bad'}}]}]"
    store = {("team-a", "alerts"): slim({"good.yaml": GOOD, "bad.yaml": GOOD.replace("sum(nv", "BAD(nv"),
                                         "notes.txt": "x"}),
             ("team-b", "alerts"): slim({"t.yaml": template}, namespace="team-b")}
    loader = FakeLoader(tmp_path, store)
    loader.sync("team-a", "alerts")
    assert sorted(f.name for f in loader.dir.iterdir()) == ["team-a_alerts_good.yaml"]
    written = yaml.safe_load((loader.dir / "team-a_alerts_good.yaml").read_text())
    assert {r["labels"]["namespace"] for r in written["groups"][0]["rules"]} == {"team-a"}
    keys = loader.verdicts[("team-a", "alerts")]
    assert keys["good.yaml"]["state"] == "loaded" and keys["good.yaml"]["alerts"] == ["QueueBacklog"]
    assert keys["bad.yaml"]["state"] == "refused" and "parse error" in keys["bad.yaml"]["message"]
    assert "notes.txt" not in keys and loader.reloads == 1

    loader.sync("team-a", "alerts")   # nothing changed: no reload
    assert loader.reloads == 1

    loader.sync("team-b", "alerts")   # Prometheus refuses the reload: the file goes, Prometheus reloads without it
    assert sorted(f.name for f in loader.dir.iterdir()) == ["team-a_alerts_good.yaml"]
    said = loader.verdicts[("team-b", "alerts")]["t.yaml"]
    assert said["state"] == "refused" and "Prometheus refused the file on reload" in said["message"]
    assert loader.reloads == 3

    del store[("team-a", "alerts")]
    loader.down = True                # Prometheus does not answer: the file is gone, the reload is owed
    with pytest.raises(rule_loader.requests.ConnectionError):
        loader.sync("team-a", "alerts")
    assert list(loader.dir.iterdir()) == [] and loader.reloads == 3
    loader.down = False
    loader.sync("team-a", "alerts")   # the retry reloads though no file changed since
    assert loader.reloads == 4


def test_the_loader_sweeps_the_files_of_configmaps_gone_while_it_was_down(tmp_path):
    loader = FakeLoader(tmp_path, {("team-a", "alerts"): slim({"good.yaml": GOOD})})
    (loader.dir / "team-a_alerts_good.yaml").write_text(GOOD)
    (loader.dir / "team-a_old_x.yaml").write_text(GOOD)
    loader.sweep()
    assert [f.name for f in loader.dir.iterdir()] == ["team-a_alerts_good.yaml"] and loader.reloads == 1


def test_the_verdict_annotation_is_json_of_the_data_it_judged():
    data = {"a.yaml": GOOD}
    said = json.loads(alert_rules.verdict(data, {"a.yaml": {"state": "loaded"}}))
    assert said == {"data": alert_rules.data_digest(data), "keys": {"a.yaml": {"state": "loaded"}}}


def test_the_checks_pass_on_what_prometheus_decided_and_say_why_not(monkeypatch):
    import pandas as pd

    from kubelab import grading
    from kubelab.errors import CheckFailed

    rules = prometheus.rules_frame({"groups": [{"name": "g", "file": "/w/team-a_alerts_a.yaml", "rules": [
        {"type": "alerting", "name": "QueueBacklog", "health": "ok", "labels": {"namespace": "team-a"}},
        {"type": "alerting", "name": "Broken", "health": "err", "lastError": "many-to-many matching not allowed",
         "labels": {"namespace": "team-a"}}]}]})
    alerts = pd.DataFrame([{"alertname": "QueueBacklog", "state": "firing", "namespace": "team-a"},
                           {"alertname": "Slow", "state": "pending", "namespace": "team-a",
                            "since": pd.Timestamp("2026-01-01T10:00:00Z")},
                           {"alertname": "QueueBacklog", "state": "firing", "namespace": "team-b"}])
    data = {"a.yaml": GOOD, "b.yaml": "x"}
    keys = {"a.yaml": {"state": "loaded", "alerts": ["QueueBacklog"]}, "b.yaml": {"state": "refused", "message": "not YAML"}}
    files = alert_rules.rule_files_frame([cm(data, alert_rules.verdict(data, keys))])
    monkeypatch.setattr(prometheus, "rules", lambda api, namespace=None: rules[rules["namespace"] == namespace]
                        if namespace else rules)
    monkeypatch.setattr(prometheus, "alerts", lambda api: alerts)
    monkeypatch.setattr(prometheus, "rule_files", lambda api, ns: files)

    assert grading.alert_rule_loaded(None, "team-a", "QueueBacklog", timeout=0).passed
    assert grading.alert_fires(None, "team-a", "QueueBacklog", within=0).passed
    with pytest.raises(CheckFailed, match="the rule loader refused alerts/b.yaml: not YAML"):
        grading.alert_rule_loaded(None, "team-a", "Missing", timeout=0)
    with pytest.raises(CheckFailed, match="many-to-many"):
        grading.alert_rule_loaded(None, "team-a", "Broken", timeout=0)
    with pytest.raises(CheckFailed, match="pending since 10:00:00"):
        grading.alert_fires(None, "team-a", "Slow", within=0)
    with pytest.raises(CheckFailed, match="no alerting rule 'QueueBacklog' from namespace 'team-c'"):
        grading.alert_fires(None, "team-c", "QueueBacklog", within=0)   # team-b's firing alert is not team-c's
