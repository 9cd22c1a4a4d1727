"""The simulated kubelet on the real control plane: a broken spec shows the state a kubelet shows, the
real fix heals it, removing kubelab's marks does not, and healthy workloads stay healthy."""
from __future__ import annotations

import time

import psutil
import pytest
from kubernetes import client

from kubelab import manifests
from kubelab.cluster.local import KUBELET
from tests.helpers import eventually, fresh_namespace

MARKS = ("kubelet.kubelab.io/verdict", "kubelet.kubelab.io/container", "kubelet.kubelab.io/message",
         "kubelet.kubelab.io/exit-code", "kubelet.kubelab.io/runs-for")


def deployment(name, container, volumes=None, replicas=1):
    spec = {"containers": [{"name": "main", **container}]}
    if volumes:
        spec["volumes"] = volumes
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def pods(api, namespace, app):
    core = client.CoreV1Api(api)
    return [p for p in core.list_namespaced_pod(namespace, label_selector=f"app={app}").items
            if not p.metadata.deletion_timestamp]


def status_of(pod):
    return (pod.status.container_statuses or [None])[0]


def events(api, namespace, pod_name):
    core = client.CoreV1Api(api)
    return [(e.reason, e.message) for e in core.list_namespaced_event(namespace).items
            if e.involved_object.name == pod_name]


def ready(pod):
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def rolled_out(api, namespace, name, replicas=1):
    def check():
        d = client.AppsV1Api(api).read_namespaced_deployment(name, namespace)
        live = pods(api, namespace, name)
        return (d.status.updated_replicas == replicas and d.status.ready_replicas == replicas
                and (d.status.replicas or 0) == replicas and len(live) == replicas and all(map(ready, live)))
    return eventually(check, timeout=40, what=f"Deployment {name} rolled out and Ready")


def strip_marks(api, namespace, pod_name):
    """Remove every kubelab annotation from the pod (what a learner might try)."""
    core = client.CoreV1Api(api)
    pod = core.read_namespaced_pod(pod_name, namespace)
    marks = [k for k in (pod.metadata.annotations or {}) if "kubelab.io" in k]
    core.patch_namespaced_pod(pod_name, namespace, {"metadata": {"annotations": {k: None for k in marks}}})
    return marks


# Each rule: the broken container, the fixed one, what the broken pod's status shows, the event it has.
def pull_state(cs, pod):
    w = cs.state.waiting
    return (w and w.reason in ("ErrImagePull", "ImagePullBackOff") and "nginx:1.99" in w.message
            and "not found" in w.message and pod.status.phase == "Pending")


def crash_state(exit_code, reason):
    def check(cs, pod):
        last = cs.last_state.terminated if cs.last_state else None
        return (cs.restart_count >= 1 and last and last.exit_code == exit_code and last.reason == reason
                and pod.status.phase == "Running" and not ready(pod))
    return check


def unready_state(cs, pod):
    return cs.state.running and cs.started and not cs.ready and pod.status.phase == "Running" and not ready(pod)


def config_state(cs, pod):
    w = cs.state.waiting
    return w and w.reason == "CreateContainerConfigError" and "couldn't find key MODEL in ConfigMap" in w.message


def mount_state(cs, pod):
    return (cs.state.waiting and cs.state.waiting.reason == "ContainerCreating" and not pod.status.pod_ip
            and any(c.type == "PodReadyToStartContainers" and c.status == "False" for c in pod.status.conditions))


