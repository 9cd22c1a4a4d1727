"""notebooks/04-storage.ipynb."""
CLAIM = '''
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: %s}
spec:
  accessModes: [%s]
  storageClassName: "%s"
  resources: {requests: {storage: %s}}
'''

LLM_SERVER = '''
apiVersion: apps/v1
kind: Deployment
metadata: {name: llm-server}
spec:
  replicas: 2
  selector: {matchLabels: {app: llm-server}}
  template:
    metadata: {labels: {app: llm-server}}
    spec:
      containers:
      - name: server
        image: python:3.12-slim
        command: ["python", "-m", "http.server", "8080", "--directory", "/models"]
        volumeMounts: [%s]
      volumes: [%s]
'''

FEATURE_STORE = '''
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: feature-store}
spec:
  replicas: 2
  %s
  selector: {matchLabels: {app: feature-store}}
  template:
    metadata: {labels: {app: feature-store}}
    spec:
      containers:
      - name: store
        image: redis:7.4
        volumeMounts: [{name: data, mountPath: /data}]
      %s
  %s
'''

SUMMARIZER = '''
apiVersion: apps/v1
kind: Deployment
metadata: {name: summarizer}
spec:
  replicas: 2
  selector: {matchLabels: {app: summarizer}}
  template:
    metadata: {labels: {app: summarizer}}
    spec:
      initContainers:
      - name: fetch-model
        image: busybox:1.36
        command: ["sh", "-c", "echo copy $MODEL_URI && echo weights > /models/model.bin"]
        %s
      containers:
      - name: server
        image: nvcr.io/nvidia/tritonserver:25.01-py3
        command: ["tritonserver", "--model-repository=/models"]
        volumeMounts: [%s]
        resources: {requests: {cpu: 500m, memory: 1536Mi}, limits: {memory: 1536Mi}}
      volumes: [%s]
'''
URI_REF = "env: [{name: MODEL_URI, valueFrom: {configMapKeyRef: {name: summarizer-model, key: MODEL_URI}}}]"

