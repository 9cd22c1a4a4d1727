"""notebooks/02a-tenancy-security.ipynb.

Cluster-scoped objects that a form makes (ClusterRoles, ClusterRoleBindings) are named `<namespace>-<word>`
and owned by the form's Namespace (`owned`), so the garbage collector deletes them with it: the tests'
clean-up deletes namespaces only."""
import tempfile
from pathlib import Path


def owned(api, namespace):
    """metadata.ownerReferences (as flow YAML) that tie a cluster-scoped object to `namespace`."""
    from kubernetes import client
    uid = client.CoreV1Api(api).read_namespace(namespace).metadata.uid
    return f"[{{apiVersion: v1, kind: Namespace, name: {namespace}, uid: {uid}}}]"


def manifest_file(namespace):
    path = Path(tempfile.gettempdir()) / f"kubelab-{namespace}" / "nightly-embed.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


SA = 'kl.kubectl(api, "create", "serviceaccount", "%s", "-n", namespace)\n'

FEATURE_STORE = '''
apiVersion: apps/v1
kind: Deployment
metadata: {name: feature-store, labels: {app: feature-store}}
spec:
  replicas: %(replicas)s
  selector: {matchLabels: {app: feature-store}}
  template:
    metadata: {labels: {app: feature-store}}
    spec:
      %(pod)s
      containers:
      - name: redis
        image: redis:7.4-alpine
        ports: [{name: redis, containerPort: 6379}]
        resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: 500m, memory: 256Mi}}
        securityContext: %(container)s
'''

CRONJOB = '''
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly-embed
  %(annotations)s
spec:
  schedule: "0 2 * * *"
  startingDeadlineSeconds: 900
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          %(pod_security)s
          containers:
          - name: embed
            image: python:3.12-slim
            imagePullPolicy: Always
            command: ["python", "-m", "embed_documents"]
            securityContext:
              allowPrivilegeEscalation: false
              %(container_security)s
              readOnlyRootFilesystem: %(read_only)s
              capabilities: {drop: [ALL]}
            resources:
              requests: {cpu: "1", memory: 2Gi, ephemeral-storage: 1Gi}
              limits: {cpu: "2", memory: 2Gi, ephemeral-storage: 1Gi}
'''

POD_USER = {"pod_security": "securityContext: {runAsNonRoot: true, runAsUser: 20000, runAsGroup: 20000, "
                            "seccompProfile: {type: RuntimeDefault}}", "container_security": ""}
CONTAINER_USER = {"pod_security": "", "container_security": "runAsNonRoot: true\n              runAsUser: 20000\n"
                  "              runAsGroup: 20000\n              seccompProfile: {type: RuntimeDefault}"}

QUOTA = ('kl.apply(api, """\napiVersion: v1\nkind: ResourceQuota\nmetadata: {name: budget}\nspec:\n  hard: '
         '{%s}\n""", namespace=namespace)\n')
LIMITS = ('kl.apply(api, """\napiVersion: v1\nkind: LimitRange\nmetadata: {name: defaults}\nspec:\n'
          '  limits: [%s]\n""", namespace=namespace)')

