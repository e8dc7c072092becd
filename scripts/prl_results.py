"""Summarise baselines/prl.py runs: the held-out figure and the Table 3 numbers of docs/prl.md.

Reads, from each run directory given, ``heldout_1.json`` (the held-out predictions after the first
training phase), ``eval_returns.json`` (the planner's evaluation episodes and as many uniformly random ones on the same
seeds), then

* writes ``docs/img/prl/heldout_horizon.png``: per game, the mean predicted probability of each head
  against the observed frequency at every horizon step (top), and each head's AUC (bottom), mean
  over the runs;
* prints a Markdown table of the AUCs and of the planner's and the random policy's returns.

Usage (from the repository root)::

    python scripts/prl_results.py runs/MultiAtari-PRL-v0__prl__*
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

# Mujika 2016, Table 3 ("PRL Iteration 2": after training on random play only) and its random row.
PAPER = {"Pong": (-8.62, -20.7), "Breakout": (13.2, 1.7), "DemonAttack": (1220.0, 152.0)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories of baselines/prl.py")
    parser.add_argument("--out", type=Path, default=Path("docs/img/prl/heldout_horizon.png"))
    options = parser.parse_args(argv)
    reports = [json.loads((run / "heldout_1.json").read_text())["games"] for run in options.runs]
    games = list(reports[0])
    horizon = len(reports[0][games[0]]["score_auc"])
    steps = np.arange(1, horizon + 1)

    def mean(game: str, key: str) -> np.ndarray:
        return np.nanmean([report[game][key] for report in reports], axis=0)

    # squeeze=False: a single-game run (the single-task comparison) still gets a 2 x 1 grid of axes.
    figure, axes = plt.subplots(2, len(games), figsize=(4.2 * len(games), 6.4), sharex=True, squeeze=False)
    for column, game in enumerate(games):
        top, bottom = axes[0, column], axes[1, column]
        for head, color, label in (("score", "tab:green", "score higher"), ("death", "tab:red", "died")):
            top.plot(steps, mean(game, f"{head}_predicted"), color=color, label=f"P({label}) predicted")
            top.plot(steps, mean(game, f"{head}_observed"), color=color, linestyle="--", label=f"{label}: observed")
            bottom.plot(steps, mean(game, f"{head}_auc"), color=color, label=f"{label} head")
        top.set_title(game)
        top.set_ylim(0, 1)
        bottom.axhline(0.5, color="grey", linewidth=0.8)
        bottom.set_ylim(0.3, 1.0)
        bottom.set_xlabel("horizon step k (4 frames each)")
        if column == 0:
            top.set_ylabel("probability (held-out windows)")
            bottom.set_ylabel("held-out AUC")
            top.legend(fontsize=7)
            bottom.legend(fontsize=7)
    figure.suptitle(f"Held-out predictions after training on random play (mean over {len(reports)} seed(s))")
    figure.tight_layout()
    options.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(options.out, dpi=110)
    print(f"wrote {options.out}\n")

    print("| game | AUC score h1 / h5 / h25 | AUC died h1 / h5 / h25 |")
    print("|---|---|---|")
    for game in games:
        cells = []
        for head in ("score", "death"):
            values = np.array([report[game][f"{head}_auc"] for report in reports])
            cells.append(" / ".join(f"{np.nanmean(values[:, k - 1]):.2f}" for k in (1, 5, horizon)))
        print(f"| {game} | {cells[0]} | {cells[1]} |")
    print("\n| game | episodes | planner mean per seed | planner mean (sd) | random mean per seed | random mean (sd) |"
          " paper PRL | paper random |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    evaluations = [json.loads((run / "eval_returns.json").read_text()) for run in options.runs]
    for game in games:
        planner = [np.mean(e["planner"][game]) for e in evaluations]
        random = [np.mean(e["random"][game]) for e in evaluations]
        episodes = sum(len(e["planner"][game]) for e in evaluations)
        every_planner = np.concatenate([e["planner"][game] for e in evaluations])
        every_random = np.concatenate([e["random"][game] for e in evaluations])
        paper, paper_random = PAPER.get(game, (float("nan"), float("nan")))
        print(
            f"| {game} | {episodes} | {', '.join(f'{r:.1f}' for r in planner)} | {every_planner.mean():.1f} "
            f"({every_planner.std():.1f}) | {', '.join(f'{r:.1f}' for r in random)} | {every_random.mean():.1f} "
            f"({every_random.std():.1f}) | {paper:g} | {paper_random:g} |"
        )


if __name__ == "__main__":
    main()
