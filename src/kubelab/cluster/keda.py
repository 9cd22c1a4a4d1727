"""KEDA on the embedded cluster: autoscaling on a workload's own metrics through the real HPA. Its operator
(cmd/operator of `github.com/kedacore/keda/v2`), its metrics API server (cmd/adapter) and its admission webhooks
(cmd/webhooks), built from the pinned Go module in cluster/go/keda like the other tools, run as three host processes
on 127.0.0.1.

    ScaledObject (keda.sh/v1alpha1) --operator--> HPA keda-hpa-<name> with an External metric s<i>-<trigger>
    HPA controller (kube-controller-manager) --GET /apis/external.metrics.k8s.io/v1beta1/...--> kube-apiserver
      --aggregator, TLS checked against the APIService's caBundle--> adapter (127.0.0.1:<metrics_api>)
      --gRPC, mutual TLS--> operator (127.0.0.1:<grpc>) --scaler--> Prometheus (the cluster's, on 127.0.0.1)
    and the operator itself scales the Deployment 0 <-> 1 (minReplicaCount 0: an HPA cannot go below 1).

What the cluster gives them (`prepare`, at every start of any of them, before they start; the objects are not applied
again when the same ones were applied to this cluster before, cluster/crds.py):

    <workdir>/keda/certs/         a CA and one certificate for both (ca.crt, tls.crt, tls.key), made once and kept:
                                  the operator serves gRPC with it and the adapter is its client (KEDA's mutual TLS
                                  reads the three names from one folder, pkg/metricsservice/utils/tls.go); the adapter
                                  serves the metrics API with it. Valid for 127.0.0.1 (the gRPC authority) and for
                                  keda-metrics-apiserver.keda.svc (the name the aggregator checks, see below).
    <workdir>/keda/ports.json     the loopback ports, picked once and kept
    keda                          its namespace (KEDA_CLUSTER_OBJECT_NAMESPACE: where it reads Secrets)
    keda-admission                its ValidatingWebhookConfiguration, calling the webhooks on 127.0.0.1
    CRDs                          the module's config/crd/bases, with the JSON patches its kustomization applies,
                                  read from the Go module cache (the version go.mod pins, checked against go.sum)
    Service keda/keda-metrics-apiserver   type ExternalName, externalName 127.0.0.1
    APIService v1beta1.external.metrics.k8s.io   -> that Service, port = the adapter's, caBundle = the CA

The APIService route: an APIService names a Service, never a URL. With --enable-aggregator-routing off (kwokctl
leaves it off) the aggregator resolves the Service with k8s.io/apiserver's proxy.ResolveCluster, which for an
ExternalName Service returns https://<externalName>:<APIService port> (pkg/util/proxy/proxy.go), and checks the
server's certificate against ServerName <service>.<namespace>.svc (kube-aggregator's remote.BuildTransportConfig,
pkg/controllers/status/remote/remote_available_controller.go) with the APIService's caBundle. kwokctl routes its
own metrics-server (v1beta1.metrics.k8s.io) the same way, with insecureSkipTLSVerify; KEDA's is verified.

KEDA's own certificate rotation (--enable-cert-rotation) is off: it makes certificates for in-cluster Services and
patches the APIService's caBundle for them; the cluster's certificates are given instead, as for Kueue.

Its admission webhooks (cmd/webhooks) run as a third process, serving with the same certificate: upstream's
ValidatingWebhookConfiguration keda-admission (config/webhooks/validation_webhooks.yaml) is applied with each
webhook calling https://127.0.0.1:<webhooks>/<path> and the CA as caBundle. They refuse what the CRD schema cannot
see: a second ScaledObject (or an HPA) on a workload already scaled, minReplicaCount above maxReplicaCount, a
cpu/memory trigger on a container without requests (apis/keda/v1alpha1/scaledobject_webhook.go). Upstream's
failurePolicy Ignore is kept, so with the webhooks down objects are admitted unchecked and nothing else waits on
them.
"""
from __future__ import annotations