NGINX = {"image": "nginx:1.27"}
RULES = {
    "ErrImagePull": ({"image": "nginx:1.99"}, NGINX, pull_state, ("Failed", 'Failed to pull image "nginx:1.99"')),
    "CrashLoopBackOff-env": ({"image": "postgres:17"},
                             {"image": "postgres:17", "env": [{"name": "POSTGRES_PASSWORD", "value": "s3cret"}]},
                             crash_state(1, "Error"), ("BackOff", "Back-off restarting failed container main")),
    "CrashLoopBackOff-mount": (
        {"image": "nvcr.io/nvidia/tritonserver:24.05-py3", "command": ["tritonserver", "--model-repository=/models"]},
        {"image": "nvcr.io/nvidia/tritonserver:24.05-py3", "command": ["tritonserver", "--model-repository=/models"],
         "volumeMounts": [{"name": "models", "mountPath": "/models"}]},
        crash_state(1, "Error"), ("BackOff", "Back-off restarting failed container main")),
    "OOMKilled": ({**NGINX, "resources": {"limits": {"memory": "4Mi"}}},
                  {**NGINX, "resources": {"limits": {"memory": "64Mi"}}},
                  crash_state(137, "OOMKilled"), ("BackOff", "Back-off restarting failed container main")),
    "LivenessFailed": ({**NGINX, "livenessProbe": {"httpGet": {"port": 8080, "path": "/healthz"}, "periodSeconds": 1,
                                                   "failureThreshold": 1}},
                       {**NGINX, "livenessProbe": {"httpGet": {"port": 80, "path": "/"}, "periodSeconds": 1,
                                                   "failureThreshold": 1}},
                       crash_state(0, "Completed"), ("Killing", "Container main failed liveness probe, will be restarted")),
    "Unready": ({**NGINX, "readinessProbe": {"httpGet": {"port": 8080, "path": "/healthz"}, "periodSeconds": 1}},
                {**NGINX, "readinessProbe": {"httpGet": {"port": 80, "path": "/"}, "periodSeconds": 1}},
                unready_state, ("Unhealthy", "Readiness probe failed: Get \"http://")),
    "CreateContainerConfigError": (
        {**NGINX, "env": [{"name": "MODEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "MODEL"}}}]},
        {**NGINX, "env": [{"name": "MODEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "model"}}}]},
        config_state, ("Failed", "Error: couldn't find key MODEL in ConfigMap")),
}
VOLUMES = {"CrashLoopBackOff-mount": [{"name": "models", "emptyDir": {}}]}


@pytest.fixture
def other_namespace(api):
    name = fresh_namespace(api)
    yield name
    client.CoreV1Api(api).delete_namespace(name)


@pytest.mark.parametrize("rule", list(RULES))
def test_broken_spec_shows_the_state_and_the_fix_heals_it(api, namespace, other_namespace, rule):
    broken, fixed, state, (reason, message) = RULES[rule]
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}, "data": {"model": "m"}})
    for ns in (namespace, other_namespace):  # healthy neighbours, here and in another namespace
        manifests.apply(api, deployment("healthy", {**NGINX, "readinessProbe": {"tcpSocket": {"port": 80}}}),
                        namespace=ns)
    manifests.apply(api, deployment("app", broken, VOLUMES.get(rule)), namespace=namespace)
    started = time.monotonic()

    def broken_state():
        live = pods(api, namespace, "app")
        return live[0] if len(live) == 1 and status_of(live[0]) and state(status_of(live[0]), live[0]) else None
    pod = eventually(broken_state, timeout=20, what=f"the {rule} state")
    assert time.monotonic() - started < 20
    name = pod.metadata.name
    eventually(lambda: any(r == reason and message in (m or "") for r, m in events(api, namespace, name)),
               timeout=15, what=f"a {reason} event")
    if rule == "Unready":  # the Service's endpoint for this pod is not ready
        core.create_namespaced_service(namespace, {"metadata": {"name": "app"},
                                                   "spec": {"selector": {"app": "app"}, "ports": [{"port": 80}]}})
        disc = client.DiscoveryV1Api(api)

        def endpoint():
            slices = disc.list_namespaced_endpoint_slice(namespace, label_selector="kubernetes.io/service-name=app")
            eps = [e for s in slices.items for e in s.endpoints or []]
            return eps if eps else None
        eps = eventually(endpoint, timeout=15, what="the EndpointSlice endpoint")
        assert [e.conditions.ready for e in eps] == [False]

    # removing every kubelab annotation does not heal it
    assert "kubelet.kubelab.io/verdict" in strip_marks(api, namespace, name)
    time.sleep(3)
    again = core.read_namespaced_pod(name, namespace)
    assert again.metadata.annotations.get("kubelet.kubelab.io/verdict"), "the kubelet marks the pod again"
    assert state(status_of(again), again), f"{rule}: the pod healed when its annotations were removed"
    assert not ready(again)

    # the real fix, rolled out, heals it
    manifests.apply(api, deployment("app", fixed, VOLUMES.get(rule)), namespace=namespace)
    rolled_out(api, namespace, "app")
    for p in pods(api, namespace, "app"):
        assert not any(k in (p.metadata.annotations or {}) for k in MARKS)
    for ns in (namespace, other_namespace):
        live = pods(api, ns, "healthy")
        assert len(live) == 1 and ready(live[0]) and status_of(live[0]).restart_count == 0


def test_creating_the_missing_configmap_heals_the_same_pods(api, namespace):
    core = client.CoreV1Api(api)
    container = {**NGINX, "envFrom": [{"configMapRef": {"name": "later"}}]}
    manifests.apply(api, deployment("app", container, replicas=2), namespace=namespace)

    def waiting():
        live = pods(api, namespace, "app")
        return len(live) == 2 and all(status_of(p) and status_of(p).state.waiting
                                      and status_of(p).state.waiting.reason == "CreateContainerConfigError"
                                      and status_of(p).state.waiting.message == 'configmap "later" not found'
                                      for p in live)
    eventually(waiting, timeout=20, what="CreateContainerConfigError on both pods")
    names = {p.metadata.name for p in pods(api, namespace, "app")}
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "later"}, "data": {"A": "1"}})
    rolled_out(api, namespace, "app", replicas=2)
    assert {p.metadata.name for p in pods(api, namespace, "app")} == names  # the same pods started


