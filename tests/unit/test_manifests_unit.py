"""manifests, wait and sandbox helpers that need no cluster: reading YAML, ordering, error text, conditions."""
from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from kubelab import manifests, wait
from kubelab._k8s.apierrors import api_error
from kubelab.course import sandbox
from kubelab.errors import Forbidden, ManifestError, UsageError

SECRET_VALUE = "hunter2-very-secret"


def obj(kind, name="x", api_version="v1", **extra):
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **extra}


# -- ordering --------------------------------------------------------------------------------------

def test_objects_are_ordered_dependencies_first_and_stable_within_a_kind():
    kinds = ["Pod", "Service", "HorizontalPodAutoscaler", "Widget", "ConfigMap", "Deployment", "Namespace",
             "RoleBinding", "Role", "CustomResourceDefinition", "ServiceAccount", "Secret", "ResourceClaim",
             "PersistentVolumeClaim", "ResourceQuota", "PriorityClass"]
    objects = [obj(k, name=f"{k}-{i}") for i, k in enumerate(kinds)] + [obj("ConfigMap", name="second-cm")]
    got = [o["kind"] for o in manifests.ordered(objects)]
    assert got == ["Namespace", "CustomResourceDefinition", "PriorityClass", "ServiceAccount", "Role",
                   "RoleBinding", "ResourceQuota", "ConfigMap", "Secret", "ConfigMap", "PersistentVolumeClaim",
                   "Service", "ResourceClaim", "Pod", "Deployment", "HorizontalPodAutoscaler", "Widget"]
    cms = [o["metadata"]["name"] for o in manifests.ordered(objects) if o["kind"] == "ConfigMap"]
    assert cms == ["ConfigMap-4", "second-cm"]  # file order kept within a kind


def test_delete_order_is_the_reverse():
    objects = [obj("Deployment"), obj("Namespace"), obj("ConfigMap"), obj("Widget")]
    got = [o["kind"] for o in manifests.ordered(objects, reverse=True)]
    assert got == ["Widget", "Deployment", "ConfigMap", "Namespace"]


def test_ordering_takes_object_origin_pairs():
    pairs = [(obj("Service"), "b.yaml"), (obj("Namespace"), "z.yaml")]
    assert [origin for _, origin in manifests.ordered(pairs)] == ["z.yaml", "b.yaml"]


# -- reading ---------------------------------------------------------------------------------------

def test_multi_document_string_and_list_documents_are_read(tmp_path):
    text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n" \
           "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: b}}\n"
    assert [(o["kind"], origin) for o, origin in manifests.load(text)] == [("ConfigMap", "<string>"),
                                                                           ("Service", "<string>")]
    (tmp_path / "b.yml").write_text(text)
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    (tmp_path / "notes.txt").write_text("not yaml: [")
    assert [o["kind"] for o, _ in manifests.load(tmp_path)] == ["Secret", "ConfigMap", "Service"]
    assert [o["kind"] for o, _ in manifests.load(str(tmp_path / "a.yaml"))] == ["Secret"]


def test_malformed_yaml_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "deploy.yaml"
    path.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n spec:\n  replicas: 2\n")
    with pytest.raises(ManifestError) as info:
        manifests.load(path)
    err = info.value
    assert err.source == str(path) and err.line == 5
    assert f"{path}, line 5" in str(err) and "fix:" in str(err)


def test_malformed_yaml_string_is_named_string():
    with pytest.raises(ManifestError) as info:
        manifests.load("apiVersion: v1\nkind: ConfigMap\ndata: {a: b\n")
    assert info.value.source == "<string>" and "<string>, line" in str(info.value)


@pytest.mark.parametrize("doc, missing", [
    ({"apiVersion": "v1", "metadata": {"name": "x"}}, "kind"),
    ({"kind": "ConfigMap", "metadata": {"name": "x"}}, "apiVersion"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "metadata.name"),
])
def test_a_document_without_apiversion_kind_or_name_is_refused(doc, missing):
    with pytest.raises(ManifestError, match=f"has no {missing}"):
        manifests.load([doc])


