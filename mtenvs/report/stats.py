"""Statistics of the report: final performance, IQM and stratified bootstrap confidence intervals
(the method of Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice", as rliable
implements it), and curves resampled onto a common step grid."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mtenvs.report.runs import Series

# Per task, the scores of every run that has that task: a ragged "runs x tasks" matrix.
ScoresByTask = Sequence[np.ndarray]


def final_value(series: Series, last_n: int) -> float:
    """Mean of the last ``last_n`` logged values (the last episodes' returns)."""
    if last_n < 1:
        raise ValueError(f"last_n must be >= 1, got {last_n}.")
    if len(series) == 0:
        return float("nan")
    return float(np.mean(series.values[-last_n:]))


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof=1; NaN for a single value) and count of the finite values."""
    finite = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return float("nan"), float("nan"), 0
    std = float(np.std(finite, ddof=1)) if finite.size > 1 else float("nan")
    return float(np.mean(finite)), std, int(finite.size)


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all scores: sort, drop ``int(0.25 * n)`` from each end, average the rest
    (scipy's ``trim_mean(x, 0.25)`` over the flattened runs x tasks, as rliable's IQM)."""
    flat = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    if flat.size == 0:
        raise ValueError("IQM of an empty set of scores.")
    cut = int(0.25 * flat.size)
    return float(np.mean(flat[cut : flat.size - cut]))


def aggregate_iqm(scores_by_task: ScoresByTask) -> float:
    """IQM over all runs of all tasks."""
    return iqm(np.concatenate([np.asarray(s, dtype=np.float64) for s in scores_by_task]))


def aggregate_median(scores_by_task: ScoresByTask) -> float:
    """Median over tasks of the per-task mean score (rliable's aggregate median)."""
    return float(np.median([np.mean(s) for s in scores_by_task]))


def aggregate_mean(scores_by_task: ScoresByTask) -> float:
    """Mean over tasks of the per-task mean score."""
    return float(np.mean([np.mean(s) for s in scores_by_task]))


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap percentile confidence interval."""

    value: float
    low: float
    high: float

    def format(self, digits: int = 3) -> str:
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def stratified_bootstrap_ci(
    scores_by_task: ScoresByTask,
    statistic: Callable[[ScoresByTask], float],
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Percentile interval of ``statistic`` over ``reps`` stratified bootstrap resamples: each
    resample draws, within every task separately, as many runs as that task has, with replacement.
    The same ``seed`` gives the same interval."""
    if not scores_by_task or any(len(s) == 0 for s in scores_by_task):
        raise ValueError("Every task needs at least one run score for a bootstrap interval.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}.")
    rng = np.random.default_rng(seed)
    tasks = [np.asarray(s, dtype=np.float64) for s in scores_by_task]
    draws = [rng.integers(0, len(t), size=(reps, len(t))) for t in tasks]
    stats = np.array([statistic([t[d[r]] for t, d in zip(tasks, draws, strict=True)]) for r in range(reps)])
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(stats, [tail, 100.0 - tail])
    return Estimate(statistic(tasks), float(low), float(high))


@dataclass(frozen=True)
class Curve:
    """Mean and spread of several runs' curves on one step grid; ``counts`` runs cover each point."""

    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    counts: np.ndarray


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` points (shorter at the start)."""
    if window <= 1 or len(values) == 0:
        return np.asarray(values, dtype=np.float64)
    sums = np.cumsum(np.insert(np.asarray(values, dtype=np.float64), 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    start = np.maximum(idx - window, 0)
    return (sums[idx] - sums[start]) / (idx - start)


# Runs whose last steps differ by at most this fraction ended together (episodes end at different
# steps); the curve then stops at the first end instead of averaging fewer runs over the last sliver.
END_TOLERANCE = 0.05


def mean_curve(series: Sequence[Series], points: int = 100, window: int = 1) -> Curve:
    """Mean and std over runs of curves logged at different steps, interpolated onto one grid of
    ``points`` steps. The grid spans the earliest first step to the latest last step; when the runs
    start and end within ``END_TOLERANCE`` of each other (episodes end a few steps apart), it spans
    only the stretch every run covers. A run contributes only between its first and last logged step
    (never extrapolated), so past a short run's end the mean averages fewer runs; ``counts`` says
    how many."""
    usable = [s for s in series if len(s)]
    if not usable:
        raise ValueError("No run has a point to draw.")
    ends = [float(s.steps[-1]) for s in usable]
    end = min(ends) if min(ends) >= (1.0 - END_TOLERANCE) * max(ends) else max(ends)
    starts = [float(s.steps[0]) for s in usable]  # the first episode ends some steps in
    start = max(starts) if max(starts) <= END_TOLERANCE * end else min(starts)
    grid = np.linspace(start, end, points) if end > start else np.array([end])
    stack = np.full((len(usable), len(grid)), np.nan)
    for i, s in enumerate(usable):
        values = smooth(s.values, window)
        inside = (grid >= s.steps[0]) & (grid <= s.steps[-1])
        stack[i, inside] = np.interp(grid[inside], s.steps, values)
    counts = np.sum(np.isfinite(stack), axis=0)
    with warnings.catch_warnings():  # grid points no run covers stay NaN, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(stack, axis=0)
        std = np.nanstd(stack, axis=0)
    return Curve(grid, mean, std, counts)
