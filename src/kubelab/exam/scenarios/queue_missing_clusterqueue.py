"""A Job queued on a LocalQueue whose ClusterQueue does not exist (a typo): Kueue never admits it, the Job stays
suspended and makes no pod."""
from ... import manifests, tools
from ..scenario_registry import register
from ._queued import QueuedJobScenario

__all__ = ["QueueMissingClusterQueue"]

QUEUE = """
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {name: research}
spec: {clusterQueue: $target}   # immutable: a LocalQueue is re-created to point elsewhere
"""
JOB = """
apiVersion: batch/v1
kind: Job
metadata:
  name: dataset-prep
  labels: {kueue.x-k8s.io/queue-name: $queue}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: prep
        image: python:3.12-slim
        command: [python, -c, "print('tokenizing shards')"]
        resources:
          requests: {cpu: "2", memory: 4Gi}
          limits: {memory: 4Gi}
"""


@register
class QueueMissingClusterQueue(QueuedJobScenario):
    name = "queue-missing-clusterqueue"
    title = "The data-preparation Job waits forever: its LocalQueue points at a ClusterQueue that does not exist"
    category = "scheduling"
    difficulty = 2
    ticket = ("Our data-preparation Job `dataset-prep` was submitted an hour ago and has not started: no pod at all, "
              "and `kubectl get job` shows it suspended, which none of us did. Yesterday we added a LocalQueue "
              "`research` for it. It is the training team's work and must run on the training team's quota "
              "(the ClusterQueue <namespace>-training).")
    evidence = ("ClusterQueueDoesNotExist", "doesn't exist", "Inadmissible", "spec.clusterQueue")
    cause = ("the LocalQueue research names the ClusterQueue <namespace>-trainng, which does not exist (a typo of "
             "<namespace>-training): the LocalQueue is not Active (reason ClusterQueueDoesNotExist) and the Job's "
             "Workload stays unadmitted (QuotaReserved False, Inadmissible: ClusterQueue <namespace>-trainng doesn't "
             "exist), so Kueue keeps the Job suspended")
    fix = ("re-create the LocalQueue research with spec.clusterQueue: <namespace>-training (the field is immutable), "
           "or label the suspended Job for the existing LocalQueue training; the Job is admitted by "
           "<namespace>-training and completes")
    job = "dataset-prep"
    flavor, resource = "cpu", "cpu"
    check_timeout = 45.0
    manifests = QUEUE.replace("$target", "$namespace-trainng") + "---" + JOB.replace("$queue", "research")
    fixed = QUEUE.replace("$target", "$namespace-training") + "---" + JOB.replace("$queue", "research")
    own_wrong = {
        "inference-queue": "the LocalQueue pointed at <namespace>-inference: the Job runs, on the other team's quota",
        "unqueued": "the queue label removed and the Job un-suspended by hand: it runs outside every quota (the queue "
                    "policy refuses only new unqueued Jobs); its Workload is never admitted",
        "unsuspend": "suspend: false by hand: Kueue suspends the Job again (Stopped: Not admitted by cluster queue)",
        "another-localqueue": "a second LocalQueue that points at <namespace>-training, the Job still on research: "
                              "nothing changes for it",
    }
    alternatives = {"relabel": "the suspended Job labelled for the LocalQueue training in place (allowed while suspended)",
                    "recreate-on-training": "the Job re-created with the queue label training"}

    def repair(self, api, namespace):
        # the LocalQueue's clusterQueue is immutable: delete it and apply the fixed one; the waiting Workload
        # is then admitted (the Job itself stays as it is)
        tools.kubectl(api, "delete", "localqueue", "research", "-n", namespace, "--wait=true")
        manifests.apply(api, self.render(QUEUE.replace("$target", "$namespace-training"), namespace), namespace=namespace)

    def _queue(self, api, namespace, target: str, name: str = "research") -> None:
        tools.kubectl(api, "delete", "localqueue", name, "-n", namespace, "--ignore-not-found", "--wait=true")
        manifests.apply(api, self.render(QUEUE.replace("$target", target).replace("name: research", f"name: {name}"),
                                         namespace), namespace=namespace)

    def wrong_inference_queue(self, api, namespace):
        self._queue(api, namespace, "$namespace-inference")

    def wrong_unqueued(self, api, namespace):
        from .. import tampering
        tools.kubectl(api, "label", "job", self.job, "-n", namespace, "kueue.x-k8s.io/queue-name-")
        tampering.patch(api, namespace, "job", self.job, {"spec": {"suspend": False}})

    def wrong_unsuspend(self, api, namespace):
        from .. import tampering
        tampering.patch(api, namespace, "job", self.job, {"spec": {"suspend": False}})

    def wrong_another_localqueue(self, api, namespace):
        self._queue(api, namespace, "$namespace-training", name="research-v2")

    def alt_relabel(self, api, namespace):
        self.relabel(api, namespace, "training")

    def alt_recreate_on_training(self, api, namespace):
        self.recreate(api, namespace, JOB.replace("$queue", "training"))
