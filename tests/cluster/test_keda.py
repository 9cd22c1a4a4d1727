"""KEDA (the operator and its metrics API server, two components of the session cluster) scales a model server through
the real HPA controller on the simulated load `vllm:num_requests_waiting` that the cluster's Prometheus scrapes: the
HPA KEDA makes reads the external metric through the aggregated API (the APIService over loopback TLS), replicas
follow a load step, the Deployment goes to zero with no load and back with some, a query that returns nothing shows
what KEDA reports, KEDA's admission webhook refuses a second ScaledObject on one Deployment, and `up` restarts a
killed KEDA. Short intervals come from each ScaledObject's own fields
(pollingInterval, cooldownPeriod, the HPA behavior); the HPA controller's sync period is the cluster's 5 s."""
from __future__ import annotations

import json
import math

import psutil
import pytest
from kubernetes import client

from kubelab.cluster import keda, model_load
from kubelab.cluster.components import KEDA_ADAPTER, KEDA_OPERATOR, KEDA_WEBHOOKS
from tests.helpers import eventually

KEDA_API = ("keda.sh", "v1alpha1")
THRESHOLD = 5          # waiting requests per replica the HPA aims at (AverageValue)


def model_server(name: str, replicas: int = 1) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "terminationGracePeriodSeconds": 0,
                         "containers": [{"name": "server", "image": "vllm/vllm-openai:v0.11.0",
                                         "resources": {"requests": {"cpu": "100m"}}}]}}}}


def query(namespace: str, model: str) -> str:
    return f'sum({model_load.METRIC}{{namespace="{namespace}",model_name="{model}"}})'


def scaled_object(name: str, target: str, prometheus: str, promql: str, min_replicas: int = 0,
                  **trigger: str) -> dict:
    behavior = {"stabilizationWindowSeconds": 0, "policies": [{"type": "Percent", "value": 100, "periodSeconds": 1}]}
    return {"apiVersion": "/".join(KEDA_API), "kind": "ScaledObject", "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"name": target}, "pollingInterval": 2, "cooldownPeriod": 5,
                     "minReplicaCount": min_replicas, "maxReplicaCount": 5,
                     "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleUp": behavior,
                                                                                 "scaleDown": behavior}}},
                     "triggers": [{"type": "prometheus", "metadata": {
                         "serverAddress": prometheus, "query": promql, "threshold": str(THRESHOLD), **trigger}}]}}


def external_metric(api, namespace: str, metric: str, scaled_object: str) -> list[str]:
    """The values external.metrics.k8s.io answers for a ScaledObject's metric (what the HPA controller reads)."""
    resp = api.call_api(f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}", "GET",
                        query_params=[("labelSelector", f"scaledobject.keda.sh/name={scaled_object}")],
                        auth_settings=["BearerToken"], _preload_content=False)
    return [item["value"] for item in json.loads(resp.data)["items"]]


