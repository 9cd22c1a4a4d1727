"""The embedded cluster's rule loader, a thread of the state-metrics process (`kubelab-state-metrics
--prometheus URL --rules-dir DIR`): what configmap-reload and a mounted ConfigMap (the prometheus-community
`prometheus` chart), or k8s-sidecar's label-selected ConfigMaps, do on a real cluster.

It watches the ConfigMaps labelled `kubelab.io/prometheus-rules=true` in every namespace (one label-selected
watch). For each rule key (`*.yaml`, `*.yml`) of one: the shape checks (`observe.alert_rules`), every `expr` parsed
by Prometheus itself (POST /api/v1/parse_query), every rule labelled namespace=<the ConfigMap's namespace>; a valid
file is written to DIR as `<namespace>_<configmap>_<key>` and Prometheus reloaded (POST /-/reload). An invalid
file is never written (and the key's earlier version is removed): one learner's mistake never stops Prometheus's
reload for everyone. Should Prometheus still refuse the reload (a template it cannot parse), the ConfigMap's new
files are taken out again and Prometheus reloaded without them. Deleting the ConfigMap removes its files.

The verdict goes where the learner can read it: the ConfigMap's annotation `kubelab.io/prometheus-rules-status`
(JSON, per key) and an Event on the ConfigMap (`kubectl describe configmap`)."""
from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

from .._k8s.apierrors import call
from .._k8s.informer import Informer
from ..errors import ApiError, NotFound
from ..observe.alert_rules import (RULES_LABEL, VERDICT_ANNOTATION, check_rule_file, file_name, file_prefix,
                                   is_rule_key, verdict)

__all__ = ["RuleLoader", "slim_configmap"]

log = logging.getLogger("kubelab.rule_loader")
RETRY_S = 2.0


def slim_configmap(cm: dict) -> dict:
    """What the loader keeps: its own verdict annotation left out, so writing it is no change to act on."""
    meta = cm.get("metadata") or {}
    return {"namespace": meta.get("namespace", ""), "name": meta.get("name", ""), "uid": meta.get("uid", ""),
            "data": cm.get("data") or {}}


