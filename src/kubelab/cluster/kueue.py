"""Kueue on the embedded cluster: its manager (cmd/kueue of `sigs.k8s.io/kueue`, built from the pinned Go module in
cluster/go/kueue like the other tools) runs as a host process on 127.0.0.1, and admits queued Jobs against the
quotas of ClusterQueues.

What the cluster gives it (`Kueue.configure` writes the files, `install` applies the objects, both at every start;
`install` skips the apply when the same objects were applied to this cluster before, cluster/crds.py):

    <workdir>/kueue/config.yaml   its Configuration: no leader election, health/metrics/webhook on loopback ports
                                  picked once (kept), only Jobs labelled kueue.x-k8s.io/queue-name managed,
                                  batch/job the only integration, waitForPodsReady on (all-or-nothing admission),
                                  its own certificate management off
    <workdir>/kueue/certs/        a CA and the serving certificate (127.0.0.1) of its webhooks and metrics, made once
                                  and kept
    kueue-system                  its namespace
    CRDs                          the module's own config/components/crd/bases, read from the Go module cache (the
                                  version go.mod pins, checked against go.sum: one pin for binary and CRDs, and no
                                  1.6 MB copy in the repository), conversion webhooks as upstream's kustomization
                                  patches them in, calling https://127.0.0.1:<port>/convert with the CA as caBundle
    webhook configurations        upstream's config/components/webhook/manifests.yaml for Kueue's own kinds and Jobs,
                                  calling https://127.0.0.1:<port>/... with the CA as caBundle

Why its own certificate management is off: it (cert-controller's rotator) makes a certificate for its in-cluster
Service (kueue-webhook-service.kueue-system.svc), which the API server cannot reach from the host, and at every start
it updates each webhook configuration and each CRD with a conversion webhook (twice: a bootstrap manager, then the
main one), then waits for the injection with a back-off of 1-2 s, then 2-4 s: seconds of every `up`, and megabytes
of CRD updates for the API server. The cluster makes the certificate and sets the caBundles itself (above), as
upstream's cert-manager install does. With it off, Kueue v0.17.0 reads its metrics certificate from the fixed folder
/etc/kueue/metrics/certs (cmd/kueue/main.go), which a user cannot write: the platform part launcher
(cluster/part_launch.py) runs it in user and mount namespaces of its own where that folder is the cluster's certs/
(it keeps the host's network: its ports are picked). Only Jobs with the queue label go through its Job webhooks
(objectSelector), so no other Job in the cluster depends on Kueue running (the price: Kueue's LocalQueue defaulting,
which queues an unlabelled Job in a namespace's LocalQueue named "default", does not apply here).
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import yaml

from .certs import ca_and_server
from .paths import PartFolder

__all__ = ["CRD_DIR", "FRAMEWORKS", "METRICS_CERTS", "NAMESPACE", "PORT_RANGES", "QUEUE_LABEL", "SERVICE",
           "WEBHOOKS_FILE",
           "Kueue", "certificates", "configuration", "crds", "module_dir", "webhook_configurations"]

NAMESPACE = "kueue-system"               # Kueue's default namespace (Configuration.namespace)
SERVICE = "kueue-webhook-service"        # its in-cluster Service (never created here): a name its certificate carries
METRICS_CERTS = "/etc/kueue/metrics/certs"  # where it reads tls.crt and tls.key with its cert management off
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
FRAMEWORKS = ("batch/job",)              # JobSet is not served here; the other integrations need their operators
WEBHOOK_GROUPS = {"kueue.x-k8s.io": None, "batch": {"jobs"}}  # the webhooks kept: Kueue's kinds and Jobs
CRD_DIR = "config/components/crd"        # in the module
WEBHOOKS_FILE = "config/components/webhook/manifests.yaml"
NAME_PREFIX = "kueue-"                   # upstream's config/default kustomization prefixes every name with it
PODS_READY_TIMEOUT = "2m"                # a gang Job whose pods are not all ready by then is evicted and requeued
# where each port is picked (kept in config.yaml); off Prometheus's ranges (cluster/prometheus.PORT_RANGES)
PORT_RANGES = {"webhook": (9700, 9799), "health": (8380, 8479), "metrics": (8480, 8579)}
CERT_YEARS = 10                          # made once, kept with the cluster


def module_dir() -> Path:
    """The Kueue module's folder in the Go module cache (downloaded and checked against go.sum when missing)."""
    from . import build
    return build.module_dirs("kueue", what="Kueue's CRDs")[build.tool("kueue").module]


