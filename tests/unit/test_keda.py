"""KEDA's part of the cluster and the simulated model-server load, without a cluster: the certificates (made once and
kept; valid for 127.0.0.1, the gRPC authority, and for the Service name the aggregator checks; usable as client and
server), the APIService route (an ExternalName Service to 127.0.0.1 and an APIService with the CA), upstream's CRDs
with the JSON patches of its kustomization (from a module folder shaped like github.com/kedacore/keda/v2's), the
commands, and the load split over ready pods."""
from __future__ import annotations

import base64
import datetime
import ipaddress

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from kubelab.cluster import keda, model_load
from kubelab.errors import UsageError

pytestmark = pytest.mark.unit


def test_certificates_are_made_once_and_fit_the_aggregator_and_the_grpc_link(tmp_path, monkeypatch):
    certs = keda.certificates(tmp_path / "certs")
    assert keda.certificates(tmp_path / "certs") == certs  # a restart keeps the caBundle already applied
    ca, leaf = (x509.load_pem_x509_certificate(certs[n]) for n in ("ca.crt", "tls.crt"))
    leaf.verify_directly_issued_by(ca)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    # the aggregator's ServerName is <service>.<namespace>.svc of the APIService's Service
    assert f"{keda.METRICS_SERVICE}.{keda.NAMESPACE}.svc" in sans.get_values_for_type(x509.DNSName)
    usages = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= usages  # mutual TLS, one folder
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=365)
    assert oct((tmp_path / "certs" / "tls.key").stat().st_mode & 0o777) == "0o600"
    monkeypatch.setattr(keda, "CERT_YEARS", 0)  # expiring: made again
    assert keda.certificates(tmp_path / "expiring") != certs


def test_the_apiservice_routes_to_the_host_through_an_externalname_service():
    svc = keda.service()
    assert svc["spec"] == {"type": "ExternalName", "externalName": "127.0.0.1"}
    api = keda.apiservice(9800, b"CA")
    assert api["metadata"]["name"] == "v1beta1.external.metrics.k8s.io"
    assert api["spec"]["service"] == {"name": svc["metadata"]["name"], "namespace": svc["metadata"]["namespace"],
                                      "port": 9800}
    assert base64.b64decode(api["spec"]["caBundle"]) == b"CA" and "insecureSkipTLSVerify" not in api["spec"]


def test_json_patch_adds_appends_and_removes_without_changing_its_input():
    doc = {"a": {"list": ["x"], "gone": 1}}
    out = keda.json_patch(doc, [{"op": "add", "path": "/a/list/-", "value": "y"},
                                {"op": "add", "path": "/a/new", "value": {"k": 1}},
                                {"op": "remove", "path": "/a/gone"}])
    assert out == {"a": {"list": ["x", "y"], "new": {"k": 1}}}
    assert doc == {"a": {"list": ["x"], "gone": 1}}
    with pytest.raises(Exception):
        keda.json_patch(doc, [{"op": "move", "path": "/a", "from": "/b"}])


def test_crds_are_read_from_the_module_with_its_kustomization_patches(tmp_path):
    root = tmp_path / "config" / "crd"
    (root / "bases").mkdir(parents=True)
    (root / "patches").mkdir()
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "scaledobjects.keda.sh"},
           "spec": {"versions": [{"name": "v1alpha1", "schema": {"openAPIV3Schema": {"properties": {"x": {}}}}}]}}
    other = {**crd, "metadata": {"name": "triggerauthentications.keda.sh"}}
    (root / "bases" / "so.yaml").write_text(yaml.safe_dump(crd))
    (root / "bases" / "ta.yaml").write_text(yaml.safe_dump(other))
    (root / "patches" / "so.yaml").write_text(yaml.safe_dump(
        [{"op": "add", "path": "/spec/versions/0/schema/openAPIV3Schema/properties/x/minimum", "value": 0}]))
    (root / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": ["bases/so.yaml", "bases/ta.yaml"],
        "patches": [{"path": "patches/so.yaml", "target": {"kind": "CustomResourceDefinition",
                                                            "name": "scaledobjects.keda.sh"}}]}))
    out = {c["metadata"]["name"]: c for c in keda.crds(tmp_path)}
    assert set(out) == {"scaledobjects.keda.sh", "triggerauthentications.keda.sh"}
    assert out["scaledobjects.keda.sh"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["x"] == \
        {"minimum": 0}
    assert out["triggerauthentications.keda.sh"] == other


def test_the_webhooks_call_loopback_with_the_ca_and_keep_upstreams_failure_policy(tmp_path):
    (tmp_path / "config" / "webhooks").mkdir(parents=True)
    hook = {"name": "vscaledobject.kb.io", "failurePolicy": "Ignore", "clientConfig": {"service": {
        "name": "keda-admission-webhooks", "namespace": "keda", "path": "/validate-keda-sh-v1alpha1-scaledobject"}}}
    (tmp_path / keda.WEBHOOKS_FILE).write_text(yaml.safe_dump({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "keda-admission", "labels": {"app.kubernetes.io/part-of": "keda"}}, "webhooks": [hook]}))
    out = keda.webhook_configuration(tmp_path, 9880, b"CA")
    assert out["metadata"] == {"name": "keda-admission"}
    (got,) = out["webhooks"]
    assert got["clientConfig"] == {"url": "https://127.0.0.1:9880/validate-keda-sh-v1alpha1-scaledobject",
                                   "caBundle": base64.b64encode(b"CA").decode()}
    assert got["failurePolicy"] == "Ignore"


