"""Gateway API checks: what the route's controller decided (the `status.parents[]` conditions Envoy Gateway writes:
Accepted, ResolvedRefs, with its reasons), and where a request would go among the routes it accepted.

No proxy forwards traffic on the embedded cluster (its Envoy pods are simulated), so "where a request goes" is
resolved from the accepted routes the way the Gateway API specifies it for every implementation (HTTPRoute's
`HTTPRouteRule` documentation, sigs.k8s.io/gateway-api apis/v1/httproute_types.go): the matches of all rules of
all routes attached to the Gateway compete; an Exact path beats a prefix, a longer prefix beats a shorter one,
then more header matches; a tie goes to the oldest route, then to `namespace/name` in alphabetical order, then to
the first rule of the route. The winning rule's backendRefs share its requests by weight (1 if left out). Not
modelled (the lessons do not use them): method and query-parameter matches, hostnames.

    kl.grading.route_accepted(api, "summarize", ns, gateway="models")
    kl.grading.route_serves(api, ns, gateway="models", path="/v1/summarize", backend="summarize")
    kl.grading.route_weights(api, ns, gateway="models", path="/v1/rank", shares={"ranker-v1": .9, "ranker-v2": .1})
    kl.grading.canary_traffic(api, ns, gateway="models", path="/v2", canary_image=CANARY, share=.1)
    kl.grading.traffic_promoted(api, ns, gateway="models", path="/v2", image=CANARY, replicas=3)

Traffic by image (canary_traffic, traffic_promoted): the winning rule's weights give each backend Service its share,
and a proxy spreads a Service's share evenly over its READY endpoints (Envoy's default round robin within a cluster),
so an image's share is the sum over backends of weight share x the fraction of that Service's ready endpoints that
run the image. A backend with a weight and no ready endpoint answers its share with HTTP 503.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

from ..cluster.gateway import CONTROLLER
from ..observe.routes import GROUP, VERSION, backend_shares, condition
from .engine import CheckResult, Missing, Part, client, read, run

__all__ = ["attached", "canary_traffic", "image_shares", "parent_status", "path_matches", "route_accepted",
           "route_serves", "route_weights", "traffic_promoted", "winner"]

# what to do about each refusal reason Envoy Gateway v1.9 writes (gateway-api apis/v1/shared_types.go, Envoy
# Gateway internal/gatewayapi/status/error.go for PortNotFound)
FIX = {
    "NoMatchingParent": "the parentRef's sectionName (or port) must name a listener of the Gateway: "
                        "`kubectl get gateway {gateway} -n {ns} -o jsonpath='{{.spec.listeners[*].name}}'`",
    "NotAllowedByListeners": "the listener's allowedRoutes refuses this route (kind or namespace)",
    "BackendNotFound": "a backendRef names a Service that does not exist: `kubectl get services -n {ns}`",
    "PortNotFound": "a backendRef's port must be a port of the Service (its `port`, not the container's "
                    "targetPort): `kubectl get services -n {ns}`",
    "InvalidKind": "Envoy Gateway routes to Services (and its own Backends); this backendRef's kind it refuses",
    "RefNotPermitted": "a backend in another namespace needs a ReferenceGrant there; or use one in {ns}",
}

RESOLVE = ("each backendRef must name a Service of the namespace and one of ITS ports (the Service's port, not the "
           "container's): `kubectl get services -n {ns}`")


def _refers_to(ref: dict, gateway: str, namespace: str, route_ns: str) -> bool:
    return (ref.get("name") == gateway and ref.get("kind", "Gateway") == "Gateway"
            and ref.get("group", GROUP) == GROUP and ref.get("namespace", route_ns) == namespace)


def parent_status(route: dict, gateway: str, namespace: str | None = None) -> dict | None:
    """The status Envoy Gateway wrote on `route` for its parentRef to `gateway` (None if not yet written, or
    written for an older generation of the route's spec: then it says nothing about this one)."""
    ns = namespace or route["metadata"]["namespace"]
    generation = route["metadata"].get("generation")
    for p in (route.get("status") or {}).get("parents") or []:
        if p.get("controllerName") == CONTROLLER and _refers_to(p.get("parentRef") or {}, gateway, ns,
                                                                   route["metadata"]["namespace"]):
            acc = condition(p.get("conditions"), "Accepted")
            if acc and acc.get("observedGeneration", generation) == generation:
                return p
    return None


def attached(routes: list[dict], gateway: str, namespace: str) -> list[dict]:
    """The routes with a parentRef to `gateway` (in `namespace`)."""
    return [r for r in routes if any(_refers_to(p, gateway, namespace, r["metadata"]["namespace"])
                                     for p in r["spec"].get("parentRefs") or [])]


def _is_true(parent: dict | None, type_: str) -> bool:
    return ((condition((parent or {}).get("conditions"), type_) or {}).get("status")) == "True"


def path_matches(match: dict, path: str) -> bool:
    """A path match of the Gateway API: PathPrefix (the default, value "/") by whole path elements ("/v1" matches
    "/v1" and "/v1/x", not "/v10"; a trailing "/" in the value is ignored), Exact the whole path,
    RegularExpression a full match (Envoy uses RE2; Python's re is close enough for the patterns of a lesson)."""
    kind, value = match.get("type", "PathPrefix"), match.get("value", "/")
    if kind == "Exact":
        return path == value
    if kind == "RegularExpression":
        return re.fullmatch(value, path) is not None
    want = [e for e in value.split("/") if e]
    return [e for e in path.split("/") if e][:len(want)] == want


def _headers_match(match: dict, headers: dict[str, str]) -> bool:
    got = {k.lower(): v for k, v in headers.items()}
    for h in match.get("headers") or []:
        value = got.get(h["name"].lower())
        if value is None or (re.fullmatch(h["value"], value) is None if h.get("type") == "RegularExpression"
                             else value != h["value"]):
            return False
    return True


def winner(routes: list[dict], path: str, headers: dict[str, str] | None = None):
    """(route, rule index, rule) that takes a request for `path` with `headers` among `routes` (those a Gateway
    accepted), by the Gateway API's precedence; None when no rule matches."""
    best = _best(routes, path, headers)
    return best[1:] if best else None


def _best(routes: list[dict], path: str, headers: dict[str, str] | None = None):
    """(precedence key, route, rule index, rule) of the winning match, or None."""
    headers = headers or {}
    best = None
    for r in routes:
        meta = r["metadata"]
        for i, rule in enumerate(r["spec"].get("rules") or []):
            for m in rule.get("matches") or [{}]:
                p = m.get("path") or {}
                if not (path_matches(p, path) and _headers_match(m, headers)):
                    continue
                exact = p.get("type", "PathPrefix") == "Exact"
                # higher is better for the first three; lower for the rest (older, alphabetical, first rule)
                key = (-int(exact), -len(p.get("value", "/")), -len(m.get("headers") or []),
                       meta.get("creationTimestamp", ""), f"{meta['namespace']}/{meta['name']}", i)
                if best is None or key < best[0]:
                    best = (key, r, i, rule)
    return best


def _fetch(api, namespace: str, gateway: str, kind: str = "httproutes") -> SimpleNamespace:
    """The routes of `kind` attached to `gateway`, whether the controller has answered for each, and those it
    accepted."""
    items = read(lambda: client(api, "CustomObjectsApi").list_namespaced_custom_object(
        GROUP, VERSION, namespace, kind)["items"], f"the {kind} of namespace {namespace!r}", namespace)
    mine = attached(items, gateway, namespace)
    status = {r["metadata"]["name"]: parent_status(r, gateway, namespace) for r in mine}
    return SimpleNamespace(routes=mine, status=status, names=sorted(status),
                           answered=all(s is not None for s in status.values()),
                           accepted=[r for r in mine if _is_true(status[r["metadata"]["name"]], "Accepted")])


def _refusal(parent: dict | None, gateway: str, ns: str, types=("Accepted", "ResolvedRefs")) -> tuple[str, str]:
    """(what the controller says is wrong, what to do) for a parent status that is not Accepted and ResolvedRefs."""
    for type_ in types:
        c = condition((parent or {}).get("conditions"), type_)
        if c and c.get("status") != "True":
            fix = FIX.get(c.get("reason"), "read the route's status: `kubectl get httproute -n {ns} -o yaml`")
            return (f"{type_}=False, reason {c.get('reason')}: {c.get('message')}",
                    fix.format(gateway=gateway, ns=ns))
    return "", ""


def _answered(o) -> bool:
    return o.answered


def _waiting(gateway: str) -> Part:
    """Not static: the controller writes a new generation's status within a second or so; wait for it."""
    return Part(_answered, lambda o: "Envoy Gateway has not yet written the status of " + ", ".join(
        n for n, s in o.status.items() if s is None) + f" for Gateway {gateway!r}",
        "wait a moment and run the check again; `kubectl get httproute -n <ns> -o yaml` shows `status.parents`")


def route_accepted(api, name: str, namespace: str, *, gateway: str, kind: str = "httproutes",
                   timeout: float = 15) -> CheckResult:
    """The route `name` has a parentRef to `gateway`, and the Gateway's controller wrote Accepted=True and
    ResolvedRefs=True for it (for the route's current spec)."""
    what = f"{kind[:-1]} {name!r}"

    def fetch():
        o = _fetch(api, namespace, gateway, kind)
        if name not in o.status:
            every = read(lambda: client(api, "CustomObjectsApi").list_namespaced_custom_object(
                GROUP, VERSION, namespace, kind)["items"], kind, namespace)
            if any(r["metadata"]["name"] == name for r in every):
                raise Missing(f"{what} has no parentRef to the Gateway {gateway!r}",
                              f"spec.parentRefs: [{{name: {gateway}}}]")
            raise Missing(f"{what} not found in namespace {namespace!r}", f"create {what} in namespace {namespace!r}")
        o.status = {name: o.status[name]}
        o.answered = o.status[name] is not None
        o.parent = o.status[name]
        return o

    parts = [
        _waiting(gateway),
        Part(lambda o: not o.answered or _is_true(o.parent, "Accepted"),
             lambda o: f"{what} is not accepted by Gateway {gateway!r}: " + _refusal(o.parent, gateway, namespace)[0],
             FIX["NoMatchingParent"].format(gateway=gateway, ns=namespace), static=True),
        # judged once the route is accepted (the Accepted part speaks first)
        Part(lambda o: not o.answered or not _is_true(o.parent, "Accepted") or _is_true(o.parent, "ResolvedRefs"),
             lambda o: f"{what}: " + _refusal(o.parent, gateway, namespace, ("ResolvedRefs",))[0]
             + " (a rule whose backends do not resolve answers HTTP 500)", RESOLVE.format(ns=namespace), static=True),
    ]
    return run(f"route-accepted:{name}", fetch, parts,
               f"{what}: Envoy Gateway wrote Accepted=True and ResolvedRefs=True for Gateway {gateway!r}",
               timeout=timeout)


def _route_of(o, path: str, headers: dict | None):
    return winner(o.accepted, path, headers)


def _where(w, o=None, path: str = "", headers: dict | None = None) -> str:
    if not w:
        refused = o and winner([r for r in o.routes if r not in o.accepted], path, headers)
        if refused:
            name = refused[0]["metadata"]["name"]
            return (f"nothing: route {name!r} has a rule for it, but Envoy Gateway did not accept the route ("
                    + _refusal(o.status[name], "", "", ("Accepted",))[0] + ")")
        return "nothing (no accepted route has a rule that matches it)"
    r, i, rule = w
    shares = backend_shares(rule.get("backendRefs"))
    to = ", ".join(f"{k} {v:.0%}" for k, v in shares.items()) or "no backend"
    return f"route {r['metadata']['name']!r} rule {i}: {to}"


def route_serves(api, namespace: str, *, gateway: str, path: str, backend: str, headers: dict | None = None,
                 also: tuple[str, ...] = (), elsewhere: tuple[str, ...] = (), timeout: float = 15) -> CheckResult:
    """A request for `path` (and for each path in `also`; with `headers`) through `gateway` goes, by the routes its
    controller accepted, to the Service `backend` alone, and that route's backendRefs resolve; requests for the
    paths in `elsewhere` do not."""
    def fetch():
        return _fetch(api, namespace, gateway)

    def takes(o):
        return _route_of(o, path, headers)

    def goes(o, p):
        w = _route_of(o, p, headers)
        return bool(w) and set(backend_shares(w[2].get("backendRefs"))) == {backend}

    def resolved(o):
        w = takes(o)
        return not w or _is_true(o.status[w[0]["metadata"]["name"]], "ResolvedRefs")

    said = f"a request for {path}" + (f" with {headers}" if headers else "")
    parts = [
        _waiting(gateway),
        Part(lambda o: not o.answered or (o.routes and bool(o.accepted)),
             lambda o: (f"Gateway {gateway!r} has accepted none of its routes ("
                        + "; ".join(f"{n}: {_refusal(s, gateway, namespace)[0]}" for n, s in o.status.items()) + ")")
             if o.routes else f"no HTTPRoute in namespace {namespace!r} has a parentRef to the Gateway {gateway!r}",
             f"spec.parentRefs: [{{name: {gateway}}}] (a sectionName must name one of its listeners)", static=True),
        Part(lambda o: not o.answered or all(goes(o, p) for p in (path, *also)),
             lambda o: "; ".join(f"a request for {p} goes to {_where(_route_of(o, p, headers), o, p, headers)}"
                                 for p in (path, *also) if not goes(o, p)) + f"; wanted the Service {backend!r} alone",
             f"a rule with matches: [{{path: {{type: PathPrefix, value: {path}}}}}] and backendRefs: "
             f"[{{name: {backend}, port: <the Service's port>}}]", static=True),
        Part(lambda o: not o.answered or resolved(o),
             lambda o: f"route {takes(o)[0]['metadata']['name']!r}: "
             + _refusal(o.status[takes(o)[0]['metadata']['name']], gateway, namespace, ("ResolvedRefs",))[0],
             RESOLVE.format(ns=namespace), static=True),
        Part(lambda o: not o.answered or all(backend not in backend_shares((_route_of(o, p, headers) or
                                                                            (0, 0, {}))[2].get("backendRefs"))
                                             for p in elsewhere),
             lambda o: "; ".join(f"a request for {p} goes to {_where(_route_of(o, p, headers))}" for p in elsewhere)
             + f": only {path} and below should reach {backend!r}",
             f"match the path {path} (PathPrefix), not '/'", static=True),
    ]
    return run(f"route-serves:{path}", fetch, parts, f"{said} through Gateway {gateway!r} goes to {backend!r}",
               timeout=timeout)


def route_weights(api, namespace: str, *, gateway: str, path: str, shares: dict[str, float],
                  headers: dict | None = None, tolerance: float = 0.005, timeout: float = 15) -> CheckResult:
    """The rule that takes `path` through `gateway` (among the routes its controller accepted) splits its requests
    between the backends as `shares` (weight over the sum of weights: 90/10, 9/1 and 900/100 are one split),
    and its backendRefs resolve."""
    def fetch():
        return _fetch(api, namespace, gateway)

    def got(o):
        w = _route_of(o, path, headers)
        return backend_shares(w[2].get("backendRefs")) if w else {}

    def split_ok(o):
        g = got(o)
        return set(g) == set(shares) and all(abs(g[k] - v) <= tolerance for k, v in shares.items())

    def overlapped(o):
        """The other accepted routes with a rule for this path: shadowed by the winner, they never split it."""
        w = _best(o.accepted, path, headers)
        return [r["metadata"]["name"] for r in o.accepted if w and r is not w[1]
                and (_best([r], path, headers) or [()])[0][:3] == w[0][:3]]   # as specific a match: a tie

    want = ", ".join(f"{k} {v:.0%}" for k, v in shares.items())
    parts = [
        _waiting(gateway),
        Part(lambda o: not o.answered or bool(o.accepted),
             lambda o: (f"Gateway {gateway!r} has accepted none of its routes ("
                        + "; ".join(f"{n}: {_refusal(s, gateway, namespace)[0]}" for n, s in o.status.items()) + ")")
             if o.routes else f"no HTTPRoute in namespace {namespace!r} has a parentRef to the Gateway {gateway!r}",
             f"spec.parentRefs: [{{name: {gateway}}}]", static=True),
        Part(lambda o: not o.answered or split_ok(o),
             lambda o: f"requests for {path} go to {_where(_route_of(o, path, headers), o, path, headers)}; wanted {want}"
             + (f" (the route(s) {', '.join(overlapped(o))} match {path} as well, but one rule takes a request: "
                "on a tie the oldest route wins, the others are never used)" if overlapped(o) else ""),
             "ONE rule whose backendRefs carry both backends, with weights in the wanted proportion "
             "(weight: 90 and weight: 10)", static=True),
        Part(lambda o: not o.answered or not _route_of(o, path, headers)
             or _is_true(o.status[_route_of(o, path, headers)[0]["metadata"]["name"]], "ResolvedRefs"),
             lambda o: f"route {_route_of(o, path, headers)[0]['metadata']['name']!r}: "
             + _refusal(o.status[_route_of(o, path, headers)[0]['metadata']['name']], gateway, namespace,
                        ("ResolvedRefs",))[0]
             + " (its share of the requests would get HTTP 500)",
             RESOLVE.format(ns=namespace), static=True),
    ]
    return run(f"route-weights:{path}", fetch, parts, f"requests for {path} through Gateway {gateway!r} split "
               f"{want}", timeout=timeout)


# -- traffic by image: the canary, and its promotion ---------------------------------------------------------------
def image_shares(weights: dict[str, float], endpoints: dict[str, list[set[str]]]) -> tuple[dict[str, float], list[str]]:
    """({image: share of the requests}, [backends with a weight and no ready endpoint]) (pure): `weights` are the
    rule's backend shares, `endpoints` each backend's ready endpoints as their pods' image sets (a pod of several
    containers counts for each image it runs)."""
    shares: dict[str, float] = {}
    dead = []
    for backend, weight in weights.items():
        ready = endpoints.get(backend) or []
        if weight and not ready:
            dead.append(backend)
        for images in ready:
            for image in images:
                shares[image] = shares.get(image, 0.0) + weight / len(ready)
    return shares, dead


def _traffic(api, namespace: str, gateway: str, path: str) -> SimpleNamespace:
    """The routes of `gateway`, the rule that takes `path`, its backends' weights and ready endpoints' images, and
    the namespace's live pods."""
    from .._k8s import raw
    from ..observe.network import endpoint_slices

    o = _fetch(api, namespace, gateway)
    if not o.routes:   # nothing to wait for: said at once
        raise Missing(f"no HTTPRoute in namespace {namespace!r} has a parentRef to the Gateway {gateway!r}",
                      f"an HTTPRoute with parentRefs: [{{name: {gateway}}}] and a rule matching {path} (PathPrefix)")
    o.rule = _route_of(o, path, None)
    o.weights = backend_shares(o.rule[2].get("backendRefs")) if o.rule else {}
    o.pods = [p for p in raw.pods(api, namespace) if not p["metadata"].get("deletionTimestamp")]
    images = {p["metadata"]["name"]: {c["image"] for c in p["spec"].get("containers") or []} for p in o.pods}
    eps = endpoint_slices(api, namespace)   # one list for every backend (this runs on each poll)
    ready = eps[eps["ready"]]
    o.endpoints = {backend: [images.get(pod, set()) for pod in ready[ready["service"] == backend]["pod"]]
                   for backend in o.weights}
    o.shares, o.dead = image_shares(o.weights, o.endpoints)
    o.resolved = bool(o.rule) and _is_true(o.status[o.rule[0]["metadata"]["name"]], "ResolvedRefs")
    return o


def _traffic_gate(o, gateway: str, namespace: str, path: str) -> tuple[str, str] | None:
    """(problem, hint) when requests for `path` cannot be judged by image: the controller has not answered, no
    accepted rule takes the path, its backends do not resolve, or a weighted backend has no ready endpoint."""
    if not o.answered:
        return ("Envoy Gateway has not yet written the status of " + ", ".join(n for n, v in o.status.items() if v is None),
                "wait a moment and run the check again; `kubectl get httproute -n <ns> -o yaml` shows `status.parents`")
    if not o.rule:
        return (f"a request for {path} through Gateway {gateway!r} goes to {_where(o.rule, o, path)}",
                f"an HTTPRoute with parentRefs: [{{name: {gateway}}}] and a rule matching {path} (PathPrefix)")
    if not o.resolved:
        name = o.rule[0]["metadata"]["name"]
        return (f"route {name!r}: " + _refusal(o.status[name], gateway, namespace, ("ResolvedRefs",))[0]
                + " (its requests get HTTP 500)", RESOLVE.format(ns=namespace))
    if o.dead:
        return ("backend(s) " + ", ".join(o.dead) + f" of the rule for {path} have a weight and no ready endpoint: "
                "their share of the requests gets HTTP 503",
                f"each Service the rule names must select ready pods: `kubectl get endpointslices -n {namespace}`")
    return None


def _gated(gateway: str, namespace: str, path: str, ok, problem, hint: str) -> Part:
    """One part: the route gate (_traffic_gate) and then `ok`; while the gate fails, its problem says the gate's
    problem and what to do."""
    def gate(o):
        return _traffic_gate(o, gateway, namespace, path)

    def said(o) -> str:
        g = gate(o)
        return f"{g[0]} ({g[1]})" if g else problem(o)
    return Part(lambda o: gate(o) is None and ok(o), said, hint)


def _said_shares(o) -> str:
    return ", ".join(f"{image} {share:.0%}" for image, share in sorted(o.shares.items(), key=lambda kv: -kv[1])) or \
        "no ready endpoint"


def canary_traffic(api, namespace: str, *, gateway: str, path: str, canary_image: str, share: float,
                   tolerance: float = 0.01, timeout: float = 30) -> CheckResult:
    """Requests for `path` through `gateway`, by the route its controller accepted and the ready endpoints of each
    backend: `canary_image` takes `share` of them (within `tolerance`) and the rest goes to another image (the stable
    track); the route resolves and every weighted backend has a ready endpoint."""
    parts = [_gated(gateway, namespace, path,
                    lambda o: o.shares.get(canary_image, 0) > 0
                    and sum(v for k, v in o.shares.items() if k != canary_image) > 0,
                    lambda o: f"requests for {path} go to {_said_shares(o)}: wanted {canary_image} beside the stable "
                              "track",
                    "a canary track of its own (a Deployment and a Service selecting only its pods), named in the "
                    "route rule's backendRefs beside the stable Service; `kl.observe.routes.route_status(api, ns)` "
                    "says what Envoy Gateway decided"),
             _gated(gateway, namespace, path,
                    lambda o: abs(o.shares.get(canary_image, 0) - share) <= tolerance + 1e-9,
                    lambda o: f"requests for {path} go to {_said_shares(o)}; wanted {canary_image} at {share:.0%} "
                              f"(± {tolerance:.0%})",
                    "ONE rule whose backendRefs weigh the two Services (weight: 90 and weight: 10): a Service that "
                    "selects both tracks mixes them by replicas, which the autoscaler changes")]
    return run("canary_traffic", lambda: _traffic(api, namespace, gateway, path), parts,
               f"{canary_image} takes {share:.0%} of the requests for {path} through Gateway {gateway!r}",
               timeout=timeout)


def traffic_promoted(api, namespace: str, *, gateway: str, path: str, image: str, replicas: int,
                     timeout: float = 60) -> CheckResult:
    """Every request for `path` through `gateway` goes to `image`, on at least `replicas` ready endpoints (1), and,
    with the new image serving, no pod in the namespace runs another tag of `image`'s repository (the old track,
    whatever the route names now) (1)."""
    from ..cluster.images import normalize
    family = normalize(image)

    def serving(o) -> int:
        return sum(image in imgs for backend, w in o.weights.items() if w for imgs in o.endpoints.get(backend) or [])

    def old(o) -> list[str]:
        return sorted(p["metadata"]["name"] for p in o.pods
                      if image not in (imgs := {c["image"] for c in p["spec"].get("containers") or []})
                      and any(normalize(i) == family for i in imgs))

    parts = [_gated(gateway, namespace, path,
                    lambda o: abs(o.shares.get(image, 0) - 1) < 1e-9 and serving(o) >= replicas,
                    lambda o: f"requests for {path} go to {_said_shares(o)}, {serving(o)} ready endpoint(s) of {image} "
                              f"(asked: all of them to {image}, on at least {replicas})",
                    f"upgrade the stable track to {image}, and route every request to it; wait for the rollout"),
             # judged once the new image serves: with nothing running there is no old track, and no promotion either
             _gated(gateway, namespace, path, lambda o: serving(o) > 0 and not old(o),
                    lambda o: ("pods of the old track still run: " + ", ".join(old(o)[:5])) if old(o) else
                    f"no ready endpoint of {image} takes requests for {path}",
                    "remove the canary track once the stable track runs its image (and no Deployment of the old tag "
                    "is left)")]
    return run("traffic_promoted", lambda: _traffic(api, namespace, gateway, path), parts,
               f"every request for {path} through Gateway {gateway!r} goes to {image}", timeout=timeout)
