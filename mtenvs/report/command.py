"""The options of ``mtenvs report`` (and ``python -m mtenvs.report``) and what they run."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from mtenvs.report.analysis import Settings

TITLE = "mtenvs benchmark report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    parser.add_argument("runs_dir", nargs="?", default=None, help="folder of run folders (runs/)")
    parser.add_argument("-o", "--out", required=True, help="output folder for report.md and its PNG figures")
    parser.add_argument("--last-episodes", type=int, default=defaults.last_episodes,
                        help="final performance = mean of each run's last N logged training episodes")  # fmt: skip
    parser.add_argument("--smooth", type=int, default=defaults.smooth_window,
                        help="learning curves: moving average over N logged episodes")  # fmt: skip
    parser.add_argument("--bootstrap-reps", type=int, default=defaults.bootstrap_reps,
                        help="stratified bootstrap resamples for the aggregate CIs")  # fmt: skip
    parser.add_argument("--confidence", type=float, default=defaults.confidence, help="CI level, in (0, 1)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="bootstrap seed (reproducible CIs)")
    parser.add_argument("--metric", action="append", default=[], metavar="TAG",
                        help="also draw and table this scalar tag, e.g. eval/normalized_return")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes reading event files")
    parser.add_argument("--manifest", help="the benchmark runner's manifest.json, to list the exact commands")
    parser.add_argument("--title", default=TITLE, help="first heading of report.md")
    parser.add_argument("--wandb-project", metavar="ENTITY/PROJECT", help="also read runs from this W&B project")
    parser.add_argument(
        "--wandb-report", action="store_true", help="also publish a W&B report (needs WANDB_API_KEY, --wandb-project)"
    )


def invocation(args: argparse.Namespace) -> str:
    """The ``mtenvs report`` command line that reproduces this report (options that differ from defaults)."""
    words = ["mtenvs", "report"] + ([args.runs_dir] if args.runs_dir else []) + ["-o", args.out]
    defaults = Settings()
    for flag, value, default in (
        ("--last-episodes", args.last_episodes, defaults.last_episodes),
        ("--smooth", args.smooth, defaults.smooth_window),
        ("--bootstrap-reps", args.bootstrap_reps, defaults.bootstrap_reps),
        ("--confidence", args.confidence, defaults.confidence),
        ("--seed", args.seed, defaults.seed),
        ("--manifest", args.manifest, None),
        ("--title", args.title, TITLE),
        ("--wandb-project", args.wandb_project, None),
    ):
        if value != default:
            words += [flag, str(value)]
    for tag in args.metric:
        words += ["--metric", tag]
    return shlex.join(words + (["--wandb-report"] if args.wandb_report else []))


def run_from_args(args: argparse.Namespace) -> int:
    """Write the report the arguments describe (and publish it to W&B when asked)."""
    from mtenvs.report import make_report
    from mtenvs.report.wandb_report import check_online, publish

    target = check_online(args.wandb_project) if args.wandb_report else None  # before anything else
    if args.last_episodes < 1 or args.smooth < 1 or args.bootstrap_reps < 1:
        raise ValueError("--last-episodes, --smooth and --bootstrap-reps must be >= 1.")
    if not 0.0 < args.confidence < 1.0:
        raise ValueError(f"--confidence must be in (0, 1), got {args.confidence}.")
    settings = Settings(
        last_episodes=args.last_episodes,
        smooth_window=args.smooth,
        bootstrap_reps=args.bootstrap_reps,
        confidence=args.confidence,
        seed=args.seed,
        extra_metrics=tuple(args.metric),
    )
    result = make_report(
        args.runs_dir,
        args.out,
        settings,
        manifest=args.manifest,
        wandb_project=args.wandb_project,
        title=args.title,
        invocation=invocation(args),
        jobs=args.jobs,
    )
    print(result.markdown)
    for item in result.analysis.skipped:
        print(f"skipped {item.what}: {item.reason}", file=sys.stderr)
    if target is not None:
        print(publish(result.analysis, *target, title=args.title))
    return 0
