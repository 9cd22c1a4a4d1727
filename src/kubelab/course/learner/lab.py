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
    ns = kl.course.lab.start(api, "capstone", teams=["serving", "training"])   # the team namespaces emptied too
    teams = kl.course.lab.teams(api, "capstone")   # {"serving": "<learner>-capstone-serving", "training": ...}

Teams: a lab whose access.yaml has `teams:` gives the learner one namespace per team besides the lab's own,
`<learner>-<lab>-<team>`, with the same rights (kubelab.course.isolation.sandbox). `start` empties them with the lab namespace
(it makes them where the identity is an admin: pass `teams=` as access.yaml names them, for a fresh cluster);
`teams` returns them by team, for the identity the learner acts as too.

Grading = reset the namespace -> execute the submission (its own cells and files recreate the objects)
-> the test cells read the live state. So a grade never depends on what an earlier run left behind, and
a fix made only in a terminal is not graded. The learner comes from sandbox.learner_name (the grading
run sets KUBELAB_LEARNER).
"""
from __future__ import annotations

import string
from pathlib import Path

from ... import manifests
from ..._k8s.apierrors import delete_if_present
from ..._k8s.poll import until
from ...errors import ManifestError, UsageError
from .. import folder as course_folder
from ..folder import ACCESS_FILE
from ..isolation import sandbox
from ..isolation.sandbox import teams

__all__ = ["api_key", "apply_each", "apply_files", "artifacts_volume", "files", "free_gpus", "gateway", "settle", "start", "teams"]


def start(api, lab: str, learner: sandbox.Learner | str | None = None, *, registry: str | None = None,
          teams: list[str] | None = None) -> str:
    """Empty (or create) the learner's namespace for `lab`, and its team namespaces, and return the lab namespace's
    name: an identity that may delete it (the instructor's, a laptop's admin) deletes and recreates them (`teams`:
    the lab's teams; default: those the sandbox has); the learner's own (graded as the learner, or in a hub) may not,
    so what is in them is deleted (sandbox.empty), and `teams` may name only teams the sandbox has. With `registry`
    (host:port of an OCI registry), also delete every repository under `<registry>/<namespace>/` of each namespace
    (the charts an earlier run pushed), so a chart is graded only when this run publishes it."""
    learner = sandbox.Learner.of(learner)   # the learner's id enters here (a kernel's $KUBELAB_LEARNER, else the user)
    namespace = learner.namespace(lab)
    made = sandbox.teams(api, lab, learner)
    if sandbox.can_i(api, "delete", "namespaces", name=namespace):
        # an admin's run (a laptop): the sandbox a graded run would have, from the assignment's access.yaml beside
        # the notebook when it is this lab's (its teams, and its platform rights: the batch queues of the teams)
        here = course_folder.read_access(Path(ACCESS_FILE))
        here = here if here is not None and here.lab == lab else None
        if teams is None:   # those made before, else the file's
            teams = made or (here.teams if here else ())
        box = sandbox.reset(api, lab, learner, manage=here.manage if here else (), teams=tuple(teams))
        namespace, made = box.namespace, box.teams
    else:   # graded as the learner (or a hub's learner): the namespaces are given; empty what is in them
        missing = sorted(set(teams or ()) - set(made))
        if missing:
            raise UsageError(f"your sandbox for {lab} has no team(s) {', '.join(missing)} "
                             f"(its teams: {', '.join(made) or 'none'})",
                             "the teams are those of the lab's access.yaml (`teams:`): name only those here")
        for name in (namespace, *made.values()):
            sandbox.empty(api, name)
    gone = ""
    if registry:
        from ...cluster.registry import Client

        reg = Client(registry)
        names = (namespace, *made.values())
        repos = [repo for name in names for repo in reg.repositories(prefix=f"{name}/")]
        for repo in repos:
            reg.delete_repository(repo)
        gone = f"; {', '.join(f'oci://{reg.address}/{name}/' for name in names)} emptied" if repos else ""
    also = f", teams: {', '.join(f'{t} {ns}' for t, ns in made.items())}" if made else ""
    print(f"Your namespace for {lab}: {namespace}{also} (emptied{gone}: what is graded is what this notebook creates)")
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
    from ...cluster.gateway import GATEWAY_CLASS
    from ...wait import wait_for

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


def apply_files(api, folder: str | Path, namespace: str, **names: str) -> list[str]:
    """Apply every manifest file of `folder` (or the one file `folder`) into `namespace`, each with `$namespace`
    filled in (so a Namespace object can name the lab's namespace), and `$<key>` for each of `names` (a lab with
    teams: `$serving`, `$training`, for objects that name their team's namespace); returns "Kind/name" of what was
    applied. As `kubectl apply -f` does, an object the API server refuses (or a file that cannot be read) does not stop
    the others: every one is applied that can be, then one ManifestError names each refusal, so a mistake
    costs only the cells that grade it."""
    return _apply(api, [(path, namespace) for path in files(folder)], names)


def apply_each(api, targets: dict[str | Path, str], **names: str) -> list[str]:
    """apply_files for each file or folder of `targets` into its namespace (a lab with teams: each team's file into
    the team's namespace), in order, and one ManifestError at the end for the refusals of all of them: a refused
    object in one team's file does not keep the other team's file from being applied."""
    return _apply(api, [(path, namespace) for folder, namespace in targets.items() for path in files(folder)], names)


def _apply(api, targets: list[tuple[Path, str]], names: dict[str, str]) -> list[str]:
    applied, refused = [], []
    for path, namespace in targets:
        # safe_substitute: a `$VAR` of a shell command in the file stays as written
        text = string.Template(path.read_text()).safe_substitute({**names, "namespace": namespace})
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

    from ..._k8s import raw

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
