"""kubeconform and kube-score as grading checks, on files (the pinned binaries, offline schemas; no cluster)."""
from __future__ import annotations

from pathlib import Path

import pytest

from kubelab import grading
from kubelab.errors import CheckFailed

ROOT = Path(__file__).parents[2]
SOLUTION = ROOT / "solutions" / "lab1-cluster-manifests" / "manifests"
STUB = ROOT / "source" / "lab1-cluster-manifests" / "manifests"
LAB1_IGNORE = ("networkpolicy-targets-pod",)  # as the lab's lint cell: the clients are other teams' pods

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
"""


def test_the_solution_is_valid_and_kube_score_clean():
    assert grading.kubeconform_valid(SOLUTION).passed
    assert grading.kube_score_clean(SOLUTION, ignore=LAB1_IGNORE).points == 2
    # without the lab's one documented exception, the client policy selects no pod of these files
    with pytest.raises(CheckFailed, match="networkpolicy-targets-pod"):
        grading.kube_score_clean(SOLUTION)


def test_stub_files_earn_nothing_from_lint():
    with pytest.raises(CheckFailed, match="no Kubernetes object in it") as info:
        grading.kubeconform_valid(STUB)
    assert info.value.result.points == 0
    with pytest.raises(CheckFailed, match="no workload") as info:
        grading.kube_score_clean(STUB)
    assert info.value.result.points == 0


def test_kubeconform_names_the_field_the_schema_refuses(tmp_path):
    (tmp_path / "web.yaml").write_text(DEPLOYMENT.replace("replicas: 1", "replica: 1"))
    with pytest.raises(CheckFailed, match="web.yaml: Deployment/web: .*'replica' not allowed"):
        grading.kubeconform_valid(tmp_path)


def test_a_field_deep_in_the_pod_template_is_checked_too(tmp_path):
    # containers[].ports[] is a definition three references below the Deployment's: each kind's schema file
    # carries the definitions it reaches (tools.kubeconform_schemas), so they are checked, not skipped
    (tmp_path / "web.yaml").write_text(DEPLOYMENT.replace("image: nginx}", "image: nginx, ports: [{containerPort: 80, "
                                                                           "protocl: TCP}]}"))
    with pytest.raises(CheckFailed, match="web.yaml: Deployment/web: .*'protocl' not allowed"):
        grading.kubeconform_valid(tmp_path)


def test_every_schema_file_stands_alone():
    import json
    import re

    from kubelab import tools

    folder = Path(tools.kubeconform_schemas()).parent
    files = list(folder.glob("*.json"))
    assert len(files) > 500 and not (folder / "_definitions.json").exists()
    for f in files:   # every reference is to the file's own $defs, and it is there
        schema = json.loads(f.read_text())
        refs = set(re.findall(r'"\$ref": "([^"]*)"', f.read_text()))
        assert all(r.startswith("#/$defs/") and r.removeprefix("#/$defs/") in schema.get("$defs", {}) for r in refs), f


def test_quantities_as_numbers_are_valid(tmp_path):
    (tmp_path / "quota.yaml").write_text("apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\n"
                                         "spec: {hard: {pods: 20, requests.nvidia.com/gpu: 4}}\n")
    assert grading.kubeconform_valid(tmp_path).passed


def test_kube_score_critical_findings_fail_and_an_ignore_list_leaves_checks_out(tmp_path):
    (tmp_path / "web.yaml").write_text(DEPLOYMENT)
    with pytest.raises(CheckFailed, match="container-image-tag") as info:
        grading.kube_score_clean(tmp_path)
    assert info.value.result.points == 1  # there is a workload; it is not clean
    with pytest.raises(CheckFailed) as info:
        grading.kube_score_clean(tmp_path, ignore=("container-image-tag",))
    assert "container-image-tag" not in str(info.value)


def test_malformed_yaml_is_a_readable_failure(tmp_path):
    (tmp_path / "bad.yaml").write_text("kind: Deployment\n  metadata: {name: x}\n")
    with pytest.raises(CheckFailed, match="malformed YAML"):
        grading.kube_score_clean(tmp_path)


def test_a_kube_score_ignore_annotation_in_the_file_hides_nothing(tmp_path):
    # a learner who silences a finding in the manifest (kube-score/ignore, on the object or its pod template)
    # has not fixed it: the grader decides which checks count
    hidden = DEPLOYMENT.replace("metadata: {name: web}", "metadata: {name: web, annotations: "
                                "{kube-score/ignore: \"container-image-tag,container-resources,container-security-context-user-group-id\"}}")
    (tmp_path / "web.yaml").write_text(hidden)
    with pytest.raises(CheckFailed, match="container-image-tag"):
        grading.kube_score_clean(tmp_path)
