"""Exercises of notebooks/01-architecture.ipynb: facts read from the API, the scheduler's decisions (a pod
placed next to another by the scheduler, a Deployment that could not be scheduled and is repaired) and the
controllers' (a ReplicaSet replacing a deleted pod, the garbage collector orphaning a ReplicaSet).

They grade what the control plane decided: the Scheduled event the scheduler writes when it binds a pod, the
node it chose, ownerReferences, ready replicas; and the facts against the live API (/version, the Nodes,
the kube-scheduler Lease)."""
from __future__ import annotations

from types import SimpleNamespace

from .._k8s.apierrors import call
from .._k8s.names import GPU_RESOURCE, GPU_TAINT
from .._k8s.quantity import to_float
from ..errors import NotFound
from ..grading.engine import Missing, Part, client, read, run
from ..manifests import apply
from ..wait import pod_ready, rollout
from . import deployment, exercise

__all__: list[str] = []  # exercises register themselves; nothing here is called by name

HOSTNAME = "kubernetes.io/hostname"   # the node label the kubelet sets to the node's name


def _deployment(name: str, replicas: int, cpu: str = "100m", memory: str = "128Mi") -> str:
    return deployment(name, "nginx:1.27-alpine", replicas, container="main",
                      extra=f'        resources: {{requests: {{cpu: "{cpu}", memory: {memory}}}}}\n')


# -- 01.cluster-facts ------------------------------------------------------------------------------------

FACTS = ("version", "nodes", "scheduler", "controller-manager")


@exercise("01.cluster-facts", "Write down what the API says about this cluster", objectives=(1, 5), hints=(
    "version: client.VersionApi(api).get_code().git_version (`kubectl version`, Server Version); nodes: "
    "len(core.list_node().items) (`kubectl get nodes --no-headers | wc -l`)",
    "scheduler and controller-manager: spec.holderIdentity of the Leases kube-scheduler and kube-controller-manager "
    "in kube-system (`kubectl get leases -n kube-system`, column HOLDER)",
))
def cluster_facts(api, ns):
    what = "ConfigMap 'cluster-facts'"
    core = lambda: client(api, "CoreV1Api")
    leases = lambda: client(api, "CoordinationV1Api")
    holder = lambda name: leases().read_namespaced_lease(name, "kube-system").spec.holder_identity

    def fetch():
        data = read(lambda: core().read_namespaced_config_map("cluster-facts", ns).data or {}, what, ns)
        return SimpleNamespace(data=data, version=client(api, "VersionApi").get_code().git_version,
                               nodes=str(len(core().list_node().items)), scheduler=holder("kube-scheduler"),
                               controller_manager=holder("kube-controller-manager"))

    # what the learner wrote is shown, the right value is not: the point is to read it from the API
    said = lambda key, how: (lambda o: f"{what} says {key}: {o.data.get(key)!r}, which is not {how}")
    parts = [
        Part(lambda o: set(FACTS) <= set(o.data), lambda o: f"{what} lacks the key(s) "
             f"{', '.join(k for k in FACTS if k not in o.data)} (it has {sorted(o.data) or 'none'})",
             "data: {version: ..., nodes: ..., scheduler: ..., controller-manager: ...} (values are strings)",
             static=True),
        Part(lambda o: o.data.get("version") == o.version, said("version", "the API server's gitVersion"),
             "the server's version, as `kubectl version` prints it under Server Version", static=True),
        Part(lambda o: o.data.get("nodes") == o.nodes, said("nodes", "the number of Node objects"),
             "count every Node the API lists (GPU and CPU nodes)", static=True),
        Part(lambda o: o.data.get("scheduler") == o.scheduler,
             said("scheduler", "the holder of the kube-scheduler Lease (the scheduler instance that acts now)"),
             "the Lease's spec.holderIdentity, not its name", static=True),
        Part(lambda o: o.data.get("controller-manager") == o.controller_manager,
             said("controller-manager", "the holder of the kube-controller-manager Lease"),
             "the holderIdentity of kube-system/kube-controller-manager", static=True),
    ]
    return run("cluster-facts", fetch, parts, f"{what} holds the version, the node count and the leaders of the "
               "scheduler and the controller manager, as the API shows them now")


