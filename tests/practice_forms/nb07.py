"""notebooks/07-monitoring-troubleshooting.ipynb."""
GPUS_BY_POOL = ('sum by (label_kubelab_io_pool) (kube_pod_container_resource_requests{namespace="%s", '
                'resource="nvidia_com_gpu"} * on (node) group_left (label_kubelab_io_pool) kube_node_labels)')


def store(query: str) -> str:
    """The source that stores a query in the dashboard's ConfigMap, as kubectl would."""
    return f'kl.kubectl(api, "create", "configmap", "oncall-queries", "-n", namespace, "--from-literal=gpus-by-pool=" + {query})'


# A ScaledObject as a form writes it: kl.render fills the target, the bounds and the trigger's metadata.
SCALED = """
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: $name}
spec:
  scaleTargetRef: {name: $target}
  minReplicaCount: $low
  maxReplicaCount: $high
  pollingInterval: 2
  cooldownPeriod: $cooldown
  triggers: $triggers
"""


def scaler(name: str, target: str, query: str, low: int, high: int, cooldown: int = 10,
           metric_type: str | None = None, **more: str) -> str:
    """The source of a form that applies a ScaledObject with one prometheus trigger; `query` is Python source (it
    may use `namespace`), `more` goes into the trigger's metadata, `metric_type` beside it (a trigger field)."""
    metadata = ('{"serverAddress": kl.observe.prometheus.prometheus_url(api), "query": ' + query
                + ', "threshold": "5"' + "".join(f", {k!r}: {v!r}" for k, v in more.items()) + "}")
    kind = f', "metricType": {metric_type!r}' if metric_type else ""
    triggers = f'[{{"type": "prometheus", "metadata": {metadata}{kind}}}]'
    return (f"kl.apply(api, kl.render(SCALED, name={name!r}, target={target!r}, low={low}, high={high}, "
            f"cooldown={cooldown}, triggers={triggers}), namespace=namespace)")


def queue(model: str, how: str = "sum", metric: str = "vllm:num_requests_waiting") -> str:
    """Python source of a PromQL query on `model`'s queue in the form's namespace."""
    return f"'{how}({metric}{{namespace=\"' + namespace + '\", model_name=\"{model}\"}})'"


# A ConfigMap with one alerting rule, as a form writes it: kl.render fills the labels, the key, the expression, the
# durations, the severity and the summary (values go in as written: "{{ $labels.pod }}" needs no $$).
ALERTS = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: gpu-alerts
  labels: {$labels}
data:
  $key: |
    groups:
    - name: gpu-cost
      interval: $interval
      rules:
      - alert: GPUAllocatedIdle
        expr: $expr
        for: $wait
        labels: {severity: $severity}
        annotations: {summary: "$summary"}
