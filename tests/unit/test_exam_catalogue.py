"""The exam's framework without a cluster: draws that never move once the exam is released (the recorded
catalogue), scenarios that declare the rights they need and the namespace-wide objects they make, categories
registered like scenarios, one failed inject that stops nothing else, and the verdict under the pass rule."""
from __future__ import annotations

import string
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from kubelab.errors import CheckFailed, ConfigError, UsageError
from kubelab.exam import (CATEGORIES, NAMESPACE_WIDE, RIGHTS, Diagnosis, Exam, Scenario, catalogue, draw, grade_diagnosis,
                          grade_repair, register_category, registry)
from kubelab.grading import engine

REPO = Path(__file__).parents[2]
RECORDED = REPO / "source" / "exam-troubleshooting" / catalogue.FILE
SEEDS = range(200)


def scenario_class(name, category, *, needs=(), makes=(), fail_inject=False, holds=True, log=None):
    """A scenario class as a module would declare it (registered by `temporary`)."""
    def inject(self, api, namespace):
        if fail_inject:
            raise UsageError(f"{name}: nodes are cluster objects the learner may not patch (403)", "ask for the right")
        log.append(name)

    def check(self, api, namespace):
        if not holds:
            res = engine.CheckResult(name, False, 0, 1, "the workload is still broken", "look again")
            raise CheckFailed(res.message, res.hint, result=res)
        return engine.CheckResult(name, True, 1, 1, "it works")

    return type(name.title().replace("-", ""), (Scenario,), dict(
        name=name, title=f"{name} title", category=category, difficulty=1, ticket="it is broken",
        evidence=("FailedThing",), manifests="", cause="a cause", fix="a fix", workload=("deployment", name), wrong={},
        needs=frozenset(needs), makes=frozenset(makes), inject=inject, check=check, cleanup=lambda *a: None))


@contextmanager
def temporary(*classes, categories=()):
    """Register scenarios (and categories) for one test, as a module added to the package would."""
    registry.all()   # the package is read first: these come after it, as a new module would
    try:
        for name, meaning in categories:
            register_category(name, meaning)
        for cls in classes:
            registry.register(cls)
        yield
    finally:
        for cls in classes:
            registry.unregister(cls.name)
        for name, _ in categories:
            CATEGORIES.remove(name)


def names(seed, count=8, cat=RECORDED):
    return [s.name for s in draw(seed, count, cat)]


def test_issued_draws_do_not_move_when_scenarios_are_added():
    issued = {seed: names(seed) for seed in SEEDS}
    unrecorded = catalogue.load(RECORDED).differences()["new"]   # scenarios already added since the release, if any
    live = {seed: names(seed, cat=None) for seed in SEEDS}   # the registry as it is now, not what was released
    added = [scenario_class("zz-added-image", "image"), scenario_class("aa-added-disruption", "disruption-test"),
             scenario_class("mm-added-scheduling", "scheduling")]
    with temporary(*added, categories=[("disruption-test", "a PodDisruptionBudget blocks a drain")]):
        assert {s.name for s in added} <= set(registry.names())
        after = {seed: names(seed) for seed in SEEDS}
        assert after == issued   # all 200 seeds: the same scenarios in the same slots
        assert catalogue.load(RECORDED).differences()["new"] == sorted(unrecorded + [s.name for s in added])
        # the same seeds drawn from the registry itself would move: what the recorded catalogue prevents
        moved = sum(names(seed, cat=None) != live[seed] for seed in SEEDS)
        assert moved > 100, moved
        drawn = {n for seed in SEEDS for n in names(seed, cat=None)}
        assert {s.name for s in added} <= drawn and not {s.name for s in added} & {n for d in after.values() for n in d}


