"""The grading machinery without a cluster: results, partial credit, quiet failures, and the
pure predicates (tolerations, GPU counts, product pinning, Secret messages)."""
from __future__ import annotations

import logging
import warnings

import pytest
from kubernetes import client

from kubelab._k8s.apierrors import quiet
from kubelab._k8s.names import GPU_TAINT
from kubelab.errors import CheckFailed, UsageError
from kubelab.grading import engine, objects, scheduling
from kubelab.grading.engine import CheckResult, Part, Partial


def _check(state):
    """A check on a plain object (no cluster): two parts, so it can earn 0, 1 or 2 points."""
    return engine.run("gpu", lambda: state, _parts(), "fine")


def test_partial_scales_the_points_earned_to_the_cell_and_prints_each_result(capsys):
    p = Partial(out_of=3)
    assert p.check(_check, {"tolerates": True, "gpus": 1}) is p       # 1 of 2 points; does not raise
    p.check(_check, {"tolerates": True, "gpus": 2})                    # 2 of 2
    assert (p.earned, p.possible, p.score()) == (3, 4, 2.25)
    assert repr(p) == "2.25" and float(p) == 2.25
    out = capsys.readouterr()
    assert "FAIL gpu (1/2): requests 1, expected 2" in out.out and "PASS gpu (2/2): fine" in out.out
    assert out.err == ""


def test_partial_scores_zero_before_any_check_and_refuses_what_is_not_a_check():
    assert Partial(out_of=2).score() == 0.0
    with pytest.raises(UsageError):
        Partial(out_of=0)
    with pytest.raises(UsageError, match="not a grading check"):
        Partial(out_of=1).check(lambda: "looks fine")


def test_an_error_that_is_not_a_failed_check_stops_the_cell():
    def broken():
        raise NameError("api")
    with pytest.raises(NameError):
        Partial(out_of=1).check(broken)


def _parts():
    return [Part(lambda o: o["tolerates"], "does not tolerate", "add a toleration"),
            Part(lambda o: o["gpus"] == 2, lambda o: f"requests {o['gpus']}, expected 2", "set limits")]


def test_each_part_is_a_point_and_the_first_failure_gives_the_hint():
    r = engine.evaluate("gpu", lambda: {"tolerates": True, "gpus": 1}, _parts(), "fine")
    assert (r.passed, r.points, r.max_points) == (False, 1, 2)
    assert (r.message, r.hint) == ("requests 1, expected 2", "set limits")
    r = engine.evaluate("gpu", lambda: {"tolerates": False, "gpus": 0}, _parts(), "fine")
    assert (r.points, r.message, r.hint) == (0, "does not tolerate; requests 0, expected 2", "add a toleration")
    r = engine.evaluate("gpu", lambda: {"tolerates": True, "gpus": 2}, _parts(), "fine")
    assert (r.passed, r.points, r.message, r.hint) == (True, 2, "fine", None)


def test_a_missing_object_fails_every_part_with_one_message():
    def fetch():
        raise engine.Missing("Pod 'x' not found", "create it")
    r = engine.evaluate("gpu", fetch, _parts(), "fine")
    assert (r.passed, r.points, r.max_points, r.message, r.hint) == (False, 0, 2, "Pod 'x' not found", "create it")


def test_run_raises_check_failed_an_assertion_error_or_returns_the_result():
    fetch = lambda: {"tolerates": True, "gpus": 1}
    with pytest.raises(AssertionError) as exc:
        engine.run("gpu", fetch, _parts(), "fine")
    assert isinstance(exc.value, CheckFailed)
    assert str(exc.value) == "requests 1, expected 2\n  hint: set limits"
    assert exc.value.result.points == 1  # what Partial counts
    assert engine.run("gpu", lambda: {"tolerates": True, "gpus": 2}, _parts(), "fine").points == 2


def test_run_retries_until_the_state_is_reached():
    calls = []
    fetch = lambda: calls.append(1) or {"tolerates": True, "gpus": 2 if len(calls) > 2 else 1}
    assert engine.run("gpu", fetch, _parts(), "fine", timeout=5).passed
    assert len(calls) == 3


