"""The Gateway API on the embedded cluster: Envoy Gateway's controller (cmd/envoy-gateway of
`github.com/envoyproxy/gateway`, built from the pinned Go module in cluster/go/envoy-gateway like the other tools)
runs as a host process against the cluster's kubeconfig; it writes the status of GatewayClasses, Gateways and routes,
and deploys an Envoy proxy (a Deployment and a Service in envoy-gateway-system) for each Gateway. Those proxies are
pods of the simulated nodes: they are scheduled, become Ready and get endpoints, but no traffic flows through them.

What the cluster gives it (`EnvoyGateway.configure` writes the files, `install` applies the objects, both at every
start; `install` skips the apply when the same objects were applied to this cluster before):

    <workdir>/envoy-gateway/config.yaml  its EnvoyGateway configuration (`configuration`): the Kubernetes provider,
                                  no leader election, no topology-injector webhook, the shutdown manager's image as
                                  upstream's Helm chart sets it, and the default EnvoyProxy giving each proxy Service
                                  the type ClusterIP (KWOK has no load balancer; a ClusterIP is an address the
                                  Gateway can report, so the controller programs it)
    <workdir>/envoy-gateway/certs/       the certificates upstream's `envoy-gateway certgen` makes (a CA, and server
                                  certificates for envoy-gateway, envoy and envoy-rate-limit, plus the OIDC HMAC
                                  key), made once and kept; `xds/` holds the controller's own (what its Deployment
                                  mounts at /certs)
    envoy-gateway-system          its namespace, with the four Secrets certgen would create there
    CRDs                          the Gateway API's standard channel (sigs.k8s.io/gateway-api config/crd, with its
                                  safe-upgrades ValidatingAdmissionPolicy), Envoy Gateway's own
                                  (charts/gateway-crds-helm/templates/generated) and the Inference Extension's
                                  InferencePool (sigs.k8s.io/gateway-api-inference-extension
                                  config/crd/bases, inference.networking.k8s.io v1), each read from the Go module
                                  cache at the version cluster/go/envoy-gateway/go.mod pins (checked against go.sum)
    GatewayClass `eg`             upstream's quickstart name, for its controller
                                  (gateway.envoyproxy.io/gatewayclass-controller)

Why a launcher (cluster/part_launch.py): Envoy Gateway v1.9.1 on Kubernetes reads its certificates from the fixed
folder /certs (internal/xds/runner/runner.go) and listens on fixed ports: its health probe on :8081
(internal/provider/kubernetes/kubernetes.go), xDS on :18000, its wasm cache on :18002 and metrics on :19001. So it
runs in namespaces of its own (user, mount, network): /certs there is this cluster's certs/xds folder, its ports are
its own (another cluster's Envoy Gateway cannot collide with it), the API server's port is relayed in through a Unix
socket, and its health port out through another (`answering` reads /readyz through it).
"""
from __future__ import annotations

import base64
import datetime
import os
from pathlib import Path

import yaml

from .certs import kept, save
from .paths import PartFolder

__all__ = ["CONTROLLER", "EG_MODULE", "GATEWAY_API_MODULE", "GATEWAY_CLASS", "HEALTH_PORT", "INFERENCE_MODULE",
           "NAMESPACE", "SHUTDOWN_MANAGER_IMAGE", "EnvoyGateway", "certificates", "configuration", "crds",
           "gateway_class", "module_dirs", "secrets"]

EG_MODULE = "github.com/envoyproxy/gateway"
GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"
INFERENCE_MODULE = "sigs.k8s.io/gateway-api-inference-extension"
NAMESPACE = "envoy-gateway-system"        # its default (ENVOY_GATEWAY_NAMESPACE; internal/envoygateway/config)
CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"   # its default controllerName
GATEWAY_CLASS = "eg"                      # upstream's quickstart GatewayClass
HEALTH_PORT = 8081                        # fixed in internal/provider/kubernetes/kubernetes.go
# the shutdown manager (a second container of each proxy pod) runs the controller's own image; upstream's Helm chart
# sets it so (charts/gateway-helm/templates/_helpers.tpl), the built-in default being a dev tag
SHUTDOWN_MANAGER_IMAGE = "docker.io/envoyproxy/gateway:{version}"
# in the modules (each checked out of the Go module cache)
GATEWAY_API_CRDS = "config/crd/kustomization.yaml"   # lists the standard channel's files
EG_CRDS = "charts/gateway-crds-helm/templates/generated"
INFERENCE_CRDS = ("config/crd/bases/inference.networking.k8s.io_inferencepools.yaml",)  # v1; not the x-k8s.io alpha
CERT_DAYS = 365 * 5                       # certgen's DefaultCertificateLifetime (internal/crypto/certgen.go)


def module_dirs(*modules: str) -> dict[str, Path]:
    """The modules' folders in the Go module cache, at the versions cluster/go/envoy-gateway pins (downloaded and
    checked against its go.sum when missing)."""
    from . import build
    return build.module_dirs("envoy-gateway", *modules, what="the Gateway API's CRDs")


