"""notebooks/02-core-resources.ipynb."""
EMBEDDER = '''
apiVersion: apps/v1
kind: Deployment
metadata: {name: embedder}
spec:
  replicas: 2
  selector: {matchLabels: {app: embedder}}
  template:
    metadata: {labels: {app: embedder}}
    spec:
      containers:
      - name: server
        image: nginx:1.27-alpine
        %s
'''

FORMS = {
    "02.config-env": {
        "right": [  # envFrom the whole ConfigMap, made with kubectl
            'kl.kubectl(api, "create", "configmap", "embedder-config", "--from-literal=BATCH_SIZE=64", "-n", namespace)\n'
            'kl.apply(api, EMBEDDER % "envFrom: [{configMapRef: {name: embedder-config}}]", namespace=namespace)',
        ],
        "wrong": [  # the value copied into the Deployment: right number, no ConfigMap reference
            'kl.kubectl(api, "create", "configmap", "embedder-config", "--from-literal=BATCH_SIZE=64", "-n", namespace)\n'
            'kl.apply(api, EMBEDDER % "env: [{name: BATCH_SIZE, value: \\"64\\"}]", namespace=namespace)',
            # a reference to a key the ConfigMap lacks: the pods never start
            'kl.kubectl(api, "create", "configmap", "embedder-config", "--from-literal=BATCH=64", "-n", namespace)\n'
            'kl.apply(api, EMBEDDER % "envFrom: [{configMapRef: {name: embedder-config}}]", namespace=namespace)',
        ],
    },
    "02.secret-env": {
        "right": [  # client calls: string_data, and a strategic-merge patch of the env
            'core = client.CoreV1Api(api)\n'
            'core.create_namespaced_secret(namespace, {"metadata": {"name": "hf-token"}, "stringData": {"token": "x" * 32}})\n'
            'kl.apply(api, (EMBEDDER % "env: [{name: HF_TOKEN, valueFrom: {secretKeyRef: {name: hf-token, key: token}}}]")'
            '.replace("embedder", "reranker"), namespace=namespace)',
        ],
        "wrong": [  # the token pasted as a literal value
            'kl.kubectl(api, "create", "secret", "generic", "hf-token", "--from-literal=token=abc", "-n", namespace)\n'
            'kl.apply(api, (EMBEDDER % "env: [{name: HF_TOKEN, value: abc}]").replace("embedder", "reranker"), '
            'namespace=namespace)',
        ],
    },
    "02.rolling-update": {
        "right": [  # one apply of the whole changed manifest, percent form of maxUnavailable
            'kl.apply(api, """\n'
            'apiVersion: apps/v1\nkind: Deployment\n'
            'metadata: {name: ranker, annotations: {kubernetes.io/change-cause: "v2"}}\n'
            'spec:\n  replicas: 3\n  strategy: {rollingUpdate: {maxSurge: 25%, maxUnavailable: 0%}}\n'
            '  selector: {matchLabels: {app: ranker}}\n  template:\n    metadata: {labels: {app: ranker, tier: serving}}\n'
            '    spec: {containers: [{name: server, image: "nginx:1.28-alpine"}]}\n""", namespace=namespace)',
        ],
        "wrong": [  # the new image with the default strategy (25 % may go unavailable)
            'kl.kubectl(api, "set", "image", "deployment/ranker", "server=nginx:1.28-alpine", "-n", namespace)\n'
            'kl.kubectl(api, "annotate", "deployment/ranker", "kubernetes.io/change-cause=v2", "-n", namespace)',
        ],
    },
    "02.rollback": {
        "right": [  # set the image back by hand: also a new revision of the same Deployment
            'kl.kubectl(api, "set", "image", "deployment/scorer", "server=nginx:1.27-alpine", "-n", namespace)',
        ],
        "wrong": [  # delete and re-create: the symptom goes, and the history with it
            'kl.kubectl(api, "delete", "deployment", "scorer", "-n", namespace, "--wait=true")\n'
            'kl.apply(api, (EMBEDDER % "").replace("embedder", "scorer"), namespace=namespace)',
            # scale the broken version to zero: nothing fails, nothing serves
            'kl.kubectl(api, "scale", "deployment/scorer", "--replicas=0", "-n", namespace)',
        ],
    },
    "02.service": {
        "right": [  # kubectl's own Service maker: selector app=<name>, port 80 to 8080
            'kl.kubectl(api, "create", "service", "clusterip", "tokenizer", "--tcp=80:8080", "-n", namespace)',
            # a manifest with the numeric target port and a narrower (still matching) selector
            'kl.apply(api, """\napiVersion: v1\nkind: Service\nmetadata: {name: tokenizer}\n'
            'spec:\n  selector: {app: tokenizer, tier: nlp}\n  ports: [{port: 80, targetPort: 8080}]\n""", '
            'namespace=namespace)',
        ],
        "wrong": [  # the port 80 with no target port: traffic goes to port 80, where nothing listens
            'kl.kubectl(api, "expose", "deployment", "tokenizer", "--port", "80", "-n", namespace)',
            # a selector with a typo: a Service without endpoints
            'kl.apply(api, """\napiVersion: v1\nkind: Service\nmetadata: {name: tokenizer}\n'
            'spec:\n  selector: {app: tokeniser}\n  ports: [{port: 80, targetPort: http}]\n""", namespace=namespace)',
        ],
    },
}