def test_result_prints_pass_or_fail_with_points():
    assert str(CheckResult("quota", True, 1, 1, "capped")) == "PASS quota (1/1): capped"
    assert str(CheckResult("gpu", False, 1, 2, "wrong count", "set limits")) == \
        "FAIL gpu (1/2): wrong count\n  hint: set limits"


def test_quiet_swallows_warnings_and_client_logs_and_restores_levels(capfd, caplog):
    urllib3_log = logging.getLogger("urllib3.connectionpool")
    before = logging.getLogger("urllib3").level
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet():
            warnings.warn("InsecureRequestWarning: unverified HTTPS request")
            urllib3_log.warning("Retrying (Retry(total=2)) after connection broken")
            logging.getLogger("kubernetes.client.rest").error("boom")
        assert seen == [] and caplog.records == []
        urllib3_log.warning("after")  # levels are back: records flow again
    assert [r.getMessage() for r in caplog.records] == ["after"]
    assert capfd.readouterr().err == ""
    assert logging.getLogger("urllib3").level == before


def test_a_failing_check_writes_nothing_to_stderr(capfd, caplog):
    def fetch():
        warnings.warn("deprecated API")
        logging.getLogger("urllib3").warning("retrying")
        return {"tolerates": False, "gpus": 0}
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(CheckFailed):
            engine.run("gpu", fetch, _parts(), "fine")
    assert seen == [] and caplog.records == []
    assert capfd.readouterr() == ("", "")


# -- predicates --------------------------------------------------------------------------------

@pytest.mark.parametrize("toleration,ok", [
    ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, True),
    ({"key": "nvidia.com/gpu", "operator": "Exists"}, True),
    ({"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}, True),
    ({"key": "nvidia.com/gpu", "value": "present"}, True),                    # operator defaults to Equal
    ({"operator": "Exists"}, True),                                          # tolerates everything
    ({"key": "nvidia.com/gpu", "operator": "Equal", "value": "absent"}, False),
    ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}, False),
    ({"key": "gpu", "operator": "Exists"}, False),
])
def test_toleration_matching_follows_the_api_server(toleration, ok):
    assert scheduling._tolerates(client.V1Toleration(**toleration), GPU_TAINT) is ok


def _spec(limits=None, node_selector=None, terms=None):
    affinity = None
    if terms is not None:
        affinity = client.V1Affinity(node_affinity=client.V1NodeAffinity(
            required_during_scheduling_ignored_during_execution=client.V1NodeSelector(node_selector_terms=[
                client.V1NodeSelectorTerm(match_expressions=[
                    client.V1NodeSelectorRequirement(key=k, operator=op, values=v) for k, op, v in t])
                for t in terms])))
    containers = [client.V1Container(name="a", resources=client.V1ResourceRequirements(limits=limits)),
                  client.V1Container(name="b")]
    return client.V1PodSpec(containers=containers, node_selector=node_selector, affinity=affinity)


def test_gpu_count_sums_the_containers():
    assert scheduling._gpus(_spec({"nvidia.com/gpu": "2", "cpu": "1"})) == 2
    assert scheduling._gpus(_spec()) == 0


H100 = "NVIDIA-H100-80GB-HBM3"
A100 = "NVIDIA-A100-SXM4-80GB"


def _node(name, **labels):
    return client.V1Node(metadata=client.V1ObjectMeta(name=name, labels=labels))


# the embedded cluster's pools, as their nodes are labelled (a MIG A100 node carries the A100 product too)
NODES = [_node("cpu-0", **{"kubelab.io/pool": "cpu"}),
         _node("h100-0", **{"kubelab.io/pool": "h100", "nvidia.com/gpu.product": H100, "nvidia.com/gpu.count": "8"}),
         _node("h100-1", **{"kubelab.io/pool": "h100", "nvidia.com/gpu.product": H100, "nvidia.com/gpu.count": "8"}),
         _node("a100-0", **{"kubelab.io/pool": "a100", "nvidia.com/gpu.product": A100, "nvidia.com/gpu.count": "4"}),
         _node("mig-0", **{"kubelab.io/pool": "a100-mig", "nvidia.com/gpu.product": A100}),
         _node("t4-0", **{"kubelab.io/pool": "t4-shared", "nvidia.com/gpu.product": "Tesla-T4-SHARED"})]