# -- pure parts ---------------------------------------------------------------------------------------------------
def _load(path: Path) -> list[dict]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    # Envoy Gateway's CRD files are Helm templates whose only template lines are an `{{- if }}` and its `{{- end }}`
    text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("{{"))
    return [d for d in yaml.load_all(text, Loader=loader) if d]


def crds(gateway_api: Path, envoy_gateway: Path, inference: Path) -> list[dict]:
    """The objects of the three modules the cluster installs, in apply order: the Gateway API's standard channel
    (as its config/crd kustomization lists it: CRDs and the safe-upgrades policy and binding), Envoy Gateway's CRDs,
    the InferencePool CRD."""
    root = gateway_api / Path(GATEWAY_API_CRDS).parent
    out = [d for rel in yaml.safe_load((gateway_api / GATEWAY_API_CRDS).read_text())["resources"]
           for d in _load(root / rel)]
    out += [d for p in sorted((envoy_gateway / EG_CRDS).glob("*.yaml")) for d in _load(p)]
    out += [d for rel in INFERENCE_CRDS for d in _load(inference / rel)]
    return out


def configuration(version: str) -> dict:
    """Envoy Gateway's configuration (gateway.envoyproxy.io/v1alpha1 EnvoyGateway) for `version` (pure)."""
    return {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "EnvoyGateway",
        "gateway": {"controllerName": CONTROLLER},
        "provider": {"type": "Kubernetes", "kubernetes": {
            "leaderElection": {"disable": True},          # one process, and no Lease to wait for after a restart
            "shutdownManager": {"image": SHUTDOWN_MANAGER_IMAGE.format(version=version)},
            # its webhook (pods/binding of proxy pods) would need an in-cluster Service; off, as the chart allows
            "proxyTopologyInjector": {"disabled": True}}},
        "logging": {"level": {"default": "info"}},
        # the default of every proxy: a ClusterIP Service (the Gateway's address; KWOK has no load balancer)
        "envoyProxy": {"provider": {"type": "Kubernetes", "kubernetes": {"envoyService": {"type": "ClusterIP"}}}},
    }


def gateway_class() -> dict:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": GATEWAY_CLASS},
            "spec": {"controllerName": CONTROLLER}}


