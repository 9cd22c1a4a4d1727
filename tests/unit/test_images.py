"""The image catalogue (cluster/images.yaml) and the simulated kubelet's pure spec -> verdict function."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kubelab.cluster import images
from kubelab.cluster.kubelet import KEYS, Verdict, judge
from kubelab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cat():
    return images.load()


def pod(*containers, volumes=None, annotations=None, namespace="ns"):
    spec = {"containers": [{"name": f"c{i}", **c} for i, c in enumerate(containers)]}
    if volumes:
        spec["volumes"] = volumes
    return {"metadata": {"name": "p", "namespace": namespace, "annotations": annotations or {}}, "spec": spec}


def objects(**known):
    """objects(ConfigMap_cfg={"a"}) -> a lookup knowing ConfigMap ns/cfg with key a."""
    table = {tuple(k.split("_", 1)): set(v) for k, v in known.items()}
    return lambda kind, ns, name: table.get((kind, name)) if ns == "ns" else None


NONE = objects()


# -- the catalogue ----------------------------------------------------------------------------------
@pytest.mark.parametrize("ref, expected", [
    ("nginx", ("docker.io", "library/nginx", "latest", "")),
    ("nginx:1.27-alpine", ("docker.io", "library/nginx", "1.27-alpine", "")),
    ("hashicorp/http-echo:1.0", ("docker.io", "hashicorp/http-echo", "1.0", "")),
    ("registry.k8s.io/pause:3.10", ("registry.k8s.io", "pause", "3.10", "")),
    ("localhost:5000/ml/t:1", ("localhost:5000", "ml/t", "1", "")),
    ("nginx@sha256:abc", ("docker.io", "library/nginx", "", "sha256:abc")),
])
def test_references_are_normalised_like_containerd(ref, expected):
    assert images.parse_reference(ref) == expected


def used_images() -> set[str]:
    """Every image the notebooks, the chart and the tests use (what the issue asks the catalogue to cover)."""
    found = set()
    for path in [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("notebooks/charts/**/*.yaml"), *ROOT.glob("tests/**/*.py")]:
        if path.name in ("test_images.py", "test_kubelet.py"):  # broken on purpose
            continue
        text = path.read_text()
        if path.suffix == ".ipynb":
            text = "".join("".join(c["source"]) for c in json.loads(text)["cells"])
        found |= set(re.findall(r'image: *"?([a-z0-9][\w./:-]*[\w])"?', text))
        found |= set(re.findall(r'"image": "([a-z0-9][\w./:-]*)"', text))
        found |= set(re.findall(r'image="([a-z0-9][\w./:-]*)"', text))
    return found


def test_every_image_the_course_uses_pulls(cat):
    used = used_images()
    assert {"nginx:1.27-alpine", "python:3.12-slim", "busybox:1.36", "nvcr.io/nvidia/pytorch:26.08-py3",
            "postgres:17"} <= used
    failing = {i: cat.pull(i).message for i in used if not cat.pull(i).ok}
    # the only images that must fail are the lessons' deliberate ones
    assert set(failing) <= {"registry.invalid/ml/trainer:0.0"}, failing
    listed = {i for i in used if cat.pull(i).image}
    assert {"busybox:1.36", "python:3.12-slim", "hashicorp/http-echo:1.0", "nvcr.io/nvidia/tritonserver:26.06-py3",
            "quay.io/jupyter/pytorch-notebook:2024-05-27", "vllm/vllm-openai:v0.30.0",
            "nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04"} <= listed
    assert cat.pull("registry.k8s.io/pause:3.10").image and not cat.pull("registry.k8s.io/pause:9.9").ok


def test_the_rule_for_images_not_listed(cat):
    assert cat.pull("nginx:1.27").ok and cat.pull("nginx:1.27.3-alpine").ok
    missing = cat.pull("nginx:1.99")
    assert not missing.ok and missing.message.endswith("docker.io/library/nginx:1.99: not found")
    assert not cat.pull("python:3.12-slimm").ok                 # a typo in a listed repository's tag
    assert cat.pull("registry.example/ml/worker:1.0").ok          # unlisted repository: pulls, generic
    assert cat.behaviour("registry.example/ml/worker:1.0").listens is None
    assert cat.pull("nginx@sha256:0123").ok                      # digests are not checked
    unresolvable = cat.pull("registry.invalid/ml/trainer:0.0")
    assert not unresolvable.ok and "lookup registry.invalid: no such host" in unresolvable.message


def test_behaviour_follows_the_command_line(cat):
    server = cat.behaviour("python:3.12-slim", ["python", "-m", "http.server", "8080", "--directory", "/tmp"])
    assert list(server.listens) == [8080]
    assert list(cat.behaviour("python:3.12-slim", ["python", "-m", "http.server"]).listens) == [8000]
    assert cat.behaviour("python:3.12-slim", ["python", "-c", "print(1)"]).listens is None   # unknown: probes pass
    assert cat.behaviour("postgres:17").needs and cat.behaviour("postgres:17", args=["-c", "fsync=off"]).needs
    assert not cat.behaviour("postgres:17", ["sleep", "1d"]).needs   # not the entrypoint: not its needs
    triton = cat.behaviour("nvcr.io/nvidia/tritonserver:24.05-py3", ["tritonserver", "--model-repository=/m"])
    assert triton.needs[0].mount == "/m" and "/m" in triton.needs[0].log


def write(tmp_path, text):
    path = tmp_path / "images.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("images: [{repository: nginx, tags: [1]: }]", "malformed YAML"),
    ("images: [{repository: x, tags: []}]", "images[0].tags"),
    ("images: [{repository: x, tags: [a], memory: lots}]", "'lots' is not a Kubernetes quantity"),
    ("images: [{repository: x, tags: [a], listens: {80: [healthz]}}]", "HTTP paths start with '/'"),
    ("images: [{repository: x, tags: [a], needs: [{env: [A], mount: /m, log: x}]}]", "either `env`"),
    ("images: [{repository: x, tags: [a], commands: [{match: '(('}]}]", "not a regular expression"),
    ("images: [{repository: x, tags: [a]}, {repository: docker.io/library/x, tags: [b]}]",
     "repeated: docker.io/library/x"),
    ("images: [{repository: 'nginx:1.27', tags: [a]}]", "'nginx:1.27' is not an image repository without a tag"),
    ("images: [{repository: x, tags: [a], color: red}]", "images[0].color"),
])
def test_a_bad_catalogue_is_one_clear_error(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        images.load(write(tmp_path, text))
    assert message in str(err.value) and str(write(tmp_path, text)) in str(err.value) and err.value.fix


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the image catalogue"):
        images.load(tmp_path / "nope.yaml")


def test_an_extra_file_extends_and_overrides(tmp_path):
    extra = write(tmp_path, "images:\n- {repository: nginx, tags: ['1.99']}\n- {repository: ghcr.io/me/app, tags: [v1]}\n")
    cat = images.load(extra)
    assert cat.pull("nginx:1.99").ok and not cat.pull("nginx:1.27").ok
    assert cat.pull("ghcr.io/me/app:v1").ok and not cat.pull("ghcr.io/me/app:v2").ok
    assert cat.pull("busybox:1.36").ok


# -- spec -> verdict ----------------------------------------------------------------------------------
def test_a_healthy_spec_has_no_verdict(cat):
    assert judge(pod({"image": "nginx:1.27", "readinessProbe": {"httpGet": {"port": 80, "path": "/"}},
                      "resources": {"limits": {"memory": "64Mi"}}}), cat, NONE) is None
    assert judge(pod({"image": "registry.example/ml/server:1.0", "readinessProbe": {"httpGet": {"port": 9}},
                      "resources": {"limits": {"memory": "1Mi"}}}), cat, NONE) is None


def test_image_that_does_not_exist(cat):
    v = judge(pod({"image": "nginx:1.27"}, {"image": "nginx:1.99"}), cat, NONE)
    assert (v.reason, v.container) == ("ErrImagePull", "c1") and "not found" in v.message


def test_missing_env_var_crashes_with_the_images_exit_code_and_log(cat):
    v = judge(pod({"image": "postgres:17"}), cat, NONE)
    assert (v.reason, v.exit_code) == ("CrashLoopBackOff", 1) and v.message.startswith("Error: Database is uninitialized")
    assert v.runs_for_s == 2
    assert judge(pod({"image": "postgres:17", "env": [{"name": "POSTGRES_PASSWORD", "value": "x"}]}), cat, NONE) is None
    assert judge(pod({"image": "postgres:17", "env": [{"name": "POSTGRES_PASSWORD", "value": ""}]}), cat, NONE)
    from_secret = pod({"image": "postgres:17", "envFrom": [{"secretRef": {"name": "db"}}]})
    assert judge(from_secret, cat, objects(Secret_db={"POSTGRES_PASSWORD"})) is None
    assert judge(from_secret, cat, objects(Secret_db={"password"})).reason == "CrashLoopBackOff"


def test_postgres_starts_as_its_entrypoint_allows(cat):
    # docker-library/postgres docker-entrypoint.sh: a password, POSTGRES_PASSWORD_FILE (file_env) or trust
    pg = {"image": "postgres:16", "volumeMounts": [{"name": "pw", "mountPath": "/run/secrets/db"}]}
    env = lambda *e: pod({**pg, "env": [dict(zip(("name", "value"), x)) for x in e]})
    for right in (env(("POSTGRES_PASSWORD", "s3cret")), env(("POSTGRES_PASSWORD_FILE", "/run/secrets/db/password")),
                  env(("POSTGRES_HOST_AUTH_METHOD", "trust"))):
        assert judge(right, cat, NONE) is None
    for wrong in (env(("POSTGRES_HOST_AUTH_METHOD", "md5")), env(("POSTGRES_HOST_AUTH_METHOD", "scram-sha-256")),
                  env(("POSTGRES_PASSWORD_FILE", "/etc/password")),   # a file nothing mounts
                  env(("POSTGRES_PASSWORD", ""))):
        assert judge(wrong, cat, NONE).reason == "CrashLoopBackOff"


def test_missing_mount_crashes(cat):
    triton = {"image": "nvcr.io/nvidia/tritonserver:24.05-py3", "command": ["tritonserver", "--model-repository=/models/llm"]}
    v = judge(pod(triton), cat, NONE)
    assert v.reason == "CrashLoopBackOff" and v.message == "error: creating server: Internal - failed to stat file /models/llm"
    assert judge(pod({**triton, "volumeMounts": [{"name": "m", "mountPath": "/models"}]}), cat, NONE) is None


def test_memory_limit_below_the_working_set_is_oom_killed(cat):
    v = judge(pod({"image": "nginx:1.27", "resources": {"limits": {"memory": "4Mi"}}}), cat, NONE)
    assert (v.reason, v.exit_code) == ("OOMKilled", 137)
    assert judge(pod({"image": "mysql:8.4", "env": [{"name": "MYSQL_ROOT_PASSWORD", "value": "x"}],
                      "resources": {"limits": {"memory": "256Mi"}}}), cat, NONE).reason == "OOMKilled"
    # kwok's usage annotation is the pod's working set when it sets one
    usage = pod({"image": "python:3.12-slim", "resources": {"limits": {"memory": "2Gi"}}},
                annotations={"kwok.x-k8s.io/usage-memory": "3Gi"})
    assert judge(usage, cat, NONE).reason == "OOMKilled"
    # ... but it never lowers the working set below the image's own: no annotation heals an OOM kill
    for small in ("1Mi", "0", "10Ki"):
        healed = pod({"image": "mysql:8.4", "env": [{"name": "MYSQL_ROOT_PASSWORD", "value": "x"}],
                      "resources": {"limits": {"memory": "256Mi"}}}, annotations={"kwok.x-k8s.io/usage-memory": small})
        assert judge(healed, cat, NONE).reason == "OOMKilled", small


@pytest.mark.parametrize("probe, message", [
    ({"httpGet": {"port": 8080, "path": "/healthz"}},
     'Readiness probe failed: Get "http://{podIP}:8080/healthz": dial tcp {podIP}:8080: connect: connection refused'),
    ({"httpGet": {"port": 80, "path": "/healthz"}}, "Readiness probe failed: HTTP probe failed with statuscode: 404"),
    ({"tcpSocket": {"port": 81}}, "Readiness probe failed: dial tcp {podIP}:81: connect: connection refused"),
    ({"httpGet": {"port": "web"}}, 'Readiness probe errored: unable to find port "web" in container "c0"'),
    ({"httpGet": {"port": 80, "path": "/"}}, None),
    ({"httpGet": {"port": "http", "path": "/index.html?x=1"}}, None),
    ({"tcpSocket": {"port": 80}}, None),
    ({"exec": {"command": ["true"]}}, None),
])
def test_readiness_probe_against_what_the_image_serves(cat, probe, message):
    v = judge(pod({"image": "nginx:1.27", "ports": [{"name": "http", "containerPort": 80}], "readinessProbe": probe}),
              cat, NONE)
    assert (v and (v.reason, v.message)) == (message and ("Unready", message))


def test_chart_server_is_ready_and_a_wrong_port_is_not(cat):
    server = {"image": "python:3.12-slim", "command": ["python", "-m", "http.server", "8080", "--directory", "/tmp"],
              "ports": [{"name": "http", "containerPort": 8080}], "readinessProbe": {"tcpSocket": {"port": "http"}},
              "resources": {"limits": {"memory": "1Gi"}}}
    assert judge(pod(server), cat, NONE) is None
    wrong = {**server, "readinessProbe": {"httpGet": {"port": 8000, "path": "/"}}}
    assert judge(pod(wrong), cat, NONE).reason == "Unready"


def test_config_references(cat):
    ref = lambda **r: {"image": "nginx:1.27", "env": [{"name": "M", "valueFrom": r}]}
    cm = ref(configMapKeyRef={"name": "cfg", "key": "MODEL"})
    assert judge(pod(cm), cat, NONE).message == 'configmap "cfg" not found'
    assert judge(pod(cm), cat, objects(ConfigMap_cfg={"model"})).message == "couldn't find key MODEL in ConfigMap ns/cfg"
    assert judge(pod(cm), cat, objects(ConfigMap_cfg={"MODEL"})) is None
    secret = ref(secretKeyRef={"name": "tok", "key": "token"})
    assert judge(pod(secret), cat, objects(Secret_tok={"x"})).message == "couldn't find key token in Secret ns/tok"
    assert judge(pod(ref(secretKeyRef={"name": "tok", "key": "t", "optional": True})), cat, NONE) is None
    env_from = {"image": "nginx:1.27", "envFrom": [{"configMapRef": {"name": "all"}}]}
    v = judge(pod(env_from), cat, NONE)
    assert (v.reason, v.message) == ("CreateContainerConfigError", 'configmap "all" not found')
    assert judge(pod(cm), cat, objects(ConfigMap_cfg={"MODEL"})) is None
    # another namespace's ConfigMap does not count
    assert judge(pod(cm, namespace="other"), cat, objects(ConfigMap_cfg={"MODEL"})).reason == "CreateContainerConfigError"


def test_volumes(cat):
    mounts = {"image": "nginx:1.27", "volumeMounts": [{"name": "v", "mountPath": "/etc/v"}]}
    v = judge(pod(mounts, volumes=[{"name": "v", "configMap": {"name": "cfg"}}]), cat, NONE)
    assert (v.reason, v.container) == ("FailedMount", "")
    assert v.message == 'MountVolume.SetUp failed for volume "v" : configmap "cfg" not found'
    items = [{"name": "v", "secret": {"secretName": "s", "items": [{"key": "tls.crt", "path": "c"}]}}]
    assert judge(pod(mounts, volumes=items), cat, objects(Secret_s={"ca"})).message.endswith(
        "secret references non-existent secret key: tls.crt")
    assert judge(pod(mounts, volumes=[{"name": "v", "configMap": {"name": "cfg", "optional": True}}]), cat, NONE) is None
    projected = [{"name": "v", "projected": {"sources": [{"configMap": {"name": "cfg"}}]}}]
    assert judge(pod(mounts, volumes=projected), cat, NONE).reason == "FailedMount"


def test_a_running_pod_keeps_running_when_its_configmap_goes(cat):
    spec = pod({"image": "nginx:1.27", "envFrom": [{"configMapRef": {"name": "cfg"}}]},
               volumes=[{"name": "v", "configMap": {"name": "cfg"}}])
    assert judge(spec, cat, NONE).reason == "FailedMount"
    spec["status"] = {"containerStatuses": [{"name": "c0", "state": {"running": {"startedAt": "t"}}}]}
    assert judge(spec, cat, NONE) is None
    spec["status"] = {"containerStatuses": [{"name": "c0", "state": {"waiting": {"reason": "CreateContainerConfigError"}}}]}
    assert judge(spec, cat, NONE).reason == "FailedMount"


def test_the_order_a_kubelet_meets_failures_in(cat):
    everything = {"image": "postgres:17", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}],
                  "resources": {"limits": {"memory": "1Mi"}}, "readinessProbe": {"tcpSocket": {"port": 1}}}
    vol = [{"name": "v", "configMap": {"name": "c"}}]
    assert judge(pod(everything, volumes=vol), cat, NONE).reason == "FailedMount"
    assert judge(pod({**everything, "image": "postgres:99"}), cat, NONE).reason == "ErrImagePull"
    assert judge(pod(everything), cat, NONE).reason == "CreateContainerConfigError"
    found = objects(ConfigMap_c={"k"})
    assert judge(pod(everything), cat, found).reason == "CrashLoopBackOff"
    everything["env"].append({"name": "POSTGRES_PASSWORD", "value": "x"})
    assert judge(pod(everything), cat, found).reason == "OOMKilled"
    everything["resources"] = {}
    assert judge(pod(everything), cat, found).reason == "Unready"


def test_verdict_annotations_cover_the_marks():
    marks = Verdict("OOMKilled", "c0", "", 137, 0.5).annotations()
    assert marks == {"kubelet.kubelab.io/verdict": "OOMKilled", "kubelet.kubelab.io/container": "c0",
                     "kubelet.kubelab.io/message": "", "kubelet.kubelab.io/exit-code": "137",
                     "kubelet.kubelab.io/runs-for": "0.5s"}
    assert set(marks) == set(KEYS)


@pytest.mark.parametrize("command, waits", [
    (["sh", "-c", "until nslookup db; do sleep 2; done"], "ns/db"),
    (["sh", "-c", "until getent hosts db.data.svc.cluster.local; do sleep 1; done"], "data/db"),
    (["sh", "-c", "while ! nc -z db.data 5432; do sleep 1; done"], "data/db"),
    (["sh", "-c", "until wget -q -O- http://model:8080/health; do sleep 1; done"], "ns/model"),
    (["sh", "-c", "nslookup db"], None),                                         # no loop: it just fails
    (["sh", "-c", "until nslookup example.com; do sleep 1; done"], None),        # not a Service name
])
def test_init_container_waiting_for_a_service(cat, command, waits):
    spec = pod({"image": "nginx:1.27"})
    spec["spec"]["initContainers"] = [{"name": "wait", "image": "busybox:1.36", "command": command}]
    v = judge(spec, cat, NONE)
    assert (v and (v.reason, v.container, v.message)) == (
        waits and ("PodInitializing", "wait", f"waits for Service {waits}, which does not exist"))
    if waits:   # nslookup needs the Service; nc and wget also a ready endpoint on the port
        ns, name = waits.split("/")
        exists = judge(spec, cat, lambda kind, n, o: set() if (kind, n, o) == ("Service", ns, name) else None)
        assert exists is None if "nslookup" in command[2] or "getent" in command[2] else (
            exists.reason == "PodInitializing" and "ready endpoint" in exists.message)
        ready = {("Service", ns, name): {"5432=db", "8080=http"}, ("EndpointSlice", ns, name): {"db", "http"}}
        assert judge(spec, cat, lambda kind, n, o: ready.get((kind, n, o))) is None


def test_liveness_probe_that_fails_restarts_with_the_images_stop_exit_code(cat):
    probe = {"httpGet": {"port": 8080, "path": "/healthz"}, "periodSeconds": 5, "failureThreshold": 3,
             "initialDelaySeconds": 2}
    v = judge(pod({"image": "nginx:1.27", "livenessProbe": probe}), cat, NONE)
    assert (v.reason, v.exit_code, v.runs_for_s) == ("LivenessFailed", 0, 17)
    assert v.message.startswith('Liveness probe failed: Get "http://{podIP}:8080/healthz"')
    served = {"image": "python:3.12-slim", "command": ["python", "-m", "http.server", "8080"]}
    assert judge(pod({**served, "livenessProbe": {"tcpSocket": {"port": 8080}}}), cat, NONE) is None
    assert judge(pod({**served, "livenessProbe": {"tcpSocket": {"port": 80}}}), cat, NONE).exit_code == 137


# -- API access and running to completion ------------------------------------------------------------
def bare(container, restart="Never", **spec):
    p = pod(container)
    p["spec"].update(restartPolicy=restart, **spec)
    return p


def test_api_requests_are_asked_as_the_pods_serviceaccount(cat):
    asked = []

    def access(ns, sa, need):
        asked.append((ns, sa, need.verb, need.resource))
        return None if sa == "reader" else need.printed('configmaps is forbidden: User "x"')
    sidecar = {"image": "quay.io/kiwigrid/k8s-sidecar:1.30.3", "env": [{"name": "LABEL", "value": "x"}]}
    v = judge(pod(sidecar), cat, NONE, access)
    assert v.reason == "CrashLoopBackOff" and v.exit_code == 1 and "(403)" in v.message
    assert '"message":"configmaps is forbidden: User \\"x\\""' in v.message   # escaped inside the JSON body
    assert asked[0] == ("ns", "default", "list", "configmaps")
    p = pod(sidecar)
    p["spec"]["serviceAccountName"] = "reader"
    assert judge(p, cat, NONE, access) is None and ("ns", "reader", "watch", "configmaps") in asked
    # no token mounted: the client cannot even authenticate
    p["spec"]["automountServiceAccountToken"] = False
    assert "no such file or directory" in judge(p, cat, NONE, access).message
    # its missing LABEL comes first (it exits before it talks to the API), and nginx asks nothing
    assert "LABEL" in judge(pod({"image": sidecar["image"]}), cat, NONE, access).message
    assert judge(pod({"image": "nginx:1.27"}), cat, NONE, lambda *a: "denied") is None


def test_kubectl_asks_for_the_resource_of_its_command_line(cat):
    seen = []
    judge(bare({"image": "registry.k8s.io/kubectl:v1.36.0", "args": ["get", "-n", "x", "deployments.apps"]}),
          cat, NONE, lambda ns, sa, need: seen.append(need.resource))
    judge(bare({"image": "bitnami/kubectl", "command": ["kubectl", "logs", "job/train"]}),
          cat, NONE, lambda ns, sa, need: seen.append(need.resource))
    assert seen == ["x", "pods/log"] or seen == ["deployments.apps", "pods/log"]


def test_bare_pods_complete_servers_do_not(cat):
    v = judge(bare({"image": "busybox:1.36", "command": ["sh", "-c", "sleep 3; echo ok"]}), cat, NONE)
    assert (v.reason, v.exit_code, v.runs_for_s) == ("Completed", 0, 3.1)
    assert judge(bare({"image": "busybox:1.36", "command": ["sleep", "infinity"]}), cat, NONE) is None
    assert judge(bare({"image": "nginx:1.27"}), cat, NONE) is None                       # a server
    assert judge(bare({"image": "python:3.12", "command": ["python", "-m", "http.server"]}), cat, NONE) is None
    assert judge(bare({"image": "curlimages/curl:8.11.0", "args": ["-s", "https://example.com"]}, "OnFailure"),
                 cat, NONE).reason == "Completed"
    # Jobs' pods complete by lifecycle.yaml; with Always only a CLI entrypoint ends (and is restarted)
    job = bare({"image": "busybox:1.36", "command": ["true"]})
    job["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "j"}]
    assert judge(job, cat, NONE) is None
    job["spec"]["containers"][0]["command"] = ["wget", "http://gone:80/"]   # ... unless its connection fails
    assert judge(job, cat, NONE).exit_code == 1
    assert judge(pod({"image": "busybox:1.36", "command": ["python", "-c", "print(1)"]}), cat, NONE) is None
    v = judge(pod({"image": "curlimages/curl:8.11.0"}), cat, NONE)
    assert (v.reason, v.exit_code) == ("CrashLoopBackOff", 0)


@pytest.mark.parametrize("command, service, ready, exit_code, printed", [
    (["wget", "-qO-", "http://model:8080/"], None, None, 1, "wget: bad address 'model:8080'"),
    (["wget", "-qO-", "http://model:8080/"], {"8080=http", "ip=10.96.0.9"}, set(), 1,
     "wget: can't connect to remote host (10.96.0.9): Connection refused"),
    (["wget", "-qO-", "http://model:9999/"], {"8080=http", "ip=10.96.0.9"}, {"http"}, 1, "Connection refused"),
    (["sh", "-c", "curl -sf http://model.ns.svc.cluster.local:8080/v1/models"], None, None, 6,
     "curl: (6) Could not resolve host: model.ns.svc.cluster.local"),
    (["nc", "-z", "model", "8080"], {"8080=", "ip=10.96.0.9"}, set(), 1, ""),
    (["wget", "-qO-", "http://model:8080/"], {"8080=http", "ip=10.96.0.9"}, {"http"}, 0, None),
    (["wget", "-qO-", "http://model/"], {"80=", "ip=10.96.0.9"}, {""}, 0, None),
    (["wget", "-qO-", "https://example.com/"], None, None, 0, None),   # not a Service: not judged
])
def test_a_test_pod_that_connects_to_a_service(cat, command, service, ready, exit_code, printed):
    known = {}
    if service is not None:
        known["Service_model"] = service
    if ready is not None:
        known["EndpointSlice_model"] = ready
    v = judge(bare({"image": "busybox:1.36", "command": command}), cat, objects(**known))
    assert v.exit_code == exit_code
    if exit_code:
        assert v.reason == "CrashLoopBackOff" and printed in v.message
    else:
        assert v.reason == "Completed"


def test_init_containers_are_judged_in_order(cat):
    def with_inits(*inits):
        p = pod({"image": "nginx:1.27"})
        p["spec"]["initContainers"] = [{"name": f"i{k}", **c} for k, c in enumerate(inits)]
        return p
    ok = {"image": "busybox:1.36", "command": ["sh", "-c", "echo ready"]}
    v = judge(with_inits(ok, {"image": "busybox:9.9"}), cat, NONE)
    assert (v.reason, v.container) == ("InitErrImagePull", "i1") and "not found" in v.message
    v = judge(with_inits(ok, {"image": "busybox:1.36", "command": ["sh", "-c", "test -f /m/model.bin || exit 3"]}), cat, NONE)
    assert (v.reason, v.container, v.exit_code) == ("InitCrashLoopBackOff", "i1", 3)
    v = judge(with_inits({"image": "busybox:1.36", "command": ["wget", "-qO-", "http://registry:5000/v2/"]}), cat, NONE)
    assert (v.reason, v.exit_code) == ("InitCrashLoopBackOff", 1) and "bad address" in v.message
    v = judge(with_inits({"image": "postgres:17", "command": None}), cat, NONE)   # its entrypoint's need
    assert v.reason == "InitCrashLoopBackOff" and "POSTGRES_PASSWORD" in v.message
    assert judge(with_inits(ok, ok), cat, NONE) is None
    # the first failing init container wins over a broken main container
    p = with_inits({"image": "busybox:9.9"})
    p["spec"]["containers"][0]["image"] = "nginx:1.99"
    assert judge(p, cat, NONE).reason == "InitErrImagePull"


@pytest.mark.parametrize("command, exit_code, printed", [
    (["wget", "-qO-", "http://model:8080/healthz"], 1, "wget: server returned error: HTTP/1.1 404 Not Found"),
    (["wget", "-qO-", "http://model:8080/v2/health/ready"], 0, None),
    (["sh", "-c", "wget -q -O- 'http://model:8080/v2/models/m/ready?x=1' && echo ok"], 0, None),
    (["curl", "-sf", "http://model:8080/healthz"], 22, "curl: (22) The requested URL returned error: 404"),
    (["curl", "--fail", "-s", "http://model:8080/healthz"], 22, "404"),
    (["curl", "-s", "http://model:8080/healthz"], 0, None),   # curl fails on an HTTP error only with --fail
])
def test_a_test_pod_asks_for_a_path_the_ready_pods_behind_the_service_serve(cat, command, exit_code, printed):
    # what Triton's pods serve on the Service's http port (the controller reads it from the catalogue)
    known = {"Service_model": {"8080=http", "ip=10.96.0.9"}, "EndpointSlice_model": {"http"},
             "Paths_model|http": {"/v2/health/ready", "/v2/*"}}
    v = judge(bare({"image": "busybox:1.36", "command": command}), cat, objects(**known))
    assert v.exit_code == exit_code and (printed is None or printed in v.message)


def test_what_a_command_reaches_is_what_it_connects_to_with_its_env_put_in():
    from kubelab.cluster.kubelet import reaches
    url = "http://model:8000/v2/health/ready"
    right = [{"command": ["wget", "-q", "-O-", url]},
             {"command": ["sh", "-c", "wget -q -O- $URL"], "env": [{"name": "URL", "value": url}]},
             {"command": ["sh", "-c", "curl -sf ${URL}"], "env": [{"name": "URL", "value": url}]},
             {"command": ["wget", "-O-", "$(URL)"], "env": [{"name": "URL", "value": url}]},   # Kubernetes' own
             {"command": ["sh", "-c", "nc -z model.ml.svc.cluster.local 8000"]}]
    for c in right:
        assert [(svc, port) for _, svc, port, _ in reaches(c, "ml")] == [("model", "8000")], c
    wrong = [{"command": ["sh", "-c", f"echo {url}"]},                    # printed, not called
             {"command": ["sh", "-c", "wget -q -O- $URL"]},               # the variable is not set
             {"command": ["sh", "-c", "wget -q -O- http://example.com/"]}]
    for c in wrong:
        assert reaches(c, "ml") == [], c