def test_missing_configmap_volume_is_failed_mount(api, namespace):
    core = client.CoreV1Api(api)
    volumes = [{"name": "config", "configMap": {"name": "settings"}}]
    manifests.apply(api, deployment("app", {**NGINX, "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}]},
                                    volumes), namespace=namespace)
    pod = eventually(lambda: next((p for p in pods(api, namespace, "app")
                                   if status_of(p) and mount_state(status_of(p), p)), None),
                     timeout=20, what="a pod stuck in ContainerCreating")
    eventually(lambda: ("FailedMount", 'MountVolume.SetUp failed for volume "config" : configmap "settings" not found')
               in events(api, namespace, pod.metadata.name), timeout=10, what="the FailedMount event")
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    rolled_out(api, namespace, "app")


def test_bare_pod_with_restart_policy_never_fails_once(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, {"metadata": {"name": "db"},
                                           "spec": {"restartPolicy": "Never",
                                                    "containers": [{"name": "main", "image": "postgres:17"}]}})

    def failed():
        pod = core.read_namespaced_pod("db", namespace)
        cs = status_of(pod)
        return pod.status.phase == "Failed" and cs and cs.state.terminated and cs.state.terminated.exit_code == 1
    eventually(failed, timeout=20, what="the pod Failed with exit code 1")
    time.sleep(2)
    pod = core.read_namespaced_pod("db", namespace)
    assert pod.status.phase == "Failed" and status_of(pod).restart_count == 0


def test_crash_restarts_climb_with_the_kubelets_back_off(api, namespace):
    manifests.apply(api, deployment("app", {"image": "postgres:17"}), namespace=namespace)

    def restarts(n):
        live = pods(api, namespace, "app")
        return live and status_of(live[0]) and status_of(live[0]).restart_count >= n and live[0]
    eventually(lambda: restarts(1), timeout=15, what="the first restart")
    pod = eventually(lambda: restarts(2), timeout=25, what="the second restart (after a 10 s back-off)")
    back_off = eventually(lambda: next((m for r, m in events(api, namespace, pod.metadata.name) if r == "BackOff"), None),
                          timeout=5, what="a BackOff event")
    assert f"in pod {pod.metadata.name}_{namespace}" in back_off
    core = client.CoreV1Api(api)
    for previous in (False, True):  # kubectl logs [--previous]: the line postgres dies with, marked simulated
        text = eventually(lambda: core.read_namespaced_pod_log(pod.metadata.name, namespace, container="main",
                                                               previous=previous),
                          timeout=10, what="the crash log")
        assert "[simulated log" in text and "Error: Database is uninitialized" in text


def test_killed_kubelet_is_restarted_by_up_and_judges_again(api, namespace, local_cluster):
    kubelet = next(c for c in local_cluster.components() if c.name == KUBELET)
    assert kubelet.running
    proc = psutil.Process(kubelet.pid)
    proc.kill()
    proc.wait(5)
    assert not next(c for c in local_cluster.components() if c.name == KUBELET).running
    assert not local_cluster.running()
    # created while no kubelet judges: it runs as if healthy ...
    broken = deployment("app", {**NGINX, "resources": {"limits": {"memory": "4Mi"}}})
    manifests.apply(api, broken, namespace=namespace)
    rolled_out(api, namespace, "app")
    assert "restarted the simulated kubelet" in local_cluster.up()
    assert local_cluster.running()
    # ... and is judged once the kubelet is back; new broken pods are judged too
    check = crash_state(137, "OOMKilled")
    eventually(lambda: all(status_of(p) and check(status_of(p), p) for p in pods(api, namespace, "app")),
               timeout=20, what="OOMKilled after the restart")
    manifests.apply(api, deployment("web", {"image": "nginx:1.99"}), namespace=namespace)
    eventually(lambda: any(status_of(p) and pull_state(status_of(p), p) for p in pods(api, namespace, "web")),
               timeout=20, what="ErrImagePull after the restart")
    assert "watching pods, ConfigMaps, Secrets, Services" in local_cluster.logs(KUBELET)


def test_simulate_annotation_still_wins(api, namespace):
    """Lessons that only want to show a state keep kubelab.io/simulate; the kubelet leaves those pods alone."""
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, {"metadata": {"name": "p", "annotations": {"kubelab.io/simulate": "CrashLoopBackOff"}},
                                           "spec": {"containers": [{"name": "main", "image": "nginx:1.99"}]}})
    eventually(lambda: (status_of(core.read_namespaced_pod("p", namespace)) or None)
               and status_of(core.read_namespaced_pod("p", namespace)).state.waiting
               and status_of(core.read_namespaced_pod("p", namespace)).state.waiting.reason == "CrashLoopBackOff",
               timeout=15, what="the simulated CrashLoopBackOff")
    pod = core.read_namespaced_pod("p", namespace)
    assert not any(k in (pod.metadata.annotations or {}) for k in MARKS)


