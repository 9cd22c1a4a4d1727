"""Exercises of notebooks/03-networking-ingress.ipynb: a Service with named ports for the right pods, the
headless Service that gives a StatefulSet's pods their DNS names, NetworkPolicies (only the gateway reaches
the model; a sandbox that may resolve names and nothing else), HTTP routing with the Gateway API (an HTTPRoute on
the lesson's Gateway, a 90/10 canary by backend weights, a refused route repaired), and path routing with the
legacy Ingress API.

What they read: EndpointSlices (what the EndpointSlice controller decided), NetworkPolicies through
kl.grading.reachable/unreachable (what an enforcing CNI decides), the status Envoy Gateway wrote on each route
and where a request goes among the routes it accepted (kl.grading.route_serves, route_weights, route_accepted),
and Ingress rules resolved the way an
ingress controller resolves them (no controller runs on the embedded cluster, so no request is sent)."""
from __future__ import annotations

from types import SimpleNamespace

from .. import grading
from .._k8s.apierrors import create_or_exists
from ..grading.engine import Missing, Part, client, read, run
from ..manifests import apply
from . import all_of, exercise

__all__: list[str] = []  # exercises register themselves; nothing here is called by name

SERVER = "hashicorp/http-echo:1.0"


def _deployment(name: str, labels: dict, replicas: int = 1, ports: dict | None = None) -> str:
    ports = ports or {"http": 8080}
    label_text = ", ".join(f"{k}: {v}" for k, v in labels.items())
    port_text = ", ".join(f"{{name: {n}, containerPort: {p}}}" for n, p in ports.items())
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, labels: {{app: {labels['app']}}}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{{label_text}}}}}
  template:
    metadata: {{labels: {{{label_text}}}}}
    spec:
      containers:
      - name: server
        image: {SERVER}
        args: ["-listen=:{next(iter(ports.values()))}", "-text={name}"]
        ports: [{port_text}]
        resources: {{requests: {{cpu: 50m, memory: 64Mi}}}}
"""


def _endpoints(api, service: str, ns: str) -> SimpleNamespace:
    """A Service's EndpointSlices as the controller wrote them: `listed` (it lists a pod: until then a slice is
    a placeholder without ports), the `ready` endpoints, and the slices' `ports` as {name: port}."""
    slices = client(api, "DiscoveryV1Api").list_namespaced_endpoint_slice(
        ns, label_selector=f"kubernetes.io/service-name={service}").items
    return SimpleNamespace(listed=any(s.endpoints for s in slices), ports={p.name or "": p.port for s in slices for p in s.ports or []},
                           ready=[e for s in slices for e in s.endpoints or [] if e.conditions and e.conditions.ready])


# -- 03.named-ports ------------------------------------------------------------------------------------------

EMBED_PORTS = {"http": 8080, "metrics": 9090}


def _embedders(api, ns):
    apply(api, _deployment("embedder", {"app": "embedder", "track": "stable"}, 2, EMBED_PORTS)
          + "---" + _deployment("embedder-canary", {"app": "embedder", "track": "canary"}, 1, EMBED_PORTS),
          namespace=ns)


