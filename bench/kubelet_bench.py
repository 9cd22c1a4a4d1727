"""Figures for the simulated kubelet: per rule, the time from applying a broken Deployment to its pod
showing the failure state, and from applying the fix to the rollout being Ready; then N pods with
config references reaching CreateContainerConfigError, and Ready once the ConfigMap exists.

    python bench/kubelet_bench.py              # on a cluster of its own (10 nodes x 250 pods)
    python bench/kubelet_bench.py --pods 300   # a smaller scale figure
    python bench/kubelet_bench.py --stages     # pods/s reaching Running on 100 nodes: these Stages against
                                               # the Stages before the simulated kubelet (from git), one run
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from kubernetes import client

from kubelab.cluster import LocalCluster

POOLS = """pools:
  - {name: bench, count: 10, cpu: "64", memory: 256Gi, pods: 250}
"""
NGINX = {"image": "nginx:1.27"}
VLLM = {"image": "vllm/vllm-openai:v0.30.0", "args": ["--model", "Qwen/Qwen2.5-0.5B-Instruct"]}
EARLY = {"httpGet": {"path": "/health", "port": 8000}, "initialDelaySeconds": 2, "periodSeconds": 2, "failureThreshold": 2}
RULES = {  # rule: (broken container, fixed container, waiting/terminated reason that shows it, volumes)
    "ErrImagePull": ({"image": "nginx:1.99"}, NGINX, "ImagePullBackOff|ErrImagePull", None),
    "CrashLoopBackOff (missing env)": ({"image": "postgres:17"},
                                       {"image": "postgres:17", "env": [{"name": "POSTGRES_PASSWORD", "value": "x"}]},
                                       "last:Error", None),
    "OOMKilled": ({**NGINX, "resources": {"limits": {"memory": "4Mi"}}},
                  {**NGINX, "resources": {"limits": {"memory": "64Mi"}}}, "last:OOMKilled", None),
    "LivenessFailed (probe port)": ({**NGINX, "livenessProbe": {"httpGet": {"port": 8080}, "periodSeconds": 1,
                                                                "failureThreshold": 1}},
                                    {**NGINX, "livenessProbe": {"httpGet": {"port": 80}, "periodSeconds": 1,
                                                                "failureThreshold": 1}}, "last:Completed", None),
    # a model server (10 s to load) killed by a liveness probe that gives up at 6 s; fixed by a startupProbe (Ready >= 10 s)
    "LivenessFailed (start-up)": ({**VLLM, "livenessProbe": EARLY}, {**VLLM, "livenessProbe": EARLY, "startupProbe": {
        **EARLY, "initialDelaySeconds": 0, "failureThreshold": 15}}, "last:Completed", None),
    "Unready (probe port)": ({**NGINX, "readinessProbe": {"httpGet": {"port": 8080}}},
                             {**NGINX, "readinessProbe": {"httpGet": {"port": 80}}}, "unready", None),
    "CreateContainerConfigError": (
        {**NGINX, "env": [{"name": "M", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "M"}}}]},
        {**NGINX, "env": [{"name": "M", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "m"}}}]},
        "CreateContainerConfigError", None),
    "FailedMount": ({**NGINX, "volumeMounts": [{"name": "v", "mountPath": "/etc/v"}]},
                    {**NGINX, "volumeMounts": [{"name": "v", "mountPath": "/etc/v"}]}, "mount",
                    ([{"name": "v", "configMap": {"name": "nope"}}], [{"name": "v", "configMap": {"name": "cfg"}}])),
    # the fix is RBAC, not the spec: "rbac" creates a Role + RoleBinding for the pod's ServiceAccount
    "CrashLoopBackOff (forbidden)": ({"image": "quay.io/kiwigrid/k8s-sidecar:1.30.3", "env": [{"name": "LABEL", "value": "x"}]},
                                     "rbac", "last:Error", None),
    "Init:ErrImagePull": ({**NGINX, "init": {"image": "busybox:9.9", "command": ["true"]}},
                          {**NGINX, "init": {"image": "busybox:1.36", "command": ["true"]}}, "init:ImagePullBackOff|ErrImagePull", None),
    "Init:CrashLoopBackOff": ({**NGINX, "init": {"image": "busybox:1.36", "command": ["sh", "-c", "exit 3"]}},
                              {**NGINX, "init": {"image": "busybox:1.36", "command": ["sh", "-c", "exit 0"]}}, "init:last", None),
}
READ_CONFIGMAPS = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}


def deployment(name, container, volumes=None, replicas=1):
    container = dict(container)
    init = container.pop("init", None)
    spec = {"containers": [{"name": "main", **container}]}
    if init:
        spec["initContainers"] = [{"name": "init", **init}]
    if volumes:
        spec["volumes"] = volumes
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def pods(core, ns, app):
    resp = core.list_namespaced_pod(ns, label_selector=f"app={app}", _preload_content=False)
    return [p for p in json.loads(resp.data)["items"] if not p["metadata"].get("deletionTimestamp")]


def shows(pod, want: str) -> bool:
    cs = (pod.get("status", {}).get("containerStatuses") or [{}])[0]
    if want.startswith("init:"):   # the first init container's state
        cs, want = (pod.get("status", {}).get("initContainerStatuses") or [{}])[0], want[5:]
        if want == "last":
            return bool((cs.get("lastState") or {}).get("terminated"))
    if want == "unready":
        return "running" in cs.get("state", {}) and cs.get("ready") is False and pod["status"].get("phase") == "Running"
    if want == "mount":
        return not pod["status"].get("podIP") and any(c["type"] == "PodReadyToStartContainers" and c["status"] == "False"
                                                      for c in pod["status"].get("conditions") or [])
    if want.startswith("last:"):
        return (cs.get("lastState", {}).get("terminated") or {}).get("reason") == want[5:]
    return (cs.get("state", {}).get("waiting") or {}).get("reason") in want.split("|")


def ready(pod) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])


def wait(fn, timeout=120, every=0.1) -> float:
    start = time.monotonic()
    while not fn():
        if time.monotonic() - start > timeout:
            raise TimeoutError
        time.sleep(every)
    return time.monotonic() - start


def rules(api, runs: int) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    print(f"per rule, {runs} runs (median; max): apply broken -> state | apply fix -> rollout Ready")
    for rule, (broken, fixed, want, volumes) in RULES.items():
        to_state, to_ready = [], []
        for _ in range(runs):
            ns = f"kb-{uuid.uuid4().hex[:6]}"
            core.create_namespace({"metadata": {"name": ns}})
            wait(lambda: core.list_namespaced_service_account(ns).items)
            core.create_namespaced_config_map(ns, {"metadata": {"name": "cfg"}, "data": {"m": "1"}})
            vb, vf = volumes or (None, None)
            apps.create_namespaced_deployment(ns, deployment("app", broken, vb))
            to_state.append(wait(lambda: any(shows(p, want) for p in pods(core, ns, "app"))))
            if fixed == "rbac":
                rbac = client.RbacAuthorizationV1Api(api)
                rbac.create_namespaced_role(ns, {"metadata": {"name": "read"}, "rules": [READ_CONFIGMAPS]})
                rbac.create_namespaced_role_binding(ns, {
                    "metadata": {"name": "read"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                              "name": "read"},
                    "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]})
            else:
                apps.replace_namespaced_deployment("app", ns, deployment("app", fixed, vf))

            def rolled():
                d = apps.read_namespaced_deployment_status("app", ns).status
                live = pods(core, ns, "app")
                return d.updated_replicas == 1 and d.ready_replicas == 1 and len(live) == 1 and ready(live[0])
            to_ready.append(wait(rolled))
            core.delete_namespace(ns)
        print(f"  {rule:32} {statistics.median(to_state):5.1f} s ({max(to_state):4.1f}) | "
              f"{statistics.median(to_ready):5.1f} s ({max(to_ready):4.1f})")


def scale(api, n: int) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    ns = f"kb-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    wait(lambda: core.list_namespaced_service_account(ns).items)
    healthy = deployment("healthy", NGINX, replicas=n)
    start = time.monotonic()
    apps.create_namespaced_deployment(ns, healthy)
    wait(lambda: sum(map(ready, pods(core, ns, "healthy"))) == n, timeout=600, every=1)
    print(f"{n} healthy pods (no verdict) Ready: {time.monotonic() - start:.1f} s (the baseline)")
    apps.delete_namespaced_deployment("healthy", ns)
    wait(lambda: not pods(core, ns, "healthy"), timeout=600, every=1)

    refs = {**NGINX, "env": [{"name": "MODEL", "valueFrom": {"configMapKeyRef": {"name": "model", "key": "MODEL"}}}],
            "envFrom": [{"secretRef": {"name": "token"}}]}
    start = time.monotonic()
    apps.create_namespaced_deployment(ns, deployment("refs", refs, replicas=n))
    wait(lambda: sum(shows(p, "CreateContainerConfigError") for p in pods(core, ns, "refs")) == n, timeout=600, every=1)
    print(f"{n} pods referring to a missing ConfigMap: all CreateContainerConfigError in {time.monotonic() - start:.1f} s")
    start = time.monotonic()
    core.create_namespaced_config_map(ns, {"metadata": {"name": "model"}, "data": {"MODEL": "m"}})
    core.create_namespaced_secret(ns, {"metadata": {"name": "token"}, "stringData": {"TOKEN": "t"}})
    wait(lambda: sum(map(ready, pods(core, ns, "refs"))) == n, timeout=600, every=1)
    print(f"  ConfigMap and Secret created -> the same {n} pods Ready in {time.monotonic() - start:.1f} s")
    core.delete_namespace(ns)


# The last commit whose Stages had no simulated kubelet (lifecycle.yaml + failures.yaml of issue 3).
BEFORE_KUBELET = "596feac~1"
HUNDRED_NODES = """pools:
  - {name: bench, count: 100, cpu: "64", memory: 256Gi, pods: 110}