import base64
import contextlib
import copy
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..errors import ConfigError
from .certs import ca_and_server
from .paths import PartFolder

if TYPE_CHECKING:
    from .local import LocalCluster

__all__ = ["APISERVICE", "CRD_DIR", "ENV", "METRICS_SERVICE", "NAMESPACE", "OPERATOR_SERVICE", "PORT_RANGES",
           "WEBHOOKS_FILE", "Keda", "apiservice", "certificates", "crds", "json_patch", "prepare", "service",
           "webhook_configuration"]

NAMESPACE = "keda"                              # KEDA's namespace in upstream's config/ (and its default)
METRICS_SERVICE = "keda-metrics-apiserver"      # config/metrics-server/service.yaml
OPERATOR_SERVICE = "keda-operator"              # config/manager (gRPC metrics service)
WEBHOOKS_SERVICE = "keda-admission-webhooks"    # config/webhooks/service.yaml
APISERVICE = "v1beta1.external.metrics.k8s.io"  # config/metrics-server/api_service.yaml
CRD_DIR = "config/crd"                          # in the module: bases/ and the kustomization's patches
# where each port is picked (kept in ports.json); off Prometheus's, Kueue's and Karpenter's ranges, and below the
# 10000-32766 range kwokctl's ports are picked from. The adapter's metrics (--port) and the operator's metrics and
# probes bind where the flags say; the adapter's --port binds every interface (":<port>"), so all are checked there.
PORT_RANGES = {"metrics_api": (9800, 9839), "grpc": (9840, 9879), "health": (8780, 8819), "metrics": (8820, 8859),
               "adapter_metrics": (8860, 8899), "webhooks": (9880, 9899), "webhooks_health": (8900, 8939),
               "webhooks_metrics": (8940, 8979)}
WEBHOOKS_FILE = "config/webhooks/validation_webhooks.yaml"   # in the module
# what KEDA reads from its pod's environment (pkg/util/env_resolver.go, watch.go): every namespace watched, its
# Secrets read from `keda`
ENV = {"WATCH_NAMESPACE": "", "POD_NAMESPACE": NAMESPACE, "KEDA_CLUSTER_OBJECT_NAMESPACE": NAMESPACE}
CERT_YEARS = 10


def module_dir() -> Path:
    """The KEDA module's folder in the Go module cache (downloaded and checked against go.sum when missing)."""
    from . import build
    return build.module_dirs("keda", what="KEDA's CRDs")[build.tool("keda").module]


# -- pure parts ---------------------------------------------------------------------------------------------------
def json_patch(doc: dict, ops: list[dict]) -> dict:
    """`doc` with the RFC 6902 `add` and `remove` operations of `ops` applied (the only ones KEDA's CRD patches use;
    pure: `doc` is copied). A path ending in "-" appends to a list."""
    out = copy.deepcopy(doc)
    for op in ops:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        node = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if op["op"] == "add":
            if isinstance(node, list):
                node.append(op["value"]) if last == "-" else node.insert(int(last), op["value"])
            else:
                node[last] = op["value"]
        elif op["op"] == "remove":
            del node[int(last) if isinstance(node, list) else last]
        else:
            raise ConfigError(f"JSON patch operation {op['op']!r} is not supported here", "only add and remove are")
    return out


