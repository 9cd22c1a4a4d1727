"""notebooks/01-architecture.ipynb."""
import json

RECOMMENDER = '''
apiVersion: apps/v1
kind: Deployment
metadata: {name: recommender}
spec:
  replicas: 2
  selector: {matchLabels: {app: recommender}}
  template:
    metadata: {labels: {app: recommender}}
    spec:
      containers:
      - name: main
        image: IMAGE
        resources: {requests: {memory: 128Mi, cpu: 100m}}
'''


def facts(api, **wrong):
    """The four facts as kubectl prints them (the other way to read them), some replaced by `wrong`."""
    import kubelab as kl
    version = json.loads(kl.kubectl(api, "version", "-o", "json"))["serverVersion"]["gitVersion"]
    nodes = len(kl.kubectl(api, "get", "nodes", "-o", "name").split())
    holder = lambda name: kl.kubectl(api, "get", "lease", name, "-n", "kube-system",
                                     "-o", "jsonpath={.spec.holderIdentity}")
    out = {"version": version, "nodes": str(nodes), "scheduler": holder("kube-scheduler"),
           "controller-manager": holder("kube-controller-manager")}
    return [f"--from-literal={k}={v}" for k, v in {**out, **wrong}.items()]


def loader(spec: str) -> str:
    return ("apiVersion: v1\nkind: Pod\nmetadata: {name: loader}\nspec:\n" + spec
            + "\n  containers: [{name: load, image: busybox:1.36, command: [sleep, '3600'], "
              "resources: {requests: {cpu: 100m}}}]\n")


FORMS = {
    "01.cluster-facts": {
        "right": [  # read with kubectl, written with kubectl
            'kl.kubectl(api, "create", "configmap", "cluster-facts", *facts(api), "-n", namespace)',
        ],
        "wrong": [  # the Lease's name where its holder belongs
            'kl.kubectl(api, "create", "configmap", "cluster-facts", *facts(api, scheduler="kube-scheduler"), '
            '"-n", namespace)',
            # the GPU nodes counted instead of all nodes
            'kl.kubectl(api, "create", "configmap", "cluster-facts", *facts(api, nodes=str(int((kl.nodes(api)'
            '["gpu_allocatable"] > 0).sum()))), "-n", namespace)',
            # the version without its leading v (as the Python package versions are written)
            'kl.kubectl(api, "create", "configmap", "cluster-facts", *[f.replace("version=v", "version=") '
            'for f in facts(api)], "-n", namespace)',
        ],
    },
    "01.co-locate": {
        "right": [  # required node affinity on the node's name field
            'node = client.CoreV1Api(api).read_namespaced_pod("cache-warmer", namespace).spec.node_name\n'
            'kl.apply(api, loader("  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: '
            '{nodeSelectorTerms: [{matchFields: [{key: metadata.name, operator: In, values: [" + node + "]}]}]}}}"), '
            'namespace=namespace)',
            # pod affinity to the cache-warmer, per node
            'kl.apply(api, loader("  affinity: {podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: '
            '[{labelSelector: {matchLabels: {app: cache-warmer}}, topologyKey: kubernetes.io/hostname}]}}"), '
            'namespace=namespace)',
        ],
        "wrong": [  # spec.nodeName written by hand: on the right node, but the scheduler never saw it
            'node = client.CoreV1Api(api).read_namespaced_pod("cache-warmer", namespace).spec.node_name\n'
            'kl.apply(api, loader("  nodeName: " + node + "\\n  nodeSelector: {kubernetes.io/hostname: " + node + "}"), '
            'namespace=namespace)',
            # a preferred affinity: a wish the scheduler may ignore
            'kl.apply(api, loader("  affinity: {podAffinity: {preferredDuringSchedulingIgnoredDuringExecution: '
            '[{weight: 100, podAffinityTerm: {labelSelector: {matchLabels: {app: cache-warmer}}, '
            'topologyKey: kubernetes.io/hostname}}]}}"), namespace=namespace)',
        ],
    },
    "01.unschedulable": {
        "right": [  # a strategic-merge patch of the requests, through the client
            'client.AppsV1Api(api).patch_namespaced_deployment("feature-prep", namespace, {"spec": {"template": '
            '{"spec": {"containers": [{"name": "main", "resources": {"requests": {"cpu": "3", "memory": "4Gi"}}}]}}}})',
        ],
        "wrong": [  # tolerate the GPU taint: the 24 CPUs fit there, on nodes meant for GPU jobs
            'client.AppsV1Api(api).patch_namespaced_deployment("feature-prep", namespace, {"spec": {"template": '
            '{"spec": {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}}}})',
            # drop the requests: it schedules, as a pod the scheduler knows nothing about
            'kl.kubectl(api, "set", "resources", "deployment/feature-prep", "--requests=cpu=0,memory=0", "-n", namespace)',
            # scale to zero: nothing pends, nothing runs
            'kl.kubectl(api, "scale", "deployment/feature-prep", "--replicas=0", "-n", namespace)',
        ],
    },
    "01.adopt": {
        "right": [  # the template copied from the ReplicaSet itself (without pod-template-hash)
            'rs = client.AppsV1Api(api).list_namespaced_replica_set(namespace, label_selector="app=recommender").items[0]\n'
            'template = client.ApiClient().sanitize_for_serialization(rs.spec.template)\n'
            'template["metadata"]["labels"].pop("pod-template-hash")\n'
            'client.AppsV1Api(api).create_namespaced_deployment(namespace, {"metadata": {"name": "recommender"}, '
            '"spec": {"replicas": 2, "selector": {"matchLabels": {"app": "recommender"}}, "template": template}})',
        ],
        "wrong": [  # kubectl create deployment: the same image, but a container named nginx and no requests
            'kl.kubectl(api, "create", "deployment", "recommender", "--image=nginx:1.27-alpine", "--replicas=2", '
            '"-n", namespace)',
            # the same manifest with a newer image: a rollout replaces every pod
            'kl.apply(api, RECOMMENDER.replace("IMAGE", "nginx:1.28-alpine"), namespace=namespace)',
        ],
    },
    "01.orphan": {
        "right": [  # the client's delete with the Orphan propagation policy
            'client.AppsV1Api(api).delete_namespaced_deployment("legacy-scorer", namespace, '
            'body=client.V1DeleteOptions(propagation_policy="Orphan"))',
        ],
        "wrong": [  # a plain delete: the garbage collector takes ReplicaSet and pods too
            'kl.kubectl(api, "delete", "deployment", "legacy-scorer", "-n", namespace)',
            # foreground: the pods go first, then the Deployment
            'kl.kubectl(api, "delete", "deployment", "legacy-scorer", "--cascade=foreground", "-n", namespace)',
        ],
    },
}
