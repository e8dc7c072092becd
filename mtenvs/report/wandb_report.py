"""Publishing the report as a W&B report (``wandb_workspaces``), for runs tracked in a W&B project.

The W&B report holds native line plots (per task, mean over seeds with a std band, grouped by
``exp_name``, one panel grid per env id) over the project's runs, and the report's tables
(final performance, human-normalized aggregates with CIs, sorted final returns, runtime and SPS) as
Markdown blocks. Matplotlib figures are not uploaded: their numbers are in those tables.
"""

from __future__ import annotations

import os

from mtenvs.report.analysis import ALL_TASKS, Analysis
from mtenvs.report.markdown import fmt, table

OFFLINE_MODES = ("offline", "disabled", "dryrun")


def check_online(project_path: str | None) -> tuple[str, str]:
    """``(entity, project)`` when a W&B report can be published; a clear ``ValueError`` otherwise.
    Called before anything else is read or written."""
    if not os.environ.get("WANDB_API_KEY"):
        raise ValueError("--wandb-report needs a W&B account: set WANDB_API_KEY (reports cannot be made offline).")
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in OFFLINE_MODES:
        raise ValueError(f"--wandb-report needs W&B online, but WANDB_MODE={mode}; unset it or set WANDB_MODE=online.")
    if not project_path or project_path.count("/") != 1 or "" in project_path.split("/"):
        raise ValueError("--wandb-report needs --wandb-project ENTITY/PROJECT, the project the runs were tracked in.")
    entity, project = project_path.split("/")
    return entity, project


def _markdown_tables(analysis: Analysis, env_id: str) -> str:
    lines = ["**Final performance** (mean ± std over runs of each run's last "
             f"{analysis.settings.last_episodes} episodes)", ""]  # fmt: skip
    lines += table(
        ["task", "algorithm", "mean ± std", "runs"],
        [[r.task, r.algorithm, f"{fmt(r.mean)} ± {fmt(r.std)}", str(r.runs)]
         for r in analysis.final_rows if r.env_id == env_id],
    )  # fmt: skip
    aggregates = [a for a in analysis.aggregates if a.env_id == env_id]
    if aggregates:
        level = f"{analysis.settings.confidence:.0%}"
        lines += ["", f"**Human-normalized aggregates** ({level} stratified bootstrap CIs)", ""]
        lines += table(
            ["algorithm", "median [CI]", "IQM [CI]", "mean [CI]"],
            [[a.algorithm, a.median.format(), a.iqm.format(), a.mean.format()] for a in aggregates],
        )
    lines += ["", "**Sorted final returns of every run** (stability, Distral Fig. 4 A2)", ""]
    lines += table(
        ["algorithm", "final returns, best first"],
        [[a, ", ".join(fmt(v) for v in values)] for a, values in analysis.sorted_final_returns(env_id).items()],
    )
    lines += ["", "**Runtime and SPS**", ""]
    lines += table(
        ["run", "env steps", "runtime (s)", "SPS", "protocol"],
        [[r.name, fmt(r.env_steps, 0), fmt(r.runtime_s, 1), fmt(r.sps, 0), r.protocol]
         for r in analysis.run_rows if r.env_id == env_id],
    )  # fmt: skip
    return "\n".join(lines)


def build_wandb_report(analysis: Analysis, entity: str, project: str, title: str):
    """The ``wandb_workspaces`` report object (not yet saved)."""
    import wandb_workspaces.reports.v2 as wr

    blocks: list = [
        wr.P(f"{len(analysis.runs)} runs; made by mtenvs report. Skipped items: {len(analysis.skipped)}."),
    ]
    for env_id in analysis.env_ids:
        tasks = sorted(analysis.curves.get(env_id, {}))
        panels = [
            wr.LinePlot(
                title=f"{env_id}: {task}",
                x="global_step",
                y=[f"charts/episodic_return/{task}" if task != ALL_TASKS else "charts/episodic_return"],
                groupby=wr.Config("exp_name"),
                groupby_aggfunc="mean",
                groupby_rangefunc="stddev",
            )
            for task in tasks
        ]
        panels.append(wr.BarPlot(title=f"{env_id}: SPS", metrics=["charts/SPS"]))
        runset = wr.Runset(entity=entity, project=project, name=env_id, query=f"{env_id}__")
        blocks += [wr.H2(env_id), wr.PanelGrid(runsets=[runset], panels=panels),
                   wr.MarkdownBlock(text=_markdown_tables(analysis, env_id))]  # fmt: skip
    return wr.Report(project=project, entity=entity, title=title, blocks=blocks)


def publish(analysis: Analysis, entity: str, project: str, title: str) -> str:
    """Save the W&B report and return its URL."""
    report = build_wandb_report(analysis, entity, project, title)
    report.save()
    return report.url