# -- 01.co-locate ------------------------------------------------------------------------------------------

def _cache_warmer(api, ns):
    apply(api, """
apiVersion: v1
kind: Pod
metadata: {name: cache-warmer, labels: {app: cache-warmer}}
spec:
  containers:
  - {name: warm, image: busybox:1.36, command: [sleep, "86400"], resources: {requests: {cpu: 100m, memory: 64Mi}}}
""", namespace=ns)
    pod_ready(api, "cache-warmer", ns, timeout=60, progress=False)


def _pins(spec, node: str, anchor_labels: dict) -> bool:
    """The pod spec keeps the pod on `node`: a nodeSelector on its hostname label, a required node affinity
    whose every term allows that node only, or a required pod affinity to the anchor's labels per hostname."""
    if (spec.node_selector or {}).get(HOSTNAME) == node:
        return True
    aff = spec.affinity
    required = aff and aff.node_affinity and aff.node_affinity.required_during_scheduling_ignored_during_execution
    only = lambda reqs, key: any(e.key == key and e.operator == "In" and list(e.values or []) == [node]
                                 for e in reqs or [])
    terms = (required and required.node_selector_terms) or []
    if terms and all(only(t.match_expressions, HOSTNAME) or only(t.match_fields, "metadata.name") for t in terms):
        return True
    together = (aff and aff.pod_affinity and aff.pod_affinity.required_during_scheduling_ignored_during_execution) or []
    return any(t.topology_key == HOSTNAME and t.label_selector and t.label_selector.match_labels
               and t.label_selector.match_labels.items() <= anchor_labels.items() for t in together)


@exercise("01.co-locate", "Put the loader on the node where the cache was warmed, through the scheduler",
          objectives=(1, 4), setup=_cache_warmer, hints=(
    "find the node: `kubectl get pod cache-warmer -o wide -n <ns>`; then give the loader "
    "nodeSelector: {kubernetes.io/hostname: <that node>}",
    "do not write spec.nodeName yourself: that skips the scheduler (no filtering, no Scheduled event); a pod "
    "affinity to app: cache-warmer with topologyKey kubernetes.io/hostname works too",
))
def co_locate(api, ns):
    what = "Pod 'loader'"
    core = lambda: client(api, "CoreV1Api")

    def fetch():
        anchor = read(lambda: core().read_namespaced_pod("cache-warmer", ns), "Pod 'cache-warmer'", ns)
        pod = read(lambda: core().read_namespaced_pod("loader", ns), what, ns)
        scheduled = core().list_namespaced_event(
            ns, field_selector=f"involvedObject.uid={pod.metadata.uid},reason=Scheduled").items
        return SimpleNamespace(node=pod.spec.node_name, target=anchor.spec.node_name, scheduled=bool(scheduled),
                               pinned=_pins(pod.spec, anchor.spec.node_name or "?", anchor.metadata.labels or {}))

    parts = [
        Part(lambda o: o.pinned, f"the spec of {what} does not keep it on the cache's node (a nodeSelector, node "
             "affinity or pod affinity for that node): placed anywhere, it may land there by luck",
             "nodeSelector: {kubernetes.io/hostname: <the node of cache-warmer>}", static=True),
        Part(lambda o: o.node == o.target, lambda o: f"{what} is on {o.node or 'no node (Pending)'}; the cache is on "
             f"{o.target}", f"`kubectl describe pod loader -n {ns}` says why (Events)"),
        Part(lambda o: o.scheduled, f"no Scheduled event for {what}: the scheduler did not place it (spec.nodeName was "
             "written directly, which skips its checks)", "leave spec.nodeName out; let a nodeSelector steer the "
             "scheduler"),
    ]
    return run("co-locate", fetch, parts, f"the scheduler put {what} on the cache's node, as its spec requires",
               timeout=15)