def crds(module: Path) -> list[dict]:
    """The module's CRDs (config/crd/kustomization.yaml's resources, with its JSON patches applied)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    root = module / CRD_DIR
    kustomization = yaml.safe_load((root / "kustomization.yaml").read_text())
    objects = {}
    for rel in kustomization["resources"]:
        obj = yaml.load((root / rel).read_text(), Loader=loader)
        objects[obj["metadata"]["name"]] = obj
    for patch in kustomization.get("patches") or []:
        name = patch["target"]["name"]
        objects[name] = json_patch(objects[name], yaml.safe_load((root / patch["path"]).read_text()))
    return list(objects.values())


def webhook_configuration(module: Path, port: int, ca: bytes) -> dict:
    """Upstream's ValidatingWebhookConfiguration (keda-admission: ScaledObjects, ScaledJobs, trigger authentications,
    cloud event sources), each webhook calling https://127.0.0.1:<port><its path> with the cluster's CA. Upstream's
    failurePolicy Ignore is kept: with the webhooks down, objects are admitted unchecked, as in a KEDA install."""
    doc = yaml.safe_load((module / WEBHOOKS_FILE).read_text())
    for hook in doc["webhooks"]:
        path = hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": base64.b64encode(ca).decode()}
    doc["metadata"] = {"name": doc["metadata"]["name"]}
    return doc


def service() -> dict:
    """The Service the APIService names: ExternalName 127.0.0.1, so the aggregator dials the host (module doc)."""
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": METRICS_SERVICE, "namespace": NAMESPACE},
            "spec": {"type": "ExternalName", "externalName": "127.0.0.1"}}


def apiservice(port: int, ca: bytes) -> dict:
    """KEDA's APIService (config/metrics-server/api_service.yaml) with the adapter's port and the cluster's CA."""
    return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": APISERVICE},
            "spec": {"service": {"name": METRICS_SERVICE, "namespace": NAMESPACE, "port": port},
                     "group": "external.metrics.k8s.io", "version": "v1beta1",
                     "caBundle": base64.b64encode(ca).decode(),
                     "groupPriorityMinimum": 100, "versionPriority": 100}}


def certificates(folder: Path) -> dict[str, bytes]:
    """A CA and one server-and-client certificate in `folder` (ca.crt, ca.key, tls.crt, tls.key): made when missing or
    expiring within a year, else read back (a restart keeps the caBundle already applied). The gRPC link is mutual:
    the adapter presents the same certificate as a client."""
    dns = [f"{s}.{NAMESPACE}.svc" for s in (METRICS_SERVICE, OPERATOR_SERVICE, WEBHOOKS_SERVICE)]
    return ca_and_server(folder, ca_name="kubelab-keda-ca", server_name=dns[0], dns=dns, years=CERT_YEARS, key="ec",
                         client_auth=True)