FORMS = {
    "04.claim-fits": {
        "right": [  # more than asked, a size in plain bytes (20 GiB), through the client
            'core = client.CoreV1Api(api)\n'
            'core.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": "finetune-ckpt"}, "spec": {'
            '"accessModes": ["ReadWriteOnce"], "storageClassName": f"{namespace}-standard",'
            '"resources": {"requests": {"storage": "21474836480"}}}})',
            'kl.apply(api, CLAIM % ("finetune-ckpt", "ReadWriteOnce", f"{namespace}-standard", "30Gi"), '
            'namespace=namespace)',
        ],
        "wrong": [  # no class: "" binds only to volumes without a class, and none is offered
            'kl.apply(api, CLAIM % ("finetune-ckpt", "ReadWriteOnce", "", "20Gi"), namespace=namespace)',
            # the shared RWX class: it binds, to the volume the dataset team needs
            'kl.apply(api, CLAIM % ("finetune-ckpt", "ReadWriteMany", f"{namespace}-shared", "20Gi"), namespace=namespace)',
            # the right class, too small: it binds the 10 GiB volume
            'kl.apply(api, CLAIM % ("finetune-ckpt", "ReadWriteOnce", f"{namespace}-standard", "10Gi"), namespace=namespace)',
            # RWX from the standard class: no such volume, Pending
            'kl.apply(api, CLAIM % ("finetune-ckpt", "ReadWriteMany", f"{namespace}-standard", "20Gi"), namespace=namespace)',
        ],
    },
    "04.read-only-mount": {
        "right": [  # read-only on the volume source (it forces every mount of it read-only)
            'kl.apply(api, LLM_SERVER % ("{name: weights, mountPath: /models}", '
            '"{name: weights, persistentVolumeClaim: {claimName: model-weights, readOnly: true}}"), namespace=namespace)',
        ],
        "wrong": [  # the ReadOnlyMany claim mounted without readOnly: the mount is read-write
            'kl.apply(api, LLM_SERVER % ("{name: weights, mountPath: /models}", '
            '"{name: weights, persistentVolumeClaim: {claimName: model-weights}}"), namespace=namespace)',
            # the server's mount read-only, but a second container mounts the claim read-write
            'kl.apply(api, LLM_SERVER.replace("      volumes:", "      - {name: sync, image: busybox:1.36, command: '
            '[sh, -c, \'while true; do sleep 60; done\'], volumeMounts: [{name: weights, mountPath: /models}]}\\n'
            '      volumes:") % ("{name: weights, mountPath: /models, readOnly: true}", '
            '"{name: weights, persistentVolumeClaim: {claimName: model-weights}}"), namespace=namespace)',
            # read-only, but an emptyDir: the weights are not there
            'kl.apply(api, LLM_SERVER % ("{name: weights, mountPath: /models, readOnly: true}", '
            '"{name: weights, emptyDir: {}}"), namespace=namespace)',
        ],
    },
    "04.statefulset-claims": {
        "right": [  # all pods at once, no Service name, each claim as big as a disk
            'kl.apply(api, FEATURE_STORE % ("podManagementPolicy: Parallel", "", '
            '"volumeClaimTemplates: [{metadata: {name: data}, spec: {accessModes: [ReadWriteOnce], '
            'storageClassName: %s-local-ssd, resources: {requests: {storage: 20Gi}}}}]" % namespace), '
            'namespace=namespace)',
        ],
        "wrong": [  # a Deployment sharing one claim: two writers on one disk, no claim per replica
            'kl.apply(api, CLAIM % ("data", "ReadWriteOnce", f"{namespace}-local-ssd", "10Gi"), namespace=namespace)\n'
            'kl.apply(api, (FEATURE_STORE % ("", "volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]", ""))'
            '.replace("StatefulSet", "Deployment"), namespace=namespace)',
            # a StatefulSet whose replicas share one claim
            'kl.apply(api, CLAIM % ("data", "ReadWriteOnce", f"{namespace}-local-ssd", "10Gi"), namespace=namespace)\n'
            'kl.apply(api, FEATURE_STORE % ("", "volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]", ""), '
            'namespace=namespace)',
            # claims bigger than any disk: the scheduler finds no volume to bind
            'kl.apply(api, FEATURE_STORE % ("", "", "volumeClaimTemplates: [{metadata: {name: data}, spec: {accessModes: '
            '[ReadWriteOnce], storageClassName: %s-local-ssd, resources: {requests: {storage: 50Gi}}}}]" % namespace), '
            'namespace=namespace)',
        ],
    },
    "04.init-model": {
        "right": [  # the whole ConfigMap as environment, the server's mount read-only
            'kl.apply(api, SUMMARIZER % ("envFrom: [{configMapRef: {name: summarizer-model}}]\\n        '
            'volumeMounts: [{name: models, mountPath: /models}]", "{name: models, mountPath: /models, readOnly: true}", '
            '"{name: models, emptyDir: {sizeLimit: 10Gi}}"), namespace=namespace)',
        ],
        "wrong": [  # a native sidecar: it keeps running, and the server starts without waiting for the model
            'kl.apply(api, SUMMARIZER % (URI_REF + "\\n        restartPolicy: Always\\n        '
            'volumeMounts: [{name: models, mountPath: /models}]", "{name: models, mountPath: /models}", '
            '"{name: models, emptyDir: {}}"), namespace=namespace)',
            # the server reads another emptyDir than the one the init container fills
            'kl.apply(api, SUMMARIZER % (URI_REF + "\\n        volumeMounts: [{name: staging, mountPath: /models}]", '
            '"{name: models, mountPath: /models}", "{name: models, emptyDir: {}}, {name: staging, emptyDir: {}}"), '
            'namespace=namespace)',
            # the URI copied as a literal: a new model needs a new Deployment
            'kl.apply(api, SUMMARIZER % ("env: [{name: MODEL_URI, value: \\"s3://ml-models/summarizer/3/\\"}]\\n        '
            'volumeMounts: [{name: models, mountPath: /models}]", "{name: models, mountPath: /models}", '
            '"{name: models, emptyDir: {}}"), namespace=namespace)',
        ],
    },
    "04.pending-claim": {
        "right": [  # made again through the client, naming the reserved volume itself
            'core = client.CoreV1Api(api)\n'
            'core.delete_namespaced_persistent_volume_claim("index-data", namespace)\n'
            'kl.wait_for(api, "PersistentVolumeClaim", "index-data", namespace, "delete", timeout=30)\n'
            'core.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": "index-data"}, "spec": {'
            '"accessModes": ["ReadWriteOnce"], "storageClassName": f"{namespace}-standard", '
            '"volumeName": f"{namespace}-std-40gi", "resources": {"requests": {"storage": "30Gi"}}}})',
        ],
        "wrong": [  # the claim swapped for an emptyDir: the pod runs, the index dies with it
            'kl.kubectl(api, "patch", "deployment", "indexer", "-n", namespace, "--type=json", "-p", '
            '\'[{"op": "replace", "path": "/spec/template/spec/volumes/0", "value": {"name": "index", "emptyDir": {}}}]\')',
            # scaled to zero: nothing Pending, nothing running
            'kl.kubectl(api, "scale", "deployment/indexer", "--replicas=0", "-n", namespace)',
            # made again in the right class but bigger than any volume: still Pending
            'kl.kubectl(api, "delete", "pvc", "index-data", "-n", namespace, "--wait=true")\n'
            'kl.apply(api, CLAIM % ("index-data", "ReadWriteOnce", f"{namespace}-standard", "100Gi"), namespace=namespace)',
        ],
    },
}
