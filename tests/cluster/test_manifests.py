"""apply() / delete() against the real API server: order, idempotence, dry run, and each kind of refusal."""
from __future__ import annotations

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubelab import manifests
from kubelab.errors import Forbidden, ManifestError
from kubelab.course.isolation.sandbox import token_client
from tests.helpers import eventually as wait_for


def deployment(name="web", replicas=2, **spec_extra):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
                     **spec_extra}}


def configmap(name="settings"):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"level": "debug"}}


def app_folder(tmp_path, ns):
    """Four files whose sorted order is the wrong order to create them in."""
    dep, cm = deployment(), configmap()
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    for o in (dep, cm, svc):
        o["metadata"]["namespace"] = ns
    files = {"a-deployment.yaml": [dep], "b-service.yml": [svc], "c-config.yaml": [cm],
             "z-namespace.yaml": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}]}
    for fname, docs in files.items():
        (tmp_path / fname).write_text(yaml.safe_dump_all(docs))
    return tmp_path


def absent(read, *args):
    try:
        read(*args)
    except ApiException as err:
        return err.status == 404
    return False


def test_folder_is_applied_in_dependency_order_idempotently_and_deleted(api, namespace, tmp_path):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    ns = f"{namespace}-app"
    folder = app_folder(tmp_path, ns)
    try:
        applied = manifests.apply(api, folder)
        assert [o["kind"] for o in applied] == ["Namespace", "ConfigMap", "Service", "Deployment"]
        assert apps.read_namespaced_deployment("web", ns).spec.replicas == 2
        assert core.read_namespaced_config_map("settings", ns).data == {"level": "debug"}
        assert core.read_namespaced_service("web", ns).spec.ports[0].port == 80
        managers = {m.manager for m in core.read_namespaced_config_map("settings", ns).metadata.managed_fields}
        assert "kubelab" in managers

        again = manifests.apply(api, str(folder))  # unchanged manifests: nothing changes
        assert [o["metadata"]["resourceVersion"] for o in again[1:3]] == \
               [o["metadata"]["resourceVersion"] for o in applied[1:3]]

        deleted = manifests.delete(api, folder, wait=True)
        assert deleted == ["Deployment/web", "Service/web", "ConfigMap/settings", "Namespace/" + ns]
        assert absent(core.read_namespace, ns)
        assert manifests.delete(api, folder) == []  # already gone: nothing to do, no error
    finally:
        if not absent(core.read_namespace, ns):
            core.delete_namespace(ns)


def test_namespace_argument_places_objects_and_dry_run_creates_nothing(api, namespace):
    core = client.CoreV1Api(api)
    out = manifests.apply(api, [configmap(), deployment()], namespace=namespace, dry_run=True)
    assert [(o["kind"], o["metadata"]["namespace"]) for o in out] == [("ConfigMap", namespace),
                                                                      ("Deployment", namespace)]
    assert core.list_namespaced_config_map(namespace, field_selector="metadata.name=settings").items == []
    assert client.AppsV1Api(api).list_namespaced_deployment(namespace).items == []


def test_unknown_kind_is_a_manifest_error(api, namespace):
    bad = {**configmap(), "kind": "ConfigMapp"}
    with pytest.raises(ManifestError) as info:
        manifests.apply(api, bad, namespace=namespace)
    assert "unknown kind ConfigMapp in apiVersion v1" in str(info.value)
    assert "kubectl api-resources" in info.value.fix


def test_unknown_field_carries_the_strict_validation_message(api, namespace, tmp_path):
    path = tmp_path / "app.yaml"
    dep = deployment()
    dep["spec"]["replica"] = dep["spec"].pop("replicas")
    path.write_text(yaml.safe_dump_all([configmap(), dep]))
    with pytest.raises(ManifestError) as info:
        manifests.apply(api, path, namespace=namespace)
    err = info.value
    assert 'unknown field "spec.replica"' in str(err)
    assert (err.kind, err.name, err.source) == ("Deployment", "web", str(path))
    assert "applied before it: ConfigMap/settings" in str(err)  # not half-applied silently
    assert client.AppsV1Api(api).list_namespaced_deployment(namespace).items == []


def test_invalid_object_lists_the_causes(api, namespace):
    dep = deployment()
    dep["spec"]["selector"]["matchLabels"]["app"] = "other"
    with pytest.raises(ManifestError) as info:
        manifests.apply(api, dep, namespace=namespace)
    assert "invalid" in str(info.value) and "spec.template.metadata.labels" in str(info.value)
    assert "`selector` does not match template `labels`" in str(info.value)


def test_malformed_yaml_names_the_file_and_line_before_anything_is_sent(api, namespace, tmp_path):
    path = tmp_path / "cm.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  key: [unclosed\n")
    with pytest.raises(ManifestError) as info:
        manifests.apply(api, path, namespace=namespace)
    assert info.value.line is not None and f"{path}, line {info.value.line}" in str(info.value)
    assert client.CoreV1Api(api).list_namespaced_config_map(namespace, field_selector="metadata.name=a").items == []


def test_a_secret_value_echoed_by_the_api_server_is_redacted(api, namespace):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"token": 982451653}}
    with pytest.raises(ManifestError) as info:
        manifests.apply(api, secret, namespace=namespace)
    assert "982451653" not in str(info.value) and "982451653" not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained API body either


def test_forbidden_names_user_verb_resource_and_namespace(api, namespace):
    robot = manifests.apply(api, [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "robot-edit"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
         "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": namespace}]},
    ], namespace=namespace)
    assert len(robot) == 2
    as_robot = token_client(api, namespace, "robot")
    # RBAC caches settle within a moment of the RoleBinding's creation.
    wait_for(lambda: _can_apply(as_robot, namespace), what="the RoleBinding to take effect")
    with pytest.raises(Forbidden) as info:
        manifests.apply(as_robot, configmap(), namespace="default")
    err = info.value
    assert err.user == f"system:serviceaccount:{namespace}:robot"
    assert (err.verb, err.resource, err.namespace) == ("patch", "configmaps", "default")
    assert err.user in str(err) and "kubectl auth can-i patch configmaps -n default" in str(err)


def _can_apply(api, namespace):
    try:
        return manifests.apply(api, configmap("probe"), namespace=namespace)
    except Forbidden:
        return None


def test_a_crd_and_its_custom_objects_apply_together(api, namespace):
    group = f"{namespace}.kubelab.test"
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"trainingruns.{group}"},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"plural": "trainingruns", "singular": "trainingrun", "kind": "TrainingRun"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "properties": {
                            "gpus": {"type": "integer"}}}}}}}]}}
    run = {"apiVersion": f"{group}/v1", "kind": "TrainingRun", "metadata": {"name": "r1"}, "spec": {"gpus": 8}}
    try:
        out = manifests.apply(api, [run, crd], namespace=namespace)  # the CRD goes first all the same
        assert [o["kind"] for o in out] == ["CustomResourceDefinition", "TrainingRun"]
        assert out[1]["spec"] == {"gpus": 8}
        assert manifests.delete(api, [run, crd], namespace=namespace, wait=True) == [
            "TrainingRun/r1", f"CustomResourceDefinition/trainingruns.{group}"]
    finally:
        manifests.delete(api, [crd])
