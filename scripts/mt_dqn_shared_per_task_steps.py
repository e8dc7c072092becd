"""Per-task learning speed of mt_dqn_shared.py against dqn.py, on a common axis: env steps *per task*.

``mtenvs report`` plots every run against its own global step, which for mt_dqn_shared.py counts all
tasks' steps together (5x the per-task steps on MultiControl-v0). This script reads the same
TensorBoard runs, puts mt_dqn_shared.py's episodes on the per-task axis (global step / number of
tasks) and prints, per task and algorithm, the mean return of the training episodes that ended in
each quarter of the per-task budget, averaged over seeds (mean ± std over seeds). With
``--reached TASK:RETURN`` it also prints, per algorithm, how many runs had a training episode of TASK
with a return above RETURN, and the per-task step of each run's first one (MountainCar:-200 finds
the runs that ever reached the goal).

Usage (from the repository root, after the benchmark in docs/mt_dqn_shared.md)::

    python scripts/mt_dqn_shared_per_task_steps.py runs --steps-per-task 50000 --reached MountainCar:-200
"""

from __future__ import annotations

import argparse
import itertools
from collections import defaultdict

import numpy as np

from mtenvs.report.runs import load_tensorboard_runs

PREFIX = "charts/episodic_return/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs_dir")
    parser.add_argument("--steps-per-task", type=int, default=10_000)
    parser.add_argument("--windows", type=int, default=4, help="equal windows of the per-task budget")
    parser.add_argument("--reached", action="append", default=[], metavar="TASK:RETURN",
                        help="count the runs with a training episode of TASK above RETURN")  # fmt: skip
    args = parser.parse_args()
    thresholds = {}
    for item in args.reached:
        task, _, value = item.rpartition(":")
        try:
            thresholds[task] = float(value)
        except ValueError:
            parser.error(f"--reached {item!r}: expected TASK:RETURN, e.g. MountainCar:-200")
    runs, _ = load_tensorboard_runs(args.runs_dir)
    edges = np.linspace(0, args.steps_per_task, args.windows + 1)
    # (task, algorithm) -> one row of window means per run
    table: dict[tuple[str, str], list[list[float]]] = defaultdict(list)
    first_reached: dict[tuple[str, str], list[float]] = defaultdict(list)  # nan: never
    for run in runs:
        tasks = sorted(tag[len(PREFIX) :] for tag in run.scalars if tag.startswith(PREFIX))
        per_task_divisor = len(tasks) if run.algorithm == "mt_dqn_shared" else 1
        for task in tasks:
            series = run.scalars[PREFIX + task]
            steps = series.steps / per_task_divisor
            row = [float(np.mean(series.values[(steps > lo) & (steps <= hi)])) if ((steps > lo) & (steps <= hi)).any()
                   else float("nan") for lo, hi in itertools.pairwise(edges)]  # fmt: skip
            table[(task, run.algorithm)].append(row)
            if task in thresholds:
                above = steps[series.values > thresholds[task]]
                first_reached[(task, run.algorithm)].append(float(above[0]) if above.size else float("nan"))
    header = " | ".join(f"steps {lo / 1000:g}-{hi / 1000:g}k" for lo, hi in itertools.pairwise(edges))
    print(f"| task | algorithm | seeds | {header} |")
    print("|---|---|---|" + "---|" * args.windows)
    for (task, algorithm), rows in sorted(table.items()):
        values = np.array(rows)
        cells = " | ".join(
            f"{m:.2f} ± {s:.2f}" for m, s in zip(np.nanmean(values, 0), np.nanstd(values, 0), strict=True)
        )
        print(f"| {task} | {algorithm} | {len(rows)} | {cells} |")
    missing = sorted(set(thresholds) - {task for task, _ in first_reached})
    if missing:
        parser.error(f"--reached: no run under {args.runs_dir} logged the task(s) {', '.join(missing)}")
    if first_reached:
        print("\n| task | algorithm | runs above the return | first such episode, per-task step, per run |")
        print("|---|---|---|---|")
    for (task, algorithm), firsts in sorted(first_reached.items()):
        reached = sum(f == f for f in firsts)  # nan != nan: never reached
        steps = ", ".join("never" if f != f else f"{f / 1000:.1f}k" for f in firsts)
        print(f"| {task} (> {thresholds[task]:g}) | {algorithm} | {reached} of {len(firsts)} | {steps} |")


if __name__ == "__main__":
    main()