def test_init_container_waits_for_the_service_until_it_exists(api, namespace):
    core = client.CoreV1Api(api)
    dep = deployment("app", NGINX)
    dep["spec"]["template"]["spec"]["initContainers"] = [
        {"name": "wait-db", "image": "busybox:1.36", "command": ["sh", "-c", "until nslookup db; do sleep 2; done"]}]
    manifests.apply(api, dep, namespace=namespace)

    def waiting():
        live = pods(api, namespace, "app")
        if len(live) != 1 or not live[0].status.init_container_statuses:
            return None
        init, main = live[0].status.init_container_statuses[0], status_of(live[0])
        initialized = next((c for c in live[0].status.conditions if c.type == "Initialized"), None)
        return (init.state.running and not init.ready and main and main.state.waiting
                and main.state.waiting.reason == "PodInitializing" and initialized and initialized.status == "False"
                and live[0].status.phase == "Pending") and live[0]
    pod = eventually(waiting, timeout=20, what="Init:0/1 waiting for the Service")
    strip_marks(api, namespace, pod.metadata.name)
    time.sleep(3)
    assert waiting(), "removing the marks let the init container finish"
    core.create_namespaced_service(namespace, {"metadata": {"name": "db"},
                                               "spec": {"selector": {"app": "db"}, "ports": [{"port": 5432}]}})
    rolled_out(api, namespace, "app")
    assert {p.metadata.name for p in pods(api, namespace, "app")} == {pod.metadata.name}


