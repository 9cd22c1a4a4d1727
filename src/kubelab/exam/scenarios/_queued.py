"""What the batch-platform scenarios share (no scenario here): a Job that the namespace's team queues admit
(kubelab.batch: LocalQueues training/inference, ClusterQueues <namespace>-training/-inference, Kueue v0.17).

Kueue suspends a queued Job until its Workload is admitted, so the check does not ask "not suspended" of the
spec (JobScenario's): it grades what Kueue decided (the Workload's admission: which ClusterQueue, which flavor)
and what the Job did (it succeeded), never how the learner spelled the queue or the selector."""
from __future__ import annotations

from typing import ClassVar

from ... import batch, manifests, tools
from ..._k8s import raw
from ..._k8s.apierrors import call
from ...errors import KubelabError, NotFound
from ...grading.engine import Part
from ..base import JobScenario, injected
from ..checks import State, same_program, verify

__all__ = ["QueuedJobScenario", "admission", "ensure_tenancy", "job_gpus", "tenancy_gone"]

GROUP, VERSION = batch.API.split("/")


def ensure_tenancy(api, namespace: str) -> None:
    """The namespace's team queues: a sandbox with the "batch" right has them already (its learner may read, not
    make, ClusterQueues); an instructor's or a test's namespace gets them here, without the queue-required namespace
    label, which would refuse the unqueued Jobs of the other Job scenarios drawn into the same namespace (these
    scenarios' Jobs are queued and need no label)."""
    from kubernetes import client
    try:
        call(client.CustomObjectsApi(api).get_cluster_custom_object, GROUP, VERSION, "clusterqueues",
             f"{namespace}-training")
    except NotFound:
        batch.install(api, namespace, require_queue=False)


def tenancy_gone(api, namespace: str) -> bool:
    """The namespace is deleted or being deleted: its tenancy's cluster-scoped objects may go too."""
    from kubernetes import client
    try:
        return bool(raw.read(client.CoreV1Api(api).read_namespace, namespace)["metadata"].get("deletionTimestamp"))
    except NotFound:
        return True


def workload_of(api, namespace: str, job: dict) -> dict | None:
    """The Kueue Workload of this Job (owned by its uid), or None (not made yet, or the Job is not queued)."""
    from kubernetes import client

    from ...observe.queues import of_job
    items = raw.items(client.CustomObjectsApi(api).list_namespaced_custom_object, GROUP, VERSION, namespace, "workloads")
    return next(iter(of_job(items, uid=job["metadata"]["uid"])), None)


def admission(wl: dict | None) -> tuple[str, dict]:
    """(the ClusterQueue that admitted the Workload, {resource: flavor} of its first pod set); ("", {}) if none.
    Kueue keeps status.admission once the Workload finished, so a Job that ran is graded after it ended too."""
    adm = ((wl or {}).get("status") or {}).get("admission") or {}
    sets = adm.get("podSetAssignments") or [{}]
    return adm.get("clusterQueue", ""), sets[0].get("flavors") or {}


