"""A NetworkPolicy whose allow rule names the wrong client labels: with the default deny, the gateway is
cut off from the model server. Graded by the policies' semantics (what an enforcing CNI decides)."""
from ...grading.engine import Part
from ...observe.network import network_allows, network_policies
from ..base import DeploymentScenario
from ..checks import State, current_pods, deployment_parts, get, verify
from ..scenario_registry import register

__all__ = ["NetworkPolicyCutOff"]

WORKLOADS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: scoring-server}
spec:
  replicas: 1
  selector: {matchLabels: {app: scoring-server}}
  template:
    metadata: {labels: {app: scoring-server}}
    spec:
      containers:
      - name: server
        image: python:3.12-slim
        command: [python, -m, http.server, "8000"]
        ports: [{name: http, containerPort: 8000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: scoring-gateway}
spec:
  replicas: 1
  selector: {matchLabels: {app: scoring-gateway}}
  template:
    metadata: {labels: {app: scoring-gateway}}
    spec:
      containers:
      - {name: nginx, image: "nginx:1.27", ports: [{containerPort: 80}]}
---
"""
POLICIES = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: scoring-server-clients}
spec:
  podSelector: {matchLabels: {app: scoring-server}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {$client}}
    ports: [{port: http}]
"""
SERVER, GATEWAY, OTHER = {"app": "scoring-server"}, {"app": "scoring-gateway"}, {"app": "notebook"}
PORTS = {"http": 8000}


@register
class NetworkPolicyCutOff(DeploymentScenario):
    name = "network-policy"
    title = "The gateway times out on the model server: a NetworkPolicy cuts it off"
    category = "network-policy"
    makes = frozenset({"NetworkPolicy"})       # default-deny-ingress selects every pod of the namespace
    difficulty = 2
    ticket = ("After security's 'default deny' change `scoring-gateway` times out on every call to the model "
              "server `scoring-server` (port 8000). Only the gateway may call it; notebooks and everything else "
              "must stay out.")
    evidence = ("NetworkPolicy", "spec.ingress[0].from[0].podSelector", "scoring-server-clients", "podSelector")
    cause = ("the allow rule of scoring-server-clients admits pods labelled role=scoring-gateway, but the "
             "gateway's pods are labelled app=scoring-gateway: under default-deny-ingress nothing may reach the model server")
    fix = "make the rule's podSelector app: scoring-gateway (port http / 8000), keeping the default deny"
    deployment = "scoring-server"
    manifests = WORKLOADS + POLICIES.replace("$client", "role: scoring-gateway")
    fixed = POLICIES.replace("$client", "app: scoring-gateway")
    own_wrong = {"delete-deny": "deleting the default deny lets every pod reach every pod",
                 "allow-all": "an ingress rule from every pod lets the notebooks (and anything else) in",
                 "second-object": "a second Deployment of the model server labelled for the old rule is not the "
                                  "server the gateway calls",
                 "gateway-port": "the rule admits app=scoring-gateway on port 80, the gateway's own port, not the "
                                 "model server's 8000: still cut off",
                 "any-namespace": "a rule `from: namespaceSelector: {}` admits every pod of every namespace, the "
                                  "notebooks included"}
    alternatives = {"separate-allow-policy": "a second NetworkPolicy that admits app=scoring-gateway to the model server "
                                             "on 8000, the broken rule left as it is (policies are additive: a "
                                             "connection is allowed when any selecting policy allows it)"}

    def wrong_gateway_port(self, api, namespace):
        from ... import manifests
        manifests.apply(api, POLICIES.replace("$client", "app: scoring-gateway").replace("ports: [{port: http}]",
                                                                                          "ports: [{port: 80}]"),
                        namespace=namespace)

    def wrong_any_namespace(self, api, namespace):
        from ... import manifests
        manifests.apply(api, POLICIES.replace("    - podSelector: {matchLabels: {$client}}\n",
                                              "    - namespaceSelector: {}\n"), namespace=namespace)

    def alt_separate_allow_policy(self, api, namespace):
        from ... import manifests
        manifests.apply(api, POLICIES.split("---\n", 1)[1].replace("{name: scoring-server-clients}",
                                                                   "{name: scoring-gateway-to-server}").replace(
            "$client", "app: scoring-gateway").replace("ports: [{port: http}]", "ports: [{port: 8000, protocol: TCP}]"),
            namespace=namespace)

    def state(self, api, namespace):
        from kubernetes import client
        d = get(client.AppsV1Api(api).read_namespaced_deployment, "scoring-server", namespace,
                what="Deployment 'scoring-server'")
        return State(deployment=d, pods=current_pods(api, namespace, d), policies=network_policies(api, namespace))

    def check(self, api, namespace):
        def allows(s, source):
            return network_allows(s.policies, source, SERVER, 8000, target_ports=PORTS)
        parts = [
            Part(lambda s: ((s.deployment["spec"]["template"].get("metadata") or {}).get("labels") or {}) == SERVER,
                 "the model server's pods are no longer labelled app=scoring-server",
                 "repair the policy, not the labels the other policies and Services rely on"),
            Part(lambda s: allows(s, GATEWAY), "the gateway (app=scoring-gateway) still may not reach the model server on 8000",
                 "an ingress rule of a policy that selects the model server must admit app=scoring-gateway on port 8000"),
            Part(lambda s: not allows(s, OTHER), "other pods (a notebook) may reach the model server too",
                 "admit the gateway only; keep the default deny"),
            Part(lambda s: not network_allows(s.policies, OTHER, GATEWAY, 80),
                 "the default deny is gone: any pod may reach the gateway", "keep default-deny-ingress"),
        ]
        spec, live = deployment_parts("scoring-server", 1)
        return verify(self.name, lambda: self.state(api, namespace), spec=spec + parts, live=live, timeout=15,
                      success="only the gateway may reach the model server, under the default deny")

    def wrong_delete_deny(self, api, namespace):
        from ... import tools
        tools.kubectl(api, "delete", "networkpolicy", "default-deny-ingress", "-n", namespace)
        tools.kubectl(api, "delete", "networkpolicy", "scoring-server-clients", "-n", namespace)

    def wrong_allow_all(self, api, namespace):
        from ... import manifests
        manifests.apply(api, POLICIES.replace("    - podSelector: {matchLabels: {$client}}\n", "    - podSelector: {}\n"),
                        namespace=namespace)

    def wrong_second_object(self, api, namespace):
        from .. import tampering
        tampering.beside(api, namespace, WORKLOADS.replace("app: scoring-server}", "app: scoring-server, role: scoring-gateway}"),
                         "Deployment", "scoring-server")