def condition(obj: dict, kind: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def ready_replicas(api, namespace: str, name: str) -> tuple[int, int]:
    d = client.AppsV1Api(api).read_namespaced_deployment(name, namespace)
    return d.spec.replicas, d.status.ready_replicas or 0


def replicas_become(api, namespace: str, name: str, n: int, timeout: float = 90):
    eventually(lambda: ready_replicas(api, namespace, name) == (n, n), timeout=timeout,
               what=f"{namespace}/{name} at {n} ready replicas (now {ready_replicas(api, namespace, name)})")


@pytest.fixture
def serving(api, namespace, local_cluster):
    """A model server `llm` (1 replica) in `namespace`, and a ScaledObject maker on the cluster's Prometheus."""
    client.AppsV1Api(api).create_namespaced_deployment(namespace, model_server("llm"))
    custom = client.CustomObjectsApi(api)

    def scale(name="llm", promql=None, target="llm", dry_run=None, **kw):
        body = scaled_object(name, target, local_cluster.prometheus.url, promql or query(namespace, "llm"), **kw)
        return custom.create_namespaced_custom_object(*KEDA_API, namespace, "scaledobjects", body, dry_run=dry_run)
    return scale


def test_the_hpa_keda_makes_reads_the_external_metric_and_replicas_follow_a_load_step(api, namespace, serving):
    apis = client.ApiregistrationV1Api(api).read_api_service(keda.APISERVICE)
    assert next(c for c in apis.status.conditions if c.type == "Available").status == "True"
    model_load.set_load(api, namespace, "llm", 12)
    serving(min_replicas=1)
    autoscaling = client.AutoscalingV2Api(api)
    hpa = eventually(lambda: next(iter(autoscaling.list_namespaced_horizontal_pod_autoscaler(namespace).items), None),
                     what="the HPA KEDA makes")
    assert hpa.metadata.name == "keda-hpa-llm" and hpa.spec.scale_target_ref.name == "llm"
    metric = hpa.spec.metrics[0]
    assert metric.type == "External" and metric.external.target.type == "AverageValue"
    assert metric.external.metric.name == "s0-prometheus"
    # the metric as the HPA controller reads it: through the API server's aggregator, from KEDA's metrics server
    eventually(lambda: external_metric(api, namespace, "s0-prometheus", "llm") == ["12"],
               what="the external metric at 12")

    replicas_become(api, namespace, "llm", math.ceil(12 / THRESHOLD))          # 12 waiting, 5 per replica: 3

    def hpa_reads():
        h = autoscaling.read_namespaced_horizontal_pod_autoscaler("keda-hpa-llm", namespace)
        current = (h.status.current_metrics or [None])[0]
        return current and current.external.current.average_value
    eventually(hpa_reads, what="the HPA's current external metric")
    model_load.set_load(api, namespace, "llm", 4)
    replicas_become(api, namespace, "llm", 1)                                 # 4 waiting: 1 replica (its minimum)
    so = client.CustomObjectsApi(api).get_namespaced_custom_object(*KEDA_API, namespace, "scaledobjects", "llm")
    assert condition(so, "Ready")["status"] == "True"
    assert so["status"]["hpaName"] == "keda-hpa-llm"


def test_no_load_scales_to_zero_and_a_load_brings_it_back(api, namespace, serving):
    model_load.set_load(api, namespace, "llm", 0)
    serving()
    custom = client.CustomObjectsApi(api)
    replicas_become(api, namespace, "llm", 0)      # KEDA's operator takes it to zero after cooldownPeriod
    # the conditions follow the scale a moment later (Active is Unknown until KEDA's next poll writes it)
    eventually(lambda: (so := custom.get_namespaced_custom_object(*KEDA_API, namespace, "scaledobjects", "llm"))
               and condition(so, "Active").get("status") == "False" and condition(so, "Ready").get("status") == "True",
               what="the ScaledObject Ready and not Active at zero replicas")
    model_load.set_load(api, namespace, "llm", 8)
    replicas_become(api, namespace, "llm", math.ceil(8 / THRESHOLD))  # the operator 0 -> 1, then the HPA 1 -> 2
    so = custom.get_namespaced_custom_object(*KEDA_API, namespace, "scaledobjects", "llm")
    assert condition(so, "Active")["status"] == "True"
    model_load.set_load(api, namespace, "llm", 0)
    replicas_become(api, namespace, "llm", 0)


def test_a_query_that_returns_nothing(api, namespace, serving):
    """A query that matches no series: KEDA's Prometheus scaler counts an empty answer as 0 (ignoreNullValues
    defaults to true; pkg/scalers/prometheus_scaler.go): the ScaledObject is Ready and not Active, and the Deployment
    goes to zero whatever the load. With ignoreNullValues "false" the empty answer is an error the ScaledObject's
    Ready condition and events report."""
    model_load.set_load(api, namespace, "llm", 12)   # a load, but on a model_name the query does not match
    serving("quiet", promql=query(namespace, "no-such-model"))
    # one ScaledObject per Deployment (two would make two HPAs fight over one target)
    client.AppsV1Api(api).create_namespaced_deployment(namespace, model_server("other"))
    serving("strict", promql=query(namespace, "no-such-model"), target="other", ignoreNullValues="false")
    custom = client.CustomObjectsApi(api)

    def so(name):
        return custom.get_namespaced_custom_object(*KEDA_API, namespace, "scaledobjects", name)

    def quiet():   # Ready and not Active (a transient query error on a busy machine makes it not Ready a moment)
        obj = so("quiet")
        return condition(obj, "Active").get("status") == "False" and condition(obj, "Ready").get("status") == "True"
    eventually(quiet, what="the ScaledObject on an empty query to be Ready and not Active")
    replicas_become(api, namespace, "llm", 0)        # nothing active: zero, whatever load the model server has
    strict = eventually(lambda: so("strict") if condition(so("strict"), "Ready").get("status") == "False" else None,
                        what="the ScaledObject that refuses an empty answer to be not Ready")
    # pkg/scaling/executor/scale_scaledobjects.go: an error, no fallback -> Ready False, TriggerError; not scaled
    assert condition(strict, "Ready")["reason"] == "TriggerError"
    # left alone: its one replica stays (and becomes Ready, which takes a moment on a busy machine)
    eventually(lambda: ready_replicas(api, namespace, "other") == (1, 1), what="Deployment other at 1 ready replica")
    events = client.CoreV1Api(api).list_namespaced_event(namespace, field_selector="involvedObject.name=strict").items
    assert any(e.reason == "KEDAScalerFailed" and "empty" in e.message for e in events), \
        [(e.reason, e.message) for e in events]


def test_keda_admission_webhook_refuses_a_second_scaled_object_on_a_scaled_deployment(api, namespace, serving):
    serving()

    def refused_dry_run():   # KEDA's webhook sees ScaledObjects through its cache: a moment after the first is made
        try:
            serving("second", dry_run="All")
        except client.ApiException as err:
            return err.status == 403
        return False
    eventually(refused_dry_run, timeout=30, what="KEDA's webhook refusing a second ScaledObject (a dry run)")
    with pytest.raises(client.ApiException) as refused:
        serving("second")
    message = json.loads(refused.value.body)["message"]
    assert refused.value.status == 403 and 'admission webhook "vscaledobject.kb.io" denied' in message
    assert "is already managed by the ScaledObject 'llm'" in message


def test_up_restarts_a_killed_keda(api, local_cluster):
    for name in (KEDA_OPERATOR, KEDA_ADAPTER, KEDA_WEBHOOKS):
        proc = local_cluster.supervisor.process(name)
        assert proc.running
        psutil.Process(proc.pid).kill()
        psutil.Process(proc.pid).wait(10)
    assert "restarted KEDA's operator, KEDA's metrics server, KEDA's admission webhooks" in local_cluster.up()
    assert all(local_cluster.supervisor.process(n).running for n in (KEDA_OPERATOR, KEDA_ADAPTER, KEDA_WEBHOOKS))
    assert keda.Keda(local_cluster.workdir).adapter_answering()

    def available():
        apis = client.ApiregistrationV1Api(api).read_api_service(keda.APISERVICE)
        return any(c.type == "Available" and c.status == "True" for c in apis.status.conditions or [])
    eventually(available, what="the external metrics APIService Available again")
