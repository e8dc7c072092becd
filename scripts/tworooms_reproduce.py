"""Reproduce Distral's grid-world experiment (Teh et al. 2017, Figure 3) on TwoRooms-v0.

Runs baselines/distral_tabular.py and baselines/soft_q_tabular.py for every seed with ``mtenvs benchmark``
(one run per seed, same task set), reads the runs back with ``mtenvs.report`` and writes:

* ``WORKDIR/report/report.md`` — the full ``mtenvs report`` of the runs (per-task curves, final tables,
  sorted final returns, SPS, commands and versions);
* ``docs/img/tworooms_curves[_beta<b>].png`` — the exact normalised return of the task policies
  (``eval/normalized_return``: expected discounted return / optimal) against env steps per task, mean
  and standard deviation over seeds, with Distral's distilled policy pi0 alone dashed (Figure 3, left);
* ``docs/img/tworooms_pi0_corridor.png`` and ``docs/img/tworooms_pi0_map.png`` (beta = 100 only) — the
  first seed's pi0 in the corridor and over the map, previous action left / right (Figure 3, right);
* ``docs/tworooms_results[_beta<b>].md`` — the command, seeds, time taken and the table: env steps per
  task to reach 0.9 of optimal, and the normalised returns, mean +- std over seeds.

Usage (from the repository root; docs/tworooms.md gives the time each took)::

    python scripts/tworooms_reproduce.py                 # beta = 100, seeds 1-5
    python scripts/tworooms_reproduce.py --beta 5        # the paper's (unverified) beta
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.report import Settings, make_report
from mtenvs.report.runs import Run, Series, load_tensorboard_runs
from mtenvs.report.stats import mean_curve
from mtenvs.train import checkpoint
from mtenvs.tworooms import build_layout

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "TwoRooms-v0"
SCRIPTS = {"distral_tabular": "Distral (KL, alternating)", "soft_q_tabular": "soft Q per task"}
COLORS = {"distral_tabular": "tab:blue", "soft_q_tabular": "tab:red"}
NORMALIZED, DISTILLED = "eval/normalized_return", "eval/distilled_normalized_return"
THRESHOLD = 0.9
ACTION_ARROWS = ((0, -1), (1, 0), (0, 1), (-1, 0))  # up, right, down, left as (dx, dy) in image coordinates
PREVIOUS = {"left": 3, "right": 1}


def run_benchmark(workdir: Path, beta: float, total_timesteps: int, seeds: int, workers: int) -> list[str]:
    """Both scripts x seeds through ``mtenvs benchmark`` (runs land in WORKDIR/runs); return the commands."""
    commands = [
        f"{shlex.quote(sys.executable)} {shlex.quote(str(ROOT / 'baselines' / f'{script}.py'))} --beta {beta:g} "
        f"--total-timesteps {total_timesteps} --save-model"
        for script in SCRIPTS
    ]
    benchmark = [sys.executable, "-m", "mtenvs.benchmark", "--commands", *commands, "--env-ids", ENV_ID]
    benchmark += ["--seeds", *map(str, range(1, seeds + 1)), "--workers", str(workers), "--log-dir", "benchmark_logs"]
    subprocess.run(benchmark, cwd=workdir, env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True)
    return commands


def first_reach(series: Series, steps_per_task: float) -> float:
    """Env steps per task at the first evaluation at or above THRESHOLD (NaN if never)."""
    reached = np.flatnonzero(series.values >= THRESHOLD)
    return float(series.steps[reached[0]]) / steps_per_task if reached.size else float("nan")


def plot_corridor_policy(run: Run, out: Path) -> None:
    """pi0's action probabilities in every corridor cell, for previous action left and right."""
    path = Path(run.source) / "distral_tabular.pt"
    schema = {name: checkpoint.TENSOR for name in ("log_pi0", "walls", "free_cells")} | {"args": dict}
    tables = checkpoint.load(path, "tables", schema, "the tables of distral_tabular.py")
    pi0 = np.exp(tables["log_pi0"].numpy())
    walls, free_cells = tables["walls"].numpy(), tables["free_cells"].numpy()
    height, width = walls.shape
    corridor_row = height // 2
    corridor = [c for c in range(width) if not walls[corridor_row, c] and walls[corridor_row - 1, c]]
    fig, axes = plt.subplots(2, 1, figsize=(7, 3.6))
    for ax, (label, previous) in zip(axes, PREVIOUS.items(), strict=True):
        ax.imshow(walls, cmap="Greys", vmin=0, vmax=1.4)
        states = [int(np.searchsorted(free_cells, corridor_row * width + c)) * 5 + previous for c in corridor]
        for col, state in zip(corridor, states, strict=True):
            for action, (dx, dy) in enumerate(ACTION_ARROWS):
                length = 0.45 * pi0[state, action]
                if length > 0.02:
                    ax.arrow(col, corridor_row, dx * length, dy * length, width=0.06, color="tab:blue",
                             length_includes_head=True, head_width=0.18, head_length=min(0.15, length))  # fmt: skip
        ax.set_xlim(corridor[0] - 2.5, corridor[-1] + 2.5)
        ax.set_ylim(corridor_row + 1.5, corridor_row - 1.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"pi0 in the corridor, previous action {label} (mean P(right) = {pi0[states, 1].mean():.2f})")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    layout = build_layout(**json.loads(tables["args"]["env_kwargs"]))
    frames = [layout.policy_frame(pi0[previous::5]) for previous in PREVIOUS.values()]
    separator = np.full((8, frames[0].shape[1], 3), 255, dtype=np.uint8)
    picture = np.concatenate([frames[0], separator, frames[1]])
    plt.imsave(out.with_name("tworooms_pi0_map.png"), picture.repeat(2, axis=0).repeat(2, axis=1))


