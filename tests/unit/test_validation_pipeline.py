"""The validation pipeline of the course's own manifests, offline (no cluster): kubeconform with the strict
schemas of exactly this Kubernetes version on every manifest under solutions/, source/ and the notebooks'
charts (rendered with each values file), helm lint of every chart, kube-score on the reference workloads and on
the reference chart of Lab 2 as rendered. (Its live install + `helm test` from the registry is in the cluster
tier: tests/cluster/test_registry.py.)"""
from __future__ import annotations

import string
from pathlib import Path

import pytest

from kubelab import tools

ROOT = Path(__file__).parents[2]
CHARTS = sorted(p.parent for p in (ROOT / "notebooks" / "charts").glob("*/Chart.yaml"))
# the reference charts of the labs; a chart that needs values (an API key) brings them in ci/*-values.yaml
LAB_CHARTS = sorted(p.parent for p in (ROOT / "solutions").rglob("Chart.yaml"))
_IN_A_CHART = {p.parent for folder in ("solutions", "source") for p in (ROOT / folder).rglob("Chart.yaml")}
# plain manifests: a chart's files are templates (rendered below), not manifests
MANIFESTS = sorted(p for folder in ("solutions", "source") for p in (ROOT / folder).rglob("*.y*ml")
                   if not any(c in p.parents for c in _IN_A_CHART))


def _invalid(*files) -> list[str]:
    return [f"{Path(r['filename']).name}: {r.get('kind')}/{r.get('name')}: {r.get('msg', '')[-200:]}"
            for r in tools.kubeconform(*files) if r.get("kind") and r.get("status") != "statusValid"]


# the names a lab fills in when it applies a file (kl.course.lab.apply_files): valid as filled in
FILLED = {"namespace": "ann-lab3", "platform": "ann-capstone", "serving": "ann-capstone-serving",
          "training": "ann-capstone-training"}


def test_every_manifest_of_the_course_is_valid_for_this_kubernetes(tmp_path):
    filled = []
    for i, path in enumerate(MANIFESTS):
        filled.append(tmp_path / f"{i:03d}-{path.parent.name}-{path.name}")
        filled[-1].write_text(string.Template(path.read_text()).safe_substitute(FILLED))
    assert MANIFESTS and _invalid(*filled) == []


@pytest.mark.parametrize("chart", CHARTS + LAB_CHARTS, ids=lambda p: p.name)
def test_every_chart_lints_and_renders_valid_objects_with_each_values_file(chart, tmp_path):
    values = sorted(chart.glob("ci/*-values.yaml")) or [None, *sorted(chart.glob("values-*.yaml"))]
    for v in values:
        args = ["-f", str(v)] if v else []
        tools.helm(None, "lint", str(chart), *args)  # raises with helm's findings on failure
        rendered = tmp_path / f"{chart.name}-{v.stem if v else 'default'}.yaml"
        rendered.write_text(tools.helm(None, "template", "check", str(chart), *args))
        assert _invalid(rendered) == [], v


def test_the_reference_workloads_have_no_kube_score_critical():
    lab1 = ROOT / "solutions" / "lab1-cluster-manifests" / "manifests"
    critical = [f for f in tools.kube_score(*sorted(lab1.glob("*.yaml")), ignore=("networkpolicy-targets-pod",))
                if f["grade"] == "CRITICAL"]
    assert critical == []


@pytest.mark.parametrize("chart", LAB_CHARTS, ids=lambda p: p.parent.name)
def test_the_reference_charts_render_no_kube_score_critical_and_lint_strict(chart, tmp_path):
    # the two checks Lab 2 leaves out, for the reason its notebook gives (the platform's policies and budgets)
    for v in sorted(chart.glob("ci/*-values.yaml")):
        tools.helm(None, "lint", "--strict", str(chart), "-f", str(v))
        rendered = tmp_path / f"{v.stem}.yaml"
        rendered.write_text(tools.helm(None, "template", "model-server", str(chart), "-f", str(v)))
        critical = [f for f in tools.kube_score(rendered, ignore=("pod-networkpolicy", "deployment-has-poddisruptionbudget"))
                    if f["grade"] == "CRITICAL"]
        assert critical == [], v
