"""Kueue's part of the cluster without a cluster: the certificates (made once and kept; valid for 127.0.0.1, and in
the form Kueue's own certificate management made them), its Configuration (that management off), the launcher that
shows it the metrics certificate at its fixed path, and upstream's CRDs and webhook configurations rewritten to call
127.0.0.1 (from a module folder shaped like sigs.k8s.io/kueue's)."""
from __future__ import annotations

import base64
import datetime
import ipaddress

import pytest
import yaml
from cryptography import x509

from kubelab.cluster import kueue

pytestmark = pytest.mark.unit


def test_certificates_are_made_once_and_fit_the_api_server(tmp_path, monkeypatch):
    certs = kueue.certificates(tmp_path / "certs")
    assert kueue.certificates(tmp_path / "certs") == certs  # a restart keeps the caBundle already applied
    ca, srv = (x509.load_pem_x509_certificate(certs[n]) for n in ("ca.crt", "tls.crt"))
    srv.verify_directly_issued_by(ca)
    sans = srv.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert f"{kueue.SERVICE}.{kueue.NAMESPACE}.svc" in sans.get_values_for_type(x509.DNSName)
    ca_sans = ca.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ca_sans.get_values_for_type(x509.DNSName) == ["kueue-ca"]  # as Kueue's rotator names it
    assert certs["ca.key"].startswith(b"-----BEGIN RSA PRIVATE KEY-----")  # PKCS#1, as the rotator wrote it
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=365)
    assert ca.not_valid_after_utc > soon and srv.not_valid_after_utc > soon
    assert oct((tmp_path / "certs" / "ca.key").stat().st_mode & 0o777) == "0o600"

    monkeypatch.setattr(kueue, "CERT_YEARS", 0)  # expiring: made again
    assert kueue.certificates(tmp_path / "expiring") != certs
    assert kueue.certificates(tmp_path / "expiring") != kueue.certificates(tmp_path / "certs")


def test_the_configuration_manages_only_labelled_jobs_on_loopback(tmp_path):
    cfg = kueue.configuration({"webhook": 9700, "health": 8380, "metrics": 8480}, tmp_path)
    assert cfg["webhook"] == {"host": "127.0.0.1", "port": 9700, "certDir": str(tmp_path)}
    assert cfg["health"]["healthProbeBindAddress"] == "127.0.0.1:8380"
    assert cfg["metrics"]["bindAddress"] == "127.0.0.1:8480"
    assert cfg["leaderElection"] == {"leaderElect": False} and cfg["manageJobsWithoutQueueName"] is False
    assert cfg["integrations"]["frameworks"] == ["batch/job"] and cfg["waitForPodsReady"]["timeout"]
    # the cluster makes the certificates and sets every caBundle; Kueue's rotator would update them at each start
    assert cfg["internalCertManagement"] == {"enable": False}


def test_kueue_runs_through_the_part_launcher_with_its_certs_at_the_fixed_metrics_path(tmp_path):
    import json
    k = kueue.Kueue(tmp_path)
    cmd = k.command(tmp_path / "kueue-bin", tmp_path / "kubeconfig")
    assert cmd[2].endswith("part_launch.py") and cmd[3] == "outer" and cmd[5] == "--"
    setup = json.loads(cmd[4])
    assert setup["bind"] == {"/etc/kueue/metrics/certs": str(k.cert_dir)}   # cmd/kueue/main.go's fixed path
    assert setup["net"] is False        # its ports are picked on the host's loopback: no network namespace
    assert cmd[6:] == [str(tmp_path / "kueue-bin"), "--config", str(k.config_file), "--kubeconfig",
                       str(tmp_path / "kubeconfig")]


def fake_module(root):
    """The files of sigs.k8s.io/kueue that kubelab reads, cut down to two CRDs and three webhooks."""
    crd = root / kueue.CRD_DIR
    (crd / "bases").mkdir(parents=True)
    (crd / "patches").mkdir()
    for plural in ("workloads", "resourceflavors"):
        (crd / "bases" / f"kueue.x-k8s.io_{plural}.yaml").write_text(yaml.safe_dump(
            {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
             "metadata": {"name": f"{plural}.kueue.x-k8s.io"}, "spec": {"group": "kueue.x-k8s.io"}}))
    (crd / "patches" / "webhook_in_workloads.yaml").write_text(yaml.safe_dump(
        {"metadata": {"name": "workloads.kueue.x-k8s.io"},
         "spec": {"conversion": {"strategy": "Webhook", "webhook": {
             "clientConfig": {"service": {"namespace": "system", "name": "webhook-service", "path": "/convert"}},
             "conversionReviewVersions": ["v1"]}}}}))
    (crd / "kustomization.yaml").write_text(yaml.safe_dump(
        {"resources": ["bases/kueue.x-k8s.io_workloads.yaml", "bases/kueue.x-k8s.io_resourceflavors.yaml"],
         "patches": [{"path": "patches/webhook_in_workloads.yaml"}]}))

    def hook(name, group, resource):
        return {"name": name, "clientConfig": {"service": {"name": "webhook-service", "path": f"/mutate-{resource}"}},
                "rules": [{"apiGroups": [group], "apiVersions": ["v1"], "operations": ["CREATE"],
                           "resources": [resource]}], "failurePolicy": "Fail", "sideEffects": "None"}
    hooks = root / kueue.WEBHOOKS_FILE
    hooks.parent.mkdir(parents=True)
    hooks.write_text(yaml.safe_dump({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "mutating-webhook-configuration"},
        "webhooks": [hook("mjob.kb.io", "batch", "jobs"), hook("mpod.kb.io", "", "pods"),
                     hook("mworkload.kb.io", "kueue.x-k8s.io", "workloads")]}))
    return root


def test_crds_and_webhooks_call_loopback_with_the_ca_and_only_labelled_jobs_reach_it(tmp_path):
    module, ca = fake_module(tmp_path), b"--CA--"
    crds = {c["metadata"]["name"]: c for c in kueue.crds(module, 9700, ca)}
    webhook = crds["workloads.kueue.x-k8s.io"]["spec"]["conversion"]["webhook"]
    assert webhook["clientConfig"] == {"url": "https://127.0.0.1:9700/convert",
                                       "caBundle": base64.b64encode(ca).decode()}
    assert "conversion" not in crds["resourceflavors.kueue.x-k8s.io"]["spec"]  # upstream patches none there

    (mutating,) = kueue.webhook_configurations(module, 9700, ca)
    assert mutating["metadata"] == {"name": "kueue-mutating-webhook-configuration"}  # the name its rotator updates
    hooks = {h["name"]: h for h in mutating["webhooks"]}
    assert set(hooks) == {"mjob.kb.io", "mworkload.kb.io"}  # the pod integration is off: its webhook is left out
    assert hooks["mjob.kb.io"]["clientConfig"]["url"] == "https://127.0.0.1:9700/mutate-jobs"
    assert hooks["mjob.kb.io"]["objectSelector"] == {
        "matchExpressions": [{"key": kueue.QUEUE_LABEL, "operator": "Exists"}]}
    assert "objectSelector" not in hooks["mworkload.kb.io"]
