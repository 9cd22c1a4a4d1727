"""The Gateway API's part of the cluster without a cluster: the pins (Envoy Gateway v1.9.x, the Gateway API v1.6.x
and the Inference Extension v1.6.x in one go.mod), the certificates certgen would make and the Secrets it would
create from them, Envoy Gateway's configuration (ClusterIP proxies), the CRDs read from module folders shaped like
upstream's, the launcher's setup, and the image catalogue's entries for the pods Envoy Gateway deploys."""
from __future__ import annotations

import base64
import datetime
import re

import pytest
import yaml
from cryptography import x509

from kubelab.cluster import gateway, images
from kubelab.cluster.paths import repo_root

pytestmark = pytest.mark.unit

GO_DIR = repo_root() / "cluster" / "go" / "envoy-gateway"


def test_one_go_mod_pins_envoy_gateway_the_gateway_api_and_the_inference_extension():
    gomod = (GO_DIR / "go.mod").read_text()
    direct = dict(re.findall(r"^\t(\S+) (v\S+)$", gomod.split("require (", 1)[1].split(")", 1)[0], re.M))
    assert re.fullmatch(r"v1\.9\.\d+", direct[gateway.EG_MODULE])
    assert re.fullmatch(r"v1\.6\.\d+", direct[gateway.GATEWAY_API_MODULE])   # v1.7 needs a newer Go
    assert re.fullmatch(r"v1\.6\.\d+", direct[gateway.INFERENCE_MODULE])
    assert "replace" not in gomod  # Envoy Gateway's go.mod has no replace directives to copy
    go = re.search(r"^go (\S+)$", gomod, re.M).group(1)
    assert tuple(int(x) for x in go.split(".")) <= (1, 26, 8)  # the machine's Go builds it (GOTOOLCHAIN=local)
    tools = (GO_DIR / "tools.go").read_text()
    assert all(m in tools for m in (gateway.EG_MODULE + "/cmd/envoy-gateway", gateway.GATEWAY_API_MODULE,
                                    gateway.INFERENCE_MODULE))


def test_certificates_are_made_once_as_certgen_makes_them(tmp_path, monkeypatch):
    certs = gateway.certificates(tmp_path / "certs")
    assert gateway.certificates(tmp_path / "certs") == certs  # kept: the Secrets and /certs stay the same
    ca = x509.load_pem_x509_certificate(certs["ca.crt"])
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for name, dns in {"envoy-gateway": ["envoy-gateway", "envoy-gateway.envoy-gateway-system",
                                        "envoy-gateway.envoy-gateway-system.svc",
                                        "envoy-gateway.envoy-gateway-system.svc.cluster.local"],
                      "envoy": ["*.envoy-gateway-system"], "envoy-rate-limit": ["*.envoy-gateway-system"]}.items():
        cert = x509.load_pem_x509_certificate(certs[f"{name}.crt"])
        cert.verify_directly_issued_by(ca)
        assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName) == dns
        assert certs[f"{name}.key"].startswith(b"-----BEGIN RSA PRIVATE KEY-----")  # PKCS#1, as certgen writes
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=4 * 365)
    assert ca.not_valid_after_utc > soon  # certgen's five years
    assert len(certs["hmac-secret"]) == 32
    assert oct((tmp_path / "certs" / "ca.key").stat().st_mode & 0o777) == "0o600"


def test_the_secrets_are_certgens():
    certs = {n: n.encode() for n in ("ca.crt", "envoy-gateway.crt", "envoy-gateway.key", "envoy.crt", "envoy.key",
                                     "envoy-rate-limit.crt", "envoy-rate-limit.key", "hmac-secret")}
    out = {s["metadata"]["name"]: s for s in gateway.secrets(certs)}
    assert set(out) == {"envoy-gateway", "envoy", "envoy-rate-limit", "envoy-oidc-hmac"}
    assert all(s["metadata"]["namespace"] == "envoy-gateway-system" for s in out.values())
    assert out["envoy"]["type"] == "kubernetes.io/tls" and out["envoy-oidc-hmac"]["type"] == "Opaque"
    decoded = {k: base64.b64decode(v) for k, v in out["envoy"]["data"].items()}
    assert decoded == {"ca.crt": b"ca.crt", "tls.crt": b"envoy.crt", "tls.key": b"envoy.key"}
    assert base64.b64decode(out["envoy-oidc-hmac"]["data"]["hmac-secret"]) == b"hmac-secret"


def test_the_configuration_gives_proxies_a_cluster_ip_and_the_charts_shutdown_manager():
    cfg = gateway.configuration("v1.9.1")
    assert cfg["kind"] == "EnvoyGateway" and cfg["gateway"]["controllerName"] == gateway.CONTROLLER
    k8s = cfg["provider"]["kubernetes"]
    assert k8s["leaderElection"] == {"disable": True}
    assert k8s["shutdownManager"]["image"] == "docker.io/envoyproxy/gateway:v1.9.1"
    assert k8s["proxyTopologyInjector"] == {"disabled": True}   # the field's JSON name upstream
    assert cfg["envoyProxy"]["provider"]["kubernetes"]["envoyService"]["type"] == "ClusterIP"
    assert gateway.gateway_class()["spec"]["controllerName"] == gateway.CONTROLLER


def _crd(name, **annotations):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name, "annotations": annotations}}


