"""A sidecar that watches ConfigMaps through the API with a ServiceAccount that may not: it crashes with
the API server's forbidden message."""
from ..._k8s.apierrors import call
from ...errors import CheckFailed, Forbidden
from ...grading import rbac
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..scenario_registry import register

__all__ = ["RbacWatcher"]

ACCOUNT = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: config-watcher}
---
"""
ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: config-watcher}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: config-watcher}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: config-watcher}
subjects:
- {kind: ServiceAccount, name: config-watcher, namespace: $namespace}
---
"""
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: model-config-sync}
spec:
  replicas: 1
  selector: {matchLabels: {app: model-config-sync}}
  template:
    metadata: {labels: {app: model-config-sync}}
    spec:
      serviceAccountName: config-watcher
      containers:
      - name: sidecar
        image: kiwigrid/k8s-sidecar:1.30.0
        env:
        - {name: LABEL, value: model-config}
        - {name: FOLDER, value: /etc/models}
        - {name: RESOURCE, value: configmap}
        - {name: NAMESPACE, value: $namespace}
        volumeMounts:
        - {name: models, mountPath: /etc/models}
      volumes:
      - {name: models, emptyDir: {}}
"""
ADMIN_LABEL = "kubelab.io/exam-namespace"


def NEEDED(ns):   # what the sidecar does (k8s-sidecar lists and watches ConfigMaps of its namespace)
    return (("list", "configmaps", ns), ("watch", "configmaps", ns))


def BEYOND(ns):   # "nothing else": every other verb on ConfigMaps, and the neighbours a broad grant reaches
    return (*((v, "configmaps", ns) for v in ("create", "update", "patch", "delete", "deletecollection")),
            ("get", "secrets", ns), ("list", "secrets", ns), ("list", "pods", ns), ("create", "pods", ns),
            ("list", "deployments.apps", ns), ("create", "serviceaccounts/token", ns),
            ("list", "configmaps", "kube-system"), ("list", "configmaps", ""))


def _allowed(check, api, verb, resource, namespace, user) -> bool:
    try:
        check(api, verb, resource, namespace, as_user=user, timeout=0)
        return True
    except CheckFailed:
        return False


@register
class RbacWatcher(DeploymentScenario):
    name = "rbac-forbidden"
    title = "The model-config sidecar crashes: its ServiceAccount may not watch ConfigMaps"
    category = "rbac"
    difficulty = 2
    ticket = ("`model-config-sync` (a k8s-sidecar that copies our model configs out of ConfigMaps) crashes "
              "right after start. Security review: it must be able to read ConfigMaps in this namespace, and "
              "nothing else.")
    evidence = ("forbidden", "cannot list resource \"configmaps\"", "CrashLoopBackOff", "serviceAccountName",
                "spec.template.spec.serviceAccountName")
    cause = ("the sidecar lists and watches ConfigMaps as ServiceAccount config-watcher, which has no Role: the "
             "API server answers 403 forbidden and the sidecar exits")
    fix = ("a Role allowing get/list/watch on configmaps in the namespace, bound to config-watcher by a "
           "RoleBinding")
    deployment = "model-config-sync"
    check_timeout = 30.0
    manifests = ACCOUNT + DEPLOYMENT
    fixed = ACCOUNT + ROLE + DEPLOYMENT
    own_wrong = {"cluster-admin": "cluster-admin heals the sidecar and lets it (and anyone with its token) do "
                                  "anything in the cluster",
                 "wildcard-role": "a Role of * verbs on * resources lets the sidecar read every Secret of the "
                                  "namespace",
                 "edit-role": "the built-in `edit` ClusterRole bound in the namespace lets it write ConfigMaps, "
                              "read Secrets and run pods",
                 "write-verbs": "get/list/watch plus create/update/delete on configmaps: it may rewrite the model "
                                "configs it should only read",
                 "other-account": "running the sidecar as another ServiceAccount that happens to have rights "
                                  "moves the problem instead of scoping it"}
    alternatives = {"clusterrole-in-namespace": "a ClusterRole with get/list/watch on configmaps, bound by a "
                                                "RoleBinding in the namespace (Kubernetes' RBAC docs: a RoleBinding "
                                                "may reference a ClusterRole and grants it in its namespace only)"}

    def alt_clusterrole_in_namespace(self, api, namespace):
        from ... import manifests
        role = f"{namespace}-configmap-reader"   # cluster-scoped: <namespace>-<word>
        manifests.apply(api, f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {role}
  labels: {{{ADMIN_LABEL}: {namespace}}}
rules:
- {{apiGroups: [""], resources: [configmaps], verbs: [get, list, watch]}}
""")
        manifests.apply(api, f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: config-watcher-reads-configmaps}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}