# -- 01.unschedulable ----------------------------------------------------------------------------------------

def _feature_prep(api, ns):
    apply(api, _deployment("feature-prep", 2, cpu="24", memory="4Gi"), namespace=ns)


def _on_gpu_node(node) -> bool:
    taints = node.spec.taints or []
    return (to_float((node.status.allocatable or {}).get(GPU_RESOURCE)) > 0
            or any(t.key == GPU_TAINT["key"] for t in taints))


@exercise("01.unschedulable", "The feature-prep job never starts: make it schedulable, on CPU nodes",
          objectives=(1, 5), setup=_feature_prep, hints=(
    "read the scheduler's reason first: `kubectl describe pod -l app=feature-prep -n <ns>` (Events: "
    "FailedScheduling) and `kubectl get nodes -o custom-columns=NAME:.metadata.name,CPU:.status.allocatable.cpu`",
    "the profile says 2 CPUs per replica: `kubectl set resources deployment/feature-prep --requests=cpu=2 -n <ns>`; "
    "tolerating the GPU taint would park CPU work on GPU nodes",
))
def unschedulable(api, ns):
    what = "Deployment 'feature-prep'"

    def fetch():
        core = client(api, "CoreV1Api")
        dep = read(lambda: client(api, "AppsV1Api").read_namespaced_deployment("feature-prep", ns), what, ns)
        pods = [p for p in core.list_namespaced_pod(ns, label_selector="app=feature-prep").items
                if not p.metadata.deletion_timestamp]
        nodes = {n.metadata.name: n for n in core.list_node().items}
        requests = [(c.resources and c.resources.requests) or {} for c in dep.spec.template.spec.containers]
        s, want = dep.status, dep.spec.replicas
        return SimpleNamespace(
            replicas=want, cpu=sum(to_float(r.get("cpu")) for r in requests),
            memory=all(r.get("memory") for r in requests), ready=s.ready_replicas or 0,
            updated=(s.observed_generation or 0) >= (dep.metadata.generation or 0)
            and (s.updated_replicas or 0) == want and (s.replicas or 0) == want,
            pending=[p.metadata.name for p in pods if not p.spec.node_name],
            cpu_room=max((to_float((n.status.allocatable or {}).get("cpu")) for n in nodes.values()
                          if not _on_gpu_node(n)), default=0.0),
            gpu_nodes=sorted({p.spec.node_name for p in pods if p.spec.node_name in nodes
                              and _on_gpu_node(nodes[p.spec.node_name])}))

    parts = [
        Part(lambda o: o.replicas == 2, lambda o: f"{what} asks for {o.replicas} replicas; the job needs 2",
             "keep spec.replicas: 2 (scaling down hides the problem)", static=True),
        Part(lambda o: o.cpu >= 2 and o.memory, lambda o: f"{what} requests {o.cpu:g} CPU per pod"
             + ("" if o.memory else " and no memory") + ": without real requests the scheduler packs pods blindly "
             "and they are evicted first", "requests of 2 CPUs and the memory it had (4Gi)", static=True),
        # no CPU node is big enough: waiting cannot change that (until a bigger node joins)
        Part(lambda o: o.cpu <= o.cpu_room, lambda o: f"{what} requests {o.cpu:g} CPUs per pod; the largest CPU node "
             f"has {o.cpu_room:g} allocatable", "ask for what the profile measured (2 CPUs)", static=True),
        Part(lambda o: not o.pending and o.ready == 2 and o.updated,
             lambda o: f"{what} has {o.ready}/2 ready replicas" + (f"; {len(o.pending)} pod(s) Pending" if o.pending
                                                                     else ""),
             f"`kubectl describe pod -l app=feature-prep -n {ns}`: FailedScheduling says which nodes were ruled out "
             "and why"),
        Part(lambda o: not o.gpu_nodes, lambda o: f"{what} runs on GPU node(s) {', '.join(o.gpu_nodes)}: CPU work "
             "there takes room a GPU job needs", "no toleration for nvidia.com/gpu; make the request fit a CPU node"),
    ]
    return run("unschedulable", fetch, parts, f"{what} runs 2 ready replicas on CPU nodes", timeout=15)