@exercise("03.named-ports", "A Service for the stable embedders only, with an http and a metrics port",
          objectives=(1, 2), setup=_embedders, hints=(
    "two ports, each with a name (a Service with several ports must name them): "
    "[{name: http, port: 80, targetPort: http}, {name: metrics, port: 9090, targetPort: metrics}]",
    "the canary pods carry app: embedder too; select on what only the stable pods have: "
    "`kubectl get pods -l app=embedder --show-labels -n <ns>`",
))
def named_ports(api, ns):
    what = "Service 'embedder-stable'"
    core = lambda: client(api, "CoreV1Api")

    def fetch():
        svc = read(lambda: core().read_namespaced_service("embedder-stable", ns), what, ns)
        ep = _endpoints(api, "embedder-stable", ns)
        tracks = {p.metadata.name: (p.metadata.labels or {}).get("track") for p in
                  core().list_namespaced_pod(ns, label_selector="app=embedder").items}
        pods = [e.target_ref.name for e in ep.ready if e.target_ref]
        canary = read(lambda: client(api, "AppsV1Api").read_namespaced_deployment("embedder-canary", ns),
                      "Deployment 'embedder-canary'", ns).spec.template.metadata.labels or {}
        selector = svc.spec.selector or {}
        return SimpleNamespace(svc={(p.name, p.port) for p in svc.spec.ports or []}, ports=ep.ports,
                               listed=ep.listed, tracks=[tracks.get(p) for p in pods],
                               takes_canary=bool(selector) and selector.items() <= canary.items())

    parts = [
        Part(lambda o: {("http", 80), ("metrics", 9090)} <= o.svc,
             lambda o: f"{what} has the ports {sorted(o.svc, key=str)} (name, port); wanted http 80 and metrics 9090",
             "spec.ports: [{name: http, port: 80, targetPort: http}, {name: metrics, port: 9090, targetPort: metrics}]",
             static=True),
        # the selector decides, for the canary pods that run now and every one to come
        Part(lambda o: not o.takes_canary and "canary" not in o.tracks,
             f"the selector of {what} matches the canary pods too: they would get production traffic",
             "add track: stable to spec.selector", static=True),
        Part(lambda o: o.tracks.count("stable") == 2,
             lambda o: f"{what} has {o.tracks.count('stable')} ready stable endpoint(s); the stable embedder has 2",
             "the selector must match the stable pods' labels: `kubectl get endpointslices -n <ns>`"),
        # once the controller has written the slice, its ports are decided: a wrong target port does not mend
        Part(lambda o: not o.listed or {k: v for k, v in o.ports.items() if k in EMBED_PORTS} == EMBED_PORTS,
             lambda o: f"the endpoints of {what} are on {o.ports}; the pods listen on http 8080 and metrics 9090",
             "targetPort: http and targetPort: metrics (the containers' named ports), or 8080 and 9090", static=True),
    ]
    return run("named-ports", fetch, parts, f"{what} sends http (80) and metrics (9090) to the 2 stable pods only",
               timeout=6)


# -- 03.headless -------------------------------------------------------------------------------------------

RDZV = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: rdzv, labels: {app: rdzv}}
spec:
  serviceName: rdzv
  replicas: 3
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: rdzv}}
  template:
    metadata: {labels: {app: rdzv, role: trainer}}
    spec:
      containers:
      - name: trainer
        image: busybox:1.36
        command: [sleep, "86400"]
        ports: [{name: c10d, containerPort: 29400}]
        resources: {requests: {cpu: 50m, memory: 64Mi}}
