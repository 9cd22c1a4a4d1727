"""Team namespaces of a lab's sandbox (access.yaml `teams:`) as plain objects: the policy's objects, the names, the
access file's parsing and the hub's union of a lab's access files."""
from __future__ import annotations

import pytest

from kubelab.course import assignments, folder
from kubelab.course.classroom import hub
from kubelab.course.isolation.sandbox import Sandbox, policy
from kubelab.errors import ConfigError, UsageError

TEAMS = {"serving": "ann-cap-serving", "training": "ann-cap-training"}


def _by(objs, kind, namespace=None):
    return {o["metadata"].get("namespace") or o["metadata"]["name"]: o for o in objs
            if o["kind"] == kind and (namespace is None or o["metadata"].get("namespace") == namespace)}


def test_each_team_namespace_gets_the_lab_namespaces_role_bound_to_the_same_identities():
    home = Sandbox(None, "ann-home", "ann", "home")
    objs = policy.objects("ann-cap", "ann", "cap", ("limits", "batch"), (home,), TEAMS)
    namespaces = _by(objs, "Namespace")
    assert set(namespaces) == {"ann-cap", *TEAMS.values()}
    for team, ns in TEAMS.items():
        assert namespaces[ns]["metadata"]["labels"] == {policy.LEARNER_LABEL: "ann", policy.LAB_LABEL: "cap",
                                                        policy.TEAM_LABEL: team}
    assert policy.TEAM_LABEL not in namespaces["ann-cap"]["metadata"]["labels"]
    roles, bindings = _by(objs, "Role"), _by(objs, "RoleBinding")
    assert set(roles) == set(bindings) == set(namespaces)
    for ns in TEAMS.values():
        assert roles[ns]["rules"] == roles["ann-cap"]["rules"]
        assert policy.LIMITS_RULE in roles[ns]["rules"] and policy.BATCH_RULES[0] in roles[ns]["rules"]
        # the lab namespace's ServiceAccount (and the hub's home one): one identity, no account of its own
        assert bindings[ns]["subjects"] == [
            {"kind": "ServiceAccount", "name": policy.SERVICE_ACCOUNT, "namespace": "ann-cap"},
            {"kind": "ServiceAccount", "name": policy.SERVICE_ACCOUNT, "namespace": "ann-home"}]
        assert roles[ns]["metadata"]["labels"][policy.SANDBOX_LABEL] == "true"   # kept by empty()
    assert list(_by(objs, "ServiceAccount")) == ["ann-cap"]
    record = _by(objs, "ConfigMap", "ann-cap")["ann-cap"]
    assert record["metadata"]["name"] == policy.TEAMS_RECORD and record["data"] == TEAMS
    assert record["metadata"]["labels"][policy.SANDBOX_LABEL] == "true"


def test_the_per_namespace_cluster_rights_name_the_team_namespaces_too():
    objs = policy.objects("ann-cap", "ann", "cap", ("namespace", "cluster", "batch"), (), TEAMS)
    roles = {o["metadata"]["name"]: o["rules"] for o in objs if o["kind"] == "ClusterRole"}
    mine = ["ann-cap", *TEAMS.values()]
    # "namespace": patching these Namespace objects only
    assert roles["kubelab-namespace-ann-cap"][0]["resourceNames"] == mine
    # "cluster", "batch": names <namespace>-<word> of every one of them (NAMES_POLICY asks `use` sandboxes/<owner>)
    for right in ("cluster", "batch"):
        own = [r for r in roles[f"kubelab-{right}-ann-cap"] if r["apiGroups"] == [policy.SANDBOX_RIGHT["group"]]]
        assert own == [{"apiGroups": ["kubelab.io"], "resources": ["sandboxes"], "resourceNames": mine,
                        "verbs": ["use"]}]


def test_without_teams_nothing_of_them_is_made():
    objs = policy.objects("ann-cap", "ann", "cap", ("namespace",))
    assert [o["kind"] for o in objs if o["kind"] in ("Namespace", "ConfigMap")] == ["Namespace"]
    assert all(policy.TEAM_LABEL not in (o["metadata"].get("labels") or {}) for o in objs)
    assert policy.objects("ann-cap", "ann", "cap", ("namespace",), (), {}) == objs


def test_a_team_namespace_is_named_after_the_lab_namespace_and_one_too_long_is_refused():
    assert policy.team_namespace("cap", "serving", "ann") == "ann-cap-serving"
    longest = "a" * policy.LEARNER_MAX
    assert len(policy.team_namespace("capstone", "serving", longest)) == 57
    with pytest.raises(UsageError, match="longer than 63") as err:
        policy.team_namespace("capstone", "inference-serving", longest)
    assert "shorter name" in err.value.fix


@pytest.mark.parametrize("bad", ["serving", ["Serving"], ["a_b"], ["-a"], ["x", "x"], [1], {"a": 1}, 3])
def test_teams_are_distinct_dns_labels(bad):
    with pytest.raises(UsageError, match="teams must be") as err:
        policy.check_teams(bad)
    assert "teams: [serving, training]" in err.value.fix


def _access(tmp_path, text, name="a"):
    (tmp_path / "source" / name).mkdir(parents=True, exist_ok=True)
    (tmp_path / "source" / name / "access.yaml").write_text(text)
    return folder.access(name, tmp_path)


def test_the_access_file_names_the_teams_and_a_bad_value_is_one_error_naming_the_file(tmp_path):
    assert _access(tmp_path, "lab: cap\nmanage: [limits]\nteams: [serving, training]\n") == folder.Access(
        "cap", ("limits",), ("serving", "training"))
    assert _access(tmp_path, "lab: lab1\nmanage: [limits]\n") == folder.Access("lab1", ("limits",), ())
    assert _access(tmp_path, "lab: lab1\nteams:\n").teams == ()
    for text, match in (("lab: cap\nteams: serving\n", "teams must be"),
                        ("lab: cap\nteams: [Serving]\n", "teams must be"),
                        ("lab: cap\nteams: [a, a]\n", "teams must be"),
                        ("lab: capstone\nteams: [inference-serving]\n", "longer than 63 characters"),
                        ("lab: cap\nteam: [a]\n", "expected")):
        with pytest.raises(ConfigError, match=match) as err:
            _access(tmp_path, text)
        assert str(tmp_path / "source" / "a" / "access.yaml") in err.value.problem and err.value.fix


def test_the_hub_provisions_the_union_of_a_labs_teams(tmp_path):
    _access(tmp_path, "lab: cap\nmanage: [limits]\nteams: [serving]\n", "a1")
    _access(tmp_path, "lab: cap\nmanage: [batch]\nteams: [training, serving]\n", "a2")
    _access(tmp_path, "lab: lab1\n", "b")
    assert hub.course_labs(tmp_path) == [folder.Access("cap", ("batch", "limits"), ("serving", "training")),
                                         folder.Access("lab1", (), ())]


def test_a_sandbox_lists_its_namespaces_lab_first():
    box = Sandbox(None, "ann-cap", "ann", "cap", teams=dict(TEAMS))
    assert box.namespaces == ["ann-cap", "ann-cap-serving", "ann-cap-training"]
    assert Sandbox(None, "ann-lab1", "ann", "lab1").namespaces == ["ann-lab1"]
