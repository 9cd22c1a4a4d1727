"""Start-up in the simulated kubelet (cluster/kubelet.py, start_up): a process serves only after its start-up
time; a liveness or startup probe whose budget (initialDelaySeconds + failureThreshold x periodSeconds) ends
first kills it; a startupProbe holds liveness off; readiness follows. Plain dicts, no cluster."""
from __future__ import annotations

import pytest

from kubelab.cluster import images
from kubelab.cluster.kubelet import judge, start_up

pytestmark = pytest.mark.unit

VLLM = "vllm/vllm-openai:v0.30.0"
SMALL = ["--model", "Qwen/Qwen2.5-0.5B-Instruct"]          # loads in 10 s (the catalogue's small-model class)
HEALTH = {"httpGet": {"path": "/health", "port": 8000}}


@pytest.fixture(scope="module")
def cat():
    return images.load()


def probe(delay=0, period=10, threshold=3, **action):
    return {**(action or HEALTH), "initialDelaySeconds": delay, "periodSeconds": period, "failureThreshold": threshold}


def server(args=SMALL, owner=None, **probes):
    c = {"name": "server", "image": VLLM, "args": args, **{f"{k}Probe": v for k, v in probes.items()}}
    meta = {"name": "p", "namespace": "ns", **({"ownerReferences": [{"kind": owner}]} if owner else {})}
    return {"metadata": meta, "spec": {"containers": [c]}}


def none(kind, ns, name):
    return None


def verdict(cat, **kw):
    return judge(server(**kw), cat, none)


def test_the_load_time_follows_the_model(cat):
    b = lambda args: cat.behaviour(VLLM, None, args)
    assert b(SMALL).startup_s == 10
    assert b(["--model", "meta-llama/Llama-3.1-8B-Instruct"]).startup_s == 30 == b([]).startup_s
    assert b(["meta-llama/Llama-3.3-70B-Instruct", "--port", "9000"]).startup_s == 90   # positional, after `vllm serve`
    assert 9000 in b(["meta-llama/Llama-3.3-70B-Instruct", "--port", "9000"]).listens
    assert b(["--model", "Qwen/Qwen2.5-0.5B-Instruct"]).listens == b([]).listens


def test_an_early_liveness_probe_kills_the_server_while_it_loads(cat):
    v = verdict(cat, liveness=probe(delay=2, period=2, threshold=2))          # gives up at 2 + 2x2 = 6 s < 10 s
    assert (v.reason, v.container, v.runs_for_s, v.exit_code) == ("LivenessFailed", "server", 6, 0)
    assert v.message == ('Liveness probe failed: Get "http://{podIP}:8000/health": dial tcp {podIP}:8000: '
                         "connect: connection refused")
    # the same probe on the default 8B model (30 s) with the API's defaults (0 + 3 x 10 = 30 s) just holds
    assert verdict(cat, args=[], liveness=probe()) is None
    assert verdict(cat, args=[], liveness=probe(period=9)).runs_for_s == 27
    # a tcpSocket probe is refused the same way
    tcp = verdict(cat, liveness=probe(period=1, threshold=3, tcpSocket={"port": 8000}))
    assert tcp.reason == "LivenessFailed" and tcp.message.endswith("dial tcp {podIP}:8000: connect: connection refused")


@pytest.mark.parametrize("liveness", [probe(delay=10, period=2, threshold=2),    # 10 + 4 = 14 s >= 10 s
                                      probe(delay=2, period=2, threshold=4),     # exactly 10 s: the 4th probe passes
                                      probe(period=5, threshold=3)])             # 15 s
def test_a_liveness_budget_that_covers_the_load_lets_it_live(cat, liveness):
    assert verdict(cat, liveness=liveness) is None   # no readiness or startup probe: Ready as soon as it runs


def test_a_startup_probe_holds_liveness_off(cat):
    early = probe(delay=0, period=1, threshold=1)                               # alone it kills at 1 s
    assert verdict(cat, liveness=early).runs_for_s == 1
    v = verdict(cat, liveness=early, startup=probe(period=2, threshold=10))     # up to 20 s to start
    assert (v.reason, v.runs_for_s) == ("Starting", 10)                          # started at 10 s, Ready then
    assert v.message.startswith('Startup probe failed: Get "http://{podIP}:8000/health"')
    su = start_up(server(liveness=early, startup=probe(period=2, threshold=10))["spec"]["containers"][0],
                  cat.behaviour(VLLM, None, SMALL))
    assert (su.killed_at, su.started_at, su.ready_at) == (None, 10, 10)


def test_a_startup_probe_too_short_kills_it(cat):
    v = verdict(cat, liveness=probe(), startup=probe(period=2, threshold=3))    # 6 s < 10 s
    assert (v.reason, v.runs_for_s) == ("LivenessFailed", 6)
    assert v.message.startswith("Startup probe failed: ") and "connection refused" in v.message


def test_a_startup_probe_on_a_wrong_port_or_path_kills_it(cat):
    port = verdict(cat, startup=probe(period=2, threshold=30, httpGet={"path": "/health", "port": 8080}))
    assert (port.reason, port.runs_for_s) == ("LivenessFailed", 60)
    assert port.message.startswith('Startup probe failed: Get "http://{podIP}:8080/health"')
    path = verdict(cat, startup=probe(period=2, threshold=30, httpGet={"path": "/healthz", "port": 8000}))
    assert path.message == "Startup probe failed: HTTP probe failed with statuscode: 404"


def test_a_liveness_probe_on_a_wrong_port_after_a_good_start(cat):
    v = verdict(cat, startup=probe(period=2, threshold=10), liveness=probe(period=5, threshold=2,
                                                                             httpGet={"path": "/", "port": 8000}))
    assert (v.reason, v.runs_for_s) == ("LivenessFailed", 20)          # started at 10 s, then 2 x 5 s
    assert v.message == "Liveness probe failed: HTTP probe failed with statuscode: 404"


def test_readiness_is_false_until_the_server_serves(cat):
    v = verdict(cat, readiness=probe(period=5))
    assert (v.reason, v.container, v.runs_for_s, v.exit_code) == ("Starting", "server", 10, None)
    assert v.message.startswith("Readiness probe failed: ")
    assert verdict(cat, readiness=probe(delay=25)).runs_for_s == 25               # its initial delay is later
    assert verdict(cat, args=[], readiness=probe()).runs_for_s == 30              # the 8B default
    assert verdict(cat, readiness=probe(httpGet={"path": "/nope", "port": 8000})).reason == "Unready"   # never
    assert verdict(cat) is None                                                   # no probe: Ready as it runs


def test_fast_images_and_run_to_completion_pods_are_left_to_the_lifecycle(cat):
    nginx = {"metadata": {"name": "p", "namespace": "ns"},
             "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "readinessProbe": {"httpGet": {"port": 80}},
                                      "startupProbe": {"httpGet": {"port": 80}}}]}}
    assert judge(nginx, cat, none) is None                                        # serves at 0.2 s: Ready at once
    assert verdict(cat, readiness=probe(), owner="Job") is None                   # a Job's pod completes as before


def test_existing_liveness_rule_keeps_its_timing(cat):
    p = {"metadata": {"name": "p", "namespace": "ns"},
         "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "livenessProbe": {
             "httpGet": {"port": 8080, "path": "/healthz"}, "periodSeconds": 5, "failureThreshold": 3,
             "initialDelaySeconds": 2}}]}}
    v = judge(p, cat, none)
    assert (v.reason, v.runs_for_s) == ("LivenessFailed", 17)
