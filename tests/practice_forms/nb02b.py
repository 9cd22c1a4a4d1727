"""notebooks/02b-workload-reliability.ipynb."""
SHARD_FETCH = '''
apiVersion: batch/v1
kind: Job
metadata: {name: shard-fetch}
spec:
  %s
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: fetch
        image: curlimages/curl:8.11.1
        command: [curl, -fsS, -o, /data/0042.tar, "http://shard-store/shards/0042.tar"]
        volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, emptyDir: {}}]
'''

EMBED = '''
apiVersion: batch/v1
kind: Job
metadata: {name: embed-shards}
spec:
  %s
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: embed
        image: python:3.12-slim
        command: [python, -c, "import os; print('embedding shard', os.environ.get('JOB_COMPLETION_INDEX'))"]
'''

REFRESH = '''
apiVersion: batch/v1
kind: CronJob
metadata: {name: feature-refresh}
spec:
  schedule: "0 * * * *"
  %s
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: refresh
            image: python:3.12-slim
            command: [python, -c, "print('refreshing the feature store')"]
'''

HPA = '''
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: summarizer}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %s}
  minReplicas: 2
  maxReplicas: 6
  metrics:
  - type: Resource
    resource: {name: %s, target: {type: Utilization, averageUtilization: 70}}
'''

PDB = '''
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: embedding-model}
spec:
  %s
  selector: {matchLabels: {app: %s}}
'''

SCORE = '''
apiVersion: batch/v1
kind: Job
metadata: {name: batch-score}
spec:
  template:
    spec:
      restartPolicy: Never
      volumes: [{name: logs, emptyDir: {}}]
      %s:
      - name: log-shipper
        image: busybox:1.36
        command: [sh, -c, "tail -F /logs/score.log"]
        %s
      containers:
      - name: scorer
        image: python:3.12-slim
        command: [python, -c, "open('/logs/score.log', 'w').write('scored 10000 rows')"]
        volumeMounts: [{name: logs, mountPath: /logs}]
'''
LOGS = "volumeMounts: [{name: logs, mountPath: /logs}]"