# -- 01.adopt ----------------------------------------------------------------------------------------------

AT_START = "kubelab.io/pods-at-start"   # on the orphaned ReplicaSet: the pods it had when the exercise started


def _orphaned_recommender(api, ns):
    from .._k8s.poll import until

    apps = client(api, "AppsV1Api")
    apply(api, _deployment("recommender", 2), namespace=ns)
    rollout(api, "Deployment", "recommender", ns, timeout=60, progress=False)
    call(apps.delete_namespaced_deployment, "recommender", ns, propagation_policy="Orphan")

    def orphaned():   # the garbage collector removes the ownerReference, then the Deployment, a moment after the delete
        sets = apps.list_namespaced_replica_set(ns, label_selector="app=recommender").items
        gone = not apps.list_namespaced_deployment(ns, field_selector="metadata.name=recommender").items
        return gone and bool(sets) and not any(rs.metadata.owner_references for rs in sets), sets
    sets = until(orphaned, 30, every=0.2)
    pods = client(api, "CoreV1Api").list_namespaced_pod(ns, label_selector="app=recommender").items
    names = ",".join(sorted(p.metadata.name for p in pods if not p.metadata.deletion_timestamp))
    for rs in sets:
        apps.patch_namespaced_replica_set(rs.metadata.name, ns, {"metadata": {"annotations": {AT_START: names}}})


@exercise("01.adopt", "Hand the running recommender pods to a new Deployment without restarting one",
          objectives=(1,), setup=_orphaned_recommender, hints=(
    "a Deployment adopts a ReplicaSet its selector matches, and keeps it (instead of rolling out a new one) only "
    "if its pod template equals the ReplicaSet's, pod-template-hash aside: "
    "`kubectl get rs -l app=recommender -o yaml -n <ns>` shows that template",
    "write Deployment recommender with replicas: 2, selector {matchLabels: {app: recommender}} and exactly that "
    "template (labels app: recommender; container main, nginx:1.27-alpine, requests cpu 100m, memory 128Mi); "
    "`kubectl create deployment` names the container differently, so it replaces the pods",
))
def adopt(api, ns):
    what = "Deployment 'recommender'"

    def fetch():
        apps, core = client(api, "AppsV1Api"), client(api, "CoreV1Api")
        dep = read(lambda: apps.read_namespaced_deployment("recommender", ns), what, ns)
        started = [rs for rs in apps.list_namespaced_replica_set(ns, label_selector="app=recommender").items
                   if AT_START in (rs.metadata.annotations or {})]
        if not started:
            raise Missing("the ReplicaSet the exercise started with is gone",
                          'run kl.practice.start("01.adopt", api, namespace) again')
        rs = started[0]
        owner = next((r.uid for r in rs.metadata.owner_references or [] if r.controller), None)
        live = {p.metadata.name for p in core.list_namespaced_pod(ns, label_selector="app=recommender").items
                if not p.metadata.deletion_timestamp}
        return SimpleNamespace(dep=dep, rs=rs.metadata.name, adopted=owner == dep.metadata.uid,
                               replaced=sorted(set(rs.metadata.annotations[AT_START].split(",")) - live))

    def rolled(o) -> bool:
        s, want = o.dep.status, o.dep.spec.replicas
        return ((s.observed_generation or 0) >= (o.dep.metadata.generation or 0) and want == 2
                and (s.updated_replicas or 0) == 2 and (s.ready_replicas or 0) == 2 and (s.replicas or 0) == 2)

    parts = [
        Part(lambda o: not o.replaced, lambda o: f"the pod(s) {', '.join(o.replaced)} of ReplicaSet {o.rs} were "
             f"replaced: {what} rolled out its own template instead of taking the running one",
             "start again and give the Deployment the ReplicaSet's template exactly", static=True),
        Part(lambda o: o.adopted, lambda o: f"ReplicaSet {o.rs} has no owner, or another one than {what}",
             "the Deployment's selector must match the ReplicaSet's pods (app: recommender)"),
        Part(rolled, lambda o: f"{what} has {o.dep.status.updated_replicas or 0} up-to-date and "
             f"{o.dep.status.ready_replicas or 0} ready of {o.dep.spec.replicas} replicas; wanted 2 and 2 of 2",
             f"`kubectl rollout status deployment/recommender -n {ns}`"),
    ]
    return run("adopt", fetch, parts, f"{what} took over ReplicaSet and pods as they ran: not one pod replaced",
               timeout=15)


