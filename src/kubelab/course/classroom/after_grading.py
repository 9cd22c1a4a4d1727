"""What the class loop does to a learner's autograded folder after their run: nbgrader preprocessors (nbconvert
Preprocessors) over each notebook, and the same credential scrub over the folder's other files.

- RemoveSecrets replaces each credential the run held (the learner's token, the grader's) in every string of
  the notebook: sources, outputs of every kind, metadata;
- GradingNotes puts the run's notes first, as a markdown cell: so the learner's feedback opens with them;
- cell_notes reads what a graded notebook's cells say went wrong: a cell that raised or timed out, a Partial test
  cell that kept part of its points (only its output says which check lost them).

autograded/ is nbgrader's, which leaves its files read-only (0444): `rewrite` writes one and leaves it so."""
from __future__ import annotations

from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode

__all__ = ["NOTES_CELL", "REMOVED", "GradingNotes", "RemoveSecrets", "cell_notes", "rewrite", "scrub_file"]

REMOVED = "[credential removed by the grader]"
NOTES_CELL = "kubelab-grading-notes"


class RemoveSecrets(NbGraderPreprocessor):
    """Replace each of `secrets` by REMOVED in every string of the notebook; `found` says whether one was there."""
    secrets = List(Unicode())

    def preprocess(self, nb, resources):
        self.found = False
        return self._clean(nb), resources

    def _clean(self, value):
        if isinstance(value, str):
            clean = value
            for secret in self.secrets:
                clean = clean.replace(secret, REMOVED)
            self.found |= clean != value
            return clean
        if isinstance(value, dict):
            for key in value:
                value[key] = self._clean(value[key])
        elif isinstance(value, list):
            value[:] = [self._clean(v) for v in value]
        return value


class GradingNotes(NbGraderPreprocessor):
    """The run's `notes` as the notebook's first cell (none without notes)."""
    notes = List(Unicode())

    def preprocess(self, nb, resources):
        from nbformat.v4 import new_markdown_cell

        if self.notes:
            nb.cells.insert(0, new_markdown_cell("**Grading notes**\n\n" + "\n".join(f"- {n}" for n in self.notes),
                                                 id=NOTES_CELL))
        return nb, resources


def cell_notes(nb, name: str) -> list[str]:
    """What the cells of the graded notebook `name` say went wrong, one note each."""
    notes = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        grader = cell.get("metadata", {}).get("nbgrader") or {}
        cell_id = grader.get("grade_id") or f"#{i + 1}"
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                what = ("timed out (interrupted)" if out.get("ename") == "CellTimeoutError"
                        else f"raised {out.get('ename')}: {str(out.get('evalue', ''))[:160]}")
                notes.append(f"{name} cell {cell_id} {what}")
        if grader.get("grade") and not grader.get("solution"):
            # a Partial test cell keeps part of its points and raises nothing: its "FAIL name (p/q): problem" lines
            text = "".join("".join(out.get("text") or "") for out in cell.get("outputs", [])
                           if out.get("output_type") == "stream" and out.get("name") == "stdout")
            notes += [f"{name} cell {cell_id} lost points: {line[len('FAIL '):][:240]}"
                      for line in text.splitlines() if line.startswith("FAIL ")]
    return notes


def scrub_file(path: Path, secrets: list[str]) -> bool:
    """Replace `secrets` in a text file of autograded/ (not a notebook: RemoveSecrets does those); whether one was."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return False
    clean = text
    for secret in secrets:
        clean = clean.replace(secret, REMOVED)
    if clean != text:
        rewrite(path, clean)
    return clean != text


def rewrite(path: Path, text: str) -> None:
    """Write a file of autograded/, which nbgrader leaves read-only (0444), and leave it read-only again."""
    mode = path.stat().st_mode
    path.chmod(mode | 0o200)
    try:
        path.write_text(text, encoding="utf-8")
    finally:
        path.chmod(mode)