FORMS = {
    "02b.readiness-probe": {
        "right": [  # a tcpSocket probe on the port's number, as a strategic-merge patch
            'kl.kubectl(api, "patch", "deployment", "reranker", "-n", namespace, "-p", '
            '\'{"spec":{"template":{"spec":{"containers":[{"name":"server","readinessProbe":'
            '{"httpGet":null,"tcpSocket":{"port":80},"periodSeconds":2}}]}}}}\')',
        ],
        "wrong": [  # the symptom hidden: the probe removed, so every pod counts as ready at once
            'kl.kubectl(api, "patch", "deployment", "reranker", "-n", namespace, "--type", "json", "-p", '
            '\'[{"op":"remove","path":"/spec/template/spec/containers/0/readinessProbe"}]\')',
            # a look-alike: the right port, but as a liveness probe (it restarts; it does not hold traffic back)
            'kl.kubectl(api, "patch", "deployment", "reranker", "-n", namespace, "--type", "json", "-p", '
            '\'[{"op":"remove","path":"/spec/template/spec/containers/0/readinessProbe"},'
            '{"op":"add","path":"/spec/template/spec/containers/0/livenessProbe","value":'
            '{"httpGet":{"path":"/","port":"http"}}}]\')',
            # another wrong port: the probe moved, still where nothing listens
            'kl.kubectl(api, "patch", "deployment", "reranker", "-n", namespace, "--type", "json", "-p", '
            '\'[{"op":"replace","path":"/spec/template/spec/containers/0/readinessProbe/httpGet/port",'
            '"value":443}]\')',
            # a probe that asks nothing: exec `true` always passes
            'kl.kubectl(api, "patch", "deployment", "reranker", "-n", namespace, "--type", "json", "-p", '
            '\'[{"op":"replace","path":"/spec/template/spec/containers/0/readinessProbe",'
            '"value":{"exec":{"command":["true"]}}}]\')',
        ],
    },
    "02b.startup-probe": {
        "right": [  # the older way: a liveness probe that waits out the load (20 + 2 x 2 = 24 s >= 10 s)
            'kl.kubectl(api, "patch", "deployment", "chat-llm", "-n", namespace, "--type", "json", "-p", '
            '\'[{"op":"replace","path":"/spec/template/spec/containers/0/livenessProbe/initialDelaySeconds","value":20}]\')',
            # a tcpSocket startup probe on the port's number, 20 s allowed (strategic-merge patch)
            'kl.kubectl(api, "patch", "deployment", "chat-llm", "-n", namespace, "-p", '
            '\'{"spec":{"template":{"spec":{"containers":[{"name":"server","startupProbe":'
            '{"tcpSocket":{"port":8000},"periodSeconds":2,"failureThreshold":10}}]}}}}\')',
        ],
        "wrong": [  # the symptom hidden: no liveness probe, so nothing kills it (nor a hung server later)
            'kl.kubectl(api, "patch", "deployment", "chat-llm", "-n", namespace, "--type", "json", "-p", '
            '\'[{"op":"remove","path":"/spec/template/spec/containers/0/livenessProbe"}]\')',
            # a liveness probe that asks nothing: exec `true` always passes
            'kl.kubectl(api, "patch", "deployment", "chat-llm", "-n", namespace, "--type", "json", "-p", '
            '\'[{"op":"replace","path":"/spec/template/spec/containers/0/livenessProbe","value":{"exec":{"command":["true"]}}}]\')',
            # a smaller model that loads in time: not the model the team serves
            'kl.kubectl(api, "patch", "deployment", "chat-llm", "-n", namespace, "--type", "json", "-p", '
            '\'[{"op":"replace","path":"/spec/template/spec/containers/0/args","value":["--model","facebook/opt-125m"]}]\')',
            # a startup probe too short for the load (1 x 3 = 3 s < 10 s): killed by it instead
            'kl.kubectl(api, "patch", "deployment", "chat-llm", "-n", namespace, "--type", "json", "-p", '
            '\'[{"op":"add","path":"/spec/template/spec/containers/0/startupProbe","value":{"httpGet":{"path":"/health","port":"http"},"periodSeconds":1,"failureThreshold":3}}]\')',
            # a startup probe long enough, on a port the server does not listen on: it never passes
            'kl.kubectl(api, "patch", "deployment", "chat-llm", "-n", namespace, "--type", "json", "-p", '
            '\'[{"op":"add","path":"/spec/template/spec/containers/0/startupProbe","value":{"httpGet":{"path":"/health","port":8080},"periodSeconds":2,"failureThreshold":30}}]\')',
        ],
    },
    "02b.job-failure-policy": {
        "right": [  # no containerName (any container), a DisruptionTarget rule first, the default backoffLimit
            'kl.apply(api, SHARD_FETCH % """podFailurePolicy:\n    rules:\n    - action: Ignore\n'
            '      onPodConditions: [{type: DisruptionTarget}]\n    - action: FailJob\n'
            '      onExitCodes: {operator: In, values: [6, 22]}""", namespace=namespace)',
        ],
        "wrong": [  # fails fast, but on everything: no retries (backoffLimit 0, no policy)
            'kl.apply(api, SHARD_FETCH % "backoffLimit: 0", namespace=namespace)',
            # a policy that fails the Job on every non-zero exit code: 7 would not be retried either
            'kl.apply(api, SHARD_FETCH % """podFailurePolicy:\n    rules:\n    - action: FailJob\n'
            '      onExitCodes: {containerName: fetch, operator: NotIn, values: [0]}""", namespace=namespace)',
            # the documentation's exit code, not curl's: 22 is retried six times
            'kl.apply(api, SHARD_FETCH % """podFailurePolicy:\n    rules:\n    - action: FailJob\n'
            '      onExitCodes: {containerName: fetch, operator: In, values: [42]}""", namespace=namespace)',
        ],
    },
    "02b.indexed-job": {
        "right": [  # the same Job as a client call
            'client.BatchV1Api(api).create_namespaced_job(namespace, {"apiVersion": "batch/v1", "kind": "Job",\n'
            '    "metadata": {"name": "embed-shards"}, "spec": {"completions": 4, "parallelism": 2,\n'
            '    "completionMode": "Indexed", "template": {"spec": {"restartPolicy": "Never", "containers": [\n'
            '    {"name": "embed", "image": "python:3.12-slim", "command": ["python", "-c", "print(1)"]}]}}}})',
        ],
        "wrong": [  # four completions, two at a time, but no index: the pods cannot tell their shards apart
            'kl.apply(api, EMBED % "completions: 4\\n  parallelism: 2", namespace=namespace)',
            # indexed, but all four at once
            'kl.apply(api, EMBED % "completions: 4\\n  parallelism: 4\\n  completionMode: Indexed", '
            'namespace=namespace)',
        ],
    },
    "02b.cronjob-forbid": {
        "right": [  # kubectl create, then a patch; the manual run
            'kl.kubectl(api, "create", "cronjob", "feature-refresh", "--image=python:3.12-slim", "--schedule=0 * * * *",'
            ' "-n", namespace, "--", "python", "-c", "print(1)")\n'
            'kl.kubectl(api, "patch", "cronjob", "feature-refresh", "-n", namespace, "-p", '
            '\'{"spec":{"concurrencyPolicy":"Forbid","successfulJobsHistoryLimit":5}}\')\n'
            'kl.kubectl(api, "create", "job", "--from=cronjob/feature-refresh", "refresh-now", "-n", namespace)',
        ],
        "wrong": [  # a look-alike: Replace also avoids two runs at once, by killing the one that runs
            'kl.apply(api, REFRESH % "concurrencyPolicy: Replace\\n  successfulJobsHistoryLimit: 5", '
            'namespace=namespace)\n'
            'kl.kubectl(api, "create", "job", "--from=cronjob/feature-refresh", "refresh-now", "-n", namespace)',
            # right policy, never run: nothing shows that the template works
            'kl.apply(api, REFRESH % "concurrencyPolicy: Forbid\\n  successfulJobsHistoryLimit: 5", '
            'namespace=namespace)',
        ],
    },
    "02b.hpa-cpu": {
        "right": [  # kubectl autoscale (an autoscaling/v2 object), the 1.36 flag
            'kl.kubectl(api, "autoscale", "deployment", "summarizer", "--min=2", "--max=6", "--cpu=70%", '
            '"-n", namespace)',
            # autoscaling/v1, still served: read as v2 it is the same object
            'kl.apply(api, """\napiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\n'
            'metadata: {name: summarizer-hpa}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, '
            'name: summarizer}\n  minReplicas: 2\n  maxReplicas: 6\n  targetCPUUtilizationPercentage: 70\n""", '
            'namespace=namespace)',
        ],
        "wrong": [  # no target given: kubectl's default policy (80 % CPU)
            'kl.kubectl(api, "autoscale", "deployment", "summarizer", "--min=2", "--max=6", "-n", namespace)',
            # a look-alike: the same bounds on memory
            'kl.apply(api, HPA % ("summarizer", "memory"), namespace=namespace)',
            # a typo in the target: the controller cannot read its scale (AbleToScale False)
            'kl.apply(api, HPA % ("summarizr", "cpu"), namespace=namespace)',
            # the symptom hidden: scaled by hand, no autoscaler
            'kl.kubectl(api, "scale", "deployment", "summarizer", "--replicas=2", "-n", namespace)',
        ],
    },
    "02b.pdb-drain": {
        "right": [  # maxUnavailable: the same budget for 3 replicas
            'kl.apply(api, PDB % ("maxUnavailable: 1", "embedding-model"), namespace=namespace)',
            # kubectl create
            'kl.kubectl(api, "create", "poddisruptionbudget", "keep-two", "--selector=app=embedding-model", '
            '"--min-available=2", "-n", namespace)',
        ],
        "wrong": [  # a budget that allows every pod to go at once
            'kl.apply(api, PDB % ("maxUnavailable: 100%", "embedding-model"), namespace=namespace)',
            # one that allows none: every drain waits for ever
            'kl.apply(api, PDB % ("minAvailable: 3", "embedding-model"), namespace=namespace)',
            # a selector that matches no pod: nothing is protected
            'kl.apply(api, PDB % ("minAvailable: 2", "embedding"), namespace=namespace)',
        ],
    },
    "02b.native-sidecar": {
        "right": [  # the sidecar declared after a regular init step, mounting the log folder read-only
            'kl.apply(api, """\napiVersion: batch/v1\nkind: Job\nmetadata: {name: batch-score}\nspec:\n  template:\n'
            '    spec:\n      restartPolicy: Never\n      volumes: [{name: logs, emptyDir: {}}]\n      initContainers:\n'
            '      - {name: prepare, image: "busybox:1.36", command: [sh, -c, "touch /logs/score.log"],\n'
            '         volumeMounts: [{name: logs, mountPath: /logs}]}\n'
            '      - {name: shipper, image: "busybox:1.36", restartPolicy: Always, command: [sh, -c, "tail -F /logs/score.log"],\n'
            '         volumeMounts: [{name: logs, mountPath: /logs, readOnly: true}]}\n      containers:\n'
            '      - {name: scorer, image: "python:3.12-slim", command: [python, -c, "print(1)"],\n'
            '         volumeMounts: [{name: logs, mountPath: /logs}]}\n""", namespace=namespace)',
        ],
        "wrong": [  # a plain init container: `tail -F` never ends, so the scorer would never start
            'kl.apply(api, SCORE % ("initContainers", LOGS), namespace=namespace)',
            # a sidecar that reads nothing the scorer writes (no shared volume)
            'kl.apply(api, SCORE % ("initContainers", "restartPolicy: Always"), namespace=namespace)',
            # the shipper as a second regular container: on a real node the Job never completes
            'kl.apply(api, """\napiVersion: batch/v1\nkind: Job\nmetadata: {name: batch-score}\nspec:\n  template:\n'
            '    spec:\n      restartPolicy: Never\n      volumes: [{name: logs, emptyDir: {}}]\n      containers:\n'
            '      - {name: scorer, image: "python:3.12-slim", command: [python, -c, "print(1)"],\n'
            '         volumeMounts: [{name: logs, mountPath: /logs}]}\n'
            '      - {name: log-shipper, image: "busybox:1.36", command: [sh, -c, "tail -F /logs/score.log"],\n'
            '         volumeMounts: [{name: logs, mountPath: /logs}]}\n""", namespace=namespace)',
        ],
    },
}
