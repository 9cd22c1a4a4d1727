"""A graded lab's working state: the learner's own namespace, emptied at the start of every run, and the
learner's manifest files applied into it.

    ns = kl.course.lab.start(api, "lab1")            # <learner>-lab1, empty: this notebook recreates it all
    kl.course.lab.apply_files(api, "manifests", ns)  # the learner's files, $namespace filled in
    kl.course.lab.settle(api, ns)                    # until the scheduler has decided every pod (never raises)
    kl.course.lab.free_gpus(api, ns)                 # at the end of a GPU lab: the next person needs them
    ns = kl.course.lab.start(api, "lab2", registry=kl.registry(api))   # also deletes oci://<registry>/<ns>/*
    storage_class = kl.course.lab.artifacts_volume(api, ns)             # a fresh static PV for the lab's PVC
    key_secret = kl.course.lab.api_key(api, ns)                         # a Secret with a fresh random API key
    gateway = kl.course.lab.gateway(api, ns)                            # the platform's Gateway "models", Programmed

Grading = reset the namespace -> execute the submission (its own cells and files recreate the objects)
-> the test cells read the live state. So a grade never depends on what an earlier run left behind, and
a fix made only in a terminal is not graded. The learner comes from sandbox.learner_name (the grading
run sets KUBELAB_LEARNER).
"""
from __future__ import annotations

import string
from pathlib import Path

from .. import manifests
from .._k8s.apierrors import delete_if_present
from .._k8s.poll import until
from ..errors import ManifestError
from . import sandbox

__all__ = ["api_key", "apply_files", "artifacts_volume", "files", "free_gpus", "gateway", "settle", "start"]


def start(api, lab: str, learner: str | None = None, *, registry: str | None = None) -> str:
    """Empty (or create) the learner's namespace for `lab` and return its name: an identity that may delete
    it (the instructor's, a laptop's admin) deletes and recreates it; the learner's own (graded as the
    learner, or in a hub) may not, so what is in it is deleted (sandbox.empty). With `registry` (host:port
    of an OCI registry), also delete every repository under `<registry>/<namespace>/` (the charts an earlier
    run pushed), so a chart is graded only when this run publishes it."""
    namespace = sandbox.namespace_name(lab, learner)
    if sandbox.can_i(api, "delete", "namespaces", name=namespace):
        namespace = sandbox.reset(api, lab, learner).namespace
    else:   # graded as the learner (or a hub's learner): the namespace is given; empty what is in it
        sandbox.empty(api, namespace)
    gone = ""
    if registry:
        from ..cluster.registry import Client

        reg = Client(registry)
        repos = reg.repositories(prefix=f"{namespace}/")
        for repo in repos:
            reg.delete_repository(repo)
        gone = f"; oci://{reg.address}/{namespace}/ emptied" if repos else ""
    print(f"Your namespace for {lab}: {namespace} (emptied{gone}: what is graded is what this notebook creates)")
    return namespace


def artifacts_volume(api, namespace: str, size: str = "1Gi", timeout: float = 30) -> str:
    """A fresh static PersistentVolume for one PVC of `namespace` (the embedded cluster has no storage
    provisioner; a cluster with one needs none of this): named and classed `<namespace>-artifacts`, ReadOnlyMany,
    Retain. An earlier one (Released once its claim went with the namespace) is deleted first. Returns the
    storageClassName a PVC asks for to bind to it. (Simulated storage: a hostPath no container reads.)"""
    from kubernetes import client

    core, name = client.CoreV1Api(api), f"{namespace}-artifacts"
    delete_if_present(core.delete_persistent_volume, name)
    gone = lambda: name not in {pv.metadata.name for pv in core.list_persistent_volume(
        field_selector=f"metadata.name={name}").items}
    until(lambda: (gone(), None), timeout, every=0.2)
    core.create_persistent_volume({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {"capacity": {"storage": size}, "accessModes": ["ReadOnlyMany", "ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": name,
                 "hostPath": {"path": f"/var/lib/kubelab/{name}"}}})
    return name


def api_key(api, namespace: str, name: str = "model-api-key", key: str = "api-key") -> str:
    """Secret `name` of `namespace` with a fresh random value under `key` (made anew each run, so an earlier
    run's value is gone), as an operator or a secrets manager would provide it before a release: charts refer
    to it by name and never carry its value. Returns `name`; the value is never printed or returned."""
    import secrets

    from kubernetes import client

    core = client.CoreV1Api(api)
    delete_if_present(core.delete_namespaced_secret, name, namespace)
    core.create_namespaced_secret(namespace, {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "kubelab"}},
        "stringData": {key: secrets.token_urlsafe(24)}})
    return name