FORMS = {
    "02a.least-privilege": {
        "right": [
            # kubectl's own role and binding makers
            SA % "log-shipper" +
            'kl.kubectl(api, "create", "role", "pod-logs", "--verb=get,list,watch", "--resource=pods,pods/log", '
            '"-n", namespace)\n'
            'kl.kubectl(api, "create", "rolebinding", "log-shipper", "--role=pod-logs", '
            '"--serviceaccount=" + namespace + ":log-shipper", "-n", namespace)',
            # a ClusterRole (cluster-scoped, named after the namespace) granted in this namespace only by a RoleBinding
            SA % "log-shipper" +
            'kl.apply(api, f"""\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n'
            'metadata: {{name: {namespace}-pod-logs, ownerReferences: {owned(api, namespace)}}}\n'
            'rules:\n- apiGroups: [""]\n  resources: [pods]\n  verbs: [get, list, watch]\n'
            '- apiGroups: [""]\n  resources: [pods/log]\n  verbs: [get]\n---\n'
            'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: log-shipper}}\n'
            'roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {namespace}-pod-logs}}\n'
            'subjects: [{{kind: ServiceAccount, name: log-shipper}}]\n""", namespace=namespace)',
        ],
        "wrong": [
            # everything in the core group: secrets included
            SA % "log-shipper" +
            'kl.kubectl(api, "create", "role", "all-core", "--verb=*", "--resource=*", "-n", namespace)\n'
            'kl.kubectl(api, "create", "rolebinding", "log-shipper", "--role=all-core", '
            '"--serviceaccount=" + namespace + ":log-shipper", "-n", namespace)',
            # the built-in view: no Secrets, but ConfigMaps and every workload too
            SA % "log-shipper" +
            'kl.kubectl(api, "create", "rolebinding", "log-shipper", "--clusterrole=view", '
            '"--serviceaccount=" + namespace + ":log-shipper", "-n", namespace)',
            # cluster-admin, in this namespace only: still everything here
            SA % "log-shipper" +
            'kl.kubectl(api, "create", "rolebinding", "log-shipper", "--clusterrole=cluster-admin", '
            '"--serviceaccount=" + namespace + ":log-shipper", "-n", namespace)',
            # the right Role, bound to every ServiceAccount of the namespace (a group) instead of log-shipper
            SA % "log-shipper" +
            'kl.kubectl(api, "create", "role", "pod-logs", "--verb=get,list,watch", "--resource=pods,pods/log", '
            '"-n", namespace)\n'
            'kl.kubectl(api, "create", "rolebinding", "all-accounts", "--role=pod-logs", '
            '"--group=system:serviceaccounts:" + namespace, "-n", namespace)',
            # pods but not their logs
            SA % "log-shipper" +
            'kl.kubectl(api, "create", "role", "pods", "--verb=get,list,watch", "--resource=pods", "-n", namespace)\n'
            'kl.kubectl(api, "create", "rolebinding", "log-shipper", "--role=pods", '
            '"--serviceaccount=" + namespace + ":log-shipper", "-n", namespace)',
            # the right rules, bound cluster-wide: every namespace's pods and logs
            SA % "log-shipper" +
            'kl.apply(api, f"""\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n'
            'metadata: {{name: {namespace}-pod-logs, ownerReferences: {owned(api, namespace)}}}\n'
            'rules:\n- apiGroups: [""]\n  resources: [pods, pods/log]\n  verbs: [get, list, watch]\n---\n'
            'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n'
            'metadata: {{name: {namespace}-log-shipper, ownerReferences: {owned(api, namespace)}}}\n'
            'roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {namespace}-pod-logs}}\n'
            'subjects: [{{kind: ServiceAccount, name: log-shipper, namespace: {namespace}}}]\n""")',
        ],
    },
    "02a.rbac-delegate": {
        "right": [
            # one Role from kubectl: explicit verbs over the four resources
            SA % "team-lead" +
            'kl.kubectl(api, "create", "role", "team-lead", "--verb=get,list,watch,create,update,patch,delete", '
            '"--resource=configmaps,services,roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io", '
            '"-n", namespace)\n'
            'kl.kubectl(api, "create", "rolebinding", "team-lead", "--role=team-lead", '
            '"--serviceaccount=" + namespace + ":team-lead", "-n", namespace)',
            # two Roles, both bound to the user name of the ServiceAccount (kind User: the same identity)
            SA % "team-lead" +
            'kl.apply(api, f"""\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n'
            'metadata: {{name: config-editor}}\n'
            'rules:\n- apiGroups: [""]\n  resources: [configmaps, services]\n'
            '  verbs: [get, list, watch, create, update, patch, delete]\n'
            '---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: rbac-editor}}\n'
            'rules:\n- apiGroups: [rbac.authorization.k8s.io]\n  resources: [roles, rolebindings]\n'
            '  verbs: [get, list, watch, create, update, patch, delete, deletecollection]\n'
            + "".join('---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: lead-%s}}\n'
                      'roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: %s}}\n'
                      'subjects: [{{kind: User, apiGroup: rbac.authorization.k8s.io, '
                      'name: "system:serviceaccount:{namespace}:team-lead"}}]\n' % (r, r)
                      for r in ("config-editor", "rbac-editor")) +
            '""", namespace=namespace)',
        ],
        "wrong": [
            # "*" on roles and rolebindings: escalate and bind included, the escalation check skipped
            SA % "team-lead" +
            'kl.apply(api, """\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: team-lead}\n'
            'rules:\n- apiGroups: [""]\n  resources: [configmaps, services]\n  verbs: ["*"]\n'
            '- apiGroups: [rbac.authorization.k8s.io]\n  resources: [roles, rolebindings]\n  verbs: ["*"]\n"""'
            ', namespace=namespace)\n'
            'kl.kubectl(api, "create", "rolebinding", "team-lead", "--role=team-lead", '
            '"--serviceaccount=" + namespace + ":team-lead", "-n", namespace)',
            # the built-in admin: manages roles and bindings, and reads every Secret
            SA % "team-lead" +
            'kl.kubectl(api, "create", "rolebinding", "team-lead", "--clusterrole=admin", '
            '"--serviceaccount=" + namespace + ":team-lead", "-n", namespace)',
            # the right verbs, bound cluster-wide: rolebindings in every namespace
            SA % "team-lead" +
            'kl.apply(api, f"""\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n'
            'metadata: {{name: {namespace}-team-lead, ownerReferences: {owned(api, namespace)}}}\n'
            'rules:\n- apiGroups: [""]\n  resources: [configmaps, services]\n'
            '  verbs: [get, list, watch, create, update, patch, delete]\n'
            '- apiGroups: [rbac.authorization.k8s.io]\n  resources: [roles, rolebindings]\n'
            '  verbs: [get, list, watch, create, update, patch, delete]\n---\n'
            'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n'
            'metadata: {{name: {namespace}-team-lead, ownerReferences: {owned(api, namespace)}}}\n'
            'roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {namespace}-team-lead}}\n'
            'subjects: [{{kind: ServiceAccount, name: team-lead, namespace: {namespace}}}]\n""")',
        ],
    },
    "02a.enforce-restricted": {
        "right": [
            # kubectl label, with the version pinned to this cluster's minor
            'kl.kubectl(api, "label", "namespace", namespace, "--overwrite", '
            '"pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/enforce-version=v1.36")',
            # the Namespace as a manifest, all three modes on restricted
            'kl.apply(api, kl.render("""\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: $ns\n  labels:\n'
            '    pod-security.kubernetes.io/enforce: restricted\n    pod-security.kubernetes.io/audit: restricted\n'
            '    pod-security.kubernetes.io/warn: restricted\n""", ns=namespace))',
        ],
        "wrong": [
            # the docs' example: enforce baseline, only warn and audit restricted (a root pod is admitted)
            'kl.kubectl(api, "label", "namespace", namespace, "--overwrite", '
            '"pod-security.kubernetes.io/enforce=baseline", '
            '"pod-security.kubernetes.io/warn=restricted", "pod-security.kubernetes.io/audit=restricted")',
            # warn and audit restricted, enforce nothing: every pod is admitted, with a warning
            'kl.kubectl(api, "label", "namespace", namespace, "--overwrite", '
            '"pod-security.kubernetes.io/warn=restricted", "pod-security.kubernetes.io/audit=restricted")',
        ],
    },
    "02a.hardened-pod": {
        "right": [
            # pod-level user and seccomp, container-level escalation and capabilities
            'kl.apply(api, FEATURE_STORE % {"replicas": 2, "pod": "securityContext: {runAsNonRoot: true, '
            'runAsUser: 999, '
            'runAsGroup: 1000, seccompProfile: {type: RuntimeDefault}}", '
            '"container": "{allowPrivilegeEscalation: false, '
            'capabilities: {drop: [ALL]}}"}, namespace=namespace + "-secure")',
            # all of it in the container's securityContext, a Localhost seccomp profile, a read-only root file system
            'kl.apply(api, FEATURE_STORE % {"replicas": 2, "pod": "", '
            '"container": "{runAsNonRoot: true, runAsUser: 999, '
            'allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}, '
            'seccompProfile: {type: Localhost, localhostProfile: profiles/redis.json}}"}, '
            'namespace=namespace + "-secure")',
        ],
        "wrong": [
            # the guard rail lowered to baseline: the pods run, as root
            'kl.kubectl(api, "label", "namespace", namespace + "-secure", "--overwrite", '
            '"pod-security.kubernetes.io/enforce=baseline")',
            # non-root alone: restricted still refuses (escalation, capabilities, seccomp)
            'kl.apply(api, FEATURE_STORE % {"replicas": 2, "pod": "", '
            '"container": "{runAsNonRoot: true, runAsUser: 999}"}, '
            'namespace=namespace + "-secure")',
            # admitted here, but no user: a real kubelet refuses runAsNonRoot for an image that starts as root
            'kl.apply(api, FEATURE_STORE % {"replicas": 2, "pod": "", "container": "{runAsNonRoot: true, '
            'allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}"}, '
            'namespace=namespace + "-secure")',
            # a template restricted admits, scaled to zero: nothing refused, nothing running
            'kl.apply(api, FEATURE_STORE % {"replicas": 0, "pod": "securityContext: {runAsNonRoot: true, '
            'runAsUser: 999, '
            'seccompProfile: {type: RuntimeDefault}}", "container": "{allowPrivilegeEscalation: false, '
            'capabilities: {drop: [ALL]}}"}, namespace=namespace + "-secure")',
        ],
    },
    "02a.quota-defaults": {
        "right": [
            # kubectl's quota (cpu and memory are the short names of requests.*); defaults = max (LimitRange defaulting)
            'kl.kubectl(api, "create", "quota", "budget", "--hard=cpu=4,memory=8Gi,limits.cpu=8,limits.memory=16Gi", '
            '"-n", namespace)\n' + LIMITS % "{type: Container, max: {cpu: '1', memory: 1Gi}}",
            # manifests, other units; only default limits: the requests default to them
            QUOTA % 'pods: "30", requests.cpu: 4000m, requests.memory: 8192Mi, limits.cpu: "8", limits.memory: 16Gi' +
            LIMITS % "{type: Container, default: {cpu: 200m, memory: 256Mi}}",
        ],
        "wrong": [
            # the quota alone: a pod without resources is refused ("must specify ...")
            QUOTA % 'requests.cpu: "4", requests.memory: 8Gi, limits.cpu: "8", limits.memory: 16Gi',
            # defaults larger than the whole budget: refused for exceeding the quota
            QUOTA % 'requests.cpu: "4", requests.memory: 8Gi, limits.cpu: "8", limits.memory: 16Gi' +
            LIMITS % "{type: Container, defaultRequest: {cpu: '6', memory: 1Gi}, default: {cpu: '6', memory: 1Gi}}",
            # a request default with no limit default: the limits.* quota still refuses the pod
            QUOTA % 'requests.cpu: "4", requests.memory: 8Gi, limits.cpu: "8", limits.memory: 16Gi' +
            LIMITS % "{type: Container, min: {cpu: 50m, memory: 64Mi}}",
            # a budget ten times the one asked for
            QUOTA % 'requests.cpu: "40", requests.memory: 80Gi, limits.cpu: "80", limits.memory: 160Gi' +
            LIMITS % ("{type: Container, defaultRequest: {cpu: 100m, memory: 128Mi}, "
                      "default: {cpu: 500m, memory: 512Mi}}"),
        ],
    },
    "02a.kube-score": {
        "right": [
            # a clean file, written from Python
            'manifest_file(namespace).write_text(CRONJOB % (POD_USER | {"annotations": "", "read_only": "true"}))',
            # the user on the container, and a second document in the file (the job's ConfigMap)
            'manifest_file(namespace).write_text('
            'CRONJOB % (CONTAINER_USER | {"annotations": "", "read_only": "true"}) + '
            '"---\\napiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: embed-config}\\ndata: {BATCH: \\"64\\"}\\n")',
        ],
        "wrong": [
            # the finding hidden by an annotation instead of fixed
            'manifest_file(namespace).write_text(CRONJOB % (POD_USER | {"annotations": "annotations: '
            '{kube-score/ignore: '
            'container-security-context-readonlyrootfilesystem}", "read_only": "false"}))',
            # a writable root file system: kube-score's CRITICAL finding stays
            'manifest_file(namespace).write_text(CRONJOB % (POD_USER | {"annotations": "", "read_only": "false"}))',
            # a clean file about something else: the CronJob is gone
            'manifest_file(namespace).write_text((CRONJOB % (POD_USER | {"annotations": "", "read_only": "true"}))'
            '.replace("nightly-embed", "other-job"))',
        ],
    },
}