"""


def running_rate(cluster: LocalCluster, n: int) -> float:
    """Pods per second from the first create to all Running: n bare nginx pods bound round-robin to the
    100 nodes (nodeName set, so the scheduler is not what is measured), created by 16 threads."""
    from concurrent.futures import ThreadPoolExecutor

    api = cluster.connect()
    core = client.CoreV1Api(api)
    nodes = [nd.metadata.name for nd in core.list_node(label_selector="kubelab.io/pool=bench").items]
    ns = f"kr-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    wait(lambda: core.list_namespaced_service_account(ns).items)
    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: core.create_namespaced_pod(ns, {
            "metadata": {"name": f"p{i}"},
            "spec": {"nodeName": nodes[i % len(nodes)], "containers": [{"name": "main", **NGINX}],
                     "tolerations": [{"operator": "Exists"}]}}, _preload_content=False), range(n)))

    def all_running():
        items = json.loads(core.list_namespaced_pod(ns, _preload_content=False).data)["items"]
        return sum(p.get("status", {}).get("phase") == "Running" for p in items) == n
    wait(all_running, timeout=900, every=0.5)
    elapsed = time.monotonic() - start
    core.delete_namespace(ns)
    return n / elapsed


def stages_ratio(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "stages-before"
        old.mkdir()
        for name in ("lifecycle.yaml", "failures.yaml"):
            (old / name).write_text(subprocess.run(["git", "show", f"{BEFORE_KUBELET}:cluster/stages/{name}"],
                                                   capture_output=True, text=True, check=True).stdout)
        pools = Path(tmp) / "pools.yaml"
        pools.write_text(HUNDRED_NODES)
        rates = {}
        for label, stages in (("before (lifecycle + failures)", old), ("now (+ simulated kubelet)", None)):
            cluster = LocalCluster(f"kw-stages-{os.getpid()}", pools_file=pools, progress=False, stages_dir=stages)
            try:
                cluster.up()
                rates[label] = running_rate(cluster, n)
            finally:
                cluster.down(delete=True)
            print(f"  {label:32} {rates[label]:6.1f} pods/s reach Running ({n} pods on 100 nodes)")
        before, now = rates.values()
        print(f"ratio now/before: {now / before:.2f} (1.00 = no cost; the kubelet controller runs in both)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--stages", action="store_true", help="only the Stages figure (pods/s on 100 nodes, ratio)")
    args = ap.parse_args()
    if args.stages:
        stages_ratio(args.pods)
        return
    with tempfile.TemporaryDirectory() as tmp:
        pools = Path(tmp) / "pools.yaml"
        pools.write_text(POOLS)
        cluster = LocalCluster(f"kw-bench-{os.getpid()}", pools_file=pools, progress=False)
        try:
            print(cluster.up())
            api = cluster.connect()
            rules(api, args.runs)
            if args.pods:
                scale(api, args.pods)
        finally:
            cluster.down(delete=True)


if __name__ == "__main__":
    main()