def gateway(api, namespace: str, name: str = "models", timeout: float = 60) -> str:
    """The platform's Gateway `name` in `namespace`, as a platform team provides it before a team routes to it: class
    eg (Envoy Gateway, the embedded cluster's controller), one HTTP listener `http` on port 80 that admits routes of
    its own namespace. Waits until the controller has Programmed it; returns `name`."""
    from ..cluster.gateway import GATEWAY_CLASS
    from ..wait import wait_for

    manifests.apply(api, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                          "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "kubelab"}},
                          "spec": {"gatewayClassName": GATEWAY_CLASS,
                                   "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}},
                    namespace=namespace)
    wait_for(api, "Gateway", name, namespace, "condition=Programmed", timeout=timeout)
    return name


def files(folder: str | Path) -> list[Path]:
    """The manifest files of a lab folder, sorted (*.yaml, *.yml); a file is itself."""
    if Path(folder).is_file():
        return [Path(folder)]
    return sorted(p for p in Path(folder).iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def apply_files(api, folder: str | Path, namespace: str) -> list[str]:
    """Apply every manifest file of `folder` (or the one file `folder`) into `namespace`, each with `$namespace`
    filled in (so a Namespace object can name the lab's namespace); returns "Kind/name" of what was applied.
    As `kubectl apply -f` does, an object the API server refuses (or a file that cannot be read) does not stop
    the others: every one is applied that can be, then one ManifestError names each refusal, so a mistake
    costs only the cells that grade it."""
    applied, refused = [], []
    for path in files(folder):
        # safe_substitute: a `$VAR` of a shell command in the file stays as written
        text = string.Template(path.read_text()).safe_substitute(namespace=namespace)
        errors: list[ManifestError] = []
        try:
            applied += [f"{o['kind']}/{o['metadata']['name']}"
                        for o in manifests.apply(api, text, namespace=namespace, refused=errors)]
        except ManifestError as err:   # the file itself: malformed YAML, an unknown kind
            errors.append(err)
        refused += [f"{Path(path).name}: {e.problem}" for e in errors]
    if refused:   # the refusals first (a grading note keeps the first line), then what was applied
        raise ManifestError("refused:\n- " + "\n- ".join(refused) + f"\n{len(applied)} applied"
                            + (f": {', '.join(applied)}" if applied else ""),
                            "fix what each refusal names and run this cell again; the cells below grade what was applied")
    return applied


def _decided(pod: dict) -> bool:
    """The scheduler has decided the pod: it is bound, or marked unschedulable with no preemption under way."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if spec.get("nodeName"):
        return True
    return not status.get("nominatedNodeName") and any(
        c.get("type") == "PodScheduled" and c.get("status") == "False" for c in status.get("conditions") or [])


def settle(api, namespace: str, timeout: float = 30, quiet_for: float = 1.0) -> str:
    """Wait until the scheduler has decided every pod of `namespace` (bound, or unschedulable with its
    reason) and every Deployment has all its pods, for `quiet_for` s in a row, or `timeout` s have gone.
    Never raises on a pod that cannot be placed (what is graded is where things are); returns and prints
    one line: how many pods are bound and how many pend."""
    import time

    from kubernetes import client

    from .._k8s import raw

    def state():
        pods = [p for p in raw.pods(api, namespace) if not p["metadata"].get("deletionTimestamp")]
        deps = raw.items(client.AppsV1Api(api).list_namespaced_deployment, namespace)
        done = all(_decided(p) for p in pods) and all(
            (d.get("status") or {}).get("replicas", 0) >= (d.get("spec") or {}).get("replicas", 1)
            and (d.get("status") or {}).get("observedGeneration", 0) >= d["metadata"].get("generation", 0)
            for d in deps)
        return done, pods

    calm_since: list[float] = []  # when the state was first seen decided, in this calm spell

    def step():
        done, pods = state()
        if not done:
            calm_since.clear()
        elif not calm_since:
            calm_since.append(time.monotonic())
        return bool(calm_since) and time.monotonic() - calm_since[0] >= quiet_for, (done, pods)

    done, pods = until(step, timeout, every=0.3)
    bound = sum(bool((p.get("spec") or {}).get("nodeName")) for p in pods)
    line = f"{namespace}: {bound} pod(s) scheduled, {len(pods) - bound} pending" + ("" if done else
                                                                                    f" (still changing after {timeout:g} s)")
    print(line)
    return line


def free_gpus(api, namespace: str, timeout: float = 30) -> None:
    """Delete the workloads of `namespace` (pods with the Deployments and Jobs that own them, at once) and
    its ResourceClaims, so the GPUs are free for the next person (what you wrote stays in your files)."""
    from kubernetes import client

    manifests.delete_workloads(api, namespace, selector="", timeout=timeout)  # "": every pod
    client.CustomObjectsApi(api).delete_collection_namespaced_custom_object("resource.k8s.io", "v1", namespace,
                                                                            "resourceclaims")
    print(f"{namespace}: workloads deleted, GPUs free")
