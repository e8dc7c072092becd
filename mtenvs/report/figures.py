"""The report's PNG figures, drawn with Matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import EngFormatter

from mtenvs.report.analysis import AggregateRow, Analysis

DPI = 100
TITLE_CHARS_PER_INCH = 10  # about what fits of an 11 pt title in one inch of figure width
SHORT_CURVE = 20  # curves with fewer points (e.g. one evaluation at the end) get point markers


def slug(text: str) -> str:
    """A file-name-safe form of an env id or task name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "unnamed"


def _colors(names: list[str]) -> dict[str, str]:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {name: cycle[i % len(cycle)] for i, name in enumerate(names)}


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def suptitle(fig: plt.Figure, title: str) -> None:
    """The figure's title, wrapped to its width (a one-panel figure is narrower than its title)."""
    fig.suptitle(textwrap.fill(title, width=int(TITLE_CHARS_PER_INCH * fig.get_figwidth())), fontsize=11)


def _curve_grid(per_panel: dict, title: str, ylabel: str, path: Path) -> Path:
    """One panel per key of ``per_panel`` (task or metric), one mean line and +-1 std band per algorithm."""
    panels = sorted(per_panel)
    algorithms = sorted({a for curves in per_panel.values() for a in curves})
    colors = _colors(algorithms)
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, panel in zip(axes.ravel(), panels, strict=False):
        for algorithm, curve in sorted(per_panel[panel].items()):
            seeds = int(curve.counts.max())
            marker = "o" if len(curve.steps) < SHORT_CURVE else None  # a lone point draws no line
            ax.plot(curve.steps, curve.mean, color=colors[algorithm], marker=marker, markersize=4,
                    label=f"{algorithm} ({seeds} seeds)")  # fmt: skip
            ax.fill_between(curve.steps, curve.mean - curve.std, curve.mean + curve.std,
                            color=colors[algorithm], alpha=0.2, linewidth=0)  # fmt: skip
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 300k, not 300000 running into its neighbour
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    suptitle(fig, title)
    return _save(fig, path)


def learning_curves(analysis: Analysis, env_id: str, out_dir: Path) -> Path:
    """One panel per task: mean episodic return over seeds with a +-1 std band, x = env steps."""
    title = f"{env_id}: mean over seeds, band = ±1 std"
    return _curve_grid(analysis.curves[env_id], title, "episodic return", out_dir / f"curves_{slug(env_id)}.png")


def metric_curves(analysis: Analysis, env_id: str, out_dir: Path) -> Path:
    """One panel per extra metric (``--metric``), mean over seeds with a +-1 std band."""
    title = f"{env_id}: further metrics, mean over seeds, band = ±1 std"
    return _curve_grid(analysis.metric_curves[env_id], title, "value", out_dir / f"metrics_{slug(env_id)}.png")


def sorted_final_returns(analysis: Analysis, env_id: str, out_dir: Path) -> Path:
    """Every run's final return (mean over tasks), sorted best first, per algorithm (Distral Fig. 4 A2)."""
    by_algorithm = analysis.sorted_final_returns(env_id)
    colors = _colors(sorted(by_algorithm))
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for algorithm, values in by_algorithm.items():
        ranks = [(i + 0.5) / len(values) for i in range(len(values))]  # runs spread over [0, 1]
        ax.plot(ranks, values, marker="o", markersize=3, color=colors[algorithm], label=f"{algorithm} ({len(values)})")
    ax.set_xlabel("run rank (fraction of runs, best first)")
    ax.set_ylabel(f"final return (last {analysis.settings.last_episodes} episodes)")
    ax.set_title(f"{env_id}: sorted final returns of every run", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, out_dir / f"sorted_returns_{slug(env_id)}.png")


def aggregate_intervals(rows: list[AggregateRow], env_id: str, confidence: float, out_dir: Path) -> Path:
    """Median, IQM and mean human-normalized score per algorithm with bootstrap intervals."""
    rows = sorted((r for r in rows if r.env_id == env_id), key=lambda r: r.algorithm)
    colors = _colors([r.algorithm for r in rows])
    fig, axes = plt.subplots(1, 3, figsize=(11, 0.6 * len(rows) + 1.6), squeeze=False)
    for ax, name in zip(axes[0], ("median", "iqm", "mean"), strict=True):
        for y, row in enumerate(rows):
            est = getattr(row, name)
            ax.hlines(y, est.low, est.high, color=colors[row.algorithm], linewidth=10, alpha=0.6)
            ax.plot([est.value], [y], marker="|", markersize=18, markeredgewidth=2, color="black")
        ends = [v for r in rows for v in (getattr(r, name).low, getattr(r, name).high)]
        pad = 0.05 * (max(ends) - min(ends)) or 0.05 * max(abs(max(ends)), 1.0)
        ax.set_xlim(min(ends) - pad, max(ends) + pad)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set_yticks(range(len(rows)), [r.algorithm for r in rows] if name == "median" else [""] * len(rows))
        ax.set_title(name.upper() if name == "iqm" else name.capitalize(), fontsize=10)
        ax.set_xlabel("human-normalized score")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{env_id}: aggregates with {confidence:.0%} stratified bootstrap CIs", fontsize=10)
    return _save(fig, out_dir / f"aggregates_{slug(env_id)}.png")


def sps_per_run(analysis: Analysis, out_dir: Path) -> Path | None:
    """Last logged SPS of every run, grouped by env and algorithm; None when no run logged SPS."""
    rows = [r for r in analysis.run_rows if r.sps == r.sps]  # NaN != NaN: runs without SPS drop out
    if not rows:
        return None
    groups = sorted({(r.env_id, r.algorithm) for r in rows})
    colors = _colors([f"{e} {a}" for e, a in groups])
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(rows) + 1.4))
    for y, row in enumerate(rows):
        ax.barh(y, row.sps, color=colors[f"{row.env_id} {row.algorithm}"])
    ax.set_yticks(range(len(rows)), [f"{r.env_id} {r.algorithm} s{r.seed}" for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("steps per second (last logged charts/SPS)")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out_dir / "sps.png")
