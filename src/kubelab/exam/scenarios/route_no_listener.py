"""An HTTPRoute whose parentRef names a listener its Gateway does not have: Envoy Gateway does not accept it
(Accepted False, NoMatchingParent), so the model API gets no route. Graded from the route status Envoy Gateway writes."""
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..scenario_registry import register, register_category
from ._routes import gateway, listeners, parent_entries, route, route_condition_part, selected_listeners

__all__ = ["RouteNoListener"]

register_category("serving", "a Gateway API route or Gateway does not carry traffic to the model server: its "
                             "parentRef, listener or backendRef")

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"   # 10 s to load on the simulated nodes (cluster/images.yaml)
SERVER = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: translator}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: translator}}}}
  template:
    metadata: {{labels: {{app: translator}}}}
    spec:
      containers:
      - name: vllm
        image: vllm/vllm-openai:v0.30.0
        args: [--model, {MODEL}]
        ports: [{{name: http, containerPort: 8000}}]
---
apiVersion: v1
kind: Service
metadata: {{name: translator}}
spec:
  selector: {{app: translator}}
  ports: [{{name: http, port: 80, targetPort: http}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: public-api}}
spec:
  gatewayClassName: eg
  listeners:
  - {{name: http, protocol: HTTP, port: 80}}          # what the clients call
  - {{name: admin, protocol: HTTP, port: 9000}}       # the platform's internal admin endpoints
---
"""
ROUTE = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: translate-api}
spec:
  parentRefs:
  - {name: public-api, $ref}
  rules:
  - matches: [{path: {type: PathPrefix, value: /v1}}]
    backendRefs: [{name: translator, port: 80}]
"""
LISTENERS = [("http", 80, "HTTP", None), ("admin", 9000, "HTTP", None)]


def route_with(ref: str, name: str = "translate-api") -> str:
    return ROUTE.replace("$ref", ref).replace("{name: translate-api}", f"{{name: {name}}}")


def backends(rt: dict) -> list[tuple]:
    """The route's backends as (group, kind, name, port), every rule's."""
    return [(b.get("group", ""), b.get("kind", "Service"), b.get("name"), b.get("port"))
            for rule in (rt.get("spec") or {}).get("rules") or [] for b in rule.get("backendRefs") or []]


