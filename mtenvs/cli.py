"""The ``mtenvs`` command line: ``list``, ``throughput ID``, ``render ID``, ``benchmark``, ``report RUNS_DIR``."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

import gymnasium as gym

import mtenvs
from mtenvs.benchmark import add_arguments as add_benchmark_arguments
from mtenvs.benchmark import run_from_args as run_benchmark
from mtenvs.report.command import add_arguments as add_report_arguments
from mtenvs.report.command import run_from_args as run_report


def _positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {value}")
    return value


def _positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text}")
    return value


def _cmd_list(args: argparse.Namespace) -> int:
    for env_id in mtenvs.mtenvs_ids():
        if args.filter and args.filter.lower() not in env_id.lower():
            continue
        env = gym.make(env_id)
        base = env.unwrapped
        print(env_id)
        print(f"  tasks ({base.num_tasks}): {', '.join(base.task_names)}")
        print(f"  observation: {env.observation_space}")
        print(f"  action: {env.action_space}")
        env.close()
    return 0


def _cmd_throughput(args: argparse.Namespace) -> int:
    from mtenvs.throughput import measure

    result = measure(args.env_id, num_envs=args.num_envs, seconds=args.seconds)
    print(result.format())
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from mtenvs.render import render_tasks

    paths = render_tasks(args.env_id, args.out, steps=args.steps, frames=args.frames, seed=args.seed)
    for path in paths:
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mtenvs`` command."""
    parser = argparse.ArgumentParser(prog="mtenvs", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="registered ids with their tasks and spaces")
    p.add_argument("filter", nargs="?", default="", help="only ids containing this text")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("throughput", help="steps/s of an env beside its raw simulator reference, and the ratio")
    p.add_argument("env_id")
    p.add_argument("--num-envs", type=_positive_int, default=None, help="sub-envs (default: the family's own)")
    p.add_argument(
        "--seconds", type=_positive_seconds, default=10.0, help="timing budget per contender (0 < s <= 3600)"
    )
    p.set_defaults(func=_cmd_throughput)

    p = sub.add_parser("render", help="a GIF and a PNG strip per task from a random rollout")
    p.add_argument("env_id")
    p.add_argument("--out", default="renders", help="output folder")
    p.add_argument("--steps", type=_positive_int, default=200, help="random steps per task (at most 5000)")
    p.add_argument("--frames", type=_positive_int, default=6, help="frames in each PNG strip (at most 100)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_render)

    p = sub.add_parser("benchmark", help="run commands x env ids x seeds with parallel workers (or write a Slurm job)")
    add_benchmark_arguments(p)
    p.set_defaults(func=run_benchmark)

    p = sub.add_parser("report", help="runs (TensorBoard, or W&B) to a Markdown report with PNG figures")
    add_report_arguments(p)
    p.set_defaults(func=run_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mtenvs`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, gym.error.Error) as err:
        print(f"mtenvs {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