"""


def _rdzv(api, ns):
    apply(api, RDZV, namespace=ns)


@exercise("03.headless", "Stable DNS names for the training workers: the StatefulSet's headless Service",
          objectives=(1, 2), setup=_rdzv, hints=(
    "the Service must be named as the StatefulSet's spec.serviceName (rdzv), with clusterIP: None, a selector "
    "for the pods (app: rdzv) and the port {name: c10d, port: 29400, targetPort: c10d}",
    "`kubectl create service clusterip rdzv --clusterip=None --tcp=29400:29400 -n <ns>` makes a headless "
    "Service, but its selector is app=rdzv and its port is named 29400-29400: a manifest says it better",
))
def headless(api, ns):
    what = "Service 'rdzv'"

    def fetch():
        svc = read(lambda: client(api, "CoreV1Api").read_namespaced_service("rdzv", ns), what, ns)
        ep = _endpoints(api, "rdzv", ns)
        return SimpleNamespace(cluster_ip=svc.spec.cluster_ip, hostnames=sorted(e.hostname or "-" for e in ep.ready),
                               ports=ep.ports, listed=ep.listed)

    wanted = ["rdzv-0", "rdzv-1", "rdzv-2"]
    parts = [
        Part(lambda o: o.cluster_ip == "None",
             lambda o: f"{what} has the virtual IP {o.cluster_ip}: its name resolves to that one address, and "
                       "CoreDNS makes no per-pod names for it", "spec.clusterIP: None (set only at creation: "
             "delete the Service and create it again)", static=True),
        Part(lambda o: o.hostnames == wanted,
             lambda o: f"the ready endpoints of {what} have the hostnames {o.hostnames or 'none'}; the three "
                       "workers rdzv-0..2 need one each", "select the StatefulSet's pods: spec.selector {app: rdzv}"),
        Part(lambda o: not o.listed or o.ports.get("c10d") == 29400,
             lambda o: f"the endpoints of {what} have the ports {o.ports or 'none'}; torchrun's rendezvous "
                       "needs c10d on 29400", "spec.ports: [{name: c10d, port: 29400, targetPort: c10d}]",
             static=True),
    ]
    return run("headless", fetch, parts, f"{what} is headless: rdzv-0..2.rdzv.{ns}.svc.cluster.local resolve to "
               "the three workers, _c10d._tcp.rdzv gives their port", timeout=6)


# -- 03.gateway-only -----------------------------------------------------------------------------------------

MODEL_PORTS = {"http": 8080, "metrics": 9090}


def _model_and_callers(api, ns):
    apply(api, "---".join([_deployment("model-server", {"app": "model-server"}, 1, MODEL_PORTS),
                           _deployment("gateway", {"app": "gateway"}),
                           _deployment("batch-scorer", {"app": "batch-scorer"})]), namespace=ns)


@exercise("03.gateway-only", "Only the gateway may call the model server, and only on 8080", objectives=(2, 5),
          setup=_model_and_callers, hints=(
    "a NetworkPolicy with podSelector {matchLabels: {app: model-server}}, policyTypes: [Ingress] and one rule: "
    "from: [{podSelector: {matchLabels: {app: gateway}}}], ports: [{protocol: TCP, port: 8080}]",
    "the rule's `from` and `ports` belong to the SAME list item (`- from: ...` then `  ports: ...`); two items "
    "(`- from` and `- ports`) allow the gateway on every port OR everyone on 8080",
))
def gateway_only(api, ns):
    model, ports = {"app": "model-server"}, MODEL_PORTS
    return all_of(
        "gateway-only",
        lambda: grading.reachable(api, ns, source={"app": "gateway"}, target=model, port=8080, target_ports=ports),
        lambda: grading.unreachable(api, ns, source={"app": "batch-scorer"}, target=model, port=8080,
                                    target_ports=ports),
        lambda: grading.unreachable(api, ns, source={"app": "gateway"}, target=model, port=9090, target_ports=ports),
    )


# -- 03.sandbox-egress ---------------------------------------------------------------------------------------

DNS = {"k8s-app": "kube-dns"}   # the label of the cluster DNS pods (CoreDNS) in kube-system


def _sandbox(api, ns):
    apply(api, _deployment("sandbox", {"app": "sandbox"}), namespace=ns)


@exercise("03.sandbox-egress", "The code sandbox may resolve names and call nothing else", objectives=(2,),
          setup=_sandbox, hints=(
    "one NetworkPolicy for podSelector {matchLabels: {app: sandbox}} with policyTypes: [Egress] and one egress "
    "rule to the DNS pods: to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, "
    "podSelector: {matchLabels: {k8s-app: kube-dns}}}] with ports 53/UDP and 53/TCP",
    "DNS answers over UDP and, for large answers, TCP: list both ports; select only the sandbox pods "
    "(podSelector {} would cut every pod of the namespace off)",
))
def sandbox_egress(api, ns):
    sandbox, web = {"app": "sandbox"}, {"app": "web"}
    dns = dict(target=DNS, target_namespace="kube-system")
    return all_of(
        "sandbox-egress",
        lambda: grading.unreachable(api, ns, source=sandbox, target=web, target_namespace="default", port=443),
        lambda: grading.reachable(api, ns, source=sandbox, port=53, protocol="UDP", **dns),
        lambda: grading.reachable(api, ns, source=sandbox, port=53, protocol="TCP", **dns),
        lambda: grading.unreachable(api, ns, source=sandbox, port=9153, **dns),   # CoreDNS's metrics port
        lambda: grading.reachable(api, ns, source={"app": "trainer"}, target=web, target_namespace="default",
                                  port=443),
    )


# -- 03.ingress-paths ---------------------------------------------------------------------------------------

HOST = "models.example.local"
ROUTES = [(HOST, "/v1/chat/completions", "chat"), (HOST, "/v1/embeddings", "embeddings"),
          (HOST, "/v1/embeddings/batch", "embeddings"), ("admin.example.local", "/v1/chat/completions", None)]


def ingress_class(namespace: str) -> str:
    """The IngressClass of the exercise: cluster-scoped, so named after the namespace (and owned by it)."""
    return f"{namespace}-edge"


def _backends(api, ns):
    uid = client(api, "CoreV1Api").read_namespace(ns).metadata.uid
    create_or_exists(client(api, "NetworkingV1Api").create_ingress_class, {
        "metadata": {"name": ingress_class(ns), "labels": {"kubelab.io/lesson": ns},
                     # the garbage collector deletes it with the namespace
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Namespace", "name": ns, "uid": uid}]},
        "spec": {"controller": "traefik.io/ingress-controller"}})
    services = "".join(f"""---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
