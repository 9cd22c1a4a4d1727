"""The pure parts of kubelab.grading.scaling: which ScaledObject scales a Deployment, which trigger reads the queue,
and the replicas the HPA's reading of an external metric asks for (kubernetes replica_calculator.go)."""
from __future__ import annotations

from kubelab.grading import scaling


def so(name: str, target: str, *triggers: dict, kind: str | None = None) -> dict:
    ref = {"name": target, **({"kind": kind} if kind else {})}
    return {"metadata": {"name": name}, "spec": {"scaleTargetRef": ref, "triggers": list(triggers)}}


def prom(query: str) -> dict:
    return {"type": "prometheus", "metadata": {"serverAddress": "http://127.0.0.1:9090", "query": query,
                                                "threshold": "5"}}


QUEUE = 'sum(vllm:num_requests_waiting{namespace="ns", model_name="llm"})'


def test_the_scaled_object_of_a_deployment_is_found_by_its_target_not_its_name():
    objs = [so("llm", "other", prom(QUEUE)), so("scaler", "llm", prom(QUEUE))]
    assert scaling.scaled_object_of(objs, "llm")["metadata"]["name"] == "scaler"
    assert scaling.scaled_object_of([so("llm", "llm", kind="StatefulSet")], "llm") is None
    assert scaling.scaled_object_of([so("llm", "llm", kind="Deployment")], "llm") is not None
    assert scaling.scaled_object_of([], "llm") is None


def test_the_queue_trigger_is_a_prometheus_trigger_whose_query_reads_the_metric():
    cpu = {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "50"}}
    assert scaling.queue_trigger(so("s", "llm", cpu, prom(QUEUE))) == (1, prom(QUEUE))
    assert scaling.queue_trigger(so("s", "llm", prom("sum(vllm:num_requests_running)"))) is None
    assert scaling.queue_trigger(so("s", "llm", cpu)) is None
    assert scaling.queue_trigger({"metadata": {"name": "s"}, "spec": {}}) is None


def metric(kind: str, target: str) -> dict:
    key = "averageValue" if kind == "AverageValue" else "value"
    return {"type": "External", "external": {"metric": {"name": "s0-prometheus"},
                                             "target": {"type": kind, key: target}}}


def reading(kind: str, value: str) -> dict:
    key = "averageValue" if kind == "AverageValue" else "value"
    return {"type": "External", "external": {"metric": {"name": "s0-prometheus"}, "current": {key: value}}}


def test_the_proposal_of_an_average_value_target_is_the_total_over_the_target():
    # status averageValue = ceil(total / current replicas) in milli-units: 17 waiting at 3 replicas -> 5667m
    assert scaling.proposal(metric("AverageValue", "5"), reading("AverageValue", "5667m"), 3) == 4
    assert scaling.proposal(metric("AverageValue", "5"), reading("AverageValue", "17"), 1) == 4
    # 10 waiting at 3 replicas: 3334m x 3 = 10.002, still 2 replicas (the milli rounding is not a replica)
    assert scaling.proposal(metric("AverageValue", "5"), reading("AverageValue", "3334m"), 3) == 2
    # an avg query against AverageValue: 17 waiting at 4 replicas reads 4.25 per pod, divided again: 1
    assert scaling.proposal(metric("AverageValue", "5"), reading("AverageValue", "1063m"), 4) == 1


def test_the_proposal_of_a_value_target_scales_the_current_replicas():
    # an avg query with metricType Value: 4.25 per pod at 4 replicas -> ceil(4 x 4.25 / 5) = 4
    assert scaling.proposal(metric("Value", "5"), reading("Value", "4250m"), 4) == 4
    # a sum query with metricType Value: the whole queue against each replica -> keeps growing
    assert scaling.proposal(metric("Value", "5"), reading("Value", "17"), 4) == 14


def test_no_reading_no_proposal():
    assert scaling.proposal({}, {}, 1) is None
    assert scaling.proposal(metric("AverageValue", "5"), {}, 1) is None
    assert scaling.proposal(metric("Value", "5"), reading("AverageValue", "5"), 1) is None


def test_conditions_are_read_by_type():
    obj = {"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Active", "status": "False"}]}}
    assert scaling.condition(obj, "Active")["status"] == "False"
    assert scaling.condition(obj, "Fallback") == {}
    assert scaling.condition({}, "Ready") == {}


def test_the_autoscaling_chart_shows_replicas_and_load_and_says_simulated():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from kubelab.viz import plots
    df = pd.DataFrame({"t": [0, 1, 2, 3], "load": [3, 14, 14, 0], "replicas": [1, 3, 3, 0], "ready": [1, 1, 3, 0],
                       "simulated": True})
    ax = plots.autoscaling(df, title="llm")
    assert ax.get_title() == "llm (simulated)" and ax.get_ylabel() == "replicas"
    assert [list(line.get_ydata()) for line in ax.get_lines()[:2]] == [[1, 1, 3, 0], [1, 3, 3, 0]]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ready replicas", "desired replicas",
                                                                  "requests waiting"]
    plt.close("all")
