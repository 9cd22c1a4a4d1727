"""The settings: one table of KUBELAB_* variables, one frozen reading of them, and no other reader."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

import kubelab
from kubelab import settings

pytestmark = pytest.mark.unit
SRC = Path(kubelab.__file__).parent


def test_current_reads_each_variable_and_is_frozen():
    env = {"KUBELAB_REGISTRY": "127.0.0.1:5000", "KUBELAB_CONTEXT": "", "KUBELAB_HEADLESS": "1",
           "KUBELAB_NAMESPACES": "lab1-ada, lab2-ada,", "OTHER": "x"}
    s = settings.current(env)
    assert s.registry == "127.0.0.1:5000" and s.context is None  # empty reads as unset
    assert s.is_headless and s.namespace_list == ["lab1-ada", "lab2-ada"]
    assert not settings.current({"KUBELAB_HEADLESS": "0"}).is_headless
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.registry = "elsewhere"


def test_current_follows_the_environment(monkeypatch):
    monkeypatch.setenv(settings.LEARNER, "grace")
    assert settings.current().learner == "grace"
    monkeypatch.delenv(settings.LEARNER)
    assert settings.current().learner is None


def test_no_other_module_reads_a_kubelab_variable_by_its_name():
    # writes for a child process use the constants; reads go through settings.current()
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "settings.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if re.search(r"""["']KUBELAB_[A-Z_]+["']""", code) and not code.lstrip().startswith(('"', "'")):
                offenders.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert offenders == []


def test_every_variable_is_documented():
    for name, (field, what, default) in settings.VARIABLES.items():
        assert name.startswith("KUBELAB_") and what and default, name