def fmt(values: np.ndarray, digits: int) -> str:
    """mean +- sample std (ddof = 1, as ``mtenvs report``) over seeds, counting only seeds with a value."""
    ok = values[~np.isnan(values)]
    if not ok.size:
        return "never"
    spread = f"{ok.std(ddof=1):,.{digits}f}" if ok.size > 1 else "n/a"
    text = f"{ok.mean():,.{digits}f} +- {spread}"
    return text if ok.size == values.size else f"{text} ({ok.size}/{values.size} seeds)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 1..N")
    parser.add_argument("--beta", type=float, default=100.0, help="the scripts' --beta")
    parser.add_argument("--total-timesteps", type=int, default=480_000, help="env steps per run, all tasks")
    parser.add_argument("--workers", type=int, default=2, help="runs at once (mtenvs benchmark --workers)")
    parser.add_argument("--workdir", help="runs, logs and the report go here (default runs/tworooms_beta<b>)")
    parser.add_argument("--docs", default=str(ROOT / "docs"), help="where the figures and the table go")
    args = parser.parse_args()
    for name in ("seeds", "total_timesteps", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not np.isfinite(args.beta) or args.beta <= 0:
        parser.error(f"--beta must be finite and > 0, got {args.beta}")
    workdir = Path(args.workdir or f"runs/tworooms_beta{args.beta:g}").resolve()
    if (workdir / "runs").exists():
        parser.error(f"{workdir}/runs exists already; remove it or give another --workdir")
    workdir.mkdir(parents=True, exist_ok=True)
    docs = Path(args.docs)
    (docs / "img").mkdir(parents=True, exist_ok=True)
    suffix = "" if args.beta == 100 else f"_beta{args.beta:g}"
    num_tasks = gym.make(ENV_ID).unwrapped.num_tasks

    # --- runs: mtenvs benchmark, then the full mtenvs report ---
    start = time.time()
    commands = run_benchmark(workdir, args.beta, args.total_timesteps, args.seeds, args.workers)
    wall_minutes = (time.time() - start) / 60
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_minutes = (usage.ru_utime + usage.ru_stime) / 60
    settings = Settings(extra_metrics=(NORMALIZED, DISTILLED))
    title = f"TwoRooms-v0: tabular Distral vs soft Q per task, beta = {args.beta:g}"
    manifest = workdir / "benchmark_logs" / "manifest.json"
    report = make_report(workdir / "runs", workdir / "report", settings=settings, manifest=manifest, title=title)
    runs, _ = load_tensorboard_runs(workdir / "runs")
    by_script = {script: sorted((r for r in runs if r.algorithm == script), key=lambda r: r.seed) for script in SCRIPTS}
    for script, found in by_script.items():
        if len(found) != args.seeds:
            sys.exit(f"{script}: {len(found)} of {args.seeds} runs could be read; see {report.markdown}")

    # --- figure: exact normalised return against env steps per task, mean +- std over seeds ---
    fig, ax = plt.subplots(figsize=(6.4, 4))
    rows = []
    for script, label in SCRIPTS.items():
        curves = [run.scalars[NORMALIZED] for run in by_script[script]]
        curve = mean_curve(curves)
        ax.plot(curve.steps / num_tasks, curve.mean, color=COLORS[script], label=label)
        low, high = curve.mean - curve.std, curve.mean + curve.std
        ax.fill_between(curve.steps / num_tasks, low, high, color=COLORS[script], alpha=0.2)
        quarter = curve.steps[-1] / 4
        row = {
            "label": label,
            "reach": np.array([first_reach(s, num_tasks) for s in curves]),
            "early": np.array([np.interp(quarter, s.steps, s.values) for s in curves]),
            "final": np.array([s.values[-1] for s in curves]),
            "quarter": quarter / num_tasks,
        }
        if script == "distral_tabular":
            distilled = mean_curve([run.scalars[DISTILLED] for run in by_script[script]])
            steps = distilled.steps / num_tasks
            ax.plot(steps, distilled.mean, color=COLORS[script], linestyle="--", label="Distral: pi0 alone")
            row["pi0_final"] = np.array([run.scalars[DISTILLED].values[-1] for run in by_script[script]])
        rows.append(row)
    ax.axhline(THRESHOLD, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("env steps per task")
    ax.set_ylabel("normalised return (1 = optimal)")
    ax.set_title(f"{ENV_ID}, {num_tasks} tasks, beta={args.beta:g}, mean +- std over {args.seeds} seeds", fontsize=10)
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(docs / "img" / f"tworooms_curves{suffix}.png", dpi=110)
    plt.close(fig)
    if args.beta == 100:
        plot_corridor_policy(by_script["distral_tabular"][0], docs / "img" / "tworooms_pi0_corridor.png")

    # --- table: the command, seeds, time and the numbers ---
    quarter = rows[0]["quarter"]
    lines = [
        f"Command: `python scripts/tworooms_reproduce.py --beta {args.beta:g} --seeds {args.seeds} "
        f"--total-timesteps {args.total_timesteps} --workers {args.workers}`, which runs, through `mtenvs benchmark` "
        f"on {ENV_ID} with seeds 1-{args.seeds}:",
        "",
        *[f"    {command.replace(sys.executable, 'python').replace(str(ROOT) + '/', '')}" for command in commands],
        "",
        f"Time: {wall_minutes:.1f} min wall clock, {cpu_minutes:.1f} CPU-minutes for the {2 * args.seeds} runs "
        f"({args.total_timesteps:,} env steps each, {args.total_timesteps // num_tasks:,} per task). "
        f"Full `mtenvs report` of the runs: `{os.path.relpath(report.markdown)}`.",
        "",
        "Mean +- sample standard deviation over seeds.",
        "",
        f"| learner (beta = {args.beta:g}) | steps/task to {THRESHOLD} of optimal | normalised return at "
        f"{quarter:,.0f} steps/task | final normalised return | final return of pi0 alone |",
        "|-|-|-|-|-|",
    ]
    for row in rows:
        pi0 = fmt(row["pi0_final"], 3) if "pi0_final" in row else "-"
        lines.append(
            f"| {row['label']} | {fmt(row['reach'], 0)} | {fmt(row['early'], 3)} | {fmt(row['final'], 3)} | {pi0} |"
        )
    table = "\n".join(lines) + "\n"
    (docs / f"tworooms_results{suffix}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
