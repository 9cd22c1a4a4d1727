"""notebooks/00-start-here.ipynb."""
# The API's count of GPU nodes, as a learner could compute it in a few lines (the column of kl.nodes)
COUNT = 'n = int((kl.nodes(api)["gpu_allocatable"] > 0).sum())\n'

FORMS = {
    "00.label-namespace": {
        "right": [  # the client: a merge patch of the Namespace's labels
            'client.CoreV1Api(api).patch_namespace(namespace, {"metadata": {"labels": {"team": "fine-tuning"}}})',
            # kubectl with --overwrite, after another value
            'kl.kubectl(api, "label", "namespace", namespace, "team=ml")\n'
            'kl.kubectl(api, "label", "namespace", namespace, "team=fine-tuning", "--overwrite")',
        ],
        "wrong": [  # the look-alike: an annotation holds the same words where no selector looks
            'kl.kubectl(api, "annotate", "namespace", namespace, "team=fine-tuning")',
            # a value spelt differently: selectors compare exactly
            'kl.kubectl(api, "label", "namespace", namespace, "team=fine_tuning")',
        ],
    },
    "00.configmap-kubectl": {
        "right": [  # kubectl writes the manifest (--dry-run=client -o yaml), kubectl apply -f - sends it
            'cm = kl.kubectl(api, "create", "configmap", "trainer-settings", "--from-literal=EPOCHS=3",\n'
            '                "--from-literal=LEARNING_RATE=0.001", "--dry-run=client", "-o", "yaml")\n'
            'kl.kubectl(api, "apply", "-f", "-", "-n", namespace, input=cm)',
            # a manifest, values quoted (ConfigMap values are strings)
            'kl.apply(api, """\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: trainer-settings}\n'
            'data: {EPOCHS: "3", LEARNING_RATE: "0.001"}\n""", namespace=namespace)',
        ],
        "wrong": [  # both pairs in one --from-literal: one key EPOCHS whose value is "3,LEARNING_RATE=0.001"
            'kl.kubectl(api, "create", "configmap", "trainer-settings", "--from-literal=EPOCHS=3,LEARNING_RATE=0.001",\n'
            '           "-n", namespace)',
            # a Secret of that name: the settings are not secret, and the trainer reads a ConfigMap
            'kl.kubectl(api, "create", "secret", "generic", "trainer-settings", "--from-literal=EPOCHS=3",\n'
            '           "--from-literal=LEARNING_RATE=0.001", "-n", namespace)',
        ],
    },
    "00.count-gpu-nodes": {
        "right": [  # kubectl's label selector (GPU Feature Discovery labels every GPU node), written by the client
            'n = len(kl.kubectl(api, "get", "nodes", "-l", "nvidia.com/gpu.present=true", "-o", "name").split())\n'
            'client.CoreV1Api(api).create_namespaced_config_map(namespace, {"metadata": {"name": "answers"},\n'
            '                                                                "data": {"gpu-nodes": str(n)}})',
        ],
        "wrong": [  # every node, CPU nodes included
            'n = len(client.CoreV1Api(api).list_node().items)\n'
            'kl.kubectl(api, "create", "configmap", "answers", f"--from-literal=gpu-nodes={n}", "-n", namespace)',
            # the GPUs, not the nodes
            'n = int(kl.nodes(api)["gpu_allocatable"].sum())\n'
            'kl.kubectl(api, "create", "configmap", "answers", f"--from-literal=gpu-nodes={n}", "-n", namespace)',
            # the GPU pools, not the nodes
            'n = kl.nodes(api).query("gpu_allocatable > 0")["pool"].nunique()\n'
            'kl.kubectl(api, "create", "configmap", "answers", f"--from-literal=gpu-nodes={n}", "-n", namespace)',
            # the right number in words: the check reads a number
            COUNT + 'kl.kubectl(api, "create", "configmap", "answers", f"--from-literal=gpu-nodes={n} nodes", "-n", namespace)',
        ],
    },
    "00.self-healing": {
        "right": [  # every pod at once, by label: the ReplicaSet replaces both
            'kl.kubectl(api, "delete", "pod", "-l", "app=echo", "-n", namespace)',
            # one pod through the client, not waiting for it to go
            'core = client.CoreV1Api(api)\n'
            'first = core.list_namespaced_pod(namespace, label_selector="app=echo").items[0].metadata.name\n'
            'core.delete_namespaced_pod(first, namespace)',
        ],
        "wrong": [  # a restart: new pods, but from a new ReplicaSet (a rollout, not a replacement)
            'kl.kubectl(api, "rollout", "restart", "deployment/echo", "-n", namespace)\n'
            'kl.rollout(api, "Deployment", "echo", namespace, progress=False)',
            # the Deployment deleted and made again: nothing was healed, it was rebuilt
            'kl.kubectl(api, "delete", "deployment", "echo", "-n", namespace, "--wait=true")\n'
            'kl.kubectl(api, "create", "deployment", "echo", "--image=nginx:1.27-alpine", "--replicas=2", "-n", namespace)',
            # one pod fewer: nothing comes back when the Deployment asks for fewer
            'kl.kubectl(api, "scale", "deployment/echo", "--replicas=1", "-n", namespace)',
        ],
    },
    "00.pod-node": {
        "right": [  # the client: read spec.nodeName, patch the label
            'core = client.CoreV1Api(api)\n'
            'node = core.read_namespaced_pod("sampler", namespace).spec.node_name\n'
            'core.patch_namespaced_pod("sampler", namespace, {"metadata": {"labels": {"node": node}}})',
            # kubectl's jsonpath, then kubectl label
            'node = kl.kubectl(api, "get", "pod", "sampler", "-n", namespace, "-o", "jsonpath={.spec.nodeName}")\n'
            'kl.kubectl(api, "label", "pod", "sampler", f"node={node}", "-n", namespace)',
        ],
        "wrong": [  # a guess: a GPU node, where an untolerating pod never lands (the nodes carry a NoSchedule taint)
            'gpu = kl.nodes(api).query("gpu_allocatable > 0")["node"].iloc[0]\n'
            'kl.kubectl(api, "label", "pod", "sampler", f"node={gpu}", "-n", namespace)',
            # the right node, as an annotation
            'node = kl.kubectl(api, "get", "pod", "sampler", "-n", namespace, "-o", "jsonpath={.spec.nodeName}")\n'
            'kl.kubectl(api, "annotate", "pod", "sampler", f"node={node}", "-n", namespace)',
        ],
    },
}