def test_crds_follow_the_kustomization_strip_the_helm_lines_and_take_only_the_v1_inference_pool(tmp_path):
    gwapi, eg, inf = tmp_path / "gwapi", tmp_path / "eg", tmp_path / "inf"
    (gwapi / "config/crd/standard").mkdir(parents=True)
    (gwapi / "config/crd/kustomization.yaml").write_text(yaml.safe_dump({"resources": [
        "standard/gateways.yaml", "standard/vap.yaml"]}))
    (gwapi / "config/crd/standard/gateways.yaml").write_text(yaml.safe_dump(_crd("gateways.gateway.networking.k8s.io")))
    (gwapi / "config/crd/standard/vap.yaml").write_text(yaml.safe_dump_all([
        {"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "safe-upgrades"}},
        {"kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "safe-upgrades"}}]))
    (gwapi / "config/crd/experimental").mkdir()
    (gwapi / "config/crd/experimental/x.yaml").write_text(yaml.safe_dump(_crd("x")))   # not listed: not applied
    (eg / gateway.EG_CRDS).mkdir(parents=True)
    (eg / gateway.EG_CRDS / "gateway.envoyproxy.io_envoyproxies.yaml").write_text(
        "{{- if .Values.crds.envoyGateway.enabled }}\n---\n"
        + yaml.safe_dump(_crd("envoyproxies.gateway.envoyproxy.io")) + "{{- end }}\n")
    (inf / "config/crd/bases").mkdir(parents=True)
    (inf / gateway.INFERENCE_CRDS[0]).write_text(yaml.safe_dump(_crd("inferencepools.inference.networking.k8s.io")))
    (inf / "config/crd/bases/inference.networking.x-k8s.io_inferencepoolimports.yaml").write_text(
        yaml.safe_dump(_crd("inferencepoolimports.inference.networking.x-k8s.io")))
    names = [(o["kind"], o["metadata"]["name"]) for o in gateway.crds(gwapi, eg, inf)]
    assert names == [("CustomResourceDefinition", "gateways.gateway.networking.k8s.io"),
                     ("ValidatingAdmissionPolicy", "safe-upgrades"),
                     ("ValidatingAdmissionPolicyBinding", "safe-upgrades"),
                     ("CustomResourceDefinition", "envoyproxies.gateway.envoyproxy.io"),
                     ("CustomResourceDefinition", "inferencepools.inference.networking.k8s.io")]


def test_the_launcher_sees_the_cluster_folders_at_the_fixed_paths_and_relays_the_api_port(tmp_path):
    eg = gateway.EnvoyGateway(tmp_path)
    setup = eg.launch_setup(32001)
    assert setup["bind"]["/certs"] == str(eg.xds_cert_dir)
    assert set(setup["bind"]) == {"/certs", "/var/lib/eg"}
    assert list(setup["forward"]) == ["32001"] and setup["expose"] == {"8081": str(eg.health_socket)}
    cmd = eg.command(tmp_path / "envoy-gateway", tmp_path / "kubeconfig.yaml", 32001)
    assert cmd[2].endswith("part_launch.py") and cmd[3] == "outer"
    assert cmd[cmd.index("--") + 1:] == ["env", f"KUBECONFIG={tmp_path / 'kubeconfig.yaml'}",
                                         str(tmp_path / "envoy-gateway"), "server", "--config-path",
                                         str(eg.config_file)]
    assert not eg.answering()   # no launcher, no socket


def test_configure_writes_the_xds_certificates_it_reads_at_certs(tmp_path):
    eg = gateway.EnvoyGateway(tmp_path)
    certs = eg.configure("v1.9.1")
    assert (eg.xds_cert_dir / "tls.crt").read_bytes() == certs["envoy-gateway.crt"]
    assert (eg.xds_cert_dir / "ca.crt").read_bytes() == certs["ca.crt"]
    assert yaml.safe_load(eg.config_file.read_text()) == gateway.configuration("v1.9.1")


def test_the_catalogue_runs_the_pods_envoy_gateway_deploys():
    cat = images.load()
    envoy = "docker.io/envoyproxy/envoy:distroless-v1.39.1@sha256:" + "0" * 64
    assert cat.pull(envoy).ok and cat.pull("envoyproxy/envoy:v1.39.1").ok
    assert not cat.pull("envoyproxy/envoy:v1.99.0").ok
    proxy = cat.behaviour(envoy, ["envoy"], ["--service-cluster", "c", "--config-yaml", "{}"])
    assert "/ready" in proxy.listens[19003]   # its startup, readiness and liveness probes
    shutdown = cat.behaviour("docker.io/envoyproxy/gateway:v1.9.1", ["envoy-gateway"], ["envoy", "shutdown-manager"])
    assert "/healthz" in shutdown.listens[19002]


def test_the_digest_of_what_install_applies_follows_the_modules_and_the_certificates(tmp_path):
    eg = gateway.EnvoyGateway(tmp_path)
    certs = eg.configure("v1.9.1")
    dirs = {m: tmp_path / f"{m}@v1" for m in (gateway.EG_MODULE, gateway.GATEWAY_API_MODULE, gateway.INFERENCE_MODULE)}
    same = eg.digest(certs, dirs)
    assert eg.digest(dict(certs), dict(dirs)) == same   # a resumed cluster: nothing applied again
    assert eg.digest({**certs, "ca.crt": b"other"}, dirs) != same
    assert eg.digest(certs, {**dirs, gateway.GATEWAY_API_MODULE: tmp_path / "gateway-api@v2"}) != same
