"""Learners' alerting rules: Prometheus rule files in labelled ConfigMaps, as the prometheus-community `prometheus`
chart loads them (a ConfigMap mounted into the server, configmap-reload POSTing /-/reload) and as k8s-sidecar
collects ConfigMaps by label from every namespace into a folder. On the embedded cluster the state-metrics
daemon's rule loader (`kubelab.daemons.rule_loader`) does both: it watches the labelled ConfigMaps, checks each
rule file, writes the valid ones into Prometheus's rules folder and reloads Prometheus.

    apiVersion: v1
    kind: ConfigMap
    metadata: {name: serving-alerts, labels: {kubelab.io/prometheus-rules: "true"}}
    data:
      serving.rules.yaml: |            # a key ending in .yaml or .yml: a standard Prometheus rule file
        groups:
        - name: serving
          rules:
          - alert: QueueBacklog
            expr: sum(nv_inference_pending_request_count{namespace="team-a"}) > 10
            for: 30s

Every rule is labelled `namespace=<the ConfigMap's namespace>` (whatever the file says), so an alert always names
the namespace whose rule raised it. The loader's verdict is the ConfigMap's annotation VERDICT_ANNOTATION (JSON:
per key, loaded with its rules or refused with the reason) and an Event on the ConfigMap.

This module is the pure part (the checks of a file's shape, the namespace label, file names, the verdict);
`kl.observe.prometheus.rule_files(api, namespace)` reads the verdicts as a DataFrame."""
from __future__ import annotations

import hashlib
import json
import re

import pandas as pd
import yaml

__all__ = ["RULES_LABEL", "VERDICT_ANNOTATION", "RuleFile", "check_rule_file", "data_digest", "file_name", "file_prefix",
           "is_rule_key", "namespace_of_file", "rule_files_frame", "verdict"]