def test_a_document_that_is_not_a_mapping_is_refused():
    with pytest.raises(ManifestError, match="not a Kubernetes object"):
        manifests.load("- just\n- a list\n")


def test_a_missing_file_and_an_empty_folder_are_reported(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        manifests.load(str(tmp_path / "nope.yaml"))
    with pytest.raises(ManifestError, match="no .yaml or .yml file"):
        manifests.load(tmp_path)


def test_a_namespace_contradicting_the_argument_is_refused():
    doc = obj("ConfigMap", metadata={"name": "x", "namespace": "a"})
    with pytest.raises(ManifestError, match="says namespace 'a'"):
        manifests.load(doc, namespace="b")


# -- secrets stay out of error text ----------------------------------------------------------------

SECRET_YAML = f"""apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: {SECRET_VALUE}: oops
"""


def test_secret_value_is_not_in_a_yaml_error():
    with pytest.raises(ManifestError) as info:
        manifests.load(SECRET_YAML)
    assert info.value.line == 6
    assert SECRET_VALUE not in str(info.value) and SECRET_VALUE not in repr(info.value)


def test_secret_value_is_not_in_a_missing_kind_error():
    doc = {"apiVersion": "v1", "metadata": {"name": "db"}, "stringData": {"password": SECRET_VALUE}}
    with pytest.raises(ManifestError) as info:
        manifests.load(doc)
    assert SECRET_VALUE not in str(info.value) and SECRET_VALUE not in repr(info.value)


class FakeApiError(ApiException):
    """The shape of an API server refusal, to test its wording (the cluster tests get real ones)."""

    def __init__(self, status, body):
        super().__init__(status=status, reason="refused")
        self.body = json.dumps(body)


class FakeResource:
    name, kind, namespaced = "secrets", "Secret", True

    def create(self, **_):
        raise FakeApiError(400, {"message": "bad"})


@pytest.mark.parametrize("status, body", [
    (422, {"message": f"Secret \"db\" is invalid: data[x]: Invalid value: \"{SECRET_VALUE}\"",
           "details": {"causes": [{"field": "data[x]", "message": f"Invalid value: \"{SECRET_VALUE}\""}]}}),
    (500, {"message": f"failed to create typed patch object (/db; /v1, Kind=Secret): .data.x: expected string, "
                      f"got &value.valueUnstructured{{Value:{SECRET_VALUE}}}"}),
    (400, {"message": f"cannot decode {SECRET_VALUE}"}),
    (403, {"message": f"secrets \"db\" is forbidden: User \"u\" cannot patch resource \"secrets\" {SECRET_VALUE}"}),
])
def test_secret_values_are_redacted_from_api_errors(status, body):
    import base64
    encoded = base64.b64encode(b"s3cr3t-plain").decode()
    secret = obj("Secret", name="db", stringData={"x": SECRET_VALUE}, data={"y": encoded})
    body["message"] += f" and {encoded} and s3cr3t-plain"
    refusal = api_error(FakeApiError(status, body), "Secret/db")
    err = manifests._api_error(refusal, secret, "s.yaml", [], FakeResource(), "ns")
    for text in (str(err), repr(err)):
        assert SECRET_VALUE not in text and encoded not in text and "s3cr3t-plain" not in text
    assert "<redacted>" in str(err)


def test_short_secret_values_are_redacted_as_whole_words_only():
    secret = obj("Secret", stringData={"x": "1"})
    assert manifests._redact("apps/v1: got Value:1}", secret) == "apps/v1: got Value:<redacted>}"


def test_forbidden_is_parsed_from_the_status_message():
    message = ('configmaps "c" is forbidden: User "system:serviceaccount:a:robot" cannot patch resource '
               '"configmaps" in API group "" in the namespace "b"')
    err = manifests._api_error(api_error(FakeApiError(403, {"message": message, "details": {"kind": "configmaps"}}),
                                         "ConfigMap/c"),
                               obj("ConfigMap", name="c"), "<dict>", [obj("Namespace", name="b")],
                               FakeResource(), "b")
    assert isinstance(err, Forbidden)
    assert (err.user, err.verb, err.resource, err.namespace) == ("system:serviceaccount:a:robot", "patch",
                                                                 "configmaps", "b")
    assert "applied before it: Namespace/b" in str(err) and "kubectl auth can-i patch configmaps -n b" in str(err)


# -- wait conditions -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, form, name, value", [
    ("condition=Ready", "condition", "Ready", "True"),
    ("condition=Available", "condition", "Available", "True"),
    ("condition=Ready=False", "condition", "Ready", "False"),
    ("delete", "delete", "", None),
    ("jsonpath={.status.phase}=Running", "jsonpath", ".status.phase", "Running"),
    ("jsonpath={.status.readyReplicas}", "jsonpath", ".status.readyReplicas", None),
])
def test_condition_strings_are_parsed(text, form, name, value):
    cond = wait.parse_condition(text)
    assert (cond.form, cond.name, cond.value) == (form, name, value)


