"""The troubleshooting exam: a catalogue of broken ML workloads (one registered class per scenario in
exam.scenarios), a seeded draw that varies the categories, and the grading of each scenario on the live
cluster: the repair must hold (rejecting repairs that only hide the symptom) and the diagnosis must name
the category and the evidence.

    exam = kl.exam.start(api, ns, seed=2026, count=8)   # draw + inject
    exam.ticket(1); exam.check()                        # the ticket; check my work (live)
    kl.exam.grade(kl.grading.Partial(out_of=4), exam, 1, kl.exam.Diagnosis("image", "ImagePullBackOff"))

`registry` lists the scenarios; `kubelab exam list|draw|inject|check` drives them from a terminal.
"""
from .registry import CATEGORIES, Registry, Scenario, draw, register, registry
from .session import (PASS_MARK, POINTS, SLOT_POINTS, Diagnosis, Exam, diagnosis_right, evidence_right, grade, passed,
                      repair_holds, scores_by_category, seed_for, start)

__all__ = ["CATEGORIES", "Diagnosis", "Exam", "PASS_MARK", "POINTS", "Registry", "SLOT_POINTS", "Scenario",
           "diagnosis_right", "draw", "evidence_right", "grade", "passed", "register", "registry", "repair_holds",
           "scores_by_category", "seed_for", "start"]