def _condition(wl: dict | None, kind: str) -> dict:
    return next((c for c in ((wl or {}).get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def job_gpus(job: dict) -> int:
    """The GPUs the Job's pods ask for together (parallelism x each pod's nvidia.com/gpu limit)."""
    spec = job["spec"]["template"]["spec"]
    per_pod = 0
    for c in spec.get("containers") or []:
        try:
            per_pod += int(((c.get("resources") or {}).get("limits") or {}).get(batch.GPU, 0))
        except ValueError:
            pass
    return per_pod * int(job["spec"].get("parallelism", 1) or 0)


class QueuedJobScenario(JobScenario):
    """The Job `job` of team `team` waits or pends; a repair passes when Kueue admitted its Workload through the
    team's ClusterQueue on the flavor `flavor` (a Template: $namespace) and the Job succeeded."""

    needs = frozenset({"batch"})
    team: ClassVar[str] = "training"
    flavor: ClassVar[str]          # the flavor of the GPUs (or, for a CPU Job, of the CPU) it must be admitted on
    resource: ClassVar[str] = batch.GPU

    def inject(self, api, namespace):
        ensure_tenancy(api, namespace)
        super().inject(api, namespace)

    def cleanup(self, api, namespace):
        # the tenancy stays while the namespace does (the sandbox made it; a learner cannot make it again); a test's
        # namespace, once deleted, takes its queues, flavor and NodePools with it
        if tenancy_gone(api, namespace):
            batch.remove(api, namespace)

    def state(self, api, namespace: str) -> State:
        s = super().state(api, namespace)
        s["workload"] = workload_of(api, namespace, s.job)
        return s

    def admission_parts(self, namespace: str) -> tuple[list[Part], list[Part]]:
        """(spec, live): the Workload was admitted by the team's ClusterQueue on `flavor`; one that finished
        elsewhere (another team's queue, another flavor) cannot change any more."""
        queue, flavor = f"{namespace}-{self.team}", self.render(self.flavor, namespace)

        def right(s) -> bool:
            cq, flavors = admission(s.workload)
            return cq == queue and flavors.get(self.resource) == flavor

        def shown(s) -> str:
            if s.workload is None:
                return (f"Job {self.job!r} has no Kueue Workload: it is not queued (its pods run outside every "
                        "team's quota)")
            cq, flavors = admission(s.workload)
            if not cq:
                why = _condition(s.workload, "QuotaReserved").get("message") or "waiting for quota"
                return f"Kueue has not admitted Job {self.job!r} ({why})"
            return (f"Job {self.job!r} was admitted by ClusterQueue {cq!r} on flavor "
                    f"{flavors.get(self.resource, '-')!r}, not by {queue!r} on {flavor!r}")

        def not_finished_elsewhere(s) -> bool:
            return _condition(s.workload, "Finished").get("status") != "True" or right(s)

        hint = (f"`kubectl get workloads -n {namespace}` and `kubectl describe workload -n {namespace} <name>` show "
                "who admitted the Job, on which flavor, or why not")
        return ([Part(not_finished_elsewhere, "its Workload finished there: Kueue will not admit that Job again",
                      "re-create the Job once its queue is repaired")], [Part(right, shown, hint)])

    def live_parts(self, namespace: str) -> list[Part]:
        """Live parts beyond the admission and the Job's success."""
        return []

    def check(self, api, namespace: str):
        what = f"Job {self.job!r}"
        spec, live = self.admission_parts(namespace)
        spec += [same_program(injected(self, "Job", self.job), "job"), *self.guard_parts(namespace)]
        live += [Part(lambda s: (s.job.get("status") or {}).get("succeeded", 0) >= 1,
                      lambda s: f"{what} has not succeeded (suspended: {bool(s.job['spec'].get('suspend'))}, active "
                                f"{(s.job.get('status') or {}).get('active', 0)})",
                      f"`kubectl describe job {self.job} -n {namespace}`, its pods' events and its Workload show why"),
                 *self.live_parts(namespace)]
        return verify(self.name, lambda: self.state(api, namespace), spec=spec, live=live, timeout=self.check_timeout,
                      success=f"{what} was admitted by {namespace}-{self.team} on "
                              f"{self.render(self.flavor, namespace)} and ran to completion")

    def relabel(self, api, namespace: str, queue: str) -> None:
        """Name another LocalQueue on the Job in place (Kueue allows it while the Job is suspended)."""
        tools.kubectl(api, "label", "job", self.job, "-n", namespace, f"{batch.QUEUE_LABEL}={queue}", "--overwrite")

    def wrong_replace_workload(self, api, namespace):
        """The generic replacement (busybox under the same name), with the queue label this namespace's policy
        requires of every new Job: it is admitted and succeeds, and is not the program of the ticket."""
        import json
        live = json.loads(tools.kubectl(api, "get", "job", self.job, "-n", namespace, "-o", "json"))
        tools.kubectl(api, "delete", "job", self.job, "-n", namespace, "--wait=true", "--cascade=foreground")
        containers = [{"name": c["name"], "image": "busybox:1.36", "command": ["true"]}
                      for c in live["spec"]["template"]["spec"]["containers"]]
        manifests.apply(api, {"apiVersion": "batch/v1", "kind": "Job", "metadata": {
            "name": self.job, "labels": {batch.QUEUE_LABEL: live["metadata"]["labels"][batch.QUEUE_LABEL]}},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": containers}}}}, namespace=namespace)

    @staticmethod
    def refused(action) -> None:
        """Run a wrong repair the cluster may refuse (the queue policy, the NodePool rules): a refused one leaves
        the state as it was, which the check grades like any other."""
        try:
            action()
        except KubelabError:   # kubectl's failure, or the API server's refusal of an apply
            pass