@pytest.mark.parametrize("bad", ["", "Ready", "condition=", "condition==True", "jsonpath=status.phase",
                                 "jsonpath={.status.phase", "jsonpath={status}=x", "jsonpath={.a[x]}=1",
                                 "deleted", "delete=now", "for=condition=Ready", "."])
def test_bad_condition_strings_raise_a_clear_value_error(bad):
    with pytest.raises(ValueError, match="cannot read the wait condition") as info:
        wait.parse_condition(bad)
    assert "condition=Ready" in str(info.value) and "jsonpath={.status.phase}=Running" in str(info.value)


POD = {"kind": "Pod", "metadata": {"name": "p", "labels": {"app.kubernetes.io/name": "web"}},
       "status": {"phase": "Running", "containerStatuses": [{"name": "c", "ready": True}],
                  "conditions": [{"type": "PodScheduled", "status": "True"},
                                 {"type": "Ready", "status": "True"}]}}


@pytest.mark.parametrize("text, expected", [
    ("condition=Ready", True), ("condition=ready=true", True), ("condition=Ready=False", False),
    ("condition=Initialized", False),
    ("jsonpath={.status.phase}=Running", True), ("jsonpath={.status.phase}=Pending", False),
    ('jsonpath={.status.conditions[?(@.type=="Ready")].status}=True', True),
    ("jsonpath={.status.containerStatuses[0].ready}=true", True),
    ("jsonpath={.status.containerStatuses[-1].name}=c", True),
    (r"jsonpath={.metadata.labels.app\.kubernetes\.io/name}=web", True),
    ("jsonpath={.status.podIP}", False), ("jsonpath={.status.phase}", True),
    ("delete", False),
])
def test_conditions_are_evaluated_like_kubectl_wait(text, expected):
    done, state = wait.met(wait.parse_condition(text), POD)
    assert done is expected, state


def test_delete_is_met_once_the_object_is_gone():
    assert wait.met(wait.parse_condition("delete"), None) == (True, "deleted")


def test_rollout_state_follows_kubectl_rollout_status():
    dep = {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 3},
           "status": {"observedGeneration": 1}}
    assert wait.rollout_state(dep)[:2] == (False, "waiting for the controller to see the latest spec")
    dep["status"] = {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "readyReplicas": 3,
                     "availableReplicas": 3}
    assert wait.rollout_state(dep)[:2] == (False, "1 old replicas pending termination")
    dep["status"]["replicas"] = 3
    assert wait.rollout_state(dep) == (True, "3 of 3 replicas available", 3, 3)


def test_pod_failures_and_scheduling_hints():
    pod = {"status": {"containerStatuses": [{"name": "c", "state": {"waiting": {
        "reason": "CrashLoopBackOff", "message": "back-off"}}}]}}
    assert wait.pod_failure(pod) == ("CrashLoopBackOff", "container c: back-off")
    assert wait.pod_failure(POD) is None
    msg = "0/9 nodes are available: 3 Insufficient nvidia.com/gpu, 6 node(s) had untolerated taint(s)."
    assert "add a toleration for nvidia.com/gpu" in wait.scheduling_hint(msg)
    assert "request fewer GPUs" in wait.scheduling_hint(msg)


