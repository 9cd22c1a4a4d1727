"""The guides (docs/*.md) and the README: every relative link resolves, the Jupyter Book's table of contents names
files that exist, and the contributor guide's settings table is the code's (kubelab.settings.VARIABLES)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from kubelab.settings import VARIABLES

pytestmark = pytest.mark.unit
REPO = Path(__file__).parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#")[0]
        if path and not (page.parent / path).exists():
            broken.append(target)
    assert broken == []


def test_the_table_of_contents_names_files_that_exist():
    def files(entries):
        for e in entries:
            if "file" in e:
                yield e["file"]
            yield from files(e.get("children", []))
    toc = yaml.safe_load((REPO / "docs" / "myst.yml").read_text())["project"]["toc"]
    listed = list(files(toc))
    assert len(listed) >= 15 and all((REPO / "docs" / f).is_file() for f in listed), listed


def test_the_settings_table_is_the_codes():
    text = (REPO / "docs" / "contributor.md").read_text()
    documented = set(re.findall(r"^\| `(KUBELAB_[A-Z_]+)` \|", text, re.M))
    hub = {n for n in documented if n.startswith("KUBELAB_HUB_")}
    assert documented - hub == set(VARIABLES)
