"""The troubleshooting answers as Markdown, from the catalogue itself (solutions/exam-troubleshooting/
answers.md is this text; a unit test keeps the file current): per scenario the ticket, the category,
the cause, the evidence, the repair (the fix, and the change to the broken manifests as a diff) and why
each tempting wrong repair is wrong."""
from __future__ import annotations

import difflib

from .registry import CATEGORIES, GENERIC_WRONG, registry

__all__ = ["markdown"]


def _diff(scenario) -> str:
    fixed = getattr(scenario, "fixed", "")
    if not fixed or not scenario.manifests.strip():
        return ""
    lines = difflib.unified_diff(scenario.manifests.strip().splitlines(), fixed.strip().splitlines(),
                                 "broken", "repaired", lineterm="", n=1)
    return "\n".join(lines)


def markdown() -> str:
    out = ["# The troubleshooting exam: answers", "",
           "Generated from the scenario catalogue (`kubelab exam answers`; `kubelab.exam.answers.markdown()`): "
           "edit the scenarios in `src/kubelab/exam/scenarios/`, not this file. The rubric is in `rubric.md`.", "",
           "## Categories", ""]
    out += [f"- `{c}`: {what}" for c, what in CATEGORIES.items()]
    for s in registry.all():
        out += ["", f"## {s.name}: {s.title}", "",
                f"*Category* `{s.category}` · *difficulty* {s.difficulty} of 3", "",
                f"> {s.ticket}", "",
                f"**Cause.** {s.cause}.", "",
                "**Evidence** (any of these earns the evidence point): " + ", ".join(f"`{e}`" for e in s.evidence), "",
                f"**Repair.** {s.fix}."]
        diff = _diff(s)
        if diff:
            out += ["", "```diff", diff, "```"]
        if s.alternatives:
            out += ["", "**Other repairs that pass:** " + "; ".join(f"{what}" for what in s.alternatives.values()) + "."]
        out += ["", "**Tempting wrong repairs** (the check refuses each):", ""]
        out += [f"- `{w}`: {why if why else GENERIC_WRONG.get(w, '')}" for w, why in s.wrong.items()]
    return "\n".join(out) + "\n"
