"""The exam's catalogue and draw, without a cluster: the same seed draws the same scenarios, different
seeds differ, every category can appear, the categories vary within a draw; diagnoses and evidence."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from kubelab.cli import main
from kubelab.errors import UsageError
from kubelab.exam import CATEGORIES, Diagnosis, catalogue, draw, evidence_right, passed, registry, verdict

REPO = __import__("pathlib").Path(__file__).parents[2]
RECORDED = REPO / "source" / "exam-troubleshooting" / catalogue.FILE


def names(seed, count=8):
    return [s.name for s in draw(seed, count, RECORDED)]


def test_the_catalogue_covers_the_issue():
    scenarios = registry.all()
    assert len(scenarios) >= 15
    assert {s.category for s in scenarios} == set(CATEGORIES)
    for s in scenarios:
        assert s.ticket and s.evidence and s.cause and s.fix and 1 <= s.difficulty <= 3, s.name
        assert "kubelab.io/simulate" not in s.manifests and "kubelet.kubelab.io" not in s.manifests, s.name


def test_the_same_seed_draws_the_same_scenarios():
    assert names(2026) == names(2026)
    assert len(set(names(2026))) == 8


def test_different_seeds_draw_different_sets():
    draws = {tuple(sorted(names(seed))) for seed in range(20)}
    assert len(draws) >= 15


def test_every_category_can_appear_and_a_draw_varies_them():
    seen = set()
    for seed in range(50):
        cats = [s.category for s in draw(seed, 8)]
        assert len(set(cats)) == 8  # 12 categories: no repeat in a draw of 8
        seen |= set(cats)
    assert seen == set(CATEGORIES)
    # a draw larger than the categories repeats one only after all have appeared
    assert {s.category for s in draw(1, len(CATEGORIES))} == set(CATEGORIES)


def test_bad_draws_and_diagnoses_say_what_to_do():
    with pytest.raises(UsageError, match="count must be between"):
        draw(1, 0)
    with pytest.raises(UsageError, match="seed must be an integer"):
        draw("x")
    with pytest.raises(UsageError, match="pick one of"):
        Diagnosis("imagepull", "ImagePullBackOff")
    with pytest.raises(UsageError, match="evidence is empty"):
        Diagnosis("image", " ")


def test_evidence_names_this_cause_and_no_other():
    s = registry.get("bad-image-tag")
    assert evidence_right(s, "the pods show ImagePullBackOff")[0]
    assert evidence_right(s, "spec.template.spec.containers[0].image")[0]
    assert not evidence_right(s, "CrashLoopBackOff")[0]
    # naming every reason at once is not a diagnosis
    assert not evidence_right(s, "ImagePullBackOff CrashLoopBackOff OOMKilled FailedScheduling")[0]
    assert evidence_right(registry.get("readiness-port"), "Unhealthy: Readiness probe failed, endpoints not ready")[0]


def test_the_pass_rule_is_scenario_accuracy_not_points():
    assert passed(6, 8) and not passed(5, 8) and not passed(0, 0)

    def cells(repaired, diagnosed):
        out = {}
        for k in range(1, 9):
            out[f"slot-{k}-repair"] = (2.0 if k <= repaired else 0.0, 2.0)
            out[f"slot-{k}-diagnosis"] = (2.0 if k <= diagnosed else 0.0, 2.0)
        return out
    # the old rule's loophole: 8 right diagnoses and 4 repairs are 24 of 32 points (75 %), and fail
    v = verdict(cells(4, 8))
    assert (v.repaired, v.scenarios, v.diagnosis, v.diagnosis_max) == (4, 8, 16.0, 16.0) and not v.passed
    assert "FAIL" in v.text() and "4/8" in v.text() and "diagnoses 16/16" in v.text()
    # 6 repairs hold, no diagnosis right: 12 of 32 points, and pass
    v = verdict(cells(6, 0))
    assert v.passed and v.accuracy == 0.75 and "PASS" in v.text()
    # a repair cell at partial points does not count; a missing cell is not repaired
    partial = {**cells(6, 0), "slot-6-repair": (1.0, 2.0)}
    assert not verdict(partial).passed
    assert verdict({k: v for k, v in cells(6, 6).items() if k != "slot-1-repair"}).repaired == 5


def test_the_cli_lists_and_draws():
    runner = CliRunner()
    listed = runner.invoke(main, ["exam", "list"])
    assert listed.exit_code == 0 and all(s.name in listed.output for s in registry.all())
    drawn = runner.invoke(main, ["exam", "draw", "--seed", "2026"])
    assert drawn.exit_code == 0 and [line.split()[1] for line in drawn.output.splitlines()] == names(2026)
    recorded = runner.invoke(main, ["exam", "catalogue"])
    count = len(catalogue.load(RECORDED).entries)
    assert recorded.exit_code == 0 and f"{count} scenarios recorded" in recorded.output, recorded.output
    unknown = runner.invoke(main, ["exam", "check", "no-such", "-n", "x"])
    assert unknown.exit_code == 1 and "no exam scenario named 'no-such'" in unknown.output


def test_the_generated_answers_and_counts_are_what_is_stored():
    from kubelab.exam import answers
    generated = answers.generated(REPO)
    assert REPO / answers.ANSWERS in generated and REPO / "docs" / "grading.md" in generated
    for path, text in generated.items():
        assert path.read_text() == text, f"{path.relative_to(REPO)}: run `kubelab course generate` and commit it"
    assert answers.differences(REPO) == []


def test_scores_by_category_follow_the_draw():
    from kubelab.exam import scores_by_category
    drawn = draw(2026, 8, RECORDED)
    cells = {f"slot-{k}-{part}": (2.0 if k <= 6 else 0.0, 2.0) for k in range(1, 9) for part in ("repair", "diagnosis")}
    by_cat = scores_by_category(cells, "any", seed=2026, catalogue=RECORDED)
    assert by_cat[drawn[0].category] == (4.0, 4.0) and by_cat[drawn[7].category] == (0.0, 4.0)
    assert sum(s for s, _ in by_cat.values()) == 24


def test_scenarios_share_a_namespace_without_clashing():
    # a draw injects every scenario into one namespace: no two may name the same object or pod label
    import string

    import yaml
    seen, labels = {}, {}
    for s in registry.all():
        for text in (s.manifests, getattr(s, "fixed", "")):
            for doc in yaml.safe_load_all(string.Template(text).safe_substitute(namespace="ns", suffix="x")):
                if not doc:
                    continue
                key = (doc["kind"], doc["metadata"]["name"])
                assert seen.setdefault(key, s.name) == s.name, f"{key} in {seen[key]} and {s.name}"
                app = ((doc.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels", {}).get("app")
                if app:
                    assert labels.setdefault(app, s.name) == s.name, f"app={app} in {labels[app]} and {s.name}"