# -- API access, decided by a real SubjectAccessReview -------------------------------------------------
SIDECAR = {"image": "quay.io/kiwigrid/k8s-sidecar:1.30.3", "env": [{"name": "LABEL", "value": "model-config"}]}
READ_CONFIGMAPS = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}


def with_account(dep, account):
    dep["spec"]["template"]["spec"]["serviceAccountName"] = account
    return dep


def crash_log(api, namespace, app):
    live = pods(api, namespace, app)
    if not live or not status_of(live[0]) or not status_of(live[0]).restart_count:
        return None
    try:
        return client.CoreV1Api(api).read_namespaced_pod_log(  # raw: the client mangles JSON-looking text
            live[0].metadata.name, namespace, container="main", previous=True, _preload_content=False).data.decode()
    except client.ApiException:
        return None


@pytest.mark.parametrize("grant", ["role", "clusterrole-in-namespace"])
def test_image_that_needs_api_access_crashes_forbidden_until_rbac_allows_it(api, namespace, grant):
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "loader"}})
    manifests.apply(api, with_account(deployment("loader", SIDECAR), "loader"), namespace=namespace)
    text = eventually(lambda: crash_log(api, namespace, "loader"), timeout=25, what="the forbidden crash log")
    user = f"system:serviceaccount:{namespace}:loader"
    assert (f'configmaps is forbidden: User \\"{user}\\" cannot list resource \\"configmaps\\" in API group \\"\\" '
            f'in the namespace \\"{namespace}\\"') in text and "(403)" in text and "[simulated log" in text
    strip_marks(api, namespace, pods(api, namespace, "loader")[0].metadata.name)
    time.sleep(2)
    assert not ready(pods(api, namespace, "loader")[0]), "removing the marks healed it"
    # the fix: RBAC that lets the ServiceAccount read ConfigMaps here (either form heals it)
    if grant == "role":
        rbac.create_namespaced_role(namespace, {"metadata": {"name": "read-config"}, "rules": [READ_CONFIGMAPS]})
        ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-config"}
    else:
        ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    rbac.create_namespaced_role_binding(namespace, {"metadata": {"name": "loader"}, "roleRef": ref,
                                                    "subjects": [{"kind": "ServiceAccount", "name": "loader",
                                                                  "namespace": namespace}]})
    eventually(lambda: all(ready(p) and not (p.metadata.annotations or {}).get(MARKS[0])
                           for p in pods(api, namespace, "loader")) and pods(api, namespace, "loader"),
               timeout=45, what="the loader healed by RBAC (its next restart succeeds)")


def test_kubectl_job_pod_fails_forbidden_without_rbac_and_completes_with_it(api, namespace):
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    spec = {"restartPolicy": "Never", "containers": [{"name": "main", "image": "registry.k8s.io/kubectl:v1.36.0",
                                                      "args": ["get", "po", "-o", "name"]}]}
    core.create_namespaced_pod(namespace, {"metadata": {"name": "lister"}, "spec": spec})

    def finished(name, phase):
        pod = core.read_namespaced_pod(name, namespace)
        return pod.status.phase == phase and pod
    pod = eventually(lambda: finished("lister", "Failed"), timeout=20, what="the kubectl pod Failed")
    term = status_of(pod).state.terminated
    assert term.exit_code == 1 and term.reason == "Error"
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "pods"},
                                            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "pods"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pods"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}]})
    time.sleep(2)  # the authorizer learns of the binding
    core.create_namespaced_pod(namespace, {"metadata": {"name": "lister2"}, "spec": spec})
    pod = eventually(lambda: finished("lister2", "Succeeded"), timeout=20, what="the kubectl pod Succeeded")
    assert status_of(pod).state.terminated.exit_code == 0 and status_of(pod).state.terminated.reason == "Completed"