@register
class RouteNoListener(DeploymentScenario):
    name = "route-no-listener"
    title = "The translation API is deployed, but the Gateway serves no route to it"
    category = "serving"
    needs = frozenset({"serving"})
    difficulty = 2
    ticket = ("The translation model `translator` is Ready and its Service answers in the cluster, but clients that call "
              "the Gateway `public-api` on port 80 (`/v1/...`) get 404 for everything: the HTTPRoute `translate-api` "
              "we applied seems to be ignored. The Gateway is the platform team's (its listeners stay as they are); "
              "the admin listener is internal and must not carry the API.")
    evidence = ("NoMatchingParent", "No listeners match this parent ref", "spec.parentRefs[0].sectionName",
                "sectionName")
    cause = ("the route's parentRef names the listener `https` (sectionName: https), but the Gateway public-api has "
             "only the listeners `http` (port 80) and `admin` (9000): Envoy Gateway sets Accepted False with reason "
             "NoMatchingParent (\"No listeners match this parent ref\") and programs no route for it")
    fix = ("attach the route to the listener the clients call: parentRefs [{name: public-api, sectionName: http}] "
           "(or port: 80), the Gateway and the route's backend unchanged")
    deployment, replicas = "translator", 1
    manifests = SERVER + route_with("sectionName: https")
    fixed = SERVER + route_with("sectionName: http")
    check_timeout = 45.0
    own_wrong = {
        "second-object": "a second route on the right listener leaves `translate-api` refused (and two routes to "
                         "keep in step)",
        "admin-listener": "sectionName: admin is accepted, but on the internal admin listener (port 9000): the "
                          "clients on port 80 still get no route, and the API is exposed where it must not be",
        "new-listener": "a listener named https added to the Gateway makes the route accepted, but the Gateway is "
                        "the platform team's: its listeners stay as they are",
        "other-gateway": "a new Gateway with an https listener, and the route moved there: accepted, but not on "
                         "public-api, the Gateway the clients call",
        "drop-section": "sectionName removed: the route attaches to every listener that allows it, the internal "
                        "admin listener (9000) included",
    }
    alternatives = {"by-port": "parentRef {name: public-api, port: 80}: the listener chosen by its port",
                    "explicit-ref": "the parentRef written out in full (group, kind, namespace, sectionName http)"}

    def _route(self, api, namespace, text):
        from ... import manifests
        manifests.apply(api, self.render(text, namespace), namespace=namespace)

    def wrong_second_object(self, api, namespace):
        self._route(api, namespace, route_with("sectionName: http", "translate-api-v2"))

    def wrong_admin_listener(self, api, namespace):
        self._route(api, namespace, route_with("sectionName: admin"))

    def wrong_new_listener(self, api, namespace):
        self._route(api, namespace, SERVER.split("---\n")[2].replace(
            "  - {name: admin, protocol: HTTP, port: 9000}       # the platform's internal admin endpoints\n",
            "  - {name: admin, protocol: HTTP, port: 9000}\n  - {name: https, protocol: HTTP, port: 443}\n"))

    def wrong_other_gateway(self, api, namespace):
        self._route(api, namespace, "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
                                    "metadata: {name: public-api-v2}\nspec:\n  gatewayClassName: eg\n"
                                    "  listeners: [{name: https, protocol: HTTP, port: 443}]\n---\n"
                    + route_with("sectionName: https").replace("{name: public-api,", "{name: public-api-v2,"))

    def wrong_drop_section(self, api, namespace):
        import json

        from ... import tools
        tools.kubectl(api, "patch", "httproute", "translate-api", "-n", namespace, "--type", "json", "-p",
                      json.dumps([{"op": "remove", "path": "/spec/parentRefs/0/sectionName"}]))

    def alt_by_port(self, api, namespace):
        self._route(api, namespace, route_with("port: 80"))

    def alt_explicit_ref(self, api, namespace):
        self._route(api, namespace, route_with(f"group: gateway.networking.k8s.io, kind: Gateway, "
                                               f"namespace: {namespace}, sectionName: http"))

    def more_state(self, api, namespace):
        return {"route": route(api, namespace, "translate-api"), "gateway": gateway(api, namespace, "public-api")}

    def guard_parts(self, namespace):
        want = {("", "Service", "translator", 80)}
        return [
            Part(lambda s: listeners(s.gateway) == LISTENERS,
                 lambda s: f"the Gateway public-api's listeners changed: {listeners(s.gateway)}",
                 "the Gateway is the platform team's: attach the route to a listener it has"),
            Part(lambda s: set(backends(s.route)) == want,
                 lambda s: f"HTTPRoute translate-api's backends changed: {backends(s.route)}",
                 "keep the route's backend, the Service translator on port 80: only its parent was wrong"),
        ]

    def live_parts(self, namespace):
        def admin_free(s) -> bool:
            return not any("admin" in selected_listeners(s.gateway, e)
                           for e in parent_entries(s.route, "public-api", namespace))

        def attached(s) -> int:
            return next((li.get("attachedRoutes", 0) for li in (s.gateway.get("status") or {}).get("listeners") or []
                         if li.get("name") == "http"), 0)

        return [route_condition_part("route", "translate-api", "public-api", namespace, listener="http"),
                Part(admin_free, "HTTPRoute translate-api is attached to the internal admin listener too",
                     "name the listener the clients call (sectionName http, or port 80)"),
                Part(lambda s: attached(s) >= 1, "the Gateway public-api counts no route on its listener http",
                     "`kubectl get gateway public-api -o yaml`: status.listeners[].attachedRoutes")]
