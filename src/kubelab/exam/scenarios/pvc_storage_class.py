"""A PersistentVolumeClaim naming a StorageClass that does not exist: Pending, and so is the pod."""
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import get
from ..scenario_registry import register

__all__ = ["PvcStorageClass"]

EXAM_LABEL = "kubelab.io/exam-namespace"   # cluster-scoped objects a scenario made for a namespace
VOLUME = """
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $namespace-datasets$suffix   # cluster-scoped: <namespace>-<word>, unique per injection
  labels: {kubelab.io/exam-namespace: $namespace}
spec:
  capacity: {storage: 20Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: local-nvme
  hostPath: {path: /var/lib/kubelab/nvme/datasets}   # simulated: no container reads it
---
"""
CLAIM = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: datasets}
spec:
  storageClassName: $class
  selector: {matchLabels: {kubelab.io/exam-namespace: $namespace}}
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 20Gi}}
---
"""
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: data-loader}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: data-loader}}
  template:
    metadata: {labels: {app: data-loader}}
    spec:
      volumes:
      - name: datasets
        persistentVolumeClaim: {claimName: datasets}
      containers:
      - name: loader
        image: python:3.12-slim
        command: [python, -m, http.server, "8000", --directory, /data]
        volumeMounts:
        - {name: datasets, mountPath: /data}
"""


