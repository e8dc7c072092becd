"""Steps/s of one env id's vector paths side by side, as fractions of the first one.

The tables of `vectorization="workers"` against the other paths in docs/multi_atari.md,
docs/miniworld.md and docs/multi_control.md come from this script. Every contender is built with
``gym.make_vec(env_id, num_envs=N, task_assignment=..., **its kwargs)``, reset with seed 0, and
timed with ``mtenvs.throughput.interleaved`` (alternating rounds, medians). Sampled MultiAtari
contenders first load every game's emulator (``load_every_game``), as ``mtenvs throughput`` does.

    python scripts/vectorization_sps.py MultiMaze-v0 --num-envs 8 --task-assignment sampled \\
        --contender sync '{"vectorization": "sync"}' \\
        --contender workers '{"vectorization": "workers"}' \\
        --contender "workers, no parent slice" '{"vectorization": "workers", "parent_slice": false}'

Prints one line per contender: label, steps/s, fraction of the first contender; then the load
average before and after (the machine is shared: read the numbers with it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import gymnasium as gym
import numpy as np

import mtenvs  # noqa: F401  (registers the ids)
from mtenvs.atari.throughput import load_every_game
from mtenvs.throughput import interleaved, vector_stepper


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env_id")
    parser.add_argument("--num-envs", type=int, required=True)
    parser.add_argument("--task-assignment", choices=("grouped", "sampled"), default="grouped")
    parser.add_argument("--contender", nargs=2, action="append", metavar=("LABEL", "KWARGS_JSON"), required=True)
    parser.add_argument("--seconds", type=float, default=10.0, help="timing budget per contender")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--action", type=int, default=None, help="one action for every sub-env (default: random)")
    args = parser.parse_args(argv)
    if args.num_envs < 1 or args.seconds <= 0 or args.rounds < 1:
        parser.error("--num-envs and --rounds must be >= 1 and --seconds > 0")
    labels = [label for label, _ in args.contender]
    if len(set(labels)) != len(labels):
        parser.error(f"contender labels must differ, got {labels}")
    try:
        args.contender = [(label, json.loads(text)) for label, text in args.contender]
    except json.JSONDecodeError as error:
        parser.error(f"a contender's kwargs are not JSON: {error}")
    if not all(isinstance(kwargs, dict) for _, kwargs in args.contender):
        parser.error("a contender's kwargs must be a JSON object")
    return args


def draw_actions(space: gym.Space, args: argparse.Namespace) -> np.ndarray:
    """64 rows of one action per sub-env: ``--action`` everywhere, or uniform draws (the same for every
    contender)."""
    if not isinstance(space, gym.spaces.Discrete):
        raise ValueError(f"{args.env_id}'s actions are {space}; this script draws Discrete actions only.")
    if args.action is not None:
        if not 0 <= args.action < space.n:
            raise ValueError(f"--action must be in 0..{space.n - 1} for {args.env_id}, got {args.action}.")
        return np.full((64, args.num_envs), args.action, dtype=np.int64)
    return np.random.default_rng(0).integers(0, int(space.n), (64, args.num_envs))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    contenders, envs = {}, []
    try:
        for label, kwargs in args.contender:
            env = gym.make_vec(args.env_id, num_envs=args.num_envs, task_assignment=args.task_assignment, **kwargs)
            envs.append(env)
            contenders[label] = vector_stepper(env, draw_actions(env.single_action_space, args))
            if args.task_assignment == "sampled" and args.env_id.startswith("MultiAtari"):
                load_every_game(env)
    except (gym.error.Error, ValueError, TypeError) as error:  # a bad id, kwargs or --action: one line, exit 2
        for env in envs:
            env.close()
        print(f"vectorization_sps.py: {error}", file=sys.stderr)
        return 2
    rates = interleaved(contenders, args.seconds, rounds=args.rounds)
    for env in envs:
        env.close()
    first = rates[args.contender[0][0]]
    for label, rate in rates.items():
        print(f"{label:<40} {rate:>10,.0f} steps/s  {rate / first:.3f}")
    print(f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