PRODUCT = "nvidia.com/gpu.product"


@pytest.mark.parametrize("kwargs,ok", [
    ({"node_selector": {PRODUCT: H100}}, True),
    ({"terms": [[(PRODUCT, "In", [H100])]]}, True),
    # every form the scheduler reads the same way: NotIn the others plus a presence match, the pool label,
    # the product and the pool together, a count only H100 nodes have, two terms that both land on H100s
    ({"terms": [[(PRODUCT, "Exists", []), (PRODUCT, "NotIn", [A100, "Tesla-T4-SHARED"])]]}, True),
    ({"node_selector": {"kubelab.io/pool": "h100"}}, True),
    ({"terms": [[("kubelab.io/pool", "In", ["h100"]), (PRODUCT, "In", [H100, A100])]]}, True),
    ({"terms": [[("nvidia.com/gpu.count", "Gt", ["4"])]]}, True),
    ({"terms": [[(PRODUCT, "In", [H100])], [("kubelab.io/pool", "In", ["h100"])]]}, True),
    # wrong: another product admitted, a term that admits another pool, no pin, a pin nothing matches
    ({"terms": [[(PRODUCT, "In", [H100, "Tesla-T4-SHARED"])]]}, False),
    ({"terms": [[(PRODUCT, "In", [H100])], [("kubelab.io/pool", "In", ["a100"])]]}, False),
    ({"terms": [[(PRODUCT, "NotIn", [A100])]]}, False),          # admits the CPU and T4 nodes too
    ({"terms": [[(PRODUCT, "NotIn", [H100])]]}, False),
    ({"node_selector": {PRODUCT: "Tesla-T4"}}, False),
    ({"node_selector": {PRODUCT: "NVIDIA-H200"}}, False),        # no node at all: pinned to nothing
    ({}, False),
])
def test_product_pinning_is_the_set_of_nodes_the_selector_admits(kwargs, ok):
    assert scheduling._pinned_to(_spec(**kwargs), H100, NODES) is ok


def test_secret_key_check_never_shows_values(capfd):
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="db"),
                             data={"username": "YWRtaW4=", "password": "aHVudGVyMg=="})
    with pytest.raises(CheckFailed) as exc:
        objects._has_keys("Secret", lambda: secret, "db", "ml", ["username", "token"], ("data",))
    result = exc.value.result
    assert (result.passed, result.message) == (False, "Secret 'db' lacks key(s): token")
    everything = str(exc.value) + str(result) + repr(result) + "".join(capfd.readouterr())
    for value in ("YWRtaW4=", "aHVudGVyMg==", "admin", "hunter2"):
        assert value not in everything


def _unreachable_api():
    conf = client.Configuration()
    conf.host = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused
    return client.ApiClient(conf)


def test_unreachable_cluster_is_a_quiet_readable_failure(capfd, caplog):
    # pytest's log capture stands in for a notebook's stderr: urllib3 logs each retry at WARNING.
    api = _unreachable_api()
    with caplog.at_level(logging.WARNING), pytest.raises(Exception):
        client.CoreV1Api(api).read_namespaced_config_map("x", "ml")
    assert any("Retrying" in r.getMessage() for r in caplog.records)  # there is something to silence
    caplog.clear()
    capfd.readouterr()
    with caplog.at_level(logging.WARNING), pytest.raises(CheckFailed) as exc:
        objects.configmap_has_keys(api, "settings", "ml", keys=["a"])
    assert exc.value.problem == "cannot reach the cluster to read ConfigMap 'settings' in namespace 'ml'"
    assert "kubelab cluster up" in exc.value.hint
    assert caplog.records == [] and capfd.readouterr().err == ""
