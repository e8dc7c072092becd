"""``mtenvs report``: runs (TensorBoard event files, or W&B runs when online) to a Markdown report
with PNG figures. :func:`make_report` is the whole pipeline; the modules split it by responsibility:
``runs`` reads, ``stats`` and ``analysis`` compute, ``figures`` draws, ``markdown`` writes,
``wandb_report`` publishes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mtenvs.report.analysis import Analysis, Settings, analyse
from mtenvs.report.runs import Run, Skipped, load_tensorboard_runs, load_wandb_runs

__all__ = ["Analysis", "ReportResult", "Settings", "make_report", "read_manifest_commands"]


@dataclass(frozen=True)
class ReportResult:
    analysis: Analysis
    markdown: Path
    figures: list[Path]


def read_manifest_commands(path: str | Path) -> list[str]:
    """The commands of a ``mtenvs benchmark`` manifest, in grid order."""
    manifest = Path(path)
    try:
        entries = json.loads(manifest.read_text())["runs"]
        return [entry["command"] for entry in entries]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{str(manifest)!r} is not a readable mtenvs benchmark manifest: {err}") from err


def make_report(
    runs_dir: str | Path | None,
    out_dir: str | Path,
    settings: Settings | None = None,
    manifest: str | Path | None = None,
    wandb_project: str | None = None,
    title: str = "mtenvs benchmark report",
    invocation: str = "",
    jobs: int = 1,
) -> ReportResult:
    """Read runs, compute every table, draw every figure and write ``OUT/report.md``."""
    from mtenvs.report import figures as fig
    from mtenvs.report.markdown import write_markdown

    if runs_dir is None and wandb_project is None:
        raise ValueError("Give a runs directory, a W&B project (entity/project), or both.")
    commands = read_manifest_commands(manifest) if manifest is not None else []
    runs: list[Run] = []
    skipped: list[Skipped] = []
    if runs_dir is not None:
        runs, skipped = load_tensorboard_runs(runs_dir, jobs=jobs)
    if wandb_project is not None:
        wandb_runs, wandb_skipped = load_wandb_runs(wandb_project)
        runs += wandb_runs
        skipped += wandb_skipped
    analysis = analyse(runs, skipped, settings)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, list[Path]] = {"curves": [], "metrics": [], "sorted": [], "aggregates": [], "sps": []}
    for env_id in analysis.env_ids:
        if env_id in analysis.curves:
            figures["curves"].append(fig.learning_curves(analysis, env_id, out))
        if env_id in analysis.metric_curves:
            figures["metrics"].append(fig.metric_curves(analysis, env_id, out))
        if analysis.sorted_final_returns(env_id):
            figures["sorted"].append(fig.sorted_final_returns(analysis, env_id, out))
        if any(a.env_id == env_id for a in analysis.aggregates):
            figures["aggregates"].append(
                fig.aggregate_intervals(analysis.aggregates, env_id, analysis.settings.confidence, out)
            )
    sps = fig.sps_per_run(analysis, out)
    if sps is not None:
        figures["sps"].append(sps)
    markdown = write_markdown(analysis, out, figures, commands, title, invocation or f"mtenvs report {runs_dir}")
    return ReportResult(analysis, markdown, [p for paths in figures.values() for p in paths])