subjects:
- {{kind: ServiceAccount, name: config-watcher, namespace: {namespace}}}
""", namespace=namespace)

    def cleanup(self, api, namespace):
        from kubernetes import client
        try:   # the cluster-admin binding of a wrong repair
            call(client.RbacAuthorizationV1Api(api).delete_collection_cluster_role_binding,
                 label_selector=f"{ADMIN_LABEL}={namespace}")
        except Forbidden:   # a learner may not make one, so never made one
            pass
        from ... import manifests
        from ...errors import KubelabError
        try:   # the ClusterRole of the alternative repair, by its name (a label is anyone's to copy)
            manifests.delete(api, [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                                    "metadata": {"name": f"{namespace}-configmap-reader"}}])
        except KubelabError:   # refused: a learner's sandbox made none
            pass

    def more_state(self, api, namespace):
        user = f"system:serviceaccount:{namespace}:config-watcher"
        return {"may": {(verb, res, ns): _allowed(rbac.can, api, verb, res, ns, user)
                        for verb, res, ns in (*NEEDED(namespace), *BEYOND(namespace))}}

    def guard_parts(self, namespace):
        def beyond(s):
            return [f"{v} {r}" + (f" in {n}" if n != namespace else "") for v, r, n in BEYOND(namespace) if s.may[(v, r, n)]]
        def own_account(s):
            return s.deployment["spec"]["template"]["spec"].get("serviceAccountName") == "config-watcher"
        return [Part(own_account, "the sidecar no longer runs as ServiceAccount config-watcher",
                     "grant config-watcher what it needs; keep the workload on its own account"),
                Part(lambda s: not beyond(s), lambda s: "config-watcher may do more than read ConfigMaps here: "
                     + ", ".join(beyond(s)), "grant configmaps get/list/watch in this namespace only (a Role)")]

    def live_parts(self, namespace):
        return [Part(lambda s: all(s.may[n] for n in NEEDED(namespace)),
                     "config-watcher may not list and watch ConfigMaps in this namespace",
                     "a Role with get/list/watch on configmaps and a RoleBinding to the ServiceAccount")]

    def wrong_cluster_admin(self, api, namespace):
        from ... import manifests
        manifests.apply(api, f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: exam-{namespace}-config-watcher-admin
  labels: {{{ADMIN_LABEL}: {namespace}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}
subjects:
- {{kind: ServiceAccount, name: config-watcher, namespace: {namespace}}}
""")

    def wrong_wildcard_role(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.render(ROLE, namespace).replace("resources: [configmaps], verbs: [get, list, watch]",
                                                                  'resources: ["*"], verbs: ["*"]'),
                        namespace=namespace)

    def wrong_other_account(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.render(self.manifests, namespace).replace("serviceAccountName: config-watcher",
                                                                            "serviceAccountName: default"),
                        namespace=namespace)
        manifests.apply(api, self.render(ROLE, namespace).replace("name: config-watcher, namespace",
                                                                  "name: default, namespace"), namespace=namespace)

    def wrong_edit_role(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.render(ROLE, namespace).split("---", 1)[1].replace(
            "kind: Role, name: config-watcher", "kind: ClusterRole, name: edit"), namespace=namespace)

    def wrong_write_verbs(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.render(ROLE, namespace).replace(
            "verbs: [get, list, watch]", "verbs: [get, list, watch, create, update, delete]"), namespace=namespace)