def test_ports_kept_stay_and_new_entries_are_picked(tmp_path):
    k = keda.Keda(tmp_path)
    k.dir.mkdir()
    (k.dir / "ports.json").write_text('{"metrics_api": 9801, "grpc": 9841}')   # a cluster made before the webhooks
    ports = k.pick_ports(set())
    assert ports["metrics_api"] == 9801 and ports["grpc"] == 9841 and set(ports) == set(keda.PORT_RANGES)
    assert k.ports() == ports


def test_the_commands_use_loopback_ports_the_certificates_and_the_kubeconfig(tmp_path):
    k = keda.Keda(tmp_path)
    ports = {"metrics_api": 9800, "grpc": 9840, "health": 8780, "metrics": 8820, "adapter_metrics": 8860,
             "webhooks": 9880, "webhooks_health": 8900, "webhooks_metrics": 8940}
    k.dir.mkdir()
    (k.dir / "ports.json").write_text(__import__("json").dumps(ports))
    assert k.ports() == ports
    op = k.operator_command(tmp_path / "keda-operator", tmp_path / "kc.yaml")
    assert op[:2] == ["env", f"KUBECONFIG={tmp_path / 'kc.yaml'}"]
    assert "--metrics-service-bind-address=127.0.0.1:9840" in op and "--enable-cert-rotation=false" in op
    assert f"--cert-dir={k.cert_dir}" in op and "--health-probe-bind-address=127.0.0.1:8780" in op
    ad = k.adapter_command(tmp_path / "keda-adapter", tmp_path / "kc.yaml", tmp_path / "pki" / "ca.crt")
    assert f"--requestheader-client-ca-file={tmp_path / 'pki' / 'ca.crt'}" in ad
    assert "--secure-port=9800" in ad and "--bind-address=127.0.0.1" in ad
    assert "--metrics-service-address=127.0.0.1:9840" in ad and f"--cert-dir={k.cert_dir}" in ad
    assert f"--authentication-kubeconfig={tmp_path / 'kc.yaml'}" in ad
    wh = k.webhooks_command(tmp_path / "keda-webhooks", tmp_path / "kc.yaml")
    assert "--port=9880" in wh and f"--cert-dir={k.cert_dir}" in wh
    assert "--health-probe-bind-address=127.0.0.1:8900" in wh
    assert keda.ENV == {"WATCH_NAMESPACE": "", "POD_NAMESPACE": "keda", "KEDA_CLUSTER_OBJECT_NAMESPACE": "keda"}
    # off the other components' ranges, below kwokctl's 10000-32766
    from kubelab.cluster import karpenter, kueue, prometheus
    others = [*prometheus.PORT_RANGES.values(), *kueue.PORT_RANGES.values(), *karpenter.PORT_RANGES.values()]
    for first, last in keda.PORT_RANGES.values():
        assert last < 10000 and all(last < a or first > b for a, b in others)