""" for name in ("chat", "embeddings"))
    apply(api, _deployment("chat", {"app": "chat"}) + "---" + _deployment("embeddings", {"app": "embeddings"})
          + services, namespace=ns)


def _path_matches(path: str, path_type: str, request: str) -> bool:
    """Ingress path matching: Exact is the whole path; Prefix goes by path elements split on "/" ("/v1/chat"
    matches "/v1/chat/completions", not "/v1/chatbot"); ImplementationSpecific is taken as Prefix here."""
    if path_type == "Exact":
        return request == path
    want = [e for e in path.split("/") if e]
    return [e for e in request.split("/") if e][:len(want)] == want


def _host_matches(host: str | None, request: str) -> bool:
    if not host:
        return True
    if host.startswith("*."):   # a wildcard covers exactly one DNS label
        return request.endswith(host[1:]) and request.count(".") == host.count(".")
    return host == request


def route(ingresses, host: str, path: str):
    """Where an ingress controller sends host+path, from all the Ingresses it serves (merged, as controllers
    do): the backend (a client model) of the longest matching path, Exact before Prefix on a tie, among the
    rules for that host (rules without a host only if none names it), else a defaultBackend; None if nothing."""
    rules = [r for i in ingresses for r in i.spec.rules or []]
    named = [r for r in rules if r.host and _host_matches(r.host, host)]
    candidates = [(len(p.path or "/"), (p.path_type == "Exact"), p.backend)
                  for r in (named or [r for r in rules if not r.host]) for p in (r.http.paths if r.http else [])
                  if _path_matches(p.path or "/", p.path_type, path)]
    if candidates:
        return max(candidates, key=lambda c: c[:2])[2]
    return next((i.spec.default_backend for i in ingresses if i.spec.default_backend), None)


@exercise("03.ingress-paths", "Route the model API's paths to two Services (legacy Ingress)", objectives=(2,),
          setup=_backends, hints=(
    "one Ingress with ingressClassName: <namespace>-edge and one rule for host models.example.local with two "
    "paths: {path: /v1/chat, pathType: Prefix, backend: {service: {name: chat, port: {name: http}}}} and the same "
    "for /v1/embeddings and embeddings",
    "the backend port is the SERVICE's port (80, named http), not the container's 8080: "
    "`kubectl get svc chat embeddings -n <ns>`",
))
def ingress_paths(api, ns):
    cls = ingress_class(ns)

    def fetch():
        net, core = client(api, "NetworkingV1Api"), client(api, "CoreV1Api")
        every = read(lambda: net.list_namespaced_ingress(ns).items, "Ingresses", ns)
        served = [i for i in every if i.spec.ingress_class_name == cls]
        if not served:
            classes = sorted({i.spec.ingress_class_name or "(none)" for i in every})
            raise Missing(f"no Ingress of class {cls!r} in namespace {ns!r}"
                          + (f" (its Ingresses have the class {', '.join(classes)})" if every else ""),
                          f"set spec.ingressClassName: {cls} (`kubectl get ingressclass`)")
        routes = {(h, p): route(served, h, p) for h, p, _ in ROUTES}
        services = {s.metadata.name: s for s in core.list_namespaced_service(ns).items}
        backends = {}
        for b in {b.service.name for b in routes.values() if b and b.service}:
            svc = services.get(b)
            backends[b] = SimpleNamespace(ports={(p.name, p.port) for p in svc.spec.ports} if svc else None,
                                          ready=len(_endpoints(api, b, ns).ready))
        return SimpleNamespace(routes=routes, backends=backends)

    def to(o, h, p):
        b = o.routes[(h, p)]
        return b.service.name if b and b.service else None

    def port_ok(o, b) -> bool:
        s = o.backends.get(b.service.name)
        want = b.service.port
        return bool(s and s.ports) and any(want.name == n if want.name else want.number == p for n, p in s.ports)

    said = lambda o: "; ".join(f"{h}{p} goes to {to(o, h, p) or 'nothing'}" for h, p, _ in ROUTES)
    parts = [
        Part(lambda o: all(to(o, h, p) == svc for h, p, svc in ROUTES),
             lambda o: f"the Ingresses of class {cls!r} route: {said(o)}; wanted {HOST}/v1/chat... to chat, "
                       f"{HOST}/v1/embeddings... to embeddings, other hosts nowhere",
             f"one rule with host: {HOST} and pathType: Prefix paths /v1/chat and /v1/embeddings", static=True),
        Part(lambda o: all(port_ok(o, b) for b in o.routes.values() if b and b.service),
             lambda o: "a backend names a port its Service does not have: " + ", ".join(
                 f"{b.service.name}:{b.service.port.name or b.service.port.number}" for b in o.routes.values()
                 if b and b.service and not port_ok(o, b)),
             "port: {name: http} or {number: 80}: the Service's port, not the container's", static=True),
        Part(lambda o: all(s.ready for s in o.backends.values()),
             lambda o: "a backend Service has no ready endpoint: " + ", ".join(
                 n for n, s in o.backends.items() if not s.ready),
             "`kubectl get endpointslices -n <ns>`: the Services chat and embeddings select their pods"),
    ]
    return run("ingress-paths", fetch, parts, f"{HOST}/v1/chat/* goes to chat:http and /v1/embeddings/* to "
               "embeddings:http, through the IngressClass " + cls, timeout=6)


# -- the Gateway API: 03.gateway-route, 03.canary-weights, 03.fix-route -------------------------------------

GATEWAY = "models"   # the lesson's Gateway: class eg (Envoy Gateway), one HTTP listener named http on port 80
GATEWAY_YAML = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: models}
spec:
  gatewayClassName: eg
  listeners: [{name: http, protocol: HTTP, port: 80}]
"""