# -- pure parts: certificates, configuration, the objects --------------------------------------------------------
def certificates(folder: Path) -> dict[str, bytes]:
    """The CA and the webhooks' serving certificate in `folder` (ca.crt, ca.key, tls.crt, tls.key): made when
    missing or expiring within a year, else read back, so a restart keeps the caBundle already applied. The API
    server checks it against 127.0.0.1; it also names the Service (and the CA is "kueue-ca", PKCS#1), as Kueue's own
    certificate management would make them, so a cluster made before it was turned off keeps its certificates."""
    service = f"{SERVICE}.{NAMESPACE}.svc"
    return ca_and_server(folder, ca_name="kueue-ca", server_name=service, dns=[service], years=CERT_YEARS, key="rsa")


def configuration(ports: dict[str, int], cert_dir: Path) -> dict:
    """Kueue's Configuration (config.kueue.x-k8s.io/v1beta2) for one cluster (pure)."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2", "kind": "Configuration",
        "namespace": NAMESPACE,
        "leaderElection": {"leaderElect": False},  # one replica, and no Lease traffic
        "health": {"healthProbeBindAddress": f"127.0.0.1:{ports['health']}"},
        "metrics": {"bindAddress": f"127.0.0.1:{ports['metrics']}"},
        "webhook": {"host": "127.0.0.1", "port": ports["webhook"], "certDir": str(cert_dir)},
        # off: the cluster makes the certificates and sets the caBundles (module docstring)
        "internalCertManagement": {"enable": False},
        "manageJobsWithoutQueueName": False,
        # all-or-nothing: an admitted Job whose pods are not all ready in time gives its quota back and is requeued
        "waitForPodsReady": {"timeout": PODS_READY_TIMEOUT, "blockAdmission": False,
                             "requeuingStrategy": {"timestamp": "Eviction", "backoffBaseSeconds": 10,
                                                   "backoffMaxSeconds": 300}},
        "integrations": {"frameworks": list(FRAMEWORKS)},
        # fair sharing on (its presence enables it in v1beta2): a cohort's unused quota goes to the borrowing queues
        # by their weighted share (ClusterQueue spec.fairSharing.weight, shown in status.fairSharing.weightedShare)
        "fairSharing": {"preemptionStrategies": ["LessThanOrEqualToFinalShare", "LessThanInitialShare"]},
        # its visibility API is an aggregated API server (an APIService needs an in-cluster Service); off
        "featureGates": {"VisibilityOnDemand": False},
    }


def _url(port: int, path: str) -> str:
    return f"https://127.0.0.1:{port}{path}"


def crds(module: Path, port: int, ca: bytes) -> list[dict]:
    """The module's CRDs, with the conversion webhooks its kustomization patches in, called on 127.0.0.1."""
    import base64
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    root = module / CRD_DIR
    kustomization = yaml.safe_load((root / "kustomization.yaml").read_text())
    objects = {}
    for rel in kustomization["resources"]:
        obj = yaml.load((root / rel).read_text(), Loader=loader)
        objects[obj["metadata"]["name"]] = obj
    for patch in kustomization.get("patches") or []:
        if not Path(patch["path"]).name.startswith("webhook_in_"):
            continue
        doc = yaml.safe_load((root / patch["path"]).read_text())
        conversion = doc["spec"]["conversion"]
        service = conversion["webhook"]["clientConfig"].pop("service")
        conversion["webhook"]["clientConfig"] = {"url": _url(port, service["path"]),
                                                 "caBundle": base64.b64encode(ca).decode()}
        objects[doc["metadata"]["name"]]["spec"]["conversion"] = conversion
    return list(objects.values())