def test_the_recorded_catalogue_grades_every_issued_exam():
    recorded = catalogue.load(RECORDED)
    diff = recorded.differences()
    assert diff["gone"] == [] and diff["changed"] == [], f"{diff}: the released exam could not be graded"
    assert RECORDED.read_text() == recorded.text("exam-troubleshooting")   # the file is what `--write` makes
    released = REPO / "release" / "exam-troubleshooting" / catalogue.FILE
    assert released.read_text() == RECORDED.read_text(), "run `kubelab course generate exam-troubleshooting`"
    access = yaml.safe_load((RECORDED.parent / "access.yaml").read_text())
    assert recorded.rights == tuple(sorted(access["manage"])), "the rights are those the exam's sandbox grants"
    cell = [c for c in __import__("json").loads((RECORDED.parent / "exam.ipynb").read_text())["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "inject"][0]
    assert 'catalogue="catalogue.yaml"' in "".join(cell["source"]), "the notebook draws from the recorded file"


def test_a_bad_catalogue_file_is_one_clear_error(tmp_path):
    bad = tmp_path / catalogue.FILE
    bad.write_text("version: 1\nrights: [root]\nscenarios: {a: {category: image}}\n")
    with pytest.raises(ConfigError, match="rights"):
        catalogue.load(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        catalogue.load(tmp_path / "missing.yaml")
    gone = catalogue.Catalogue((catalogue.Entry("no-such-scenario", "image"),), ())
    with pytest.raises(UsageError, match="no longer has"):
        draw(1, 1, gone)


def test_the_draw_takes_only_scenarios_the_sandbox_can_inject():
    nodes = scenario_class("cordoned-node", "scheduling", needs={"nodes"})
    with temporary(nodes):
        exam_rights = catalogue.Catalogue.of(rights=["batch", "cluster", "limits", "serving"])
        assert exam_rights.left_out() == {"cordoned-node": ["nodes"]}
        assert all("cordoned-node" not in names(seed, 12, exam_rights) for seed in SEEDS)
        everything = catalogue.Catalogue.of()   # an identity with every right (the instructor rehearsing)
        assert any("cordoned-node" in names(seed, 12, everything) for seed in SEEDS)
    none = catalogue.Catalogue.of(rights=[])
    needing = {s.name for s in registry.all() if s.needs}
    assert needing >= {"gpu-quota", "oom-limit", "pvc-storage-class"}
    assert set(none.left_out()) == needing
    assert not needing & {n for seed in SEEDS for n in names(seed, 8, none)}


def test_scenarios_with_the_same_namespace_wide_kind_are_never_drawn_together():
    second = scenario_class("cpu-limitrange", "quota", needs={"limits"}, makes={"LimitRange"})
    with temporary(second):
        cat = catalogue.Catalogue.of(rights=["cluster", "limits"])
        both = other = 0
        for seed in range(300):
            drawn = names(seed, 12, cat)   # every category once: quota and resources (oom-limit's) both drawn
            assert not {"cpu-limitrange", "oom-limit"} <= set(drawn), seed
            both += "cpu-limitrange" in drawn
            other += "oom-limit" in drawn
        assert both > 20 and other > 20   # each is drawn, never with the other
        with pytest.raises(UsageError, match="fit in one namespace together"):
            draw(1, len(cat.drawable()), cat)


def test_every_scenario_declares_the_rights_and_namespace_wide_objects_its_objects_need():
    from kubelab.course.isolation.sandbox import policy

    assert set(policy.MANAGE) <= set(RIGHTS)
    needs_for = {"ResourceQuota": "limits", "LimitRange": "limits", "PriorityClass": "cluster",
                 "PersistentVolume": "cluster", "StorageClass": "cluster", "Node": "nodes", "Namespace": "namespace"}
    for s in registry.all():
        needs, makes = set(), set()
        for text in (s.manifests, getattr(s, "fixed", "")):
            for doc in yaml.safe_load_all(string.Template(text).safe_substitute(namespace="ns", suffix="x")):
                if not doc:
                    continue
                if doc["kind"] in needs_for:
                    needs.add(needs_for[doc["kind"]])
                selects_all = (doc.get("spec") or {}).get("podSelector") == {}
                if doc["kind"] in NAMESPACE_WIDE and (doc["kind"] != "NetworkPolicy" or selects_all):
                    makes.add(doc["kind"])
        assert needs <= set(s.needs), f"{s.name}: its objects need {sorted(needs)}, it declares {sorted(s.needs)}"
        assert makes <= set(s.makes), f"{s.name}: it makes {sorted(makes)}, it declares {sorted(s.makes)}"


def test_a_declaration_the_exam_does_not_know_is_refused():
    with pytest.raises(UsageError, match="needs"):
        registry.register(scenario_class("bad-rights", "image", needs={"root"}))
    with pytest.raises(UsageError, match="makes"):
        registry.register(scenario_class("bad-kind", "image", makes={"Deployment"}))
    assert "bad-rights" not in registry.names() and "bad-kind" not in registry.names()


def test_categories_are_registered_like_scenarios():
    assert list(CATEGORIES)[:3] == ["image", "startup", "config-reference"] and len(CATEGORIES) >= 12
    with pytest.raises(UsageError, match="category"):   # a category nobody registered
        with temporary(scenario_class("pdb-drain", "disruption")):
            pass
    assert "pdb-drain" not in registry.names()
    with temporary(scenario_class("pdb-drain", "disruption"),
                   categories=[("disruption", "a PodDisruptionBudget blocks a drain or an eviction")]):
        assert "disruption" in CATEGORIES and Diagnosis("disruption", "Cannot evict pod").category == "disruption"
        register_category("disruption", "a PodDisruptionBudget blocks a drain or an eviction")   # the same: harmless
        with pytest.raises(UsageError, match="different meanings"):
            register_category("disruption", "something else")
        assert "- `disruption`: a PodDisruptionBudget" in __import__("kubelab.exam.answers").exam.answers.markdown()
    assert "disruption" not in CATEGORIES
    with pytest.raises(UsageError, match="pick one of"):
        Diagnosis("disruption", "Cannot evict pod")


def test_a_failed_inject_is_reported_and_the_others_are_injected(capsys):
    log: list[str] = []
    classes = [scenario_class("t-first", "image", log=log), scenario_class("t-cordon", "scheduling", fail_inject=True,
                                                                            holds=False, log=log),
               scenario_class("t-third", "service", log=log, holds=False)]
    with temporary(*classes):
        cat = catalogue.Catalogue(tuple(catalogue.Entry(c.name, c.category) for c in classes))
        exam = Exam(None, "ns", seed=7, count=3, catalogue=cat).inject()
        slot = {s.name: k for k, s in enumerate(exam.scenarios, 1)}
        assert sorted(log) == ["t-first", "t-third"]
        assert list(exam.not_injected) == [slot["t-cordon"]] and "403" in exam.not_injected[slot["t-cordon"]]
        out = capsys.readouterr().out
        assert "2 broken workloads injected" in out and f"scenario {slot['t-cordon']} could NOT be injected" in out
        # the grade cells: the repair decides; the failed inject is named in its result
        for name, k in slot.items():
            grade_repair(engine.Partial(out_of=2), exam, k)
            grade_diagnosis(engine.Partial(out_of=2), exam, k, Diagnosis(exam.slot(k).category, "FailedThing"))
        assert "could not be injected" in capsys.readouterr().out
        v = exam.summary()
        assert (v.repaired, v.scenarios, v.diagnosis, v.passed) == (1, 3, 6.0, False)
        assert "scenario accuracy 1/3 (33%): FAIL" in capsys.readouterr().out


def test_the_cli_reports_the_catalogue_and_a_roster_truthfully(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from kubelab.cli import main

    runner = CliRunner()
    shown = runner.invoke(main, ["exam", "catalogue"])
    drawable = len(catalogue.load(RECORDED).drawable())
    assert shown.exit_code == 0 and f"{drawable} drawable with the sandbox's rights (batch, cluster, limits, serving)" in shown.output
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    monkeypatch.setenv("KUBELAB_COURSE", str(tmp_path))
    (tmp_path / "first.csv").write_text("id\nada\nbob\n")
    (tmp_path / "second.csv").write_text("id,first_name\nada,Ada\ncyd,Cyd\n")
    first = runner.invoke(main, ["course", "roster", str(tmp_path / "first.csv")])
    assert first.exit_code == 0, first.output
    assert "2 learners read; 2 added to the gradebook (ada, bob), 0 already there" in first.output
    second = runner.invoke(main, ["course", "roster", str(tmp_path / "second.csv")])
    assert "1 added to the gradebook (cyd), 1 already there and updated (ada); the gradebook now has 3 learners" \
        in second.output, second.output


def test_a_scenario_added_later_changes_no_diagnosis_grade():
    from kubelab.exam import evidence_right

    recorded = catalogue.load(RECORDED)
    issued = [recorded.scenario(n) for n in recorded.names()]
    image = registry.get("bad-image-tag")
    later = scenario_class("zz-evicted", "resources")
    later.evidence = ("TaintManagerEviction",)
    with temporary(later):
        text = "ImagePullBackOff (and a TaintManagerEviction earlier, unrelated)"
        assert evidence_right(image, text, issued)[0]          # graded among the exam's own scenarios: right
        assert not evidence_right(image, text)[0]              # among every registered one it would now be wrong
