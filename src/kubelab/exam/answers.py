"""What the build generates from the scenario registry (`kubelab course generate` writes it; a unit test checks
that what is stored is what is generated), so that adding a scenario is adding its module:

- the troubleshooting answers as Markdown (solutions/exam-troubleshooting/answers.md): per scenario the ticket,
  the category, the cause, the evidence, the repair (the fix, and the change to the broken manifests as a diff)
  and why each tempting wrong repair is wrong;
- the counts in the docs: `<!-- scenarios -->N<!-- /scenarios -->` (every scenario kubelab has) and
  `<!-- scenarios:<assignment> -->N<!-- /scenarios -->` (those the assignment's recorded catalogue draws from)
  in README.md and docs/*.md.
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path

from .scenario_registry import CATEGORIES, GENERIC_WRONG, registry

__all__ = ["ANSWERS", "differences", "generated", "markdown", "write"]

ANSWERS = Path("solutions") / "exam-troubleshooting" / "answers.md"
COUNT = re.compile(r"<!-- scenarios(?::(?P<assignment>[\w.-]+))? -->\d*<!-- /scenarios -->")


def _diff(scenario) -> str:
    fixed = getattr(scenario, "fixed", "")
    if not fixed or not scenario.manifests.strip():
        return ""
    lines = difflib.unified_diff(scenario.manifests.strip().splitlines(), fixed.strip().splitlines(),
                                 "broken", "repaired", lineterm="", n=1)
    return "\n".join(lines)


def markdown() -> str:
    out = ["# The troubleshooting exam: answers", "",
           "Generated from the scenario registry by `kubelab course generate` (`kubelab.exam.answers.markdown()`): "
           "edit the scenarios in `src/kubelab/exam/scenarios/`, not this file. The rubric is in `rubric.md`. "
           f"kubelab has {len(registry.all())} scenarios; an exam draws from those its `catalogue.yaml` recorded "
           "when it was released (`kubelab exam catalogue`).", "",
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


def _count(match: re.Match, root: Path) -> str:
    from .catalogue import FILE, load

    assignment = match.group("assignment")
    n = len(registry.all()) if not assignment else len(load(root / "source" / assignment / FILE).drawable())
    return f"<!-- scenarios{':' + assignment if assignment else ''} -->{n}<!-- /scenarios -->"


def generated(root: Path) -> dict[Path, str]:
    """Every file of the course at `root` that the build generates from the registry -> its text now."""
    out = {root / ANSWERS: markdown()}
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        if page.is_file():
            text = page.read_text(encoding="utf-8")
            if COUNT.search(text):
                out[page] = COUNT.sub(lambda m: _count(m, root), text)
    return out


def differences(root: Path) -> list[str]:
    """The generated files whose stored text differs from what the build makes now (relative paths)."""
    return sorted(str(path.relative_to(root)) for path, text in generated(root).items()
                  if not path.is_file() or path.read_text(encoding="utf-8") != text)


def write(root: Path) -> list[str]:
    """Write the generated files that differ; returns them (relative paths)."""
    changed = differences(root)
    for path, text in generated(root).items():
        if str(path.relative_to(root)) in changed:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return changed