# -- the simulated load ------------------------------------------------------------------------------------------
def deployment(name="llm", load="12", selector=None):
    ann = {} if load is None else {model_load.ANNOTATION: load}
    return {"metadata": {"namespace": "ns", "name": name, "annotations": ann},
            "spec": {"selector": selector or {"matchLabels": {"app": name}}}}


def pod(name, ready=True, deleting=False):
    meta = {"name": name, **({"deletionTimestamp": "2026-12-06T00:00:00Z"} if deleting else {})}
    return {"metadata": meta, "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


def test_only_deployments_with_a_valid_load_are_kept():
    assert model_load.slim_deployment(deployment()) == {"namespace": "ns", "name": "llm", "load": 12.0,
                                                        "selector": "app=llm", "server": "vllm", "model": "llm"}
    for bad in (None, "", "lots", "-1", "nan", "inf"):
        assert model_load.slim_deployment(deployment(load=bad)) is None
    assert model_load.slim_pod(pod("a")) == {"name": "a", "ready": True}
    assert model_load.slim_pod(pod("a", ready=False)) == {"name": "a", "ready": False}
    assert model_load.slim_pod(pod("a", deleting=True)) == {"name": "a", "ready": False}  # takes no more requests


def test_the_load_is_split_over_ready_pods_and_waits_in_front_when_none_is_ready():
    dep = model_load.slim_deployment(deployment(load="12"))
    pods = [model_load.slim_pod(p) for p in (pod("llm-a"), pod("llm-b"), pod("llm-c"), pod("llm-d", ready=False))]
    out = model_load.series([dep], {("ns", "llm"): pods})
    assert [(labels["pod"], value) for _, labels, value in out] == [("llm-a", 4.0), ("llm-b", 4.0), ("llm-c", 4.0)]
    assert all(metric == model_load.METRIC and labels["simulated"] == "true" and labels["model_name"] == "llm"
               and labels["namespace"] == "ns" and labels["job"] == model_load.JOB for metric, labels, _ in out)
    assert set(out[0][1]) == set(model_load.LABELS)
    one = model_load.series([dep], {("ns", "llm"): pods[:1]})
    assert [v for *_, v in one] == [12.0]                   # fewer replicas: a higher value each, the same sum
    none = model_load.series([dep], {("ns", "llm"): [model_load.slim_pod(pod("llm-d", ready=False))]})
    assert [(labels["pod"], v) for _, labels, v in none] == [("", 12.0)]   # Prometheus drops the empty pod label
    assert model_load.series([dep], {}) == none
    idle = model_load.series([model_load.slim_deployment(deployment(load="0"))], {})
    assert [v for *_, v in idle] == [0.0]                   # a load of 0 is a series of 0, not no series


def test_a_triton_deployment_exports_tritons_queue_metric_for_the_model_it_loads():
    def triton(*words, image="nvcr.io/nvidia/tritonserver:25.01-py3", key="command"):
        dep = deployment(load="6")
        dep["spec"]["template"] = {"spec": {"containers": [{"name": "sidecar", "image": "busybox:1.36"},
                                                           {"name": "triton", "image": image, key: list(words)}]}}
        return model_load.slim_deployment(dep)
    for dep in (triton("tritonserver", "--model-repository=/models", "--load-model=resnet50"),
                triton("--load-model", "resnet50", key="args"),
                triton("--load-model=resnet50", image="registry.local:5000/nvidia/tritonserver@sha256:" + "0" * 64)):
        assert (dep["server"], dep["model"]) == ("triton", "resnet50"), dep
        out = model_load.series([dep], {("ns", "llm"): [model_load.slim_pod(pod("llm-a")), model_load.slim_pod(pod("llm-b"))]})
        assert [(m, labels["model"], labels["version"], v) for m, labels, v in out] == [
            (model_load.TRITON_METRIC, "resnet50", "1", 3.0)] * 2
        assert set(out[0][1]) == set(model_load.SERVERS["triton"].labels)
    assert triton("tritonserver")["model"] == "llm"          # no --load-model: the Deployment's name
    assert triton("serve", image="vllm/vllm-openai:v0.11.0")["server"] == "vllm"
    assert triton("x", image="example.com/not-tritonserver:1")["server"] == "vllm"


def test_set_load_refuses_what_is_not_a_number_of_requests():
    for bad in (-1, "many", float("nan")):
        with pytest.raises(UsageError):
            model_load.set_load(None, "ns", "llm", bad)