RULES_LABEL = "kubelab.io/prometheus-rules"       # value "true": the loader reads the ConfigMap
VERDICT_ANNOTATION = "kubelab.io/prometheus-rules-status"
RULE_KEY_SUFFIXES = (".yaml", ".yml")
# Prometheus's model.Duration (model/time.go ParseDuration): units from y to ms, largest first, at least one
_DURATION = re.compile(r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$")
# rulefmt's RuleGroup and Rule fields: Prometheus refuses any other key (its YAML decoder sets KnownFields)
GROUP_FIELDS = {"name", "interval", "query_offset", "limit", "rules", "labels"}
RULE_FIELDS = {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
MIN_INTERVAL_S = 1   # a group evaluated more often would take the shared machine's cores from everyone
_UNIT_S = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
FILE_COLUMNS = ["configmap", "key", "state", "alerts", "records", "message", "current"]


def is_rule_key(key: str) -> bool:
    """A ConfigMap key the loader reads as a rule file (its other keys are left alone)."""
    return key.endswith(RULE_KEY_SUFFIXES)


def file_prefix(namespace: str, configmap: str) -> str:
    """The start of the names of a ConfigMap's rule files: `<namespace>_<configmap>_` (a namespace or a ConfigMap
    name has no `_`, so it reads back unambiguously); a ConfigMap name too long to leave room for the key is
    replaced by a digest of it."""
    if len(namespace) + len(configmap) + 2 > 150:
        configmap = hashlib.sha256(configmap.encode()).hexdigest()[:32]
    return f"{namespace}_{configmap}_"


def file_name(namespace: str, configmap: str, key: str) -> str:
    """The rule file's name in Prometheus's rules folder: `<namespace>_<configmap>_<key>` (see `file_prefix`); a
    name past 255 bytes ends with a digest of the key instead."""
    prefix = file_prefix(namespace, configmap)
    if len((prefix + key).encode()) <= 255:
        return prefix + key
    return f"{prefix}{hashlib.sha256(key.encode()).hexdigest()[:32]}.yaml"


def namespace_of_file(name: str) -> str:
    """The namespace of a rule file named by `file_name` (its base name or path)."""
    return name.rsplit("/", 1)[-1].split("_", 1)[0]


def data_digest(data: dict | None) -> str:
    """A short digest of a ConfigMap's data: the verdict names the data it judged."""
    return hashlib.sha256(json.dumps(data or {}, sort_keys=True).encode()).hexdigest()[:16]


def _duration(value, where: str, problems: list[str]) -> float | None:
    """The duration in seconds; a problem (and None) when it is not a Prometheus duration."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or not _DURATION.match(value):
        problems.append(f"{where}: {value!r} is not a Prometheus duration (e.g. 30s, 5m, 1h30m)")
        return None
    return sum(int(n) * _UNIT_S[u] for n, u in re.findall(r"([0-9]+)(ms|y|w|d|h|m|s)", value))


def _string_map(value, where: str, problems: list[str]) -> dict[str, str]:
    """labels/annotations: a mapping of names to scalar values (as Prometheus's YAML decoder reads them: text)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{where} must be a mapping of names to values, not {type(value).__name__}")
        return {}
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k or k == "__name__":
            problems.append(f"{where}: {k!r} is not a label name")
        elif isinstance(v, (dict, list)):
            problems.append(f"{where}.{k} must be a single value, not a {type(v).__name__}")
        else:
            out[k] = "" if v is None else (str(v).lower() if isinstance(v, bool) else str(v))
    return out


class RuleFile:
    """One key of a ConfigMap checked as a Prometheus rule file: `problems` (empty when its shape is valid),
    `exprs` (each rule's PromQL, for the loader to have Prometheus parse), `alerts`/`records` (rule names), and
    `text(namespace)`: the file Prometheus reads, every rule labelled with that namespace."""

    def __init__(self, text: str):
        self.problems: list[str] = []
        self.groups: list[dict] = []
        self.replaced: list[str] = []       # namespace labels the file gave that the loader overrode
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as err:
            self.problems.append(f"not YAML: {err}".replace("\n", " "))
            return
        if not isinstance(doc, dict) or "groups" not in doc:
            self.problems.append("a rule file is a mapping with `groups:` (a list of {name, rules})")
            return
        for extra in sorted(set(doc) - {"groups"}, key=str):
            self.problems.append(f"field {extra!r} not found in a rule file (only `groups`)")
        groups = doc["groups"] or []
        if not isinstance(groups, list):
            self.problems.append("`groups` must be a list")
            return
        names: set[str] = set()
        for gi, group in enumerate(groups, 1):
            self._group(gi, group, names)

    def _group(self, gi: int, group, names: set[str]) -> None:
        p = self.problems
        if not isinstance(group, dict):
            p.append(f"group {gi} must be a mapping with `name` and `rules`")
            return
        name = group.get("name")
        where = f"group {name!r}" if isinstance(name, str) and name else f"group {gi}"
        if not isinstance(name, str) or not name:
            p.append(f"{where}: `name` must be set")
        elif name in names:
            p.append(f"{where} is repeated in the same file")
        names.add(name if isinstance(name, str) else "")
        for extra in sorted(set(group) - GROUP_FIELDS, key=str):
            p.append(f"{where}: field {extra!r} not found in a rule group ({', '.join(sorted(GROUP_FIELDS))})")
        interval = _duration(group.get("interval"), f"{where} interval", p)
        if interval is not None and interval < MIN_INTERVAL_S:
            p.append(f"{where}: interval {group['interval']} is below the {MIN_INTERVAL_S} s the embedded cluster "
                     "allows (the cluster's own groups use 2-5 s)")
        _duration(group.get("query_offset"), f"{where} query_offset", p)
        if "limit" in group and (not isinstance(group["limit"], int) or isinstance(group["limit"], bool)):
            p.append(f"{where}: `limit` must be a whole number")
        out = {k: group[k] for k in ("name", "interval", "query_offset", "limit") if group.get(k) is not None}
        if "labels" in group:
            out["labels"] = _string_map(group["labels"], f"{where} labels", p)
        rules = group.get("rules") or []
        if not isinstance(rules, list):
            p.append(f"{where}: `rules` must be a list")
            rules = []
        out["rules"] = [r for r in (self._rule(where, ri, rule) for ri, rule in enumerate(rules, 1)) if r]
        self.groups.append(out)

    def _rule(self, group: str, ri: int, rule) -> dict | None:
        p = self.problems
        if not isinstance(rule, dict):
            p.append(f"{group} rule {ri} must be a mapping (alert or record, expr, ...)")
            return None
        alert, record = rule.get("alert"), rule.get("record")
        name = alert or record
        where = f"{group} rule {ri}" + (f" ({name})" if isinstance(name, str) and name else "")
        for extra in sorted(set(rule) - RULE_FIELDS, key=str):
            p.append(f"{where}: field {extra!r} not found in a rule ({', '.join(sorted(RULE_FIELDS))})")
        if alert and record:
            p.append(f"{where}: only one of 'record' and 'alert' must be set")
        elif not alert and not record:
            p.append(f"{where}: one of 'record' or 'alert' must be set")
        for field in ("alert", "record"):
            if rule.get(field) is not None and not isinstance(rule[field], str):
                p.append(f"{where}: `{field}` must be a name")
        expr = rule.get("expr")
        if expr is None or isinstance(expr, (dict, list, bool)) or str(expr).strip() == "":
            p.append(f"{where}: field 'expr' must be set in rule")
            expr = ""
        _duration(rule.get("for"), f"{where} for", p)
        _duration(rule.get("keep_firing_for"), f"{where} keep_firing_for", p)
        if record:
            for field in ("annotations", "for", "keep_firing_for"):
                if rule.get(field):
                    p.append(f"{where}: invalid field {field!r} in recording rule")
            if isinstance(record, str) and not re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", record):
                p.append(f"{where}: invalid recording rule name: {record}")
        out = {"alert": alert} if alert else {"record": record}
        out["expr"] = str(expr)
        for field in ("for", "keep_firing_for"):
            if rule.get(field) is not None:
                out[field] = rule[field]
        out["labels"] = _string_map(rule.get("labels"), f"{where} labels", p)
        if rule.get("annotations") is not None:
            out["annotations"] = _string_map(rule.get("annotations"), f"{where} annotations", p)
        return out

    @property
    def rules(self) -> list[dict]:
        return [r for g in self.groups for r in g["rules"]]

    @property
    def exprs(self) -> list[tuple[str, str]]:
        """(where, expr) of every rule, for Prometheus to parse."""
        return [(f"group {g.get('name')!r} {'alert' if 'alert' in r else 'record'} "
                 f"{r.get('alert') or r.get('record')!r}", r["expr"]) for g in self.groups for r in g["rules"]]

    @property
    def alerts(self) -> list[str]:
        return [r["alert"] for r in self.rules if "alert" in r]

    @property
    def records(self) -> list[str]:
        return [r["record"] for r in self.rules if "record" in r]

    def text(self, namespace: str) -> str:
        """The file Prometheus loads: the groups as read, each rule's (and group's) `namespace` label set to
        `namespace`; `replaced` lists the labels that said another namespace."""
        self.replaced = []
        groups = []
        for g in self.groups:
            g = dict(g)
            if "labels" in g:
                g["labels"] = self._forced(g["labels"], namespace, f"group {g.get('name')!r}")
            g["rules"] = [{**r, "labels": self._forced(r["labels"], namespace,
                                                      f"{r.get('alert') or r.get('record')!r}")}
                          for r in g["rules"]]
            groups.append(g)
        return yaml.safe_dump({"groups": groups}, sort_keys=False, allow_unicode=True)

    def _forced(self, labels: dict, namespace: str, where: str) -> dict:
        if labels.get("namespace", namespace) != namespace:
            self.replaced.append(f"{where}: namespace {labels['namespace']!r} -> {namespace!r}")
        return {**labels, "namespace": namespace}


def check_rule_file(text: str) -> RuleFile:
    """The shape checks of one rule file (pure; Prometheus parses the expressions)."""
    return RuleFile(text)


def verdict(data: dict | None, keys: dict[str, dict]) -> str:
    """The annotation the loader writes: {"data": digest, "keys": {key: {"state": "loaded"|"refused",
    "alerts": [...], "records": [...], "message": "..."}}} as JSON."""
    return json.dumps({"data": data_digest(data), "keys": keys}, sort_keys=True)


def rule_files_frame(configmaps: list[dict]) -> pd.DataFrame:
    """One row per rule key of the labelled ConfigMaps (pure): configmap, key, state (loaded, refused, or waiting
    while the loader has not judged this data), alerts, records, message, current (the verdict is of the data
    the ConfigMap holds now)."""
    rows = []
    for cm in configmaps:
        meta = cm.get("metadata") or {}
        data = cm.get("data") or {}
        try:
            judged = json.loads((meta.get("annotations") or {}).get(VERDICT_ANNOTATION) or "{}")
        except ValueError:
            judged = {}
        current = judged.get("data") == data_digest(data)
        for key in sorted(data):
            if not is_rule_key(key):
                continue
            v = (judged.get("keys") or {}).get(key) or {}
            state = v.get("state", "waiting") if current else "waiting"
            rows.append({"configmap": meta.get("name", ""), "key": key, "state": state,
                         "alerts": list(v.get("alerts") or []), "records": list(v.get("records") or []),
                         "message": v.get("message", "") if current else "the loader has not read this version yet",
                         "current": current})
    return pd.DataFrame(rows, columns=FILE_COLUMNS)