@register
class PvcStorageClass(DeploymentScenario):
    name = "pvc-storage-class"
    title = "The data loader pends: its volume claim never binds"
    category = "storage"
    needs = frozenset({"cluster"})             # the PersistentVolume <namespace>-datasets-<suffix>
    difficulty = 2
    ticket = ("`data-loader` has been Pending since it was deployed. The platform team says the datasets "
              "volume (20Gi of local NVMe, storage class `local-nvme`) is provisioned and waiting for our claim.")
    evidence = ("ProvisioningFailed", 'storageclass.storage.k8s.io "nvme" not found', "spec.storageClassName",
                "unbound immediate PersistentVolumeClaims", "FailedScheduling")
    cause = ("the claim `datasets` asks for storage class `nvme`, which does not exist; the volume waiting for "
             "it is of class local-nvme, so the claim stays Pending and the pod cannot be scheduled")
    fix = ("a claim's storageClassName cannot change: delete the claim (its pod holds it: scale the loader to 0 "
           "first) and recreate it with storageClassName: local-nvme, then scale back to 1")
    deployment = "data-loader"
    check_timeout = 30.0
    manifests = VOLUME + CLAIM.replace("$class", "nvme") + DEPLOYMENT
    fixed = CLAIM.replace("$class", "local-nvme")
    own_wrong = {"second-object": "a second claim beside `datasets`, mounted instead of it, leaves the "
                                  "claim the team uses unbound",
                 "drop-volume": "an emptyDir instead of the claim starts the loader on an empty disk: no datasets",
                 "empty-class": "the claim recreated with storageClassName \"\" (no class): it may bind only to a volume "
                                "without a class, and the datasets volume is local-nvme",
                 "host-path": "the volume's host path mounted straight into the pod (hostPath), the claim bypassed: "
                              "no claim, no binding, the pod tied to whatever disk its node has",
                 "patch-claim-class": "`kubectl patch pvc datasets` to class local-nvme: a claim's spec is immutable "
                                      "once created, the API server refuses it and the claim stays Pending"}
    alternatives = {"volume-name": "the claim recreated with class local-nvme AND volumeName naming the waiting volume "
                                   "(Kubernetes' persistent volumes docs: reserving a PersistentVolume)"}

    def _reclaim(self, api, namespace, claim: str) -> None:
        """The reference repair's steps with another claim: scale to 0, delete the claim, apply `claim`, scale to 1."""
        from ... import manifests, tools
        tools.kubectl(api, "scale", "deployment", "data-loader", "--replicas=0", "-n", namespace)
        tools.kubectl(api, "delete", "pvc", "datasets", "-n", namespace, "--wait=true", "--timeout=60s")
        manifests.apply(api, self.render(claim, namespace), namespace=namespace)
        tools.kubectl(api, "scale", "deployment", "data-loader", "--replicas=1", "-n", namespace)

    def wrong_empty_class(self, api, namespace):
        self._reclaim(api, namespace, CLAIM.replace("$class", '""'))

    def wrong_host_path(self, api, namespace):
        from ... import manifests
        manifests.apply(api, DEPLOYMENT.replace("persistentVolumeClaim: {claimName: datasets}",
                                                "hostPath: {path: /var/lib/kubelab/nvme/datasets}"), namespace=namespace)

    def wrong_patch_claim_class(self, api, namespace):
        from ... import tools
        from ...errors import KubelabError
        try:   # refused by the API server (spec is immutable): the claim stays as it was
            tools.kubectl(api, "patch", "pvc", "datasets", "-n", namespace, "--type", "merge", "-p",
                          '{"spec":{"storageClassName":"local-nvme"}}')
        except KubelabError:
            pass

    def alt_volume_name(self, api, namespace):
        from kubernetes import client
        volume = next(pv.metadata.name for pv in client.CoreV1Api(api).list_persistent_volume(
            label_selector=f"{EXAM_LABEL}={namespace}").items if pv.metadata.name.startswith(f"{namespace}-datasets"))
        self._reclaim(api, namespace, CLAIM.replace("$class", "local-nvme").replace(
            "  accessModes: [ReadWriteOnce]\n", f"  volumeName: {volume}\n  accessModes: [ReadWriteOnce]\n"))

    def inject(self, api, namespace):
        import uuid

        from ... import manifests
        self.cleanup(api, namespace)  # a volume left by an earlier run is bound to a claim that is gone
        text = self.manifests.replace("$suffix", uuid.uuid4().hex[:6])
        manifests.apply(api, self.render(text, namespace), namespace=namespace)

    def remove(self, api, namespace):
        from ... import manifests
        manifests.delete(api, self.render(CLAIM.replace("$class", "nvme") + DEPLOYMENT, namespace), namespace=namespace,
                         wait=True)

    def cleanup(self, api, namespace):
        from kubernetes import client

        from ... import manifests
        volumes = client.CoreV1Api(api).list_persistent_volume(label_selector=f"{EXAM_LABEL}={namespace}").items
        # only the volumes named after the namespace: a label is anyone's to copy
        manifests.delete(api, [{"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv.metadata.name}}
                               for pv in volumes if pv.metadata.name.startswith(f"{namespace}-datasets")])

    def repair(self, api, namespace):
        from ... import manifests, tools
        tools.kubectl(api, "scale", "deployment", "data-loader", "--replicas=0", "-n", namespace)
        tools.kubectl(api, "delete", "pvc", "datasets", "-n", namespace, "--wait=true", "--timeout=60s")
        manifests.apply(api, self.render(self.fixed, namespace), namespace=namespace)
        tools.kubectl(api, "scale", "deployment", "data-loader", "--replicas=1", "-n", namespace)

    def wrong_second_object(self, api, namespace):
        from ... import manifests
        claim = CLAIM.replace("{name: datasets}", "{name: datasets-2}").replace("$class", "local-nvme")
        manifests.apply(api, self.render(claim, namespace) + DEPLOYMENT.replace("claimName: datasets}", "claimName: datasets-2}"),
                        namespace=namespace)

    def more_state(self, api, namespace):
        from kubernetes import client
        return {"claim": get(client.CoreV1Api(api).read_namespaced_persistent_volume_claim, "datasets", namespace,
                             what="PersistentVolumeClaim 'datasets'")}

    def guard_parts(self, namespace):
        def mounts_claim(s):
            vols = s.deployment["spec"]["template"]["spec"].get("volumes") or []
            return any((v.get("persistentVolumeClaim") or {}).get("claimName") == "datasets" for v in vols)
        return [Part(mounts_claim, "the loader no longer mounts the claim `datasets`",
                     "keep the claim; make it bind")]

    def live_parts(self, namespace):
        return [Part(lambda s: (s.claim.get("status") or {}).get("phase") == "Bound",
                     lambda s: f"the claim `datasets` is {(s.claim.get('status') or {}).get('phase')}",
                     "`kubectl describe pvc datasets` says why it does not bind")]

    def wrong_drop_volume(self, api, namespace):
        from ... import manifests
        manifests.apply(api, DEPLOYMENT.replace("persistentVolumeClaim: {claimName: datasets}", "emptyDir: {}"),
                        namespace=namespace)
