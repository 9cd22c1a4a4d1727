"""The catalogue an exam draws from, recorded with the assignment when it is released
(source/<exam>/catalogue.yaml, which nbgrader carries into release/, the learner's folder and, from source/, the
grading run): every scenario's name, category, the rights its inject needs and the namespace-wide objects it
makes, and the rights the learner's sandbox grants the exam (its access.yaml). A learner's draw depends only on
their seed and this file, so a scenario added to the registry later (or one whose module changed its
declarations) moves no draw that was issued: it joins the next exam whose catalogue is recorded
(`kubelab exam catalogue --write`).

    cat = kl.exam.catalogue.load("catalogue.yaml")
    cat.drawable()            # the entries a learner's sandbox can inject (needs within rights)
    kl.exam.draw(seed, 8, cat)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, UsageError
from .scenario_registry import NAMESPACE_WIDE, RIGHTS, ScenarioRegistry, Scenario, registry

__all__ = ["FILE", "VERSION", "Catalogue", "Entry", "load"]

FILE = "catalogue.yaml"
VERSION = 1


@dataclass(frozen=True)
class Entry:
    """One scenario as the catalogue recorded it (what the draw reads: nothing of the module's code)."""
    name: str
    category: str
    needs: tuple[str, ...] = ()
    makes: tuple[str, ...] = ()

    @classmethod
    def of(cls, s: Scenario) -> "Entry":
        return cls(s.name, s.category, tuple(sorted(s.needs)), tuple(sorted(s.makes)))


@dataclass(frozen=True)
class Catalogue:
    entries: tuple[Entry, ...]
    rights: tuple[str, ...] = tuple(sorted(RIGHTS))   # what the learner's sandbox lets the exam inject
    version: int = VERSION

    @classmethod
    def of(cls, reg: ScenarioRegistry | None = None, rights=None) -> "Catalogue":
        """Every scenario registered now; `rights` (None: all) those the exam's sandbox grants."""
        entries = tuple(Entry.of(s) for s in (reg or registry).all())
        return cls(entries, tuple(sorted(RIGHTS if rights is None else set(rights))))

    def drawable(self) -> list[Entry]:
        """The entries whose inject needs only rights the sandbox grants (the draw takes only these)."""
        return [e for e in self.entries if set(e.needs) <= set(self.rights)]

    def left_out(self) -> dict[str, list[str]]:
        """name -> the rights it needs that the sandbox does not grant."""
        return {e.name: sorted(set(e.needs) - set(self.rights)) for e in self.entries
                if not set(e.needs) <= set(self.rights)}

    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def scenario(self, name: str, reg: ScenarioRegistry | None = None) -> Scenario:
        """The registered scenario of entry `name` (it must still exist: the exam grades it)."""
        reg = reg or registry
        if name not in reg.names():
            raise UsageError(f"the exam's recorded catalogue draws {name!r}, which kubelab no longer has",
                             "install the kubelab the exam was released with, or keep the scenario's module")
        return reg.get(name)

    def differences(self, reg: ScenarioRegistry | None = None) -> dict[str, list[str]]:
        """What the registry has now against this record: `new` scenarios (not in this exam), `gone` ones (this
        exam cannot be graded without them) and `changed` declarations (category, needs, makes)."""
        now = {e.name: e for e in Catalogue.of(reg).entries}
        mine = {e.name: e for e in self.entries}
        return {"new": sorted(set(now) - set(mine)), "gone": sorted(set(mine) - set(now)),
                "changed": sorted(n for n in set(now) & set(mine) if now[n] != mine[n])}

    def text(self, assignment: str = "the exam") -> str:
        """The file's text (YAML, one line per scenario)."""
        def flow(items):
            return "[" + ", ".join(items) + "]"
        lines = [f"# The scenarios {assignment} draws from, recorded when it was released (`kubelab exam catalogue",
                 "# --write`; a learner's draw depends only on their seed and this file, so a scenario added to kubelab",
                 "# later joins the next exam recorded, never one a learner holds). rights: what the learner's",
                 "# sandbox lets the exam inject (access.yaml's manage); a scenario that needs more is never drawn.",
                 f"version: {self.version}", f"rights: {flow(self.rights)}", "scenarios:"]
        for e in sorted(self.entries, key=lambda e: e.name):
            fields = [f"category: {e.category}"] + [f"{k}: {flow(v)}" for k, v in (("needs", e.needs),
                                                                                    ("makes", e.makes)) if v]
            lines.append(f"  {e.name}: {{{', '.join(fields)}}}")
        return "\n".join(lines) + "\n"


def load(path: str | Path) -> Catalogue:
    """The catalogue recorded in `path`; a missing or bad file is one ConfigError naming it."""
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError(f"cannot read the exam's catalogue {path}: {err.strerror}",
                          "run the exam from its assignment folder (catalogue.yaml comes with it)") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not YAML ({err})", "record it again: `kubelab exam catalogue --write`") from None
    scenarios, rights = doc.get("scenarios"), doc.get("rights") or []
    if doc.get("version") != VERSION or not isinstance(scenarios, dict) or not scenarios \
            or not isinstance(rights, list) or set(rights) - set(RIGHTS):
        raise ConfigError(f"{path}: expected version: {VERSION}, rights: a list of {', '.join(RIGHTS)}, and "
                          "scenarios: name -> {category, needs, makes}", "record it again: `kubelab exam catalogue --write`")
    entries = []
    for name, fields in scenarios.items():
        fields = fields or {}
        needs, makes = tuple(fields.get("needs") or ()), tuple(fields.get("makes") or ())
        if not isinstance(fields.get("category"), str) or set(needs) - set(RIGHTS) or set(makes) - set(NAMESPACE_WIDE):
            raise ConfigError(f"{path}: scenario {name!r} has {fields!r}",
                              "each scenario: {category: <name>, needs: [rights], makes: [kinds]}")
        entries.append(Entry(str(name), fields["category"], needs, makes))
    return Catalogue(tuple(entries), tuple(sorted(rights)), VERSION)
