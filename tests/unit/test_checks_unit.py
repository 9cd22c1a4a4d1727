"""The grading machinery without a cluster: results, scores, partial credit, quiet failures, and the
pure predicates (tolerations, GPU counts, product pinning, Secret messages)."""
from __future__ import annotations

import logging
import warnings

import pytest
from kubernetes import client

from kubelab import checks
from kubelab.checks import CheckResult, Part
from kubelab.errors import CheckFailed


def _result(points, max_points):
    return CheckResult("c", points == max_points, points, max_points, "m")


def test_score_sums_points_and_credit_scales_them_to_the_cell():
    results = [_result(1, 2), _result(1, 1), _result(0, 1)]
    assert checks.score(results) == (2, 4)
    assert checks.credit(results, out_of=3) == 1.5
    assert checks.credit([_result(2, 2)], out_of=5) == 5
    assert checks.score([]) == (0, 0) and checks.credit([], out_of=2) == 0.0


def _parts():
    return [Part(lambda o: o["tolerates"], "does not tolerate", "add a toleration"),
            Part(lambda o: o["gpus"] == 2, lambda o: f"requests {o['gpus']}, expected 2", "set limits")]


def test_each_part_is_a_point_and_the_first_failure_gives_the_hint():
    r = checks.evaluate("gpu", lambda: {"tolerates": True, "gpus": 1}, _parts(), "fine")
    assert (r.passed, r.points, r.max_points) == (False, 1, 2)
    assert (r.message, r.hint) == ("requests 1, expected 2", "set limits")
    r = checks.evaluate("gpu", lambda: {"tolerates": False, "gpus": 0}, _parts(), "fine")
    assert (r.points, r.message, r.hint) == (0, "does not tolerate; requests 0, expected 2", "add a toleration")
    r = checks.evaluate("gpu", lambda: {"tolerates": True, "gpus": 2}, _parts(), "fine")
    assert (r.passed, r.points, r.message, r.hint) == (True, 2, "fine", None)


def test_a_missing_object_fails_every_part_with_one_message():
    def fetch():
        raise checks._Missing("Pod 'x' not found", "create it")
    r = checks.evaluate("gpu", fetch, _parts(), "fine")
    assert (r.passed, r.points, r.max_points, r.message, r.hint) == (False, 0, 2, "Pod 'x' not found", "create it")


def test_run_raises_check_failed_an_assertion_error_or_returns_the_result():
    fetch = lambda: {"tolerates": True, "gpus": 1}
    with pytest.raises(AssertionError) as exc:
        checks.run("gpu", fetch, _parts(), "fine")
    assert isinstance(exc.value, CheckFailed)
    assert str(exc.value) == "requests 1, expected 2\n  hint: set limits"
    assert checks.run("gpu", fetch, _parts(), "fine", raise_=False).points == 1


def test_run_retries_until_the_state_is_reached():
    calls = []
    fetch = lambda: calls.append(1) or {"tolerates": True, "gpus": 2 if len(calls) > 2 else 1}
    assert checks.run("gpu", fetch, _parts(), "fine", timeout=5).passed
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
        with checks.quiet():
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
            checks.run("gpu", fetch, _parts(), "fine")
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
    assert checks._tolerates(client.V1Toleration(**toleration), checks.GPU_TAINT) is ok


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
    assert checks._gpus(_spec({"nvidia.com/gpu": "2", "cpu": "1"})) == 2
    assert checks._gpus(_spec()) == 0


H100 = "NVIDIA-H100-80GB-HBM3"


@pytest.mark.parametrize("kwargs,ok", [
    ({"node_selector": {"nvidia.com/gpu.product": H100}}, True),
    ({"terms": [[("nvidia.com/gpu.product", "In", [H100])]]}, True),
    ({"terms": [[("nvidia.com/gpu.product", "In", [H100, "Tesla-T4"])]]}, False),  # allows another product
    ({"terms": [[("nvidia.com/gpu.product", "In", [H100])], [("kubelab.io/pool", "In", ["a100"])]]}, False),
    ({"terms": [[("nvidia.com/gpu.product", "NotIn", [H100])]]}, False),
    ({"node_selector": {"nvidia.com/gpu.product": "Tesla-T4"}}, False),
    ({}, False),
])
def test_product_pinning_needs_every_way_onto_a_node_to_be_that_product(kwargs, ok):
    assert checks._pinned_to(_spec(**kwargs), H100) is ok


def test_secret_key_check_never_shows_values(capfd):
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="db"),
                             data={"username": "YWRtaW4=", "password": "aHVudGVyMg=="})
    result = checks._has_keys("Secret", lambda: secret, "db", "ml", ["username", "token"], ("data",), raise_=False)
    assert (result.passed, result.message) == (False, "Secret 'db' lacks key(s): token")
    with pytest.raises(CheckFailed) as exc:
        checks._has_keys("Secret", lambda: secret, "db", "ml", ["token"], ("data",), raise_=True)
    everything = str(exc.value) + str(result) + "".join(capfd.readouterr())
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
        checks.configmap_has_keys(api, "settings", "ml", ["a"])
    assert exc.value.problem == "cannot reach the cluster to read ConfigMap 'settings' in namespace 'ml'"
    assert "kubelab cluster up" in exc.value.hint
    assert caplog.records == [] and capfd.readouterr().err == ""