class RuleLoader:
    def __init__(self, api, prometheus: str, rules_dir: str | Path, start: bool = True):
        self.api, self.prometheus = api, prometheus.rstrip("/")
        self.dir = Path(rules_dir)
        self.tmp = self.dir.parent / (self.dir.name + ".tmp")   # outside rule_files' glob
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.pending: set[tuple[str, str]] = set()
        self.unloaded = False   # the folder changed since Prometheus's last successful reload (one that failed to
                                # connect is retried, though the files are in place by then)
        self.wake = threading.Condition()
        self.http = requests.Session()
        self.configmaps = Informer(api, "/api/v1/configmaps", name="rule-configmaps",
                                   params={"labelSelector": f"{RULES_LABEL}=true"}, transform=slim_configmap,
                                   on_add=self._changed, on_update=lambda _, cm: self._changed(cm),
                                   on_delete=self._changed, log=log)
        if start:
            self.configmaps.start()
            threading.Thread(target=self.run, daemon=True, name="rule-loader").start()

    def _changed(self, cm: dict) -> None:
        with self.wake:
            self.pending.add((cm["namespace"], cm["name"]))
            self.wake.notify()

    # -- the loop -------------------------------------------------------------------------------------
    def run(self) -> None:
        self.configmaps.synced.wait()
        with self.configmaps.lock:
            listed = set(self.configmaps.store)
        with self.wake:
            self.pending |= listed
        self.sweep()
        while True:
            with self.wake:
                while not self.pending:
                    self.wake.wait()
                batch, self.pending = sorted(self.pending), set()
            for key in batch:
                try:
                    self.sync(*key)
                except (requests.RequestException, OSError) as err:
                    log.warning("rules of %s/%s: %s; trying again in %.0f s", *key, err, RETRY_S)
                    time.sleep(RETRY_S)
                    with self.wake:
                        self.pending.add(key)
                except Exception:
                    log.exception("rules of %s/%s", *key)

    def sweep(self) -> None:
        """Remove the files of ConfigMaps deleted while this process was down (once the ConfigMaps are listed)."""
        with self.configmaps.lock:
            prefixes = tuple(file_prefix(ns, name) for ns, name in self.configmaps.store)
        stale = [f for f in self.dir.iterdir() if not f.name.startswith(prefixes)] if prefixes else list(self.dir.iterdir())
        for path in stale:
            path.unlink(missing_ok=True)
        self.unloaded = bool(stale)
        while stale:
            try:
                self.reload()
                break
            except (requests.RequestException, OSError) as err:
                log.warning("reloading Prometheus: %s; trying again in %.0f s", err, RETRY_S)
                time.sleep(RETRY_S)

    def _files(self, namespace: str, name: str) -> dict[str, Path]:
        prefix = file_prefix(namespace, name)
        return {f.name: f for f in self.dir.iterdir() if f.name.startswith(prefix)}

    def sync(self, namespace: str, name: str) -> None:
        """Bring the rules folder to the ConfigMap (absent: none of its files), reload, record the verdict."""
        cm = self.configmaps.get((namespace, name))
        old = self._files(namespace, name)
        if cm is None:
            for path in old.values():
                path.unlink(missing_ok=True)
            if old or self.unloaded:
                self.unloaded = True
                self.reload()
                log.info("removed the rules of %s/%s (%d files)", namespace, name, len(old))
            return
        keys, wanted = self.judge(cm)
        written = []
        for fname, text in wanted.items():
            path = self.dir / fname
            if not path.is_file() or path.read_text() != text:
                tmp = self.tmp / fname
                tmp.write_text(text)
                os.replace(tmp, path)
                written.append(fname)
        removed = [p for f, p in old.items() if f not in wanted]
        for path in removed:
            path.unlink(missing_ok=True)
        if written or removed or self.unloaded:
            self.unloaded = True
            refused = self.reload()
            if refused:   # Prometheus itself refused one of the new files: take them out again
                for fname in written:
                    (self.dir / fname).unlink(missing_ok=True)
                self.reload()
                for key in cm["data"]:
                    if file_name(namespace, name, key) in written:
                        keys[key] = {"state": "refused", "message": f"Prometheus refused the file on reload: {refused}"}
        self.record(cm, keys)

    def judge(self, cm: dict) -> tuple[dict[str, dict], dict[str, str]]:
        """({key: its verdict}, {file name: text to write}) for every rule key of the ConfigMap."""
        keys, wanted = {}, {}
        for key, text in sorted(cm["data"].items()):
            if not is_rule_key(key):
                continue
            rf = check_rule_file(text)
            problems = list(rf.problems)
            if not problems:
                problems = [f"{where}: {err}" for where, expr in rf.exprs if (err := self.parse_error(expr))]
            if problems:
                keys[key] = {"state": "refused", "message": "; ".join(problems)}
                continue
            wanted[file_name(cm["namespace"], cm["name"], key)] = rf.text(cm["namespace"])
            keys[key] = {"state": "loaded", "alerts": rf.alerts, "records": rf.records,
                         "message": "; ".join(f"label {r}" for r in rf.replaced)}
        return keys, wanted

    # -- Prometheus -----------------------------------------------------------------------------------
    def parse_error(self, expr: str) -> str | None:
        """Prometheus's own parse of a PromQL expression (/api/v1/parse_query): None, or its message."""
        resp = self.http.post(f"{self.prometheus}/api/v1/parse_query", data={"query": expr}, timeout=10)
        if resp.status_code == 200:
            return None
        try:
            body = resp.json()
        except ValueError:
            resp.raise_for_status()
            raise requests.RequestException(f"parse_query answered HTTP {resp.status_code}") from None
        if body.get("errorType") != "bad_data":
            raise requests.RequestException(f"parse_query: {body.get('errorType')}: {body.get('error')}")
        return "could not parse expression: " + str(body.get("error", "")).removeprefix('invalid parameter "query": ')

    def reload(self) -> str | None:
        """POST /-/reload: None when Prometheus loaded the configuration and rules, else its message."""
        resp = self.http.post(f"{self.prometheus}/-/reload", timeout=60)
        self.unloaded = False   # answered: Prometheus read the folder as it is now
        if resp.status_code == 200:
            return None
        if resp.status_code >= 500 and "failed to reload" in resp.text:
            return resp.text.strip()
        resp.raise_for_status()
        return resp.text.strip()

    # -- the verdict ----------------------------------------------------------------------------------
    def record(self, cm: dict, keys: dict[str, dict]) -> None:
        from kubernetes import client

        core = client.CoreV1Api(self.api)
        value = verdict(cm["data"], keys)
        try:
            now = call(core.read_namespaced_config_map, cm["name"], cm["namespace"])
            if (now.metadata.annotations or {}).get(VERDICT_ANNOTATION) == value:
                return
            call(core.patch_namespaced_config_map, cm["name"], cm["namespace"],
                 {"metadata": {"annotations": {VERDICT_ANNOTATION: value}}})
            refused = {k: v for k, v in keys.items() if v["state"] == "refused"}
            loaded = sorted(k for k, v in keys.items() if v["state"] == "loaded")
            if refused:
                self.event(core, cm, "Warning", "RulesRefused",
                           "; ".join(f"{k}: {v['message']}" for k, v in sorted(refused.items())))
            if loaded:
                self.event(core, cm, "Normal", "RulesLoaded", "Prometheus loaded " + ", ".join(
                    f"{k} ({len(keys[k]['alerts'])} alerts, {len(keys[k]['records'])} records)" for k in loaded))
        except NotFound:   # deleted meanwhile: its DELETED event removes the files
            return
        except ApiError as err:
            raise requests.RequestException(f"recording the verdict: {err.code} {err.reason}") from None
        log.info("rules of %s/%s: %s", cm["namespace"], cm["name"],
                 ", ".join(f"{k} {v['state']}" for k, v in sorted(keys.items())) or "no rule keys")

    def event(self, core, cm: dict, type_: str, reason: str, message: str) -> None:
        from kubernetes import client

        now = datetime.now(timezone.utc)
        call(core.create_namespaced_event, cm["namespace"], client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{cm['name']}.", namespace=cm["namespace"]),
            involved_object=client.V1ObjectReference(kind="ConfigMap", api_version="v1", name=cm["name"],
                                                     namespace=cm["namespace"], uid=cm["uid"]),
            reason=reason, message=message[:1024], type=type_, first_timestamp=now, last_timestamp=now, count=1,
            source=client.V1EventSource(component="kubelab-rule-loader")))