# -- bare pods that run to completion (helm test hooks) -----------------------------------------------
def test_bare_test_pod_fails_until_the_service_has_a_ready_endpoint_then_succeeds(api, namespace):
    core = client.CoreV1Api(api)

    def probe_pod(name, command):
        core.create_namespaced_pod(namespace, {"metadata": {"name": name}, "spec": {
            "restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36", "command": command}]}})

    def phase_of(name):
        pod = core.read_namespaced_pod(name, namespace)
        return pod.status.phase in ("Succeeded", "Failed") and pod
    wget = ["wget", "-q", "-O-", "http://model:8080/"]
    probe_pod("t1", wget)   # no such Service
    pod = eventually(lambda: phase_of("t1"), timeout=20, what="t1 finished")
    assert pod.status.phase == "Failed" and status_of(pod).state.terminated.exit_code == 1
    assert "wget: bad address 'model:8080'" in core.read_namespaced_pod_log("t1", namespace)
    # the Service exists but nothing behind it is ready (its pods fail readiness)
    core.create_namespaced_service(namespace, {"metadata": {"name": "model"}, "spec": {
        "selector": {"app": "model"}, "ports": [{"name": "http", "port": 8080, "targetPort": 80}]}})
    broken = {**NGINX, "readinessProbe": {"httpGet": {"port": 8080, "path": "/"}, "periodSeconds": 1}}
    manifests.apply(api, deployment("model", broken), namespace=namespace)
    eventually(lambda: any(status_of(p) and status_of(p).state.running for p in pods(api, namespace, "model")),
               timeout=20, what="the model pod running (unready)")
    probe_pod("t2", wget)
    pod = eventually(lambda: phase_of("t2"), timeout=20, what="t2 finished")
    assert pod.status.phase == "Failed"
    assert "Connection refused" in core.read_namespaced_pod_log("t2", namespace)
    # fixed: the probe on the port nginx serves; a test pod now completes, and one that only sleeps too
    manifests.apply(api, deployment("model", {**NGINX, "readinessProbe": {"httpGet": {"port": 80, "path": "/"},
                                                                          "periodSeconds": 1}}), namespace=namespace)
    rolled_out(api, namespace, "model")
    time.sleep(1)  # the EndpointSlice follows the pod's Ready condition
    probe_pod("t3", wget)
    probe_pod("t4", ["sh", "-c", "sleep 2; echo done"])
    # while it runs, a container without a readiness probe is Ready, as on a real node
    eventually(lambda: ready(core.read_namespaced_pod("t4", namespace)), timeout=10, what="t4 Ready while it runs")
    for name in ("t3", "t4"):
        pod = eventually(lambda: phase_of(name), timeout=20, what=f"{name} finished")
        assert pod.status.phase == "Succeeded", name
        term = status_of(pod).state.terminated
        assert term.exit_code == 0 and term.reason == "Completed"
        ready_cond = next(c for c in pod.status.conditions if c.type == "Ready")
        assert ready_cond.status == "False" and ready_cond.reason == "PodCompleted"
    # a path nginx does not serve is a 404 for wget (the catalogue says what the pods behind it serve)
    probe_pod("t5", ["wget", "-q", "-O-", "http://model:8080/healthz"])
    pod = eventually(lambda: phase_of("t5"), timeout=20, what="t5 finished")
    assert pod.status.phase == "Failed" and "404 Not Found" in core.read_namespaced_pod_log("t5", namespace)


def test_bare_server_pod_with_restart_policy_never_keeps_running(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, {"metadata": {"name": "web"}, "spec": {
        "restartPolicy": "Never", "containers": [{"name": "main", "image": "nginx:1.27"}]}})
    eventually(lambda: core.read_namespaced_pod("web", namespace).status.phase == "Running", timeout=20,
               what="nginx running")
    time.sleep(3)
    assert core.read_namespaced_pod("web", namespace).status.phase == "Running"


# -- init containers ----------------------------------------------------------------------------------
def init_status(api, namespace, app):
    live = pods(api, namespace, app)
    return (live[0], live[0].status.init_container_statuses) if len(live) == 1 and live[0].status.init_container_statuses else (None, None)


