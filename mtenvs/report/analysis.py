"""From runs to the report's numbers: curves, final-performance tables, human-normalized aggregates,
per-run stability, runtime and SPS, and the protocol each run says it used."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from mtenvs.report.runs import EPISODIC_RETURN, EVAL_RETURN, HUMAN_NORMALIZED, SPS, Run, Series, Skipped
from mtenvs.report.stats import (
    Curve,
    Estimate,
    aggregate_iqm,
    aggregate_mean,
    aggregate_median,
    final_value,
    mean_curve,
    mean_std,
    stratified_bootstrap_ci,
)

ALL_TASKS = "all tasks"
# Hyperparameter names a run may log its emulator protocol under (MultiAtari presets, docs/multi_atari.md).
PROTOCOL_KEYS = ("preset", "protocol", "ale_protocol", "repeat_action_probability", "sticky_actions")


@dataclass(frozen=True)
class Settings:
    """How the report summarises runs."""

    last_episodes: int = 10
    """final performance = mean of each run's last this-many logged training episodes (series logged
    once per evaluation, ``eval/*``, are summarised by each run's last evaluation instead)"""
    smooth_window: int = 10
    """learning curves: trailing moving average over this many logged episodes before averaging seeds"""
    curve_points: int = 100
    """learning curves: points of the common step grid"""
    bootstrap_reps: int = 2000
    """stratified bootstrap resamples for the aggregate confidence intervals"""
    confidence: float = 0.95
    """confidence level of the aggregate intervals"""
    seed: int = 0
    """seed of the bootstrap, so the intervals are reproducible"""
    extra_metrics: tuple[str, ...] = ()
    """further scalar tags (e.g. ``eval/normalized_return``) drawn and tabled like the returns"""


@dataclass(frozen=True)
class FinalRow:
    env_id: str
    algorithm: str
    task: str
    mean: float
    std: float
    runs: int


@dataclass(frozen=True)
class AggregateRow:
    env_id: str
    algorithm: str
    runs: int
    tasks: int
    median: Estimate
    iqm: Estimate
    mean: Estimate


@dataclass(frozen=True)
class RunRow:
    name: str
    env_id: str
    algorithm: str
    seed: int
    env_steps: float
    runtime_s: float
    sps: float
    final_return: float
    protocol: str


@dataclass
class Analysis:
    runs: list[Run]
    skipped: list[Skipped]
    settings: Settings
    curves: dict[str, dict[str, dict[str, Curve]]] = field(default_factory=dict)
    """env_id -> task -> algorithm -> curve"""
    metric_curves: dict[str, dict[str, dict[str, Curve]]] = field(default_factory=dict)
    """env_id -> extra metric tag -> algorithm -> curve"""
    metric_rows: list[FinalRow] = field(default_factory=list)
    """last logged value of each extra metric, over runs (the ``task`` field holds the tag)"""
    final_rows: list[FinalRow] = field(default_factory=list)
    eval_rows: list[FinalRow] = field(default_factory=list)
    """each run's last evaluation (``eval/episodic_return/<task>``), over runs"""
    hns_rows: list[FinalRow] = field(default_factory=list)
    aggregates: list[AggregateRow] = field(default_factory=list)
    run_rows: list[RunRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def env_ids(self) -> list[str]:
        return sorted({r.env_id for r in self.runs})

    def sorted_final_returns(self, env_id: str) -> dict[str, list[float]]:
        """Per algorithm, every run's final return (mean over tasks), sorted best first."""
        by_algorithm: dict[str, list[float]] = defaultdict(list)
        for row in self.run_rows:
            if row.env_id == env_id and np.isfinite(row.final_return):
                by_algorithm[row.algorithm].append(row.final_return)
        return {a: sorted(v, reverse=True) for a, v in sorted(by_algorithm.items())}


def task_series(run: Run, prefix: str) -> dict[str, Series]:
    """``<prefix>/<task>`` series by task; a run logging only ``<prefix>`` gives one ``all tasks`` entry."""
    tasks = {t: run.scalars[f"{prefix}/{t}"] for t in run.tasks(prefix) if len(run.scalars[f"{prefix}/{t}"])}
    if not tasks and prefix in run.scalars and len(run.scalars[prefix]):
        tasks = {ALL_TASKS: run.scalars[prefix]}
    return tasks


def run_protocol(run: Run) -> str:
    """The emulator protocol a run logged in its hyperparameters, or ``unknown``."""
    found = [f"{k}={run.hyperparameters[k]}" for k in PROTOCOL_KEYS if k in run.hyperparameters]
    return ", ".join(found) if found else "unknown"


def _final_rows(groups: dict[tuple[str, str, str], list[float]]) -> list[FinalRow]:
    rows = []
    for (env_id, algorithm, task), values in sorted(groups.items()):
        mean, std, n = mean_std(values)
        rows.append(FinalRow(env_id, algorithm, task, mean, std, n))
    return rows


def analyse(runs: list[Run], skipped: list[Skipped], settings: Settings | None = None) -> Analysis:
    """Every number and curve of the report."""
    settings = settings or Settings()
    ordered = sorted(runs, key=lambda r: (r.env_id, r.algorithm, r.seed, r.name))
    result = Analysis(runs=ordered, skipped=list(skipped), settings=settings)
    final: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    evals: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    hns: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    curve_series: dict[tuple[str, str, str], list[Series]] = defaultdict(list)
    tasks_seen: dict[tuple[str, str], set[str]] = defaultdict(set)

    for run in result.runs:
        returns = task_series(run, EPISODIC_RETURN)
        if not returns:
            result.skipped.append(
                Skipped(run.name, f"no {EPISODIC_RETURN} metric: left out of curves, tables and stability plot")
            )
        for task, series in returns.items():
            curve_series[(run.env_id, task, run.algorithm)].append(series)
            final[(run.env_id, run.algorithm, task)].append(final_value(series, settings.last_episodes))
            tasks_seen[(run.env_id, run.algorithm)].add(task)
        # Each eval point is already a whole evaluation (a mean over its episodes): a window of the last
        # N points would average evaluations from early in training into the final score.
        for task, series in task_series(run, EVAL_RETURN).items():
            evals[(run.env_id, run.algorithm, task)].append(final_value(series, 1))
        for task, series in task_series(run, HUMAN_NORMALIZED).items():
            hns[(run.env_id, run.algorithm, task)].append(final_value(series, settings.last_episodes))
        finals = [final_value(s, settings.last_episodes) for s in returns.values()]
        sps = run.scalars.get(SPS)
        if sps is None or not len(sps):
            result.skipped.append(Skipped(run.name, f"no {SPS} metric: SPS shown as n/a"))
        result.run_rows.append(
            RunRow(
                name=run.name,
                env_id=run.env_id,
                algorithm=run.algorithm,
                seed=run.seed,
                env_steps=run.env_steps,
                runtime_s=run.runtime_s,
                sps=float(sps.values[-1]) if sps is not None and len(sps) else float("nan"),
                final_return=float(np.mean(finals)) if finals else float("nan"),
                protocol=run_protocol(run),
            )
        )

    for run in result.runs:
        expected = tasks_seen[(run.env_id, run.algorithm)]
        missing = expected - set(task_series(run, EPISODIC_RETURN))
        if missing and task_series(run, EPISODIC_RETURN):
            result.skipped.append(
                Skipped(run.name, f"no episodic return for task(s) {', '.join(sorted(missing))}: fewer seeds there")
            )

    partial: dict[tuple[str, str], list[float]] = {}
    for (env_id, task, algorithm), series in sorted(curve_series.items()):
        curve = mean_curve(series, points=settings.curve_points, window=settings.smooth_window)
        result.curves.setdefault(env_id, {}).setdefault(task, {})[algorithm] = curve
        if curve.counts.min() < curve.counts.max():
            partial.setdefault((env_id, algorithm), []).extend(float(s.steps[-1]) for s in series)
    for (env_id, algorithm), ends in sorted(partial.items()):
        result.notes.append(
            f"{env_id} / {algorithm}: runs end between steps {min(ends):.0f} and {max(ends):.0f}; "
            "past a run's end its curves average fewer runs (the legend gives the most)."
        )

    metric_final: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    metric_series: dict[tuple[str, str, str], list[Series]] = defaultdict(list)
    for tag in settings.extra_metrics:
        having = [run for run in result.runs if tag in run.scalars and len(run.scalars[tag])]
        if not having:
            result.skipped.append(Skipped(f"metric {tag}", "no run logged it"))
        for run in having:
            metric_series[(run.env_id, tag, run.algorithm)].append(run.scalars[tag])
            metric_final[(run.env_id, run.algorithm, tag)].append(final_value(run.scalars[tag], 1))
    for (env_id, tag, algorithm), series in sorted(metric_series.items()):
        curve = mean_curve(series, points=settings.curve_points, window=1)
        result.metric_curves.setdefault(env_id, {}).setdefault(tag, {})[algorithm] = curve
    result.metric_rows = _final_rows(metric_final)

    result.final_rows = _final_rows(final)
    result.eval_rows = _final_rows(evals)
    result.hns_rows = _final_rows(hns)

    by_group: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(dict)
    for (env_id, algorithm, task), values in sorted(hns.items()):
        finite = [v for v in values if np.isfinite(v)]
        if finite:
            by_group[(env_id, algorithm)][task] = finite
    for (env_id, algorithm), per_task in sorted(by_group.items()):
        scores = [np.asarray(v) for v in per_task.values()]
        ci = {"reps": settings.bootstrap_reps, "confidence": settings.confidence, "seed": settings.seed}
        result.aggregates.append(
            AggregateRow(
                env_id=env_id,
                algorithm=algorithm,
                runs=max(len(v) for v in scores),
                tasks=len(scores),
                median=stratified_bootstrap_ci(scores, aggregate_median, **ci),
                iqm=stratified_bootstrap_ci(scores, aggregate_iqm, **ci),
                mean=stratified_bootstrap_ci(scores, aggregate_mean, **ci),
            )
        )
    return result
