"""Exercises of notebooks/04-storage.ipynb: a claim that binds to what the cluster offers, a claim mounted
read-only, one claim per StatefulSet replica, a model staged by an init container, a Pending claim repaired.

The volumes an exercise offers are cluster-scoped (PersistentVolumes, StorageClasses): they are named
`<namespace>-...`, labelled `lesson=<namespace>` (the notebook's clean-up deletes by that label) and owned by
the namespace, so the garbage collector deletes them with it and a practice namespace leaves nothing behind.
"""
from __future__ import annotations

from types import SimpleNamespace

import yaml

from .._k8s import raw
from .._k8s.quantity import to_float
from ..errors import UsageError
from ..grading.engine import Part, client, evaluate, read, run
from ..manifests import apply
from ..wait import wait_for
from . import all_of, exercise
from .. import grading

__all__: list[str] = []  # exercises register themselves; nothing here is called by name

GIB = 2**30
WAIT_S = 6   # a failing check answers within this; binding and simulated readiness take about a second
SETTLE_S = 3  # the PV controller binds a claim within a second when a volume fits: one Pending longer stays so


# -- what the exercises share ---------------------------------------------------------------------------
CLUSTER_SCOPED = ("PersistentVolume", "StorageClass")


def _offer(api, ns: str, manifest: str) -> None:
    """Create the cluster-scoped storage an exercise offers (labelled and owned by the namespace) and wait until
    its volumes are Available, then the namespaced objects (claims, workloads): a claim made before the PV
    controller has seen a volume waits for the controller's next periodic pass (15 s)."""
    uid = client(api, "CoreV1Api").read_namespace(ns).metadata.uid
    objs = [o for o in yaml.safe_load_all(manifest.replace("$ns", ns)) if o]
    offered = [o for o in objs if o["kind"] in CLUSTER_SCOPED]
    for o in offered:
        o["metadata"].setdefault("labels", {})["lesson"] = ns
        o["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Namespace", "name": ns, "uid": uid}]
    apply(api, offered)
    for o in offered:
        if o["kind"] == "PersistentVolume":
            wait_for(api, "PersistentVolume", o["metadata"]["name"], None, "jsonpath={.status.phase}=Available",
                     timeout=30, progress=False)
    if len(offered) < len(objs):
        apply(api, [o for o in objs if o["kind"] not in CLUSTER_SCOPED], namespace=ns)


def _claim(api, ns: str, name: str) -> dict:
    return raw.plain(read(lambda: client(api, "CoreV1Api").read_namespaced_persistent_volume_claim(name, ns),
                          f"PersistentVolumeClaim {name!r}", ns))