def _service(name: str, port: int = 80, target: str = "http", app: str | None = None) -> str:
    return f"""---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {app or name}}}
  ports: [{{name: http, port: {port}, targetPort: {target}}}]
"""


def _gateway_and(api, ns, *apps: str, extra: str = ""):
    """The lesson's Gateway, a Deployment and a Service (port http 80) per app, and `extra` manifests."""
    apply(api, GATEWAY_YAML + "".join("---" + _deployment(a, {"app": a}) + _service(a) for a in apps) + extra,
          namespace=ns)


@exercise("03.gateway-route", "Route /v1/summarize through the Gateway to the summarizer", objectives=(1, 2),
          setup=lambda api, ns: _gateway_and(api, ns, "summarize"), hints=(
    "an HTTPRoute with parentRefs: [{name: models}] and one rule: matches: [{path: {type: PathPrefix, value: "
    "/v1/summarize}}], backendRefs: [{name: summarize, port: 80}]",
    "read what Envoy Gateway decided: `kubectl get httproute -n <ns> -o yaml` (status.parents[].conditions: "
    "Accepted and ResolvedRefs, each with a reason)",
))
def gateway_route(api, ns):
    return grading.route_serves(api, ns, gateway=GATEWAY, path="/v1/summarize", backend="summarize",
                                also=("/v1/summarize/long",), elsewhere=("/v1/summarizer", "/healthz"))


CANARY = {"ranker-v1": 0.9, "ranker-v2": 0.1}


@exercise("03.canary-weights", "A 90/10 canary of the ranker by backend weights", objectives=(1, 2),
          setup=lambda api, ns: _gateway_and(api, ns, "ranker-v1", "ranker-v2"), hints=(
    "ONE HTTPRoute rule for PathPrefix /v1/rank whose backendRefs list both Services: "
    "[{name: ranker-v1, port: 80, weight: 90}, {name: ranker-v2, port: 80, weight: 10}]",
    "a weight is a proportion of the sum of the rule's weights (9 and 1 is the same split); two routes with the same "
    "match do not split traffic: one rule takes each request. Read them back: "
    "`kubectl get httproute -n <ns> -o jsonpath='{.items[*].spec.rules[*].backendRefs}'`",
))
def canary_weights(api, ns):
    return grading.route_weights(api, ns, gateway=GATEWAY, path="/v1/rank", shares=CANARY)


BROKEN_ROUTE = """---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: translate}
spec:
  parentRefs: [{name: models, sectionName: https}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /v1/translate}}]
    backendRefs: [{name: translator, port: 8080}]
"""


def _broken_route(api, ns):
    # translator-legacy listens on 8080 (the old server): pointing the route at it hides the symptom, not the bug
    _gateway_and(api, ns, "translator", extra=_service("translator-legacy", 8080, "http", app="translator")
                 + BROKEN_ROUTE)


@exercise("03.fix-route", "Repair the translate route the Gateway refuses", objectives=(2, 5), setup=_broken_route,
          hints=(
    "`kubectl get httproute translate -n <ns> -o yaml`: status.parents[].conditions says what Envoy Gateway refused "
    "(a reason and a message); `kubectl get gateway models -n <ns> -o yaml` lists its listeners",
    "two things: the parentRef's sectionName must name a listener of models (http), or be left out; the backendRef's "
    "port must be a port of the Service translator (80), not the container's",
))
def fix_route(api, ns):
    return all_of(
        "fix-route",
        lambda: grading.route_accepted(api, "translate", ns, gateway=GATEWAY),
        lambda: grading.route_serves(api, ns, gateway=GATEWAY, path="/v1/translate", backend="translator"),
    )
