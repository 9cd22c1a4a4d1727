"""Charts of a class's grades (DataFrame in, Axes out), for `kubelab course report`: the score distribution
per assignment and the learner x learning-objective table. Measured scores from the gradebook, not
simulated data."""
from __future__ import annotations

import pandas as pd

__all__ = ["category_distribution", "objective_heatmap", "progress_heatmap", "score_distribution"]


def _axes(ax, size):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=size)
    return ax


def _boxes(frame: pd.DataFrame, by: str, ax, width: float, label=lambda name, values: name):
    """One box per value of column `by` of the learners' `percent`, each learner a dot; the y axis in %."""
    names = sorted(frame[by].unique())
    ax = _axes(ax, (1.6 + width * max(len(names), 1), 3.6))
    data = [frame.loc[frame[by] == n, "percent"].dropna().to_numpy() for n in names]
    if names:
        ax.boxplot(data, widths=0.5, showfliers=False)
        for i, values in enumerate(data, start=1):
            ax.scatter([i] * len(values), values, s=14, alpha=0.7, zorder=3)
        ax.set_xticks(range(1, len(names) + 1), [label(n, d) for n, d in zip(names, data)], rotation=20, ha="right")
    ax.set_ylim(-5, 105)
    ax.set_ylabel("score (%)")
    return ax


def score_distribution(percent: pd.DataFrame, ax=None):
    """One box per assignment of its learners' % (columns assignment, student_id, percent), each learner a dot."""
    ax = _boxes(percent, "assignment", ax, 1.4)
    ax.axhline(75, color="#d62828", lw=0.8, ls="--",
               label="75 % (the exam passes on 75 % of its scenarios repaired, not of points: exam.csv)")
    ax.set_title(f"Score distribution per assignment ({percent['student_id'].nunique()} learners)")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def _heatmap(table: pd.DataFrame, title: str, ax=None):
    ax = _axes(ax, (1.8 + 1.3 * max(len(table.columns), 1), 1.2 + 0.35 * max(len(table), 1)))
    image = ax.imshow(table.to_numpy(dtype=float), vmin=0, vmax=100, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(table.columns)), list(table.columns), rotation=20, ha="right")
    ax.set_yticks(range(len(table.index)), list(table.index))
    for (r, c), value in pd.DataFrame(table.to_numpy(dtype=float)).stack().items():
        ax.text(c, r, f"{value:.0f}", ha="center", va="center", fontsize=8)
    ax.figure.colorbar(image, ax=ax, label="% of the points")
    ax.set_title(title)
    return ax


def objective_heatmap(table: pd.DataFrame, ax=None):
    """learner (rows) x objective (columns) in %, with the value in each cell."""
    return _heatmap(table, "Learning objectives per learner", ax)


def progress_heatmap(table: pd.DataFrame, ax=None):
    """learner (rows) x assignment (columns, in the module's order) in %: each learner's way through the module."""
    return _heatmap(table, "Each learner through the module (% per assignment; no submission: 0)", ax)


def category_distribution(scores: pd.DataFrame, ax=None):
    """One box per exam scenario category of the learners' % in it (columns student_id, category, percent):
    which kinds of failure the class diagnoses and repairs, and which it does not."""
    ax = _boxes(scores, "category", ax, 1.2, label=lambda name, values: f"{name}\n(n={len(values)})")
    ax.set_title(f"Exam: score per scenario category ({scores['student_id'].nunique()} learners)")
    return ax