# -- one cluster's KEDA ------------------------------------------------------------------------------------------
class Keda(PartFolder):
    """The KEDA of one cluster, kept in `<workdir>/keda/` (ports.json, certs/, an empty ca/ for --ca-dir)."""
    FOLDER = "keda"

    def ports(self) -> dict[str, int]:
        """The ports in ports.json ({} before the first start)."""
        with contextlib.suppress(OSError, ValueError, TypeError):
            return {k: int(v) for k, v in json.loads((self.dir / "ports.json").read_text()).items()}
        return {}

    def pick_ports(self, taken: set[int]) -> dict[str, int]:
        """Pick and keep free ports, one per PORT_RANGES entry, none in `taken` (other clusters' KEDA ports); those
        already kept stay (a cluster made before an entry was added keeps the others)."""
        from .components import pick_ports
        ports = pick_ports(PORT_RANGES, taken, "KEDA's", host="0.0.0.0", kept=self.ports())
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "ports.json").write_text(json.dumps(ports))
        return ports

    def operator_command(self, binary: Path, kubeconfig: Path) -> list[str]:
        p = self.ports()
        (self.dir / "ca").mkdir(parents=True, exist_ok=True)
        # `env`: controller-runtime reads $KUBECONFIG; set for this process alone, and exec'd (the pid stays)
        return ["env", f"KUBECONFIG={kubeconfig}", str(binary),
                "--leader-elect=false", "--zap-log-level=info", "--zap-encoder=console",
                f"--metrics-bind-address=127.0.0.1:{p['metrics']}",
                f"--health-probe-bind-address=127.0.0.1:{p['health']}",
                f"--metrics-service-bind-address=127.0.0.1:{p['grpc']}",
                f"--cert-dir={self.cert_dir}", "--enable-cert-rotation=false",
                f"--ca-dir={self.dir / 'ca'}"]   # CA certificates for scalers' TLS: none (upstream's /custom/ca)

    def adapter_command(self, binary: Path, kubeconfig: Path, proxy_ca: Path) -> list[str]:
        """`proxy_ca`: the CA of the API server's proxy client certificate (kwokctl's pki/ca.crt, CN kwok-admin)."""
        p, certs = self.ports(), self.cert_dir
        return ["env", f"KUBECONFIG={kubeconfig}", str(binary),
                f"--secure-port={p['metrics_api']}", "--bind-address=127.0.0.1",
                f"--tls-cert-file={certs / 'tls.crt'}", f"--tls-private-key-file={certs / 'tls.key'}",
                f"--cert-dir={certs}",   # where its gRPC client reads ca.crt, tls.crt and tls.key
                # who calls it: the API server's aggregator, with its proxy client certificate and the caller's name in
                # X-Remote-User (front-proxy authentication; kwokctl sets no --requestheader-client-ca-file, so the
                # adapter is told the CA); what the caller may do is asked of the API server (SubjectAccessReview)
                f"--requestheader-client-ca-file={proxy_ca}", "--requestheader-allowed-names=kwok-admin",
                f"--lister-kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--metrics-service-address=127.0.0.1:{p['grpc']}", f"--port={p['adapter_metrics']}",
                "--zap-log-level=info", "--zap-encoder=console"]

    def webhooks_command(self, binary: Path, kubeconfig: Path) -> list[str]:
        p = self.ports()
        return ["env", f"KUBECONFIG={kubeconfig}", str(binary), f"--port={p['webhooks']}",
                f"--cert-dir={self.cert_dir}",   # controller-runtime's webhook server reads tls.crt and tls.key
                f"--health-probe-bind-address=127.0.0.1:{p['webhooks_health']}",
                f"--metrics-bind-address=127.0.0.1:{p['webhooks_metrics']}",
                "--zap-log-level=info", "--zap-encoder=console"]

    def webhooks_answering(self) -> bool:
        from .components import http_ok
        return http_ok(self.ports().get("webhooks_health"))

    def operator_answering(self) -> bool:
        from .components import http_ok
        return http_ok(self.ports().get("health"))

    def adapter_answering(self) -> bool:
        """Its /readyz answers 200 over TLS checked with the cluster's CA (as the aggregator checks it)."""
        port = self.ports().get("metrics_api")
        if not port:
            return False
        with contextlib.suppress(OSError, ValueError, urllib.error.URLError, ssl.SSLError):
            ctx = ssl.create_default_context(cafile=str(self.cert_dir / "ca.crt"))
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", timeout=1, context=ctx) as resp:
                return resp.status == 200
        return False

    def objects(self, module: Path, ca: bytes) -> list[dict]:
        """In apply order: namespace, CRDs, the ExternalName Service, the APIService, the webhook configuration."""
        return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}, *crds(module), service(),
                apiservice(self.ports()["metrics_api"], ca),
                webhook_configuration(module, self.ports()["webhooks"], ca)]

    def install(self, api, ca: bytes, timeout: float = 30) -> None:
        """Server-side apply what it needs (idempotent; skipped when it was applied to this cluster before, see
        cluster/crds.py) and wait until new CRDs are established: the operator watches its kinds from the start."""
        from . import crds as crds_mod
        crds_mod.install(api, self.objects(module_dir(), ca), "KEDA's", "see `kubelab cluster logs kube-apiserver`",
                         timeout, record=self.dir / "applied.sha256")


def prepare(cluster: LocalCluster) -> None:
    """Ports (picked once, off other clusters' KEDA ports; kept), certificates, then what it needs of the API server,
    applied each start (the operator's and the adapter's shared prepare)."""
    keda = Keda(cluster.workdir)
    if set(keda.ports()) != set(PORT_RANGES):
        keda.pick_ports({p for d in (cluster.kwok_workdir / "clusters").glob("*") if d.name != cluster.name
                         for p in Keda(d).ports().values()})
    keda.install(cluster.api_client(), certificates(keda.cert_dir)["ca.crt"])