def test_label_selector_strings():
    from kubelab._k8s.raw import label_selector  # what the waits select pods with

    sel = {"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["a", "b"]}, {"key": "canary", "operator": "DoesNotExist"}]}
    assert label_selector(sel) == "app=web,tier in (a,b),!canary"
    assert label_selector(None) is None


# -- learner names ---------------------------------------------------------------------------------

def test_learner_name_from_argument_env_or_os_user(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "bob")
    assert sandbox.learner_name("alice") == "alice"
    assert sandbox.learner_name() == "bob"
    monkeypatch.delenv("JUPYTERHUB_USER")
    monkeypatch.setattr("getpass.getuser", lambda: "carol")
    assert sandbox.learner_name() == "carol"


def test_learner_names_are_dns_safe_and_do_not_collide():
    a, b = sandbox.learner_name("Jane.Doe@uni.edu"), sandbox.learner_name("jane-doe-uni-edu")
    assert b == "jane-doe-uni-edu" and a.startswith("jane-doe-uni-edu-") and a != b
    long = sandbox.learner_name("x" * 100)
    assert len(long) <= sandbox.LEARNER_MAX and long[0].isalnum() and long[-1].isalnum()
    assert len(sandbox.namespace_name("Lab 03: Scheduling!" * 5, "alice")) <= 63
    assert sandbox.namespace_name("lab03", "alice") == "alice-lab03"


def test_a_learner_is_built_once_and_keeps_their_id_beside_the_dns_safe_name(monkeypatch):
    jane = sandbox.Learner.of("Jane.Doe@uni.edu")
    assert jane.id == "Jane.Doe@uni.edu" and jane.name == sandbox.learner_name("Jane.Doe@uni.edu")
    assert sandbox.Learner.of(jane) is jane   # passed down as it is, not normalised again
    assert jane.namespace("lab3") == sandbox.namespace_name("lab3", jane) == f"{jane.name}-lab3"
    assert jane.team_namespace("cap", "serving") == sandbox.team_namespace("cap", "serving", jane.id)
    with pytest.raises(UsageError, match="longer than 63"):
        sandbox.Learner.of("x" * 100).team_namespace("capstone-gpu-platform", "serving")
    monkeypatch.setenv("KUBELAB_LEARNER", "l001")
    assert sandbox.Learner.of() == sandbox.Learner("l001", "l001")   # a grading kernel's learner


def test_a_one_line_string_without_key_value_is_taken_as_a_path():
    with pytest.raises(ManifestError, match="manifest lab03 does not exist"):
        manifests.load("lab03")
    assert [o["kind"] for o, _ in manifests.load("{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}")] == \
        ["ConfigMap"]


def test_render_fills_placeholders_strings_as_written_the_rest_as_json():
    template = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: $name}\nspec:\n  replicas: $replicas\n"
                "  template:\n    spec:\n      tolerations: $tolerations\n      containers:\n"
                "      - {name: m, image: \"${image}\", env: [{name: PRICE, value: \"$$5\"}]}\n")
    text = manifests.render(template, name="web", replicas=3, image="nginx:1.28",
                            tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}])
    (obj, _), = manifests.load(text)
    spec = obj["spec"]["template"]["spec"]
    assert obj["metadata"]["name"] == "web" and obj["spec"]["replicas"] == 3
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists"}]
    assert spec["containers"][0]["image"] == "nginx:1.28" and spec["containers"][0]["env"][0]["value"] == "$5"


def test_render_names_a_placeholder_without_a_value():
    with pytest.raises(ManifestError, match=r"placeholder \$replicas but no value") as info:
        manifests.render("spec: {replicas: $replicas}")
    assert "replicas=" in info.value.fix
