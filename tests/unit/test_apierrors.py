"""One way to the Kubernetes API: the client's ApiException is caught in kubelab._k8s only, and becomes a typed
error there (NotFound, Conflict, Forbidden, else ApiError); the helpers that replace hand-written 404/409 checks."""
from __future__ import annotations

import ast
import json
from functools import partial
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

import kubelab
from kubelab._k8s.apierrors import (api_error, call, converted, create_or_exists, delete_if_present, describe,
                                    refused, typed_errors)
from kubelab.errors import ApiError, Conflict, Forbidden, KubelabError, NotFound

SRC = Path(kubelab.__file__).parent
K8S = SRC / "_k8s"
CLIENT_ERRORS = {"kubernetes.client.exceptions", "kubernetes.client.rest", "kubernetes.dynamic.exceptions"}


def _client_error_uses(path: Path) -> list[str]:
    """Where `path` imports the client's ApiException (or the dynamic client's subclasses of it) or names it."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kubernetes"):
            found += [f"{node.lineno}: from {node.module} import {a.name}" for a in node.names
                      if node.module in CLIENT_ERRORS or a.name in ("ApiException", "exceptions", "rest")]
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name in CLIENT_ERRORS]
        elif isinstance(node, ast.Attribute) and node.attr == "ApiException":
            found.append(f"{node.lineno}: .ApiException")
    return found


def test_no_module_outside_k8s_catches_the_clients_exception():
    offenders = {}
    for path in sorted(SRC.rglob("*.py")):
        if K8S in path.parents:
            continue
        uses = _client_error_uses(path)
        if uses:
            offenders[str(path.relative_to(SRC))] = uses
    assert offenders == {}


def refusal(status: int, message: str = "no", reason: str = "Refused", **body) -> ApiException:
    err = ApiException(status=status, reason=reason)
    err.body = json.dumps({"kind": "Status", "message": message, "code": status, **body})
    return err


@pytest.mark.parametrize("status, kind", [(404, NotFound), (409, Conflict), (403, Forbidden), (500, ApiError),
                                          (422, ApiError), (401, ApiError), (503, ApiError)])
def test_a_refusal_becomes_its_typed_error(status, kind):
    err = api_error(refusal(status, "pods \"p\" said no", details={"kind": "pods"}), "pod p in namespace a")
    assert type(err) is kind and isinstance(err, ApiError) and isinstance(err, KubelabError)
    assert err.code == status and err.reason == "Refused"
    assert err.status["message"] == 'pods "p" said no' and err.status["details"] == {"kind": "pods"}
    assert "pod p in namespace a" in err.problem and 'pods "p" said no' in err.problem and err.fix


def test_forbidden_names_who_tried_what():
    message = 'pods is forbidden: User "system:serviceaccount:a:learner" cannot list resource "pods" in API group "" ' \
              'in the namespace "b"'
    err = api_error(refusal(403, message), "pods in namespace b")
    assert (err.user, err.verb, err.resource, err.namespace) == ("system:serviceaccount:a:learner", "list", "pods", "b")
    assert "kubectl auth can-i list pods" in err.fix


def test_a_refusal_without_a_status_body_says_the_http_status():
    err = api_error(ApiException(status=404, reason="Not Found"), "namespace x")
    assert isinstance(err, NotFound) and err.status == {} and "HTTP 404 Not Found" in err.problem


def test_typed_leaves_made_by_hand_carry_their_code():
    assert NotFound("gone").code == 404 and Conflict("there").code == 409 and Forbidden("no").code == 403


# -- the helpers, on stand-ins for client methods ------------------------------------------------------


def client_method(name: str, status: int | None = None, result="done"):
    """A function named like a client method that refuses with `status` (None: answers `result`)."""
    calls = []

    def method(*args, **kw):
        calls.append((args, kw))
        if status is not None:
            raise refusal(status)
        return result
    method.__name__, method.calls = name, calls
    return method


def test_call_types_the_refusal_and_names_the_call():
    with pytest.raises(NotFound) as info:
        call(client_method("read_namespaced_pod", 404), "p", "a")
    assert info.value.problem.startswith("cannot read pod p in namespace a:")
    with pytest.raises(Conflict) as info:
        call(client_method("create_namespaced_config_map", 409), "a", {"metadata": {"name": "c"}})
    assert info.value.problem.startswith("cannot create config map c in namespace a:")
    with pytest.raises(Forbidden) as info:
        call(client_method("list_node", 403), what="the nodes", action="count")
    assert info.value.problem.startswith("forbidden: cannot count the nodes:")
    method = client_method("read_namespace", result="ns")
    assert call(method, "x", _request_timeout=3) == "ns" and method.calls == [(("x",), {"_request_timeout": 3})]


def test_delete_if_present_says_whether_it_deleted():
    assert delete_if_present(client_method("delete_namespace"), "x") is True
    assert delete_if_present(client_method("delete_namespace", 404), "x") is False
    with pytest.raises(Forbidden) as info:
        delete_if_present(client_method("delete_namespaced_service_account", 403), "sa", "a")
    assert info.value.problem.startswith("forbidden: cannot delete service account sa in namespace a:")
    with pytest.raises(ApiError):
        delete_if_present(client_method("delete_node", 500), "n")


def test_create_or_exists_says_whether_it_created():
    assert create_or_exists(client_method("create_node"), {"metadata": {"name": "n"}}) is True
    assert create_or_exists(client_method("create_node", 409), {"metadata": {"name": "n"}}) is False
    with pytest.raises(NotFound) as info:   # e.g. the namespace is missing
        create_or_exists(client_method("create_namespaced_pod", 404), "a", {"metadata": {"name": "p"}})
    assert info.value.problem.startswith("cannot create pod p in namespace a:")


def test_converted_and_typed_errors_let_kubelab_errors_pass():
    with pytest.raises(Conflict):
        with converted("the thing"):
            raise refusal(409)
    mine = NotFound("already typed")
    with pytest.raises(NotFound) as info:
        with converted("the thing"):
            raise mine
    assert info.value is mine

    @typed_errors
    def public():
        raise refusal(500)
    with pytest.raises(ApiError, match=r"cannot complete .*public\(\)"):
        public()


def test_refused_keeps_the_clients_refusal_only():
    with refused("pod p") as caught:
        raise refusal(404)
    assert isinstance(caught.error, NotFound) and "pod p" in caught.error.problem
    with refused() as caught:
        pass
    assert caught.error is None
    with pytest.raises(Forbidden):   # a kubelab error is not the client's: it passes
        with refused():
            raise Forbidden("already typed")


@pytest.mark.parametrize("name, args, text", [
    ("list_namespaced_pod", ("a",), "pods in namespace a"),
    ("list_pod_for_all_namespaces", (), "pods"),
    ("read_namespaced_pod", ("p", "a"), "pod p in namespace a"),
    ("read_node", ("n",), "node n"),
    ("delete_collection_namespaced_pod", ("a",), "pods in namespace a"),
    ("create_node", ({"metadata": {"name": "n"}},), "node n"),
    ("create_namespace", (), "namespace"),
    ("<lambda>", (), "the object"),
])
def test_describe_names_what_a_client_call_names(name, args, text):
    assert describe(client_method(name), args) == text


def test_describe_and_call_see_through_a_dynamic_resources_partial():
    get = partial(client_method("get", 404), "resource")
    with pytest.raises(NotFound) as info:
        call(get, name="x", what="Deployment/x")
    assert info.value.problem.startswith("cannot read Deployment/x:")