def webhook_configurations(module: Path, port: int, ca: bytes) -> list[dict]:
    """Upstream's webhook configurations for Kueue's own kinds and Jobs (the others' integrations are off), named
    as upstream's kustomization names them, calling 127.0.0.1 with the cluster's CA; the Job webhooks only see
    labelled Jobs."""
    import base64
    out = []
    for doc in yaml.safe_load_all((module / WEBHOOKS_FILE).read_text()):
        if not doc:
            continue
        kept = []
        for hook in doc["webhooks"]:
            groups = {(g, r) for rule in hook["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
            if not all(g in WEBHOOK_GROUPS and (WEBHOOK_GROUPS[g] is None or r in WEBHOOK_GROUPS[g])
                       for g, r in groups):
                continue
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": _url(port, path), "caBundle": base64.b64encode(ca).decode()}
            if any(g == "batch" for g, _ in groups):
                hook["objectSelector"] = {"matchExpressions": [{"key": QUEUE_LABEL, "operator": "Exists"}]}
            kept.append(hook)
        doc["metadata"] = {"name": NAME_PREFIX + doc["metadata"]["name"]}
        doc["webhooks"] = kept
        out.append(doc)
    return out


# -- one cluster's Kueue -----------------------------------------------------------------------------------------
class Kueue(PartFolder):
    """The Kueue of one cluster, kept in `<workdir>/kueue/` (config.yaml, certs/)."""
    FOLDER = "kueue"

    def ports(self) -> dict[str, int]:
        """The ports in its config ({} before the first start)."""
        with contextlib.suppress(OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError):
            cfg = yaml.safe_load(self.config_file.read_text())
            return {"webhook": int(cfg["webhook"]["port"]),
                    "health": int(cfg["health"]["healthProbeBindAddress"].rsplit(":", 1)[1]),
                    "metrics": int(cfg["metrics"]["bindAddress"].rsplit(":", 1)[1])}
        return {}

    def configure(self, ports: dict[str, int]) -> dict[str, bytes]:
        """Write the config with `ports` and make (or keep) the certificates; returns them."""
        certs = certificates(self.cert_dir)
        self.config_file.write_text(yaml.safe_dump(configuration(ports, self.cert_dir), sort_keys=False))
        return certs

    def command(self, binary: Path, kubeconfig: Path) -> list[str]:
        """Through the part launcher, where METRICS_CERTS is its certs/ (module docstring)."""
        return self.launched({"bind": {METRICS_CERTS: str(self.cert_dir)}, "net": False},
                             [str(binary), "--config", str(self.config_file), "--kubeconfig", str(kubeconfig)])

    def answering(self) -> bool:
        """Its readyz answers 200: its webhook server serving."""
        from .components import http_ok
        return http_ok(self.ports().get("health"))

    def pick_ports(self, taken: set[int]) -> dict[str, int]:
        """Free loopback ports for it, one per PORT_RANGES entry, none in `taken` (other clusters' Kueue ports)."""
        from .components import pick_ports
        return pick_ports(PORT_RANGES, taken, "Kueue's")

    def install(self, api, certs: dict[str, bytes], logs_fix: str, timeout: float = 30) -> None:
        """Server-side apply what it needs before it starts (idempotent: each start applies the same objects;
        skipped when they were applied to this cluster before, see cluster/crds.py), and wait until new CRDs are
        established: Kueue watches its kinds from the start."""
        from . import crds as crds_mod
        crds_mod.install(api, self.objects(module_dir(), certs), "Kueue's", logs_fix, timeout,
                         record=self.dir / "applied.sha256")

    def objects(self, module: Path, certs: dict[str, bytes]) -> list[dict]:
        """What the API server needs before it starts, in apply order: namespace, CRDs, webhook configurations."""
        port = self.ports()["webhook"]
        return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
                *crds(module, port, certs["ca.crt"]), *webhook_configurations(module, port, certs["ca.crt"])]
