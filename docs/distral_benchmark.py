"""Benchmark of the seven Distral deep baselines on one env and seeds: curves and a Markdown table.

    python docs/distral_benchmark.py --env-id TwoRooms-v0 --seeds 1 2 --total-timesteps 200000

Runs every script in `baselines/` (Distral's four variants and its three A3C baselines) with the
same env, seeds and budget, `--workers` at a time, each in its own directory under `--out`, then
reads their TensorBoard logs and writes `docs/img/distral_tworooms_curves.png` and a Markdown
table (final evaluation return of the task policies and of pi0, area under the curve, SPS) to
stdout and `--out/table.md`. A benchmark, not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = (
    "distral_kl_1col",
    "distral_kl_2col",
    "distral_kl_ent_1col",
    "distral_kl_ent_2col",
    "a3c_independent",
    "a3c_2col",
    "a3c_multitask",
)


def run(script: str, seed: int, args: argparse.Namespace) -> Path:
    """Train one script for one seed in its own directory; return its TensorBoard run dir."""
    workdir = Path(args.out) / f"{script}__{seed}"
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(ROOT / "baselines" / f"{script}.py"), "--env-id", args.env_id]
    command += ["--seed", str(seed), "--total-timesteps", str(args.total_timesteps)]
    command += ["--eval-interval", str(args.eval_interval), "--env-kwargs", args.env_kwargs]
    command += ["--checkpoint-interval", "0"]
    finished = workdir / "finished"
    if not finished.exists():  # runs finished by an earlier, interrupted benchmark are kept
        for stale in workdir.glob("runs/*"):
            shutil.rmtree(stale)
        result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
        finished.touch()
    (run_dir,) = workdir.glob("runs/*")
    return run_dir


def curve(run_dir: Path, tag: str) -> tuple[np.ndarray, np.ndarray]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    if tag not in events.Tags()["scalars"]:
        return np.array([]), np.array([])
    points = events.Scalars(tag)
    return np.array([p.step for p in points]), np.array([p.value for p in points])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default="TwoRooms-v0")
    parser.add_argument("--env-kwargs", default="{}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--total-timesteps", type=int, default=200_000)
    parser.add_argument("--eval-interval", type=int, default=25_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="runs/distral_benchmark")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "img" / "distral_tworooms_curves.png"))
    args = parser.parse_args()

    jobs = [(script, seed) for script in SCRIPTS for seed in args.seeds]
    with ThreadPoolExecutor(args.workers) as pool:
        run_dirs = dict(zip(jobs, pool.map(lambda job: run(*job, args), jobs), strict=True))

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    rows = ["| algorithm | final return (task policies) | final return (pi0) | mean return over evals | SPS |"]
    rows.append("|-|-|-|-|-|")
    for index, script in enumerate(SCRIPTS):
        color, style = f"C{index}", "-" if script.startswith("distral") else "--"
        finals, distilled_finals, aucs, sps = [], [], [], []
        steps, per_seed = None, []
        for seed in args.seeds:
            run_dir = run_dirs[(script, seed)]
            steps, values = curve(run_dir, "eval/episodic_return")
            per_seed.append(values)
            finals.append(values[-1])
            aucs.append(values.mean())
            sps.append(curve(run_dir, "charts/SPS")[1][-1])
            _, distilled = curve(run_dir, "eval/distilled_return")
            if distilled.size:
                distilled_finals.append(distilled[-1])
                axes[1].plot(steps, distilled, color=color, alpha=0.35, linestyle=style)
        mean = np.mean(per_seed, axis=0)
        axes[0].plot(steps, mean, color=color, linestyle=style, label=script)
        axes[0].fill_between(steps, np.min(per_seed, axis=0), np.max(per_seed, axis=0), color=color, alpha=0.15)
        distilled_cell = f"{np.mean(distilled_finals):.3f}" if distilled_finals else "—"
        rows.append(
            f"| {script} | {np.mean(finals):.3f} ± {np.std(finals):.3f} | {distilled_cell} | "
            f"{np.mean(aucs):.3f} | {np.mean(sps):.0f} |"
        )
    axes[0].set_title(f"{args.env_id}: task policies (mean, min-max over seeds {args.seeds})")
    axes[1].set_title("Distral's distilled policy pi0 (each seed)")
    for ax in axes:
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("evaluation return (mean over tasks)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=80)
    table = "\n".join(rows)
    (Path(args.out) / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
