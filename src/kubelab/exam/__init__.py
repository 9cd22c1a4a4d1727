"""The troubleshooting exam: a catalogue of broken ML workloads (one registered class per scenario in
exam.scenarios, categories registered the same way), a seeded draw from the catalogue recorded when the exam was
released (exam.catalogue) that varies the categories and never puts two scenarios with conflicting namespace-wide
objects together, and the grading of each scenario on the live cluster: the repair must hold (rejecting repairs
that only hide the symptom), which decides the pass (scenario accuracy), and the diagnosis, scored apart, must
name the category and the evidence.

    exam = kl.exam.start(api, ns, seed=2026, count=8, catalogue="catalogue.yaml")   # draw + inject
    exam.ticket(1); exam.check()                        # the ticket; check my work (live)
    kl.exam.grade_repair(kl.grading.Partial(out_of=2), exam, 1)
    kl.exam.grade_diagnosis(kl.grading.Partial(out_of=2), exam, 1, kl.exam.Diagnosis("image", "ImagePullBackOff"))
    exam.summary()                                      # scenario accuracy: PASS or FAIL

`registry` lists the scenarios; `kubelab exam list|draw|inject|check|catalogue` drives them from a terminal.
"""
from . import catalogue
from .scenario_registry import (CATEGORIES, NAMESPACE_WIDE, RIGHTS, ScenarioRegistry, Scenario, conflict, draw, register,
                       register_category, registry)
from .session import (PASS_MARK, POINTS, SLOT_POINTS, Diagnosis, Exam, Verdict, cell_names, diagnosis_right,
                      evidence_right, grade_diagnosis, grade_repair, passed, repair_holds, scores_by_category, seed_for,
                      start, verdict)

__all__ = ["CATEGORIES", "Diagnosis", "Exam", "NAMESPACE_WIDE", "PASS_MARK", "POINTS", "RIGHTS", "ScenarioRegistry",
           "SLOT_POINTS", "Scenario", "Verdict", "catalogue", "cell_names", "conflict", "diagnosis_right", "draw", "evidence_right",
           "grade_diagnosis", "grade_repair", "passed", "register", "register_category", "registry", "repair_holds",
           "scores_by_category", "seed_for", "start", "verdict"]