def test_init_container_with_a_missing_image_is_init_errimagepull_until_fixed(api, namespace):
    dep = deployment("app", NGINX)
    dep["spec"]["template"]["spec"]["initContainers"] = [
        {"name": "fetch", "image": "busybox:1.36", "command": ["sh", "-c", "echo fetched"]},
        {"name": "convert", "image": "python:3.99-slim", "command": ["python", "-c", "print(1)"]}]
    manifests.apply(api, dep, namespace=namespace)

    def pulling():
        pod, inits = init_status(api, namespace, "app")
        if not inits or len(inits) != 2:
            return None
        w = inits[1].state.waiting
        return (inits[0].state.terminated and inits[0].state.terminated.reason == "Completed" and w
                and w.reason in ("ErrImagePull", "ImagePullBackOff") and "python:3.99-slim" in w.message
                and status_of(pod).state.waiting.reason == "PodInitializing" and pod.status.phase == "Pending") and pod
    pod = eventually(pulling, timeout=20, what="Init:ErrImagePull on the second init container")
    eventually(lambda: ("Failed", 'Failed to pull image "python:3.99-slim"') in
               [(r, m[:len('Failed to pull image "python:3.99-slim"')]) for r, m in events(api, namespace, pod.metadata.name)],
               timeout=10, what="the Failed pull event")
    strip_marks(api, namespace, pod.metadata.name)
    time.sleep(2)
    assert pulling(), "removing the marks healed it"
    dep["spec"]["template"]["spec"]["initContainers"][1]["image"] = "python:3.12-slim"
    manifests.apply(api, dep, namespace=namespace)
    rolled_out(api, namespace, "app")


def test_init_container_that_exits_non_zero_is_init_crashloopbackoff_and_never_fails_the_pod(api, namespace):
    core = client.CoreV1Api(api)
    check = {"name": "check-model", "image": "busybox:1.36",
             "command": ["sh", "-c", "echo checking the model; exit 3"]}
    dep = deployment("app", NGINX)
    dep["spec"]["template"]["spec"]["initContainers"] = [check]
    manifests.apply(api, dep, namespace=namespace)

    def crashing():
        pod, inits = init_status(api, namespace, "app")
        last = inits and inits[0].last_state and inits[0].last_state.terminated
        return (last and last.exit_code == 3 and inits[0].restart_count >= 1 and pod.status.phase == "Pending"
                and status_of(pod).state.waiting.reason == "PodInitializing") and pod
    pod = eventually(crashing, timeout=25, what="Init:CrashLoopBackOff")
    assert any(r == "BackOff" for r, _ in events(api, namespace, pod.metadata.name))
    # restartPolicy Never: the first exit fails the pod (Init:Error), no restart
    core.create_namespaced_pod(namespace, {"metadata": {"name": "once"}, "spec": {
        "restartPolicy": "Never", "initContainers": [check], "containers": [{"name": "main", **NGINX}]}})

    def failed():
        p = core.read_namespaced_pod("once", namespace)
        inits = p.status.init_container_statuses or []
        return (p.status.phase == "Failed" and inits and inits[0].state.terminated
                and inits[0].state.terminated.exit_code == 3 and inits[0].restart_count == 0)
    eventually(failed, timeout=20, what="the Never pod Failed by its init container")


def test_init_wait_loop_on_wget_continues_once_the_service_has_a_ready_endpoint(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_service(namespace, {"metadata": {"name": "model"}, "spec": {
        "selector": {"app": "model"}, "ports": [{"name": "http", "port": 8080, "targetPort": 80}]}})
    dep = deployment("app", NGINX)
    dep["spec"]["template"]["spec"]["initContainers"] = [
        {"name": "wait-model", "image": "busybox:1.36",
         "command": ["sh", "-c", "until wget -q -O- http://model:8080/; do sleep 1; done"]}]
    manifests.apply(api, dep, namespace=namespace)

    def waiting():
        pod, inits = init_status(api, namespace, "app")
        return inits and inits[0].state.running and pod.status.phase == "Pending" and pod
    eventually(waiting, timeout=20, what="the init container waiting for a ready endpoint")
    time.sleep(2)
    assert waiting(), "the Service exists but nothing behind it is ready: the loop must go on"
    manifests.apply(api, deployment("model", NGINX), namespace=namespace)
    rolled_out(api, namespace, "app")