# -- 01.orphan --------------------------------------------------------------------------------------------

def _legacy_scorer(api, ns):
    apply(api, _deployment("legacy-scorer", 2), namespace=ns)
    rollout(api, "Deployment", "legacy-scorer", ns, timeout=60, progress=False)


@exercise("01.orphan", "Delete the legacy-scorer Deployment but keep its pods serving", objectives=(1,),
          setup=_legacy_scorer, hints=(
    "a delete has a propagation policy: Background (the default: the garbage collector deletes the dependents "
    "after), Foreground (dependents first) or Orphan (dependents stay, their ownerReference removed)",
    "`kubectl delete deployment legacy-scorer --cascade=orphan -n <ns>` (in Python: "
    "delete_namespaced_deployment(..., propagation_policy=\"Orphan\"))",
))
def orphan(api, ns):
    what = "Deployment 'legacy-scorer'"

    def fetch():
        apps = client(api, "AppsV1Api")
        try:
            dep = call(apps.read_namespaced_deployment, "legacy-scorer", ns)
            exists, deleting = True, bool(dep.metadata.deletion_timestamp)
        except NotFound:
            exists = deleting = False
        sets = read(lambda: apps.list_namespaced_replica_set(ns, label_selector="app=legacy-scorer").items,
                    "ReplicaSets", ns)
        owners = lambda rs: [r.kind for r in rs.metadata.owner_references or [] if r.controller]
        return SimpleNamespace(exists=exists, deleting=deleting, sets=[(rs.metadata.name, owners(rs), rs.status.ready_replicas or 0)
                                                    for rs in sets if not rs.metadata.deletion_timestamp])

    parts = [
        Part(lambda o: not o.exists or o.deleting, f"{what} is still there", "delete it, with the propagation "
             "policy that keeps its dependents", static=True),
        # an orphaning delete waits for the garbage collector to drop the dependents' ownerReferences
        Part(lambda o: not o.deleting, f"{what} is being deleted", f"`kubectl get deployment -n {ns}` in a moment"),
        Part(lambda o: bool(o.sets), "no ReplicaSet of legacy-scorer is left: it went with the Deployment, and its "
             "pods with it", "start again (kl.practice.start) and delete with --cascade=orphan", static=True),
        Part(lambda o: all(not owners for _, owners, _ in o.sets),
             lambda o: "the ReplicaSet(s) " + ", ".join(f"{n} (controlled by {'/'.join(k)})" for n, k, _ in o.sets if k)
             + " still have an owner", "the garbage collector removes the ownerReference when the owner is deleted "
             "with propagationPolicy Orphan"),
        Part(lambda o: not o.sets or sum(r for _, _, r in o.sets) == 2,
             lambda o: f"the ReplicaSet(s) of legacy-scorer have {sum(r for _, _, r in o.sets)} ready pod(s), not 2",
             f"`kubectl get rs,pods -l app=legacy-scorer -n {ns}`"),
    ]
    return run("orphan", fetch, parts, f"{what} is gone; its ReplicaSet, now without owner, still runs 2 ready pods",
               timeout=15)