"""


def alert_rule(expr: str, wait: str = "30s", labelled: bool = True, key: str = "gpu.rules.yaml",
               interval: str = "5s", severity: str = "warning", summary: str = "{{ $labels.pod }} holds an idle GPU",
               how: str = "apply") -> str:
    """The source of a form that stores rule GPUAllocatedIdle; `expr` is PromQL with NS for the form's namespace,
    `how` apply (kl.apply) or kubectl (kubectl apply -f -)."""
    labels = '"kubelab.io/prometheus-rules": "true"' if labelled else "team: ml"
    manifest = (f"kl.render(ALERTS, labels={labels!r}, key={key!r}, interval={interval!r}, wait={wait!r}, "
                f"severity={severity!r}, summary={summary!r}, expr={expr!r}.replace('NS', namespace))")
    if how == "kubectl":
        return f'kl.kubectl(api, "apply", "-n", namespace, "-f", "-", input={manifest})'
    return f"kl.apply(api, {manifest}, namespace=namespace)"


FORMS = {
    "07.image-tag": {
        "right": [  # a whole manifest with another tag that exists (the major version's newest)
            'kl.apply(api, """\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: feature-cache}\nspec:\n'
            '  replicas: 2\n  selector: {matchLabels: {app: feature-cache}}\n  template:\n'
            '    metadata: {labels: {app: feature-cache}}\n    spec:\n      containers:\n'
            '      - {name: redis, image: "redis:7.4", ports: [{containerPort: 6379}]}\n""", namespace=namespace)',
        ],
        "wrong": [
            # scaled to zero: no pod fails, no cache serves
            'kl.kubectl(api, "scale", "deployment/feature-cache", "--replicas=0", "-n", namespace)',
            # a working image that is not the cache
            'kl.kubectl(api, "set", "image", "deployment/feature-cache", "redis=nginx:1.27-alpine", "-n", namespace)',
            # deleted: nothing fails any more
            'kl.kubectl(api, "delete", "deployment", "feature-cache", "-n", namespace)',
            # another typo: a tag that does not exist either
            'kl.kubectl(api, "set", "image", "deployment/feature-cache", "redis=redis:7.4-alpin", "-n", namespace)',
        ],
    },
    "07.config-key": {
        "right": [  # the key the Deployment asks for, added to the ConfigMap
            'kl.kubectl(api, "patch", "configmap", "ranker-config", "-n", namespace, "-p", '
            '\'{"data": {"MODEL_ID": "bge-reranker-v2-m3"}}\')',
        ],
        "wrong": [
            # optional: true: the pods start, without the variable the server needs
            'kl.kubectl(api, "patch", "deployment", "ranker", "-n", namespace, "--type=json", "-p", '
            '\'[{"op": "add", "path": "/spec/template/spec/containers/0/env/0/valueFrom/configMapKeyRef/optional", '
            '"value": true}]\')',
            # the model name pasted as a literal: the shared configuration no longer applies
            'kl.kubectl(api, "set", "env", "deployment/ranker", "MODEL_ID=bge-reranker-v2-m3", "-n", namespace)',
            # scaled to zero
            'kl.kubectl(api, "scale", "deployment/ranker", "--replicas=0", "-n", namespace)',
        ],
    },
    "07.oom-limit": {
        "right": [  # a patch of the limit alone, 1.5 GiB
            'kl.kubectl(api, "set", "resources", "deployment/summarizer", "--limits=memory=1536Mi", "-n", namespace)',
        ],
        "wrong": [
            # the limit removed: no more kills, and no more bound on the container
            'kl.kubectl(api, "patch", "deployment", "summarizer", "-n", namespace, "--type=json", "-p", '
            '\'[{"op": "remove", "path": "/spec/template/spec/containers/0/resources/limits"}]\')',
            # the request raised, the limit left: still killed at 512Mi
            'kl.kubectl(api, "set", "resources", "deployment/summarizer", "--requests=memory=512Mi", "-n", namespace)',
            # a limit far above the namespace's rule
            'kl.kubectl(api, "set", "resources", "deployment/summarizer", "--limits=memory=64Gi", "-n", namespace)',
            # scaled to zero
            'kl.kubectl(api, "scale", "deployment/summarizer", "--replicas=0", "-n", namespace)',
        ],
    },
    "07.readiness": {
        "right": [  # a TCP probe on the named port
            'kl.kubectl(api, "patch", "deployment", "model-cards", "-n", namespace, "--type=json", "-p", '
            '\'[{"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe", '
            '"value": {"tcpSocket": {"port": "http"}, "periodSeconds": 5}}]\')',
        ],
        "wrong": [
            # the probe removed: ready at once, whether or not nginx serves
            'kl.kubectl(api, "patch", "deployment", "model-cards", "-n", namespace, "--type=json", "-p", '
            '\'[{"op": "remove", "path": "/spec/template/spec/containers/0/readinessProbe"}]\')',
            # another path nginx does not serve
            'kl.kubectl(api, "patch", "deployment", "model-cards", "-n", namespace, "--type=json", "-p", '
            '\'[{"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/path", '
            '"value": "/health"}]\')',
            # the pods deleted: the new ones fail the same probe
            'kl.kubectl(api, "delete", "pods", "-l", "app=model-cards", "-n", namespace)',
        ],
    },
    "07.pending": {
        "right": [  # 8 CPUs with a matching limit
            'kl.kubectl(api, "set", "resources", "deployment/indexer", "--requests=cpu=8", "--limits=cpu=8", '
            '"-n", namespace)',
        ],
        "wrong": [
            # the GPU taint tolerated: the indexer squats on a GPU node that has the CPUs
            'kl.kubectl(api, "patch", "deployment", "indexer", "-n", namespace, "-p", '
            '\'{"spec": {"template": {"spec": {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]}}}}\')',
            # the request cut to nothing: it fits anywhere and gets no CPU it can count on
            'kl.kubectl(api, "set", "resources", "deployment/indexer", "--requests=cpu=100m", "-n", namespace)',
            # scaled to zero
            'kl.kubectl(api, "scale", "deployment/indexer", "--replicas=0", "-n", namespace)',
        ],
    },
    "07.promql": {
        "right": [  # the pool renamed with label_replace, the join the other way round
            store("'sum by (pool) (label_replace(kube_node_labels, \"pool\", \"$1\", \"label_kubelab_io_pool\", \"(.+)\")"
                  " * on (node) group_right (pool) kube_pod_container_resource_requests{resource=\"nvidia_com_gpu\", "
                  "namespace=\"' + namespace + '\"})'"),
        ],
        "wrong": [
            # by node, not by pool
            store("'sum by (node) (kube_pod_container_resource_requests{resource=\"nvidia_com_gpu\", "
                  "namespace=\"' + namespace + '\"})'"),
            # pods counted, not GPUs: the 2-GPU server counts as 1
            store("'count by (label_kubelab_io_pool) (kube_pod_container_resource_requests{namespace=\"' + namespace + "
                  "'\", resource=\"nvidia_com_gpu\"} * on (node) group_left (label_kubelab_io_pool) kube_node_labels)'"),
            # no resource filter: CPUs, bytes and GPUs added up
            store("'sum by (label_kubelab_io_pool) (kube_pod_container_resource_requests{namespace=\"' + namespace + "
                  "'\"} * on (node) group_left (label_kubelab_io_pool) kube_node_labels)'"),
            # not PromQL
            store("'SELECT pool, sum(gpus) FROM requests GROUP BY pool'"),
        ],
    },
    "07.scale-on-queue": {
        "right": [  # the queue per pod (avg) against a Value target: ceil(replicas x avg / 5) = ceil(sum / 5)
            scaler("summarizer-scaler", "summarize-llm", queue("summarize-llm", "avg"), 1, 6, metric_type="Value"),
            # the whole queue by kubectl, the trigger's defaults (AverageValue), KEDA's default polling
            'kl.kubectl(api, "apply", "-n", namespace, "-f", "-", input=kl.render(SCALED, name="summarize-llm", '
            'target="summarize-llm", low=1, high=6, cooldown=300, triggers=[{"type": "prometheus", "metadata": {"serverAddress": '
            'kl.observe.prometheus.prometheus_url(api), "query": "sum(vllm:num_requests_waiting{model_name=\\"summarize-llm\\", '
            'namespace=\\"" + namespace + "\\"})", "threshold": "5"}}]))',
        ],
        "wrong": [
            # a plain HPA on CPU: the pods' CPU says nothing of the queue
            'kl.kubectl(api, "autoscale", "deployment/summarize-llm", "--min=1", "--max=6", "--cpu-percent=50", "-n", namespace)',
            # a trigger on another metric: the requests running, not waiting
            scaler("summarizer-scaler", "summarize-llm", queue("summarize-llm", metric="vllm:num_requests_running"), 1, 6),
            # a ScaledObject on another Deployment (the name of the task's model, not of its Deployment)
            scaler("summarizer-scaler", "summarizer", queue("summarize-llm"), 1, 6),
            # avg with the default AverageValue target: the HPA divides the per-pod queue again, too few replicas
            scaler("summarizer-scaler", "summarize-llm", queue("summarize-llm", "avg"), 1, 6),
        ],
    },
    "07.scale-to-zero": {
        "right": [  # the boundary: 15 s of idle before zero
            scaler("nightly", "nightly-llm", queue("nightly-llm"), 0, 4, cooldown=15),
            scaler("nightly", "nightly-llm", queue("nightly-llm"), 0, 3, cooldown=5, activationThreshold="0"),
        ],
        "wrong": [
            # never below one: the GPUs stay booked all night
            scaler("nightly", "nightly-llm", queue("nightly-llm"), 1, 4),
            # KEDA's default cooldown: five minutes of idle before zero
            scaler("nightly", "nightly-llm", queue("nightly-llm"), 0, 4, cooldown=300),
            # the queue per pod: at zero replicas no pod has a series, so the first requests never wake it
            scaler("nightly", "nightly-llm", "'sum(vllm:num_requests_waiting{namespace=\"' + namespace + "
                   "'\", pod=~\"nightly-llm-.*\"})'", 0, 4),
            # scaled to zero by hand: nothing brings it back
            'kl.kubectl(api, "scale", "deployment/nightly-llm", "--replicas=0", "-n", namespace)',
        ],
    },
    "07.alert-rule": {
        "right": [  # the mean of the last minute at most 4 %, `for:` at the task's longest, by kubectl, a .yml key
            alert_rule('avg_over_time(DCGM_FI_DEV_GPU_UTIL{namespace="NS"}[1m]) <= 4', wait="1m", key="gpu.rules.yml",
                       severity="info", how="kubectl"),
            # aggregated per pod, a shorter window and `for:`, the template's other spelling (.Labels)
            alert_rule('max by (namespace, pod) (max_over_time(DCGM_FI_DEV_GPU_UTIL{namespace="NS", pod!=""}[30s]))'
                       ' < 5', wait="15s", interval="2s", summary="GPU of {{ .Labels.pod }} idle for 30s"),
        ],
        "wrong": [
            # always true: one alert with no pod label, whatever the GPUs do
            alert_rule("vector(1)"),
            # allocated, with no utilization condition: the busy job pages as well
            alert_rule('kube_pod_container_resource_limits{namespace="NS", resource="nvidia_com_gpu"} > 0'),
            # the right rule in a ConfigMap the loader does not watch (no kubelab.io/prometheus-rules label)
            alert_rule('max_over_time(DCGM_FI_DEV_GPU_UTIL{namespace="NS"}[1m]) < 5', labelled=False),
            # the right expression with production's patience: it cannot fire while the check waits
            alert_rule('max_over_time(DCGM_FI_DEV_GPU_UTIL{namespace="NS"}[1m]) < 5', wait="5m"),
        ],
    },
}