def _last_event(api, ns: str, kind: str, name: str) -> str:
    """The newest event's message about an object: the controller's own words on why it waits."""
    events = raw.items(client(api, "CoreV1Api").list_namespaced_event, ns,
                       field_selector=f"involvedObject.kind={kind},involvedObject.name={name}")
    if not events:
        return ""
    newest = max(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return f"{newest.get('reason')}: {newest.get('message', '').strip()}"


def _phase(claim: dict) -> str:
    return (claim.get("status") or {}).get("phase", "")


def _settled(claim: dict) -> bool:
    """Pending for longer than binding takes: waiting for the check's timeout will not bind it (a failed static
    Part ends the wait at once)."""
    from datetime import datetime, timezone
    made = datetime.fromisoformat(claim["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    return _phase(claim) != "Bound" and (datetime.now(timezone.utc) - made).total_seconds() > SETTLE_S


def _request_gib(claim: dict) -> float:
    return to_float(((claim["spec"].get("resources") or {}).get("requests") or {}).get("storage")) / GIB


def _pending(api, ns: str, claim: dict) -> str:
    said = _last_event(api, ns, "PersistentVolumeClaim", claim["metadata"]["name"])
    return (f"PersistentVolumeClaim {claim['metadata']['name']!r} is {_phase(claim) or 'not bound'}"
            + (f" ({said})" if said else ""))


def _deployment(api, ns: str, name: str) -> dict:
    return raw.plain(read(lambda: client(api, "AppsV1Api").read_namespaced_deployment(name, ns),
                          f"Deployment {name!r}", ns))


def _claims_of(pod_spec: dict) -> dict[str, str]:
    """volume name -> claim name, for the PersistentVolumeClaim volumes of a pod spec."""
    return {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod_spec.get("volumes") or []
            if v.get("persistentVolumeClaim")}


def _mounts(pod_spec: dict, volume: str, init: bool = False) -> list[tuple[dict, dict]]:
    """(container, its mount) for each container (init containers with init=True) that mounts `volume`."""
    containers = pod_spec.get("initContainers" if init else "containers") or []
    return [(c, m) for c in containers for m in c.get("volumeMounts") or [] if m.get("name") == volume]


def _unschedulable(pods: list[dict]) -> str:
    """The scheduler's message for a pod it could not place (e.g. no volume fits), or ""."""
    for p in pods:
        for c in (p.get("status") or {}).get("conditions") or []:
            if c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable":
                return f"pod {p['metadata']['name']}: {c.get('message', '').strip()}"
    return ""


# -- 04.claim-fits ---------------------------------------------------------------------------------------
OFFER = """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: $ns-standard}
provisioner: kubernetes.io/no-provisioner   # static volumes only: the admin makes them
volumeBindingMode: Immediate
reclaimPolicy: Retain
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: $ns-shared}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
reclaimPolicy: Retain
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: $ns-std-10gi}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: $ns-standard
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /mnt/$ns/std-10gi, type: DirectoryOrCreate}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: $ns-std-50gi}
spec:
  capacity: {storage: 50Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: $ns-standard
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /mnt/$ns/std-50gi, type: DirectoryOrCreate}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: $ns-shared-100gi, labels: {team: datasets}}
spec:
  capacity: {storage: 100Gi}
  accessModes: [ReadWriteMany]
  storageClassName: $ns-shared
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /mnt/$ns/shared-100gi, type: DirectoryOrCreate}
"""


def _offer_volumes(api, ns):
    _offer(api, ns, OFFER)


@exercise("04.claim-fits", "Claim 20 GiB of checkpoint space that this cluster can give", objectives=(2,),
          setup=_offer_volumes, hints=(
    "look at what is offered first: `kubectl get storageclass,pv -l lesson=<ns>` (class, size, access modes); "
    "a claim binds only to a volume of its own class, with every access mode it asks for, at least its size",
    "one trainer pod writes: accessModes: [ReadWriteOnce], storageClassName: <ns>-standard, "
    "resources: {requests: {storage: 20Gi}}; the PV controller picks the smallest free volume that fits",
))
def claim_fits(api, ns):
    what = "PersistentVolumeClaim 'finetune-ckpt'"

    def fetch():
        claim = _claim(api, ns, "finetune-ckpt")
        name = claim["spec"].get("volumeName")
        bound = name and _phase(claim) == "Bound"
        pv = raw.read(client(api, "CoreV1Api").read_persistent_volume, name) if bound else None
        return SimpleNamespace(claim=claim, pv=pv, pending=_pending(api, ns, claim) if pv is None else "")

    modes = lambda o: (o.pv["spec"].get("accessModes") or []) if o.pv else []
    parts = [
        Part(lambda o: _request_gib(o.claim) >= 20, lambda o: f"{what} asks for {_request_gib(o.claim):g} GiB; "
             "the checkpoints need 20 GiB", "resources: {requests: {storage: 20Gi}}", static=True),
        Part(lambda o: o.pv is not None or not _settled(o.claim), lambda o: o.pending,
             "compare the claim with the offered volumes: `kubectl describe pvc finetune-ckpt -n <ns>` "
             "and `kubectl get pv -l lesson=<ns>`", static=True),
        Part(lambda o: o.pv is not None or _settled(o.claim), lambda o: o.pending,   # just made: binding may follow
             "`kubectl describe pvc finetune-ckpt -n <ns>`"),
        Part(lambda o: o.pv is None or "ReadWriteMany" not in modes(o),
             lambda o: f"{what} took {o.pv['metadata']['name']} ({', '.join(modes(o))}), the shared volume the "
             "dataset team needs: one writer on one node needs ReadWriteOnce storage",
             "delete the claim and ask for ReadWriteOnce from the standard class", static=True),
    ]
    return run("claim-fits", fetch, parts, f"{what} is Bound to a ReadWriteOnce volume of at least 20 GiB",
               timeout=WAIT_S)


# -- 04.read-only-mount ----------------------------------------------------------------------------------
WEIGHTS = """
apiVersion: v1
kind: PersistentVolume
metadata: {name: $ns-llm-weights}
spec:
  capacity: {storage: 50Gi}
  accessModes: [ReadOnlyMany]
  storageClassName: ""
  persistentVolumeReclaimPolicy: Retain
  claimRef: {namespace: $ns, name: model-weights}   # reserved for the claim below
  hostPath: {path: /mnt/$ns/llm-weights, type: DirectoryOrCreate}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: model-weights}
spec:
  accessModes: [ReadOnlyMany]
  storageClassName: ""
  resources: {requests: {storage: 50Gi}}
"""


def _weights(api, ns):
    _offer(api, ns, WEIGHTS)


@exercise("04.read-only-mount", "Serve the model weights so that the server cannot change them", objectives=(2,),
          setup=_weights, hints=(
    "an access mode is matched at binding, it does not protect the files: the mount is read-only only where the "
    "pod says so, volumeMounts: [{name: weights, mountPath: /models, readOnly: true}]",
    "either place works: readOnly: true on every volumeMount of the claim, or "
    "volumes: [{name: weights, persistentVolumeClaim: {claimName: model-weights, readOnly: true}}]",
))
def read_only_mount(api, ns):
    what = "Deployment 'llm-server'"

    def fetch():
        spec = _deployment(api, ns, "llm-server")["spec"]["template"]["spec"]
        volumes = [v for v, c in _claims_of(spec).items() if c == "model-weights"]
        mounts = [(c["name"], m, v) for v in volumes for c, m in _mounts(spec, v) + _mounts(spec, v, init=True)]
        ro_volume = {v["name"] for v in spec.get("volumes") or []
                     if (v.get("persistentVolumeClaim") or {}).get("readOnly")}
        writable = sorted({c for c, m, v in mounts if not m.get("readOnly") and v not in ro_volume})
        return SimpleNamespace(mounts=mounts, writable=writable)

    parts = [
        Part(lambda o: bool(o.mounts), f"no container of {what} mounts the claim 'model-weights'",
             "a volume {name: weights, persistentVolumeClaim: {claimName: model-weights}} and a volumeMount of it "
             "at /models", static=True),
        Part(lambda o: not o.writable, lambda o: f"container(s) {', '.join(o.writable)} of {what} mount "
             "'model-weights' read-write: the claim's ReadOnlyMany access mode does not make a mount read-only",
             "set readOnly: true on the volumeMount (or on the volume's persistentVolumeClaim)", static=True),
    ]
    return all_of("read-only-mount",
                  lambda: evaluate("read-only-mount", fetch, parts, f"{what} mounts 'model-weights' read-only"),
                  lambda: grading.deployment_ready(api, "llm-server", ns, replicas=2, timeout=WAIT_S))


# -- 04.statefulset-claims -------------------------------------------------------------------------------
def _replica_disks(api, ns):
    """A local-SSD class (WaitForFirstConsumer) and one 20 GiB disk on each of two schedulable CPU nodes."""
    nodes = sorted(n["metadata"]["name"] for n in raw.items(client(api, "CoreV1Api").list_node)
                   if raw.is_ready(n.get("status")) and not (n.get("spec") or {}).get("taints")
                   and not (n.get("spec") or {}).get("unschedulable"))
    if not nodes:
        raise UsageError("the cluster has no ready node without taints for the disks",
                         "uncordon a CPU node: `kubectl get nodes`")
    disks = "".join(f"""
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: $ns-ssd-{i}}}
spec:
  capacity: {{storage: 20Gi}}
  accessModes: [ReadWriteOnce]
  storageClassName: $ns-local-ssd
  persistentVolumeReclaimPolicy: Retain
  hostPath: {{path: /mnt/$ns/ssd-{i}, type: DirectoryOrCreate}}   # in production: local: {{path: /mnt/nvme0}}
  nodeAffinity: {{required: {{nodeSelectorTerms: [{{matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [{node}]}}]}}]}}}}
""" for i, node in enumerate((nodes * 2)[:2]))
    _offer(api, ns, """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: $ns-local-ssd}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain""" + disks)


@exercise("04.statefulset-claims", "Give each feature-store replica a disk of its own", objectives=(1, 2),
          setup=_replica_disks, hints=(
    "a StatefulSet makes one claim per replica from spec.volumeClaimTemplates: [{metadata: {name: data}, spec: "
    "{accessModes: [ReadWriteOnce], storageClassName: <ns>-local-ssd, resources: {requests: {storage: 10Gi}}}}] "
    "and the container mounts it by that name (volumeMounts: [{name: data, mountPath: /data}])",
    "the claims are data-feature-store-0 and -1; `kubectl get pvc -n <ns>` and `kubectl describe pod "
    "feature-store-0 -n <ns>` show whether the scheduler found a disk for each",
))
def statefulset_claims(api, ns):
    what = "StatefulSet 'feature-store'"

    def fetch():
        sts = raw.plain(read(lambda: client(api, "AppsV1Api").read_namespaced_stateful_set("feature-store", ns),
                             what, ns))
        pods = raw.pods(api, ns, selector=raw.label_selector(sts["spec"]["selector"]))
        core = client(api, "CoreV1Api")
        claims = {c["metadata"]["name"]: c for c in raw.items(core.list_namespaced_persistent_volume_claim, ns)}
        own = {p["metadata"]["name"]: claims.get(_claims_of(p["spec"]).get("data", "")) for p in pods}
        return SimpleNamespace(sts=sts, pods=pods, own=own, unschedulable=_unschedulable(pods))

    templates = lambda o: [t["metadata"]["name"] for t in o.sts["spec"].get("volumeClaimTemplates") or []]
    bound = lambda o: [n for n, c in sorted(o.own.items()) if c and _phase(c) == "Bound"]
    parts = [
        Part(lambda o: o.sts["spec"].get("replicas") == 2,
             lambda o: f"{what} asks for {o.sts['spec'].get('replicas')} replicas, not 2", "spec.replicas: 2",
             static=True),
        Part(lambda o: "data" in templates(o), lambda o: f"{what} has no volumeClaimTemplate 'data' "
             f"(templates: {templates(o) or 'none'}): its replicas do not get claims of their own",
             "spec.volumeClaimTemplates: [{metadata: {name: data}, spec: {...}}]", static=True),
        Part(lambda o: not o.unschedulable, lambda o: o.unschedulable,
             "a claim the scheduler cannot bind: compare its class, size and access mode with "
             "`kubectl get pv -l lesson=<ns>`", static=True),
        Part(lambda o: len(bound(o)) == 2 and len({c["metadata"]["name"] for c in o.own.values() if c}) == 2,
             lambda o: f"{len(bound(o))} of the pods of {what} run on a Bound claim of their own (pods: "
             f"{', '.join(sorted(o.own)) or 'none yet'})",
             "each pod mounts its own claim data-feature-store-<n>: `kubectl get pvc -n <ns>`"),
    ]
    return all_of("statefulset-claims",
                  lambda: run("statefulset-claims", fetch, parts, f"each replica of {what} has its own Bound claim",
                              timeout=WAIT_S),
                  lambda: grading.statefulset_ready(api, "feature-store", ns, replicas=2, timeout=WAIT_S))


# -- 04.init-model ---------------------------------------------------------------------------------------
def _model_config(api, ns):
    apply(api, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "summarizer-model"},
                "data": {"MODEL_URI": "s3://ml-models/summarizer/3/"}}, namespace=ns)


def _uri_from_configmap(container: dict) -> bool:
    """The container's MODEL_URI comes from key MODEL_URI of ConfigMap summarizer-model (env wins over envFrom)."""
    for e in reversed(container.get("env") or []):
        if e.get("name") == "MODEL_URI":
            ref = (e.get("valueFrom") or {}).get("configMapKeyRef") or {}
            return (ref.get("name"), ref.get("key")) == ("summarizer-model", "MODEL_URI")
    return any((s.get("configMapRef") or {}).get("name") == "summarizer-model" and not s.get("prefix")
               for s in container.get("envFrom") or [])


@exercise("04.init-model", "Stage the summarizer's model with an init container", objectives=(1, 2),
          setup=_model_config, hints=(
    "one emptyDir volume (volumes: [{name: models, emptyDir: {}}]) mounted at /models by BOTH the init container "
    "that copies the model into it and the server that reads it",
    "the init container takes the URI from the ConfigMap: env: [{name: MODEL_URI, valueFrom: {configMapKeyRef: "
    "{name: summarizer-model, key: MODEL_URI}}}]; a plain init container (no restartPolicy: Always) finishes "
    "before the server starts",
))
def init_model(api, ns):
    what = "Deployment 'summarizer'"

    def fetch():
        spec = _deployment(api, ns, "summarizer")["spec"]["template"]["spec"]
        empty = [v["name"] for v in spec.get("volumes") or [] if "emptyDir" in v]
        inits = {v: [c for c, _ in _mounts(spec, v, init=True) if c.get("restartPolicy") != "Always"] for v in empty}
        shared = [v for v in empty if inits[v] and _mounts(spec, v)]
        return SimpleNamespace(spec=spec, shared=shared, stagers=[c for v in shared for c in inits[v]],
                               sidecars=[c["name"] for c in spec.get("initContainers") or []
                                         if c.get("restartPolicy") == "Always"])

    def not_shared(o) -> str:
        if not o.spec.get("initContainers"):
            return f"{what} has no init container: nothing stages the model before the server starts"
        if o.sidecars and not o.stagers:
            return (f"init container(s) {', '.join(o.sidecars)} of {what} are sidecars (restartPolicy: Always): "
                    "the server starts without waiting for the model")
        return f"no emptyDir volume of {what} is mounted by both an init container and the server container"

    parts = [
        Part(lambda o: bool(o.shared), not_shared,
             "volumes: [{name: models, emptyDir: {}}], mounted at /models in the init container and in the server",
             static=True),
        Part(lambda o: not o.stagers or any(_uri_from_configmap(c) for c in o.stagers),
             f"the init container of {what} does not take MODEL_URI from ConfigMap 'summarizer-model': a new "
             "model would need a new Deployment", "env: [{name: MODEL_URI, valueFrom: {configMapKeyRef: "
             "{name: summarizer-model, key: MODEL_URI}}}]", static=True),
    ]
    return all_of("init-model",
                  lambda: evaluate("init-model", fetch, parts, f"an init container of {what} stages the model from "
                                   "summarizer-model into an emptyDir the server reads"),
                  lambda: grading.deployment_ready(api, "summarizer", ns, replicas=2, timeout=WAIT_S))


# -- 04.pending-claim ------------------------------------------------------------------------------------
INDEXER = """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: $ns-gp3}
provisioner: ebs.csi.aws.com          # the EKS cluster's driver: not installed here
volumeBindingMode: Immediate
parameters: {type: gp3}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: $ns-standard}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
reclaimPolicy: Retain
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: $ns-std-40gi}
spec:
  capacity: {storage: 40Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: $ns-standard
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /mnt/$ns/std-40gi, type: DirectoryOrCreate}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: index-data}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: $ns-gp3
  resources: {requests: {storage: 30Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: indexer}
spec:
  replicas: 1
  strategy: {type: Recreate}          # one writer: the old pod lets go of the disk before the new one mounts it
  selector: {matchLabels: {app: indexer}}
  template:
    metadata: {labels: {app: indexer}}
    spec:
      containers:
      - name: indexer
        image: python:3.12-slim
        command: ["python", "-m", "http.server", "8080", "--directory", "/index"]
        volumeMounts: [{name: index, mountPath: /index}]
        resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {memory: 256Mi}}
      volumes:
      - name: index
        persistentVolumeClaim: {claimName: index-data}
"""


def _indexer(api, ns):
    _offer(api, ns, INDEXER)


@exercise("04.pending-claim", "The indexer has been Pending since it moved from EKS: make it run on this cluster's "
          "storage", objectives=(2, 5), setup=_indexer, hints=(
    "read what the cluster says: `kubectl describe pod -l app=indexer -n <ns>` (unbound claim), then "
    "`kubectl describe pvc index-data -n <ns>` (who should make the volume), then `kubectl get storageclass,pv`",
    "a claim's class and access modes cannot be changed: `kubectl delete pvc index-data -n <ns>`, then create it "
    "again with storageClassName: <ns>-standard (it has a free volume big enough); the pod waits and "
    "starts once the claim is Bound",
))
def pending_claim(api, ns):
    what = "Deployment 'indexer'"

    def fetch():
        dep = _deployment(api, ns, "indexer")
        claims = sorted(set(_claims_of(dep["spec"]["template"]["spec"]).values()))
        states = [_claim(api, ns, c) for c in claims]
        unbound = [_pending(api, ns, c) for c in states if _settled(c)]
        young = [_pending(api, ns, c) for c in states if _phase(c) != "Bound" and not _settled(c)]
        return SimpleNamespace(dep=dep, claims=claims, unbound=unbound, young=young)

    parts = [
        Part(lambda o: (o.dep["spec"].get("replicas") or 0) >= 1, f"{what} is scaled to 0: nothing is Pending "
             "because nothing runs", "keep replicas: 1 and repair the claim", static=True),
        Part(lambda o: bool(o.claims), f"{what} no longer mounts a PersistentVolumeClaim: its index would live and "
             "die with the pod", "mount the claim index-data again and repair the claim instead", static=True),
        Part(lambda o: not o.unbound, lambda o: "; ".join(o.unbound),
             "`kubectl describe pvc index-data -n <ns>` says who should provide the volume; "
             "`kubectl get storageclass,pv` shows what this cluster has", static=True),
        Part(lambda o: not o.young, lambda o: "; ".join(o.young), "`kubectl describe pvc index-data -n <ns>`"),
    ]
    return all_of("pending-claim",
                  lambda: run("pending-claim", fetch, parts, f"{what} mounts a Bound claim", timeout=WAIT_S),
                  lambda: grading.deployment_ready(api, "indexer", ns, replicas=1, timeout=WAIT_S))
