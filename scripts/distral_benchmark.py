"""Benchmark of the seven Distral deep baselines on one env: `mtenvs benchmark`, then `mtenvs report`.

    python scripts/distral_benchmark.py --env-id TwoRooms-v0 --seeds 1 2 --total-timesteps 300000

Runs every Distral and A3C script in `baselines/` with the same env, seeds and budget through the
benchmark runner (`mtenvs.benchmark`: per-run logs, a manifest, failed runs listed and re-runnable),
then makes the report (`mtenvs.report`: curves, final tables, runs and SPS) in `--report`, with the
evaluation metrics of the task policies and of Distral's pi0 as further metrics, and prints the
summary table of docs/distral.md. Runs go to `--out/runs`. A benchmark, not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from mtenvs import benchmark
from mtenvs.report import Settings, make_report

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
METRICS = (
    "eval/normalized_score",
    "eval/distilled_normalized_score",
    "eval/episodic_return",
    "eval/distilled_return",
)


def summary_table(analysis, env_id: str) -> str:
    """Final value (mean ± std over seeds) of each evaluation metric and the mean SPS, per script."""
    final = {(row.algorithm, row.task): row for row in analysis.metric_rows if row.env_id == env_id}
    rows = [
        "| algorithm | normalised score (task policies) | normalised score (pi0) | return (task policies) "
        "| return (pi0) | seeds | SPS |",
        "|-|-|-|-|-|-|-|",
    ]
    for script in SCRIPTS:
        cells = []
        for metric in METRICS:
            row = final.get((script, metric))
            cells.append("—" if row is None else f"{row.mean:.3f} ± {row.std:.3f}")
        runs = [run for run in analysis.run_rows if run.env_id == env_id and run.algorithm == script]
        sps = sum(run.sps for run in runs) / max(len(runs), 1)
        rows.append(f"| {script} | {' | '.join(cells)} | {len(runs)} | {sps:.0f} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default="TwoRooms-v0")
    parser.add_argument("--env-kwargs", default="{}", help="JSON object passed to every script")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--total-timesteps", type=int, default=300_000)
    parser.add_argument("--eval-interval", type=int, default=25_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="runs/distral_benchmark", help="runs and benchmark logs go here")
    parser.add_argument("--report", default=str(ROOT / "docs" / "distral_report"), help="report folder")
    args = parser.parse_args()
    report = Path(args.report).resolve()

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    # Every run starts in --out (its runs/ folder lands there) with this interpreter first on PATH.
    os.chdir(out)
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    scripts = Path(os.path.relpath(ROOT / "baselines", out))
    options = f"--total-timesteps {args.total_timesteps} --eval-interval {args.eval_interval} "
    options += f"--checkpoint-interval 0 --env-kwargs {shlex.quote(args.env_kwargs)}"
    commands = [f"python {scripts / script}.py {options}" for script in SCRIPTS]
    argv = ["--commands", *commands, "--env-ids", args.env_id, "--seeds", *map(str, args.seeds)]
    status = benchmark.main([*argv, "--workers", str(args.workers), "--log-dir", "benchmark_logs"])
    if status:
        return status

    result = make_report(
        out / "runs",
        report,
        Settings(extra_metrics=METRICS),
        manifest=out / "benchmark_logs" / benchmark.MANIFEST,
        title=f"Distral and its A3C baselines on {args.env_id}",
        invocation=" ".join(["python", "scripts/distral_benchmark.py", *sys.argv[1:]]),
    )
    print(summary_table(result.analysis, args.env_id))
    print(f"report: {result.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
