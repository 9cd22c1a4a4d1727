"""`kubectl wait --for` conditions: parsed (`parse_condition`) and judged against an object's JSON (`met`). Pure."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UsageError

__all__ = ["Condition", "jsonpath_value", "met", "parse_condition"]

@dataclass(frozen=True)
class Condition:
    """A parsed `kubectl wait --for` string."""
    form: str                   # "condition", "jsonpath" or "delete"
    name: str = ""              # the condition type, or the jsonpath (".status.phase")
    value: str | None = None    # the wanted status / value; None for a jsonpath: just present
    steps: tuple = ()           # the jsonpath, parsed


_STEP = re.compile(r"""\.(?P<key>(?:\\\.|[^.\[\\])+)"""
                   r"""|\[(?P<index>-?\d+)\]"""
                   r"""|\[\?\(@\.(?P<field>[\w.-]+)\s*==\s*(?P<q>["'])(?P<match>.*?)(?P=q)\)\]""")


def _bad(text: str, why: str) -> UsageError:
    return UsageError(f"cannot read the wait condition {text!r}: {why}. Write it as kubectl wait --for does: "
                      "'condition=Ready', 'condition=Ready=False', 'jsonpath={.status.phase}=Running' or 'delete'")


def parse_condition(text: str) -> Condition:
    """'condition=Type[=Status]', 'jsonpath={.path}[=value]' or 'delete' -> Condition; UsageError otherwise."""
    if not isinstance(text, str):
        raise _bad(str(text), "it is not a string")
    form, _, rest = text.strip().partition("=")
    form = form.lower()
    if form == "delete" and not rest:
        return Condition("delete")
    if form == "condition":
        name, _, status = rest.partition("=")
        if not re.fullmatch(r"[A-Za-z][\w.\-/]*", name):
            raise _bad(text, "a condition type (Ready, Available, Complete...) must follow 'condition='")
        return Condition("condition", name, status or "True")
    if form == "jsonpath":
        return _parse_jsonpath(text, rest)
    raise _bad(text, "it starts with neither 'condition=', 'jsonpath=' nor 'delete'")


def _parse_jsonpath(text: str, rest: str) -> Condition:
    m = re.fullmatch(r"\{(?P<path>[^{}]*)\}(?:=(?P<value>.*))?", rest) or \
        re.fullmatch(r"(?P<path>\.[^={}]*)(?:=(?P<value>.*))?", rest)
    if not m:
        raise _bad(text, "a jsonpath goes in braces, '{.status.phase}', then '=' and the wanted value")
    path = m["path"].strip()
    steps, pos = [], 0
    for step in _STEP.finditer(path):
        if step.start() != pos:
            break
        steps.append(_step(step))
        pos = step.end()
    if not steps or pos != len(path):
        raise _bad(text, f"{path!r} is not a jsonpath this reads (.field, [index], [?(@.field==\"value\")])")
    return Condition("jsonpath", path, m["value"], tuple(steps))


def _step(m: re.Match) -> tuple:
    if m["key"] is not None:
        return ("key", m["key"].replace("\\.", "."))
    if m["index"] is not None:
        return ("index", int(m["index"]))
    return ("filter", m["field"], m["match"])


def jsonpath_value(obj, steps):
    """The value at a parsed jsonpath of obj, or None where it does not exist."""
    for step in steps:
        if step[0] == "key":
            obj = obj.get(step[1]) if isinstance(obj, dict) else None
        elif step[0] == "index":
            obj = obj[step[1]] if isinstance(obj, list) and -len(obj) <= step[1] < len(obj) else None
        else:
            found = [x for x in obj or [] if isinstance(x, dict) and _text(jsonpath_value(
                x, [("key", k) for k in step[1].split(".")])) == step[2]] if isinstance(obj, list) else []
            obj = found[0] if found else None
        if obj is None:
            return None
    return obj


def _text(value) -> str:
    """A value as kubectl's jsonpath prints it (booleans in lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def met(cond: Condition, obj: dict | None) -> tuple[bool, str]:
    """Whether obj satisfies cond, and its state in words."""
    if cond.form == "delete":
        return obj is None, "deleted" if obj is None else "still exists" + (
            " (being deleted)" if obj["metadata"].get("deletionTimestamp") else "")
    if obj is None:
        return False, "does not exist (yet)"
    if cond.form == "jsonpath":
        value = jsonpath_value(obj, cond.steps)
        if value is None:
            return False, f"has no {cond.name}"
        return (cond.value is None or _text(value) == cond.value), f"{cond.name} is {_text(value)!r}"
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type", "").lower() == cond.name.lower():
            detail = ": ".join(x for x in (c.get("reason"), c.get("message")) if x)
            state = f"condition {c['type']}={c.get('status')}" + (f" ({detail})" if detail else "")
            return str(c.get("status")).lower() == cond.value.lower(), state
    return False, f"no {cond.name} condition yet"