def certificates(folder: Path, namespace: str = NAMESPACE, domain: str = "cluster.local") -> dict[str, bytes]:
    """What `envoy-gateway certgen` makes (internal/crypto/certgen.go), in `folder`: made when missing or expiring
    within a year, else read back. Keys: ca.crt, ca.key, <name>.crt and <name>.key for envoy-gateway, envoy and
    envoy-rate-limit, hmac-secret."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    names = ("ca.crt", "ca.key", "envoy-gateway.crt", "envoy-gateway.key", "envoy.crt", "envoy.key",
             "envoy-rate-limit.crt", "envoy-rate-limit.key", "hmac-secret")
    files = kept(folder, names, leaf="envoy-gateway.crt")
    if files:
        return files
    now = datetime.datetime.now(datetime.timezone.utc)

    def key():
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)   # certgen's keySize

    def pem(k):   # PKCS#1 ("RSA PRIVATE KEY"), as certgen writes them
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                               serialization.NoEncryption())

    def usage(ca):
        return x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=ca, crl_sign=False,
                             content_commitment=not ca, data_encipherment=not ca, key_agreement=False,
                             encipher_only=False, decipher_only=False)

    def builder(subject, public, issuer):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))

    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "envoy-gateway")])
    ca_key = key()
    ca = (builder(ca_name, ca_key.public_key(), ca_name)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(usage(True), critical=True).sign(ca_key, hashes.SHA256()))
    files = {"ca.crt": ca.public_bytes(serialization.Encoding.PEM), "ca.key": pem(ca_key)}
    service = "envoy-gateway"   # the controller's Service names (kubeServiceNames); the proxies: *.<namespace>
    sans = {"envoy-gateway": [service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
                              f"{service}.{namespace}.svc.{domain}"],
            "envoy": [f"*.{namespace}"], "envoy-rate-limit": [f"*.{namespace}"]}
    for name, dns in sans.items():
        k = key()
        cn = service if name == "envoy-gateway" else "*"
        cert = (builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]), k.public_key(), ca_name)
                .add_extension(usage(False), critical=True)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        files[f"{name}.crt"], files[f"{name}.key"] = cert.public_bytes(serialization.Encoding.PEM), pem(k)
    files["hmac-secret"] = os.urandom(32)
    return save(folder, files)


def secrets(certs: dict[str, bytes], namespace: str = NAMESPACE) -> list[dict]:
    """The Secrets certgen creates (internal/provider/kubernetes/secrets.go CertsToSecret), from `certificates`."""
    def secret(name, kind, data):
        return {"apiVersion": "v1", "kind": "Secret", "type": kind,
                "metadata": {"name": name, "namespace": namespace, "labels": {"control-plane": "envoy-gateway"}},
                "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}
    out = [secret(name, "kubernetes.io/tls", {"ca.crt": certs["ca.crt"], "tls.crt": certs[f"{name}.crt"],
                                              "tls.key": certs[f"{name}.key"]})
           for name in ("envoy-gateway", "envoy", "envoy-rate-limit")]
    return out + [secret("envoy-oidc-hmac", "Opaque", {"hmac-secret": certs["hmac-secret"]})]


# -- one cluster's Envoy Gateway ----------------------------------------------------------------------------------
class EnvoyGateway(PartFolder):
    """The Envoy Gateway of one cluster, kept in `<workdir>/envoy-gateway/` (config.yaml, certs/, run/, root/)."""
    FOLDER = "envoy-gateway"

    @property
    def xds_cert_dir(self) -> Path:
        """What it finds at /certs: the envoy-gateway Secret's ca.crt, tls.crt and tls.key."""
        return self.cert_dir / "xds"

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def health_socket(self) -> Path:
        return self.run_dir / "health.sock"

    def configure(self, version: str) -> dict[str, bytes]:
        """Write its config and make (or keep) the certificates; returns them."""
        certs = certificates(self.cert_dir)
        self.xds_cert_dir.mkdir(parents=True, exist_ok=True)
        for name, source in (("ca.crt", "ca.crt"), ("tls.crt", "envoy-gateway.crt"), ("tls.key", "envoy-gateway.key")):
            (self.xds_cert_dir / name).write_bytes(certs[source])
            (self.xds_cert_dir / name).chmod(0o600)
        self.config_file.write_text(yaml.safe_dump(configuration(version), sort_keys=False))
        return certs

    def launch_setup(self, api_port: int) -> dict:
        """The launcher's setup (cluster/part_launch.py)."""
        return {"bind": {"/certs": str(self.xds_cert_dir), "/var/lib/eg": str(self.dir / "var-lib-eg")},
                "forward": {str(api_port): str(self.run_dir / "api.sock")},
                "expose": {str(HEALTH_PORT): str(self.health_socket)}}

    def command(self, binary: Path, kubeconfig: Path, api_port: int) -> list[str]:
        # Its flags have no --kubeconfig: it reads $KUBECONFIG (controller-runtime); `env` sets it for it alone.
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return self.launched(self.launch_setup(api_port), ["env", f"KUBECONFIG={kubeconfig}", str(binary), "server",
                                                            "--config-path", str(self.config_file)])

    def answering(self) -> bool:
        """Its /readyz answers 200 (its caches synced), read through the launcher's health socket."""
        import http.client
        import socket

        path = str(self.health_socket)

        class Conn(http.client.HTTPConnection):
            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(1)
                self.sock.connect(path)

        conn = Conn("localhost", timeout=1)
        try:
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    @property
    def applied_file(self) -> Path:
        """The digest of what `install` last applied to this cluster (its etcd is kept with the work folder)."""
        return self.dir / "applied.sha256"

    @staticmethod
    def objects(certs: dict[str, bytes], dirs: dict[str, Path]) -> list[dict]:
        """What the API server needs before it starts, in apply order: CRDs (and the Gateway API's policy), the
        namespace, the certificate Secrets, the GatewayClass. `dirs`: `module_dirs` of the three modules."""
        return [*crds(dirs[GATEWAY_API_MODULE], dirs[EG_MODULE], dirs[INFERENCE_MODULE]),
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}, *secrets(certs),
                gateway_class()]

    @staticmethod
    def digest(certs: dict[str, bytes], dirs: dict[str, Path]) -> str:
        """What decides the objects: the modules' folders (their versions), the certificates, and this file."""
        import hashlib
        h = hashlib.sha256(Path(__file__).read_bytes())
        for part in [*(str(dirs[m]) for m in sorted(dirs)), *(certs[k] for k in sorted(certs))]:
            h.update(part.encode() if isinstance(part, str) else part)
        return h.hexdigest()

    def install(self, api, certs: dict[str, bytes], logs_fix: str, timeout: float = 30) -> None:
        """Server-side apply what it needs: the CRDs at once (a few at a time: 19 of them, 2 MB), then, once new ones
        are established (it watches them from the start, and the GatewayClass is of one of them), the rest in order.
        Skipped when the same objects were applied before and the GatewayClass (applied last) is there: a resumed
        cluster keeps them in its etcd, and re-applying 2 MB of CRDs costs seconds on a busy machine."""
        from . import crds as crds_mod
        dirs = module_dirs(GATEWAY_API_MODULE, EG_MODULE, INFERENCE_MODULE)
        digest = self.digest(certs, dirs)   # without reading the modules' 2 MB of CRDs when nothing changed
        if crds_mod.applied(api, self.applied_file, digest, gateway_class()):
            return
        crds_mod.install(api, self.objects(certs, dirs), "the Gateway API's", logs_fix, timeout,
                         record=self.applied_file, key=digest)
