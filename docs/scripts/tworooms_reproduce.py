"""Reproduce Distral's grid-world experiment (Teh et al. 2017, Figure 3) on TwoRooms-v0.

Runs baselines/distral_tabular.py and baselines/soft_q_tabular.py for every seed on the same task
set, then writes into docs/:

* ``img/tworooms_curves[_beta<b>].png`` — normalised return (exact expected discounted return of
  the task policies / optimal) against env steps per task, mean and standard deviation over seeds,
  with Distral's distilled policy pi0 alone dashed (Figure 3, left);
* ``img/tworooms_pi0_corridor.png`` — the distilled policy pi0 in the corridor when the previous
  action was left / right (Figure 3, right), from the first seed's Distral run;
* ``img/tworooms_pi0_map.png`` — the same pi0 over the whole map (``TwoRoomsLayout.policy_frame``),
  previous action left (top) and right (bottom);
* ``tworooms_results[_beta<b>].md`` — the table: steps per task to reach 0.9 of optimal, and the
  final normalised returns, mean +- std over seeds.

Usage (from the repository root; about 2 minutes per beta on 2 cores)::

    python docs/scripts/tworooms_reproduce.py                 # beta = 100, seeds 1-5
    python docs/scripts/tworooms_reproduce.py --beta 5        # the paper's (unverified) beta
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mtenvs.tworooms import build_layout

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = {"Distral (KL, alternating)": "distral_tabular", "soft Q per task": "soft_q_tabular"}
COLORS = {"distral_tabular": "tab:blue", "soft_q_tabular": "tab:red"}
THRESHOLD = 0.9
ACTION_ARROWS = ((0, -1), (1, 0), (0, 1), (-1, 0))  # up, right, down, left as (dx, dy) in image coordinates
PREVIOUS = {"left": 3, "right": 1}


def run(script: str, seed: int, beta: float, iterations: int, workdir: Path) -> Path:
    """Run one baseline (or reuse a finished run of the same settings); return its run directory."""
    exp_name = f"{script}_beta{beta:g}_it{iterations}"
    done = sorted(workdir.glob(f"runs/*__{exp_name}__{seed}__*/{exp_name}.npz"))
    if done:
        return done[-1].parent
    command = [
        sys.executable, str(ROOT / "baselines" / f"{script}.py"), "--seed", str(seed), "--beta", str(beta),
        "--iterations", str(iterations), "--exp-name", exp_name, "--save-model",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run(command, cwd=workdir, env=env, check=True, capture_output=True, text=True)
    (run_dir,) = [p.parent for p in workdir.glob(f"runs/*__{exp_name}__{seed}__*/{exp_name}.npz")]
    return run_dir


def curve(run_dir: Path, tag: str) -> tuple[np.ndarray, np.ndarray]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    steps = np.array([e.value for e in events.Scalars("eval/steps_per_task")])
    return steps, np.array([e.value for e in events.Scalars(tag)])


def steps_to_threshold(steps: np.ndarray, values: np.ndarray) -> float:
    reached = np.flatnonzero(values >= THRESHOLD)
    return float(steps[reached[0]]) if reached.size else float("nan")


def plot_corridor_policy(run_dir: Path, out: Path) -> None:
    """pi0's action probabilities in every corridor cell, for previous action left and right."""
    tables = np.load(run_dir / f"{run_dir.name.split('__')[1]}.npz")
    pi0 = np.exp(tables["log_pi0"])
    walls = tables["walls"]
    free_cells = tables["free_cells"]
    height, width = walls.shape
    corridor_row = height // 2
    corridor = [c for c in range(width) if not walls[corridor_row, c] and walls[corridor_row - 1, c]]
    fig, axes = plt.subplots(2, 1, figsize=(7, 3.6))
    for ax, (label, previous) in zip(axes, PREVIOUS.items(), strict=True):
        ax.imshow(walls, cmap="Greys", vmin=0, vmax=1.4)
        for col in corridor:
            state = int(np.searchsorted(free_cells, corridor_row * width + col)) * 5 + previous
            for action, (dx, dy) in enumerate(ACTION_ARROWS):
                length = 0.45 * pi0[state, action]
                if length > 0.02:
                    ax.arrow(col, corridor_row, dx * length, dy * length, width=0.06, color="tab:blue",
                             length_includes_head=True, head_width=0.18, head_length=min(0.15, length))  # fmt: skip
        ax.set_xlim(corridor[0] - 2.5, corridor[-1] + 2.5)
        ax.set_ylim(corridor_row + 1.5, corridor_row - 1.5)
        ax.set_xticks([])
        ax.set_yticks([])
        right = pi0[[int(np.searchsorted(free_cells, corridor_row * width + c)) * 5 + previous for c in corridor], 1]
        ax.set_title(f"pi0 in the corridor, previous action {label} (mean P(right) = {right.mean():.2f})", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    layout = build_layout(**json.loads(json.loads(str(tables["args"]))["env_kwargs"]))
    frames = [layout.policy_frame(pi0[previous::5]) for previous in PREVIOUS.values()]
    separator = np.full((8, frames[0].shape[1], 3), 255, dtype=np.uint8)
    picture = np.concatenate([frames[0], separator, frames[1]])
    plt.imsave(out.with_name("tworooms_pi0_map.png"), picture.repeat(2, axis=0).repeat(2, axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 1..N")
    parser.add_argument("--beta", type=float, default=100.0)
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel")
    parser.add_argument("--workdir", default="runs/tworooms_reproduction", help="where the runs are written")
    parser.add_argument("--docs", default=str(ROOT / "docs"))
    args = parser.parse_args()
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    docs = Path(args.docs)
    (docs / "img").mkdir(parents=True, exist_ok=True)
    suffix = "" if args.beta == 100 else f"_beta{args.beta:g}"

    jobs = [(script, seed) for script in SCRIPTS.values() for seed in range(1, args.seeds + 1)]
    with ThreadPoolExecutor(args.jobs) as pool:
        finished = pool.map(lambda job: run(*job, args.beta, args.iterations, workdir), jobs)
        run_dirs = dict(zip(jobs, finished, strict=True))

    fig, ax = plt.subplots(figsize=(6.4, 4))
    rows = []
    for label, script in SCRIPTS.items():
        runs = [curve(run_dirs[(script, seed)], "eval/normalized_return") for seed in range(1, args.seeds + 1)]
        length = min(len(v) for _, v in runs)
        steps = np.mean([s[:length] for s, _ in runs], axis=0)
        values = np.stack([v[:length] for _, v in runs])
        mean, std = values.mean(axis=0), values.std(axis=0)
        ax.plot(steps, mean, color=COLORS[script], label=label)
        ax.fill_between(steps, mean - std, mean + std, color=COLORS[script], alpha=0.2)
        reach = np.array([steps_to_threshold(s, v) for s, v in runs])
        finals = values[:, -1]
        row = {"label": label, "reach": reach, "final": finals, "early": values[:, length // 4]}
        if script == "distral_tabular":
            distilled = np.stack(
                [
                    curve(run_dirs[(script, seed)], "eval/distilled_normalized_return")[1][:length]
                    for seed in range(1, args.seeds + 1)
                ]
            )
            ax.plot(steps, distilled.mean(axis=0), color=COLORS[script], linestyle="--", label="Distral: pi0 alone")
            row["pi0_final"] = distilled[:, -1]
        rows.append(row)
    ax.axhline(THRESHOLD, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("env steps per task")
    ax.set_ylabel("normalised return (1 = optimal)")
    ax.set_title(f"TwoRooms-v0, 8 tasks, beta={args.beta:g}, mean +- std over {args.seeds} seeds", fontsize=10)
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(docs / "img" / f"tworooms_curves{suffix}.png", dpi=110)
    plt.close(fig)
    if args.beta == 100:
        plot_corridor_policy(run_dirs[("distral_tabular", 1)], docs / "img" / "tworooms_pi0_corridor.png")

    def fmt(values: np.ndarray, digits: int) -> str:
        ok = values[~np.isnan(values)]
        if not ok.size:
            return "never"
        text = f"{ok.mean():,.{digits}f} +- {ok.std():,.{digits}f}"
        return text if ok.size == values.size else f"{text} ({ok.size}/{values.size} seeds)"

    quarter = int(np.mean([curve(run_dirs[(s, 1)], "eval/steps_per_task")[0][-1] for s in SCRIPTS.values()]) // 4)
    lines = [
        f"Command: `python docs/scripts/tworooms_reproduce.py --beta {args.beta:g} --seeds {args.seeds} "
        f"--iterations {args.iterations}`",
        "",
        f"| learner (beta = {args.beta:g}) | steps/task to 0.9 of optimal | normalised return at ~{quarter:,} "
        "steps/task | final normalised return | final return of pi0 alone |",
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
