"""notebooks/03-networking-ingress.ipynb."""
NETPOL = '''
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: %s}
spec:
%s
'''

INGRESS = '''
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %s}
spec:
  ingressClassName: CLASS
  rules:
  - host: models.example.local
    http:
      paths:
%s
'''


def ingress(name, paths, namespace):
    """An Ingress of the exercise's class with these path lines (YAML flow mappings)."""
    lines = "\n".join(f"      - {p}" for p in paths)
    return (INGRESS % (name, lines)).replace("CLASS", f"{namespace}-edge")


ROUTE = '''
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: %s}
spec:
%s
'''


def route(name, spec):
    """An HTTPRoute with this spec (YAML text, indented by two)."""
    return ROUTE % (name, spec)


FORMS = {
    "03.named-ports": {
        "right": [  # numeric target ports and a selector on the track label alone
            'kl.apply(api, """\napiVersion: v1\nkind: Service\nmetadata: {name: embedder-stable}\nspec:\n'
            '  selector: {track: stable}\n  ports:\n  - {name: metrics, port: 9090, targetPort: 9090}\n'
            '  - {name: http, port: 80, targetPort: 8080}\n""", namespace=namespace)',
        ],
        "wrong": [  # kubectl expose of the Deployment: its selector takes app AND track, but one port only
            'kl.kubectl(api, "expose", "deployment", "embedder", "--name", "embedder-stable", "--port", "80", '
            '"--target-port", "http", "-n", namespace)',
            # both ports, selected by app only: the canary gets production traffic too
            'kl.apply(api, """\napiVersion: v1\nkind: Service\nmetadata: {name: embedder-stable}\nspec:\n'
            '  selector: {app: embedder}\n  ports:\n  - {name: http, port: 80, targetPort: http}\n'
            '  - {name: metrics, port: 9090, targetPort: metrics}\n""", namespace=namespace)',
            # the names on the wrong ports: targetPort metrics behind http
            'kl.apply(api, """\napiVersion: v1\nkind: Service\nmetadata: {name: embedder-stable}\nspec:\n'
            '  selector: {app: embedder, track: stable}\n  ports:\n  - {name: http, port: 80, targetPort: 9090}\n'
            '  - {name: metrics, port: 9090, targetPort: 8080}\n""", namespace=namespace)',
        ],
    },
    "03.headless": {
        "right": [  # client calls; the selector also names the role
            'client.CoreV1Api(api).create_namespaced_service(namespace, {"metadata": {"name": "rdzv"}, "spec": {'
            '"clusterIP": "None", "selector": {"app": "rdzv", "role": "trainer"}, '
            '"ports": [{"name": "c10d", "port": 29400, "targetPort": 29400}]}})',
        ],
        "wrong": [  # a ClusterIP Service: one virtual IP, no per-pod DNS names
            'kl.apply(api, """\napiVersion: v1\nkind: Service\nmetadata: {name: rdzv}\nspec:\n'
            '  selector: {app: rdzv}\n  ports: [{name: c10d, port: 29400, targetPort: c10d}]\n""", namespace=namespace)',
            # headless, but not the StatefulSet's serviceName: the pods' subdomain is rdzv
            'kl.apply(api, """\napiVersion: v1\nkind: Service\nmetadata: {name: rdzv-headless}\nspec:\n'
            '  clusterIP: None\n  selector: {app: rdzv}\n  ports: [{name: c10d, port: 29400, targetPort: c10d}]\n""",'
            ' namespace=namespace)',
            # kubectl's own headless Service: the right name, but its port is named 29400-29400
            'kl.kubectl(api, "create", "service", "clusterip", "rdzv", "--clusterip=None", "--tcp=29400:29400", '
            '"-n", namespace)',
        ],
    },
    "03.gateway-only": {
        "right": [  # matchExpressions, the port by its name, plus a default deny of the namespace
            'kl.apply(api, NETPOL % ("deny-all-in", "  podSelector: {}\\n  policyTypes: [Ingress]") + "---" + '
            'NETPOL % ("model-from-gateway", "  podSelector: {matchExpressions: [{key: app, operator: In, '
            'values: [model-server]}]}\\n  ingress:\\n  - from: [{podSelector: {matchLabels: {app: gateway}}}]\\n'
            '    ports: [{port: http}]"), namespace=namespace)',
        ],
        "wrong": [  # from and ports as two rules: the gateway on every port, and everyone on 8080
            'kl.apply(api, NETPOL % ("model-from-gateway", "  podSelector: {matchLabels: {app: model-server}}\\n'
            '  policyTypes: [Ingress]\\n  ingress:\\n  - from: [{podSelector: {matchLabels: {app: gateway}}}]\\n'
            '  - ports: [{port: 8080}]"), namespace=namespace)',
            # the gateway only, but on every port (metrics too)
            'kl.apply(api, NETPOL % ("model-from-gateway", "  podSelector: {matchLabels: {app: model-server}}\\n'
            '  policyTypes: [Ingress]\\n  ingress:\\n  - from: [{podSelector: {matchLabels: {app: gateway}}}]"), '
            'namespace=namespace)',
            # deny everything: nothing unwanted gets in, and nor does the gateway
            'kl.apply(api, NETPOL % ("model-closed", "  podSelector: {matchLabels: {app: model-server}}\\n'
            '  policyTypes: [Ingress]"), namespace=namespace)',
        ],
    },
    "03.sandbox-egress": {
        "right": [  # DNS to any namespace's kube-dns pods, written with matchExpressions and two rules
            'kl.apply(api, NETPOL % ("sandbox-dns-only", "  podSelector: {matchLabels: {app: sandbox}}\\n'
            '  policyTypes: [Egress]\\n  egress:\\n'
            '  - to: [{namespaceSelector: {}, podSelector: {matchExpressions: [{key: k8s-app, operator: In, '
            'values: [kube-dns]}]}}]\\n    ports: [{port: 53, protocol: UDP}]\\n'
            '  - to: [{namespaceSelector: {}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]\\n'
            '    ports: [{port: 53, protocol: TCP}]"), namespace=namespace)',
            # two policies: a default deny of the sandbox's egress, then DNS on port 53 to anywhere
            'kl.apply(api, NETPOL % ("sandbox-deny-out", "  podSelector: {matchLabels: {app: sandbox}}\\n'
            '  policyTypes: [Egress]") + "---" + NETPOL % ("sandbox-dns", "  podSelector: {matchLabels: '
            '{app: sandbox}}\\n  policyTypes: [Egress]\\n  egress:\\n  - ports: [{port: 53, protocol: UDP}, '
            '{port: 53, protocol: TCP}]"), namespace=namespace)',
        ],
        "wrong": [  # UDP only: a DNS answer too large for UDP is retried over TCP, and fails
            'kl.apply(api, NETPOL % ("sandbox-dns-only", "  podSelector: {matchLabels: {app: sandbox}}\\n'
            '  policyTypes: [Egress]\\n  egress:\\n  - to: [{namespaceSelector: {matchLabels: '
            '{kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]\\n'
            '    ports: [{port: 53, protocol: UDP}]"), namespace=namespace)',
            # the DNS peer without a namespaceSelector: that means the sandbox's own namespace, where no DNS runs
            'kl.apply(api, NETPOL % ("sandbox-dns-only", "  podSelector: {matchLabels: {app: sandbox}}\\n'
            '  policyTypes: [Egress]\\n  egress:\\n  - to: [{podSelector: {matchLabels: {k8s-app: kube-dns}}}]\\n'
            '    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]"), namespace=namespace)',
            # a default deny of egress for every pod of the namespace: the sandbox is closed, and so is the rest
            'kl.apply(api, NETPOL % ("deny-out", "  podSelector: {}\\n  policyTypes: [Egress]\\n  egress:\\n'
            '  - ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]"), namespace=namespace)',
            # DNS pods on every port
            'kl.apply(api, NETPOL % ("sandbox-dns-only", "  podSelector: {matchLabels: {app: sandbox}}\\n'
            '  policyTypes: [Egress]\\n  egress:\\n  - to: [{namespaceSelector: {matchLabels: '
            '{kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]"), '
            'namespace=namespace)',
        ],
    },
    "03.ingress-paths": {
        "right": [  # two Ingresses, one path each (a controller merges them), ports by number
            'kl.apply(api, ingress("chat", ["{path: /v1/chat, pathType: Prefix, backend: {service: {name: chat, '
            'port: {number: 80}}}}"], namespace) + "---" + ingress("embeddings", ["{path: /v1/embeddings/, pathType: '
            'Prefix, backend: {service: {name: embeddings, port: {number: 80}}}}"], namespace), namespace=namespace)',
        ],
        "wrong": [  # the containers' port 8080: the Services listen on 80
            'kl.apply(api, ingress("models", ["{path: /v1/chat, pathType: Prefix, backend: {service: {name: chat, '
            'port: {number: 8080}}}}", "{path: /v1/embeddings, pathType: Prefix, backend: {service: '
            '{name: embeddings, port: {number: 8080}}}}"], namespace), namespace=namespace)',
            # Exact paths: /v1/chat/completions matches no rule
            'kl.apply(api, ingress("models", ["{path: /v1/chat, pathType: Exact, backend: {service: {name: chat, '
            'port: {name: http}}}}", "{path: /v1/embeddings, pathType: Exact, backend: {service: '
            '{name: embeddings, port: {name: http}}}}"], namespace), namespace=namespace)',
            # no class: no controller claims it (the cluster has no default IngressClass)
            'kl.apply(api, ingress("models", ["{path: /v1/chat, pathType: Prefix, backend: {service: {name: chat, '
            'port: {name: http}}}}", "{path: /v1/embeddings, pathType: Prefix, backend: {service: '
            '{name: embeddings, port: {name: http}}}}"], namespace).replace("  ingressClassName: " + namespace + '
            '"-edge\\n", ""), namespace=namespace)',
        ],
    },
    "03.gateway-route": {
        "right": [  # the sectionName named, the Service port by number, a trailing slash (ignored by PathPrefix)
            'kl.apply(api, route("summarize", "  parentRefs: [{name: models, sectionName: http}]\\n  rules:\\n'
            '  - matches: [{path: {type: PathPrefix, value: /v1/summarize/}}]\\n'
            '    backendRefs: [{name: summarize, port: 80}]"), namespace=namespace)',
            # an Exact and a PathPrefix match in one rule, by a client call
            'client.CustomObjectsApi(api).create_namespaced_custom_object("gateway.networking.k8s.io", "v1", namespace, '
            '"httproutes", {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": '
            '"sum"}, "spec": {"parentRefs": [{"name": "models"}], "rules": [{"matches": [{"path": {"type": "Exact", '
            '"value": "/v1/summarize"}}, {"path": {"type": "PathPrefix", "value": "/v1/summarize"}}], "backendRefs": '
            '[{"name": "summarize", "port": 80, "weight": 1}]}]}})',
        ],
        "wrong": [  # everything to the summarizer: "/" matches /healthz too
            'kl.apply(api, route("summarize", "  parentRefs: [{name: models}]\\n  rules:\\n'
            '  - backendRefs: [{name: summarize, port: 80}]"), namespace=namespace)',
            # the container's port: ResolvedRefs False, PortNotFound
            'kl.apply(api, route("summarize", "  parentRefs: [{name: models}]\\n  rules:\\n'
            '  - matches: [{path: {value: /v1/summarize}}]\\n    backendRefs: [{name: summarize, port: 8080}]"), '
            'namespace=namespace)',
            # a listener the Gateway does not have: not Accepted, NoMatchingParent
            'kl.apply(api, route("summarize", "  parentRefs: [{name: models, sectionName: https}]\\n  rules:\\n'
            '  - matches: [{path: {value: /v1/summarize}}]\\n    backendRefs: [{name: summarize, port: 80}]"), '
            'namespace=namespace)',
            # Exact: /v1/summarize/long matches nothing
            'kl.apply(api, route("summarize", "  parentRefs: [{name: models}]\\n  rules:\\n'
            '  - matches: [{path: {type: Exact, value: /v1/summarize}}]\\n    backendRefs: [{name: summarize, port: 80}]"), '
            'namespace=namespace)',
        ],
    },
    "03.canary-weights": {
        "right": [  # 9 and 1: the same proportion
            'kl.apply(api, route("rank", "  parentRefs: [{name: models}]\\n  rules:\\n'
            '  - matches: [{path: {type: PathPrefix, value: /v1/rank}}]\\n    backendRefs:\\n'
            '    - {name: ranker-v1, port: 80, weight: 9}\\n    - {name: ranker-v2, port: 80, weight: 1}"), '
            'namespace=namespace)',
            # 900/100, the canary listed first, and the listener named
            'kl.apply(api, route("rank", "  parentRefs: [{name: models, sectionName: http}]\\n  rules:\\n'
            '  - matches: [{path: {value: /v1/rank}}]\\n    backendRefs:\\n'
            '    - {name: ranker-v2, port: 80, weight: 100}\\n    - {name: ranker-v1, port: 80, weight: 900}"), '
            'namespace=namespace)',
            # the weight of v2 left out is 1 (the API's default): 9 to 1
            'kl.apply(api, route("rank", "  parentRefs: [{name: models}]\\n  rules:\\n'
            '  - matches: [{path: {value: /v1/rank}}]\\n    backendRefs:\\n'
            '    - {name: ranker-v1, port: 80, weight: 9}\\n    - {name: ranker-v2, port: 80}"), namespace=namespace)',
        ],
        "wrong": [  # two routes with the same match: the older one takes every request, nothing splits
            'kl.apply(api, route("rank-stable", "  parentRefs: [{name: models}]\\n  rules:\\n'
            '  - matches: [{path: {value: /v1/rank}}]\\n    backendRefs: [{name: ranker-v1, port: 80, weight: 90}]"), '
            'namespace=namespace); '
            'kl.apply(api, route("rank-canary", "  parentRefs: [{name: models}]\\n  rules:\\n'
            '  - matches: [{path: {value: /v1/rank}}]\\n    backendRefs: [{name: ranker-v2, port: 80, weight: 10}]"), '
            'namespace=namespace)',
            # the canary's weight on a Service that does not exist: BackendNotFound
            'kl.apply(api, route("rank", "  parentRefs: [{name: models}]\\n  rules:\\n'
            '  - matches: [{path: {value: /v1/rank}}]\\n    backendRefs:\\n'
            '    - {name: ranker-v1, port: 80, weight: 90}\\n    - {name: ranker-canary, port: 80, weight: 10}"), '
            'namespace=namespace)',
            # reversed: 90 % to the canary
            'kl.apply(api, route("rank", "  parentRefs: [{name: models}]\\n  rules:\\n'
            '  - matches: [{path: {value: /v1/rank}}]\\n    backendRefs:\\n'
            '    - {name: ranker-v1, port: 80, weight: 10}\\n    - {name: ranker-v2, port: 80, weight: 90}"), '
            'namespace=namespace)',
            # the right weights, but the canary on the container's port: PortNotFound
            'kl.apply(api, route("rank", "  parentRefs: [{name: models}]\\n  rules:\\n'
            '  - matches: [{path: {value: /v1/rank}}]\\n    backendRefs:\\n'
            '    - {name: ranker-v1, port: 80, weight: 90}\\n    - {name: ranker-v2, port: 8080, weight: 10}"), '
            'namespace=namespace)',
        ],
    },
    "03.fix-route": {
        "right": [  # a JSON patch of the two fields
            'kl.kubectl(api, "patch", "httproute", "translate", "-n", namespace, "--type=json", "-p", '
            '\'[{"op": "remove", "path": "/spec/parentRefs/0/sectionName"}, '
            '{"op": "replace", "path": "/spec/rules/0/backendRefs/0/port", "value": 80}]\')',
            # the whole route applied again, fixed, by the manager that made it
            'kl.apply(api, route("translate", "  parentRefs: [{name: models, sectionName: http}]\\n  rules:\\n'
            '  - matches: [{path: {type: PathPrefix, value: /v1/translate}}]\\n'
            '    backendRefs: [{name: translator, port: 80}]"), namespace=namespace)',
        ],
        "wrong": [  # the listener fixed, the port not: ResolvedRefs False, PortNotFound
            'kl.kubectl(api, "patch", "httproute", "translate", "-n", namespace, "--type=json", "-p", '
            '\'[{"op": "replace", "path": "/spec/parentRefs/0/sectionName", "value": "http"}]\')',
            # the symptom hidden: the old server on 8080 resolves, but it is not the translator Service
            'kl.kubectl(api, "patch", "httproute", "translate", "-n", namespace, "--type=json", "-p", '
            '\'[{"op": "remove", "path": "/spec/parentRefs/0/sectionName"}, '
            '{"op": "replace", "path": "/spec/rules/0/backendRefs/0/name", "value": "translator-legacy"}]\')',
            # a new route beside the broken one: translate is still refused
            'kl.apply(api, route("translate-v2", "  parentRefs: [{name: models}]\\n  rules:\\n'
            '  - matches: [{path: {value: /v1/translate}}]\\n    backendRefs: [{name: translator, port: 80}]"), '
            'namespace=namespace)',
        ],
    },
}
