"""The simulated kubelet's controller, run as the `kubelab-kubelet` process (console script): it watches pods and
what their specs refer to (ConfigMaps, Secrets, Services, EndpointSlices, RBAC) and keeps each pod's verdict
marks equal to `kubelab.cluster.kubelet.judge`'s verdict (the rules live there, free of the client)."""
from __future__ import annotations

import argparse
import json
import logging
import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .._k8s.apierrors import call, create_or_exists, delete_if_present
from .._k8s.informer import Informer, drop_managed_fields
from .._k8s.names import SIMULATE_ANNOTATION, VERDICT_ANNOTATION, VERDICT_MESSAGE
from ..cluster.images import Access, Catalogue
from ..cluster.kubelet import DEFAULT_LOG, KEYS, SIMULATED_LOG, Verdict, judge, resource_version
from ..errors import NotFound

__all__ = ["Controller", "main", "run"]

# -- the controller -----------------------------------------------------------------------------------
log = logging.getLogger("kubelab.kubelet")
RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
CRASHES = ("CrashLoopBackOff", "InitCrashLoopBackOff")   # verdicts whose process prints a log
RBAC_SETTLE_S = 1.0   # the API server's authorizer learns of an RBAC change by its own watch


class Controller:
    """Watches pods, ConfigMaps and Secrets (raw JSON) and keeps the pods' verdict marks right."""

    def __init__(self, api_client, catalogue_files: list[str], logs_dir: str | None = None):
        from kubernetes import client

        self.api = api_client
        self.logs_dir, self.logs_available = logs_dir, True
        self.core = client.CoreV1Api(api_client)
        self.catalogue_files = catalogue_files
        self._catalogue_stamp = None
        self.catalogue = self._load_catalogue()
        self.pods: dict[tuple[str, str], dict] = {}
        self.objects: dict[tuple[str, str, str], set[str]] = {}
        self.lock = threading.Lock()
        self.work: queue.Queue = queue.Queue()
        rbac = [(kind, f"/apis/rbac.authorization.k8s.io/v1/{kind.lower()}s") for kind in RBAC_KINDS]
        self.informers = {kind: self._informer(kind, path) for kind, path in (
            ("ConfigMap", "/api/v1/configmaps"), ("Secret", "/api/v1/secrets"), ("Service", "/api/v1/services"),
            ("EndpointSlice", "/apis/discovery.k8s.io/v1/endpointslices"), *rbac, ("Pod", "/api/v1/pods"))}
        self.synced = {kind: informer.synced for kind, informer in self.informers.items()}
        # (ns, slice) -> (Service, ready port names, {port name: target port}, ready pods' names)
        self.slices: dict[tuple[str, str], tuple[str, set[str], dict[str, int], list[str]]] = {}
        self.access_cache: dict[tuple, str | None] = {}
        self.rbac_changed: float | None = None
        self._resources: dict[str, tuple[str, str] | None] = {}
        # patches go out in parallel (1,000 pods marked one by one would take a minute); a pod is never
        # judged by two workers at once
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="judge")
        self.pending: set[tuple[str, str]] = set()

    def _stamp(self):
        from ..cluster.images import default_images_file
        paths = [default_images_file(), *map(Path, self.catalogue_files)]
        return tuple(p.stat().st_mtime if p.exists() else None for p in paths)

    def _load_catalogue(self) -> Catalogue:
        from ..cluster import images
        self._catalogue_stamp = self._stamp()
        return images.load(*self.catalogue_files)

    def lookup(self, kind: str, ns: str, name: str) -> set[str] | None:
        if kind == "EndpointSlice":
            ready = [s[1] for (slice_ns, _), s in list(self.slices.items()) if slice_ns == ns and s[0] == name]
            return set().union(*ready) if ready else None
        if kind == "Paths":   # name "svc|port name": the HTTP paths every ready pod behind it serves there
            return self._served_paths(ns, *name.split("|", 1))
        return self.objects.get((kind, ns, name))

    def _served_paths(self, ns: str, svc: str, port_name: str) -> set[str] | None:
        paths: set[str] = set()
        for (slice_ns, _), (owner, _, targets, pods) in list(self.slices.items()):
            if slice_ns != ns or owner != svc or port_name not in targets:
                continue
            for pod_name in pods:
                pod = self.pods.get((ns, pod_name)) or {}
                served = None
                for c in (pod.get("spec") or {}).get("containers") or []:
                    listens = self.catalogue.behaviour(c.get("image", ""), c.get("command"), c.get("args")).listens
                    if listens is None:
                        return None            # a process kubelab cannot read: any path answers
                    if targets[port_name] in listens:
                        served = listens[targets[port_name]]
                if served is None:
                    return None
                paths |= set(served)
        return paths

    def _resource(self, name: str, group: str) -> tuple[str, str] | None:
        """'po' -> ('pods', ''), 'deployments.apps' -> ('deployments', 'apps'), as discovery says; None: unknown."""
        if "." in name and not group:
            name, group = name.split(".", 1)
        if group:
            return name, group
        if name not in self._resources:
            from .._k8s.kinds import resource
            try:
                res = resource(self.api, name)
                self._resources[name] = (res.name, res.group)
            except Exception:  # UsageError: no such resource type
                self._resources[name] = None
        return self._resources[name]

    def access(self, ns: str, sa: str, need: Access) -> str | None:
        """A real SubjectAccessReview for the ServiceAccount; what the process prints when it is denied."""
        base, _, sub = need.resource.partition("/")   # pods/log: a subresource
        found = self._resource(base, need.group)
        if found is None:
            return f'error: the server doesn\'t have a resource type "{base}"'
        resource, group = found
        key = (ns, sa, need.verb, group, resource, sub, need.log)
        if key in self.access_cache:
            return self.access_cache[key]
        from kubernetes import client
        user = f"system:serviceaccount:{ns}:{sa}"
        review = client.AuthorizationV1Api(self.api).create_subject_access_review({
            "spec": {"user": user, "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"],
                     "resourceAttributes": {"namespace": ns, "verb": need.verb, "group": group, "resource": resource,
                                            "subresource": sub}}})
        printed = None
        if not review.status.allowed:
            # the API server's own wording (k8s.io/apiserver's forbidden responder)
            message = (f'{resource}{"." + group if group else ""} is forbidden: User "{user}" cannot {need.verb} '
                       f'resource "{resource}{"/" + sub if sub else ""}" in API group "{group}" in the namespace "{ns}"')
            printed = need.printed(message)
        self.access_cache[key] = printed
        return printed

    # watching
    def _informer(self, kind: str, path: str) -> Informer:
        """A list-and-watch of `kind` that keeps nothing itself: `_replace` and `_apply` (under self.lock) keep what
        the rules need."""
        return Informer(self.api, path, name=kind, store=False, lock=self.lock, log=log,
                        transform=drop_managed_fields,
                        on_replace=lambda items: self._replace(kind, items),
                        on_add=lambda obj: self._apply(kind, "ADDED", obj),
                        on_update=lambda _, obj: self._apply(kind, "MODIFIED", obj),
                        on_delete=lambda obj: self._apply(kind, "DELETED", obj))

    def _replace(self, kind: str, items: list[dict]) -> None:
        if kind in RBAC_KINDS:
            self.rbac_changed = time.monotonic()
            return
        if kind == "Pod":
            self.pods = {}
        elif kind == "EndpointSlice":
            self.slices = {}
        else:
            self.objects = {k: v for k, v in self.objects.items() if k[0] != kind}
        for obj in items:
            self._apply(kind, "ADDED", obj)
        if kind != "Pod":
            self.work.put(("all", None))

    def _apply(self, kind: str, type_: str, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        if kind == "Pod":
            if type_ == "DELETED":
                self.pods.pop((ns, name), None)
            elif resource_version(obj) >= resource_version(self.pods.get((ns, name))):  # not older than our own patch's answer
                self.pods[(ns, name)] = obj
                self.work.put(("pod", (ns, name)))
            return
        if kind in RBAC_KINDS:   # who may do what changed: ask again (a moment later: the authorizer's cache)
            self.rbac_changed = time.monotonic()
            return
        if kind == "EndpointSlice":
            svc = ((meta.get("labels") or {}).get("kubernetes.io/service-name") or "")
            if type_ == "DELETED":
                self.slices.pop((ns, name), None)
            else:
                ready_pods = [(e.get("targetRef") or {}).get("name", "") for e in obj.get("endpoints") or []
                              if (e.get("conditions") or {}).get("ready")]
                ports = {p.get("name") or "": p.get("port") for p in obj.get("ports") or []}
                self.slices[(ns, name)] = (svc, set(ports) if ready_pods else set(), ports, ready_pods)
            self.work.put(("connects", ns))
            return
        key = (kind, ns, name)
        if type_ == "DELETED":
            self.objects.pop(key, None)
        elif kind == "Service":
            spec = obj.get("spec") or {}
            keys = {f"{p.get('port')}={p.get('name') or ''}" for p in spec.get("ports") or []}
            keys.add(f"ip={spec.get('clusterIP') or ''}")
            if self.objects.get(key) == keys:
                return
            self.objects[key] = keys
        else:
            keys = set(obj.get("data") or {}) | set(obj.get("binaryData") or {}) | set(obj.get("stringData") or {})
            if self.objects.get(key) == keys:
                return
            self.objects[key] = keys
        # a Service may be waited for from any namespace (db.other.svc)
        self.work.put(("all", None) if kind == "Service" else ("namespace", ns))

    # deciding
    def reconcile(self, key: tuple[str, str]) -> None:
        pod = self.pods.get(key)
        if pod is None:
            return
        meta = pod.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        if meta.get("deletionTimestamp") or SIMULATE_ANNOTATION in annotations:
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        verdict = judge(pod, self.catalogue, self.lookup, self.access)
        want = verdict.annotations() if verdict else {}
        have = {k: annotations[k] for k in KEYS if k in annotations}
        if want == have:
            return
        patch = {"metadata": {"annotations": {k: want.get(k) for k in set(KEYS) | set(want)}}}
        try:
            resp = call(self.core.patch_namespaced_pod, key[1], key[0], patch, _preload_content=False)
            patched = drop_managed_fields(json.loads(resp.data))
            with self.lock:
                if key in self.pods and resource_version(patched) >= resource_version(self.pods[key]):
                    self.pods[key] = patched
            log.info("%s/%s: %s", key[0], key[1], f"{verdict.reason} ({verdict.container})" if verdict else "healthy")
        except NotFound:  # deleted meanwhile
            return
        except Exception as err:
            log.warning("%s/%s: patch failed: %s", key[0], key[1], err)
            return
        crashed = verdict is not None and verdict.reason in CRASHES and bool(verdict.message)
        if crashed and (have.get(VERDICT_ANNOTATION) != verdict.reason or have.get(VERDICT_MESSAGE) != verdict.message):
            self._logs(pod, verdict)
        elif not crashed and have.get(VERDICT_ANNOTATION) in CRASHES:
            self._logs(pod, None)

    def _logs(self, pod: dict, verdict: Verdict | None) -> None:
        """`kubectl logs` (and --previous) of a crashing container: the line its image prints, marked
        simulated. A kwok Logs object per pod (owned by the pod, so it goes with it) names the file."""
        if not self.logs_dir or not self.logs_available:
            return
        from kubernetes import client

        meta = pod["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta.get("uid", "")
        api = client.CustomObjectsApi(self.api)
        where = ("kwok.x-k8s.io", "v1alpha1", ns, "logs")
        try:
            if verdict is None:
                delete_if_present(api.delete_namespaced_custom_object, *where, name, what=f"Logs {ns}/{name}")
                return
            path = Path(self.logs_dir) / ns / f"{name}_{uid}.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000000Z"
            path.write_text("".join(f"{stamp} stderr F {SIMULATED_LOG} {line}\n" for line in verdict.message.splitlines()))
            body = {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs",
                    "metadata": {"name": name, "namespace": ns,
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid}]},
                    "spec": {"logs": [{"containers": [verdict.container], "logsFile": str(path),
                                       "previousLogsFile": str(path)},
                                      {"logsFile": str(DEFAULT_LOG)}]}}
            if not create_or_exists(api.create_namespaced_custom_object, *where[:3], "logs", body,
                                    what=f"Logs {ns}/{name}"):
                call(api.patch_namespaced_custom_object, *where, name,
                     {"spec": body["spec"], "metadata": {"ownerReferences": body["metadata"]["ownerReferences"]}},
                     what=f"Logs {ns}/{name}")
        except NotFound:  # a cluster made before kwok's Logs CRD was enabled (or the pod went meanwhile)
            if verdict is not None:
                self.logs_available = False
                log.warning("no kwok Logs resource on this cluster: crash logs are not simulated "
                            "(recreate the cluster to get them)")
        except Exception as err:
            log.warning("%s/%s: logs not set: %s", ns, name, err)

    def loop(self) -> None:
        last_check = time.monotonic()
        while True:
            try:
                what, arg = self.work.get(timeout=0.5)
            except queue.Empty:
                what, arg = None, None
            if time.monotonic() - last_check > 2:
                last_check = time.monotonic()
                try:
                    if self._stamp() != self._catalogue_stamp:
                        self.catalogue = self._load_catalogue()
                        log.info("image catalogue reloaded")
                        what = "all"
                except Exception as err:  # a file being edited: keep the last good catalogue
                    log.warning("image catalogue not reloaded: %s", err)
                    self._catalogue_stamp = self._stamp()
            if self.rbac_changed and time.monotonic() - self.rbac_changed > RBAC_SETTLE_S:
                self.rbac_changed = None
                self.access_cache.clear()
                self.work.put(("api", None))
            if what is None or not all(e.is_set() for e in self.synced.values()):
                continue
            with self.lock:
                if what == "pod":
                    keys = [arg]
                elif what == "namespace":
                    keys = [k for k in self.pods if k[0] == arg]
                elif what == "connects":   # pods whose commands may connect to a Service: run-to-completion, init
                    keys = [k for k, p in self.pods.items() if k[0] == arg and (
                        ((p.get("spec") or {}).get("restartPolicy") or "Always") != "Always"
                        or (p.get("spec") or {}).get("initContainers"))]
                elif what == "api":        # pods whose images make API requests
                    keys = [k for k, p in self.pods.items() if self._needs_api(p)]
                else:
                    keys = list(self.pods)
            for key in keys:
                with self.lock:
                    if key in self.pending:
                        continue
                    self.pending.add(key)
                self.pool.submit(self._reconcile_pending, key)

    def _needs_api(self, pod: dict) -> bool:
        return any(self.catalogue.behaviour(c.get("image", ""), c.get("command"), c.get("args")).api
                   for c in (pod.get("spec") or {}).get("containers") or [])

    def _reconcile_pending(self, key: tuple[str, str]) -> None:
        with self.lock:
            self.pending.discard(key)  # an event from now on queues it again
        try:
            self.reconcile(key)
        except Exception:  # one pod's surprise must not stop the others
            log.exception("%s/%s: not judged", *key)

    def start(self) -> None:
        for informer in self.informers.values():
            informer.start()
        for e in self.synced.values():
            e.wait()
        self.work.put(("all", None))
        log.info("watching pods, ConfigMaps, Secrets, Services, EndpointSlices and RBAC; catalogue: %d images",
                 len(self.catalogue.images))


def run(kubeconfig: str, context: str | None = None, images: list[str] | None = None,
        synced_file: str | None = None, logs_dir: str | None = None) -> None:
    from kubernetes import config

    api = config.new_client_from_config(kubeconfig, context=context)
    controller = Controller(api, images or [], logs_dir)
    controller.start()
    if synced_file:
        Path(synced_file).write_text(str(time.time()))
    controller.loop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kubelab-kubelet", description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--context", default=None)
    parser.add_argument("--images", action="append", default=[], help="an image catalogue extending cluster/images.yaml")
    parser.add_argument("--synced-file", default=None, help="written once pods, ConfigMaps and Secrets are listed")
    parser.add_argument("--logs-dir", default=None, help="where crash logs are written (kwok's Logs name them)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    run(args.kubeconfig, args.context, args.images, args.synced_file, args.logs_dir)


if __name__ == "__main__":
    main()
