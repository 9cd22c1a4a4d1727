"""The symptom-hiding repairs that a repair check must reject, as code: the exam's tests apply each to its
scenario and expect the check to fail, and an instructor can rehearse them (`kubelab exam check`).

Generic ones act on a scenario's workload (kind, name): delete it, scale it to zero (a Job: suspend it),
delete its pods, and `beside` (a fixed copy next to the broken object). A scenario's own ones (remove the
probe, the limit, the quota ...) are its `wrong_<name>` methods."""
from __future__ import annotations

import yaml

from .. import manifests, tools

__all__ = ["GENERIC", "beside", "delete_pods", "delete_workload", "patch", "replace_workload", "scale_to_zero"]


def delete_workload(api, namespace: str, kind: str, name: str) -> None:
    tools.kubectl(api, "delete", kind, name, "-n", namespace, "--wait=false")


def scale_to_zero(api, namespace: str, kind: str, name: str) -> None:
    if kind.lower() == "job":
        patch(api, namespace, "job", name, {"spec": {"suspend": True}})
    else:
        tools.kubectl(api, "scale", kind, name, "--replicas=0", "-n", namespace)


def delete_pods(api, namespace: str, kind: str, name: str) -> None:
    """Delete the workload's pods (those its selector matches; a Job's by job-name), none of the others."""
    import json
    if kind.lower() == "job":
        selector = f"job-name={name}"
    else:
        labels = json.loads(tools.kubectl(api, "get", kind, name, "-n", namespace, "-o",
                                          "jsonpath={.spec.selector.matchLabels}") or "{}")
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
    tools.kubectl(api, "delete", "pods", "-l", selector, "-n", namespace, "--grace-period=0", "--force", "--wait=false")


def patch(api, namespace: str, kind: str, name: str, body: dict | list, kind_of_patch: str = "merge") -> None:
    import json
    tools.kubectl(api, "patch", kind, name, "-n", namespace, "--type", kind_of_patch, "-p", json.dumps(body))


def beside(api, namespace: str, fixed_yaml: str, kind: str, name: str, new_name: str | None = None) -> None:
    """Apply the `kind` object named `name` of `fixed_yaml` under a new name (its `name` labels renamed
    too): a working copy beside the broken object, which stays broken."""
    new_name = new_name or f"{name}-v2"
    for doc in yaml.safe_load_all(fixed_yaml):
        if doc and doc.get("kind", "").lower() == kind.lower() and doc["metadata"]["name"] == name:
            text = yaml.safe_dump(doc).replace(f": {name}\n", f": {new_name}\n")
            manifests.apply(api, text, namespace=namespace)
            return
    raise ValueError(f"no {kind} {name} in the fixed manifests")


def replace_workload(api, namespace: str, kind: str, name: str) -> None:
    """Delete the workload and create another of the same name, kind and container names that runs busybox
    (it sleeps; a Job's ends at once): it runs and succeeds, but it is not the program the ticket is about."""
    import json
    live = json.loads(tools.kubectl(api, "get", kind, name, "-n", namespace, "-o", "json"))
    tools.kubectl(api, "delete", kind, name, "-n", namespace, "--wait=true", "--cascade=foreground")
    job = live["kind"] == "Job"
    containers = [{"name": c["name"], "image": "busybox:1.36", "command": ["true"] if job else ["sleep", "3600"]}
                  for c in live["spec"]["template"]["spec"]["containers"]]
    if job:
        spec = {"template": {"spec": {"restartPolicy": "Never", "containers": containers}}}
    else:
        labels = live["spec"]["selector"]["matchLabels"]
        spec = {"replicas": live["spec"].get("replicas", 1), "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}}}
    manifests.apply(api, {"apiVersion": live["apiVersion"], "kind": live["kind"], "metadata": {"name": name},
                          "spec": spec}, namespace=namespace)


GENERIC = {"delete-workload": delete_workload, "scale-to-zero": scale_to_zero, "delete-pods": delete_pods,
           "replace-workload": replace_workload}
