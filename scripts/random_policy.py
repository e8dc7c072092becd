#!/usr/bin/env python
"""Return of the uniformly random policy on an mtenvs id, per task: the floor a learning curve is read against.

    python scripts/random_policy.py MultiAtari-v0 --env-kwargs '{"games": ["Breakout"]}' --episodes 30

Each step draws an action uniformly among the task's valid ones (``info["action_mask"]``, all actions where the
env gives no mask), so a random agent on MultiAtari's 18-action union plays Breakout's 4 actions, as a trained
one does. Episodes run one after another on one env, reset with ``seed``, ``seed + 1``, ...; tasks follow the
env's own ``task_schedule``. Prints a Markdown table (task, episodes, mean, std, min, max, mean length) and the
command line, so a report can quote both.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

import gymnasium as gym
import numpy as np

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.registration import env_family


def random_action(rng: np.random.Generator, info: dict, num_actions: int) -> int:
    """A uniformly random action among those ``info["action_mask"]`` allows (all of them without a mask)."""
    mask = info.get("action_mask")
    if mask is None:
        return int(rng.integers(num_actions))
    return int(rng.choice(np.flatnonzero(mask)))


def run_episodes(env: gym.Env, episodes: int, seed: int) -> dict[str, list[tuple[float, int]]]:
    """``episodes`` random episodes; (return, length) per episode, keyed by task name."""
    rng = np.random.default_rng(seed)
    results: dict[str, list[tuple[float, int]]] = {}
    task_names = env.unwrapped.task_names
    for episode in range(episodes):
        _, info = env.reset(seed=seed + episode)
        total, length, done = 0.0, 0, False
        while not done:
            _, reward, terminated, truncated, info = env.step(random_action(rng, info, env.action_space.n))
            total += float(reward)
            length += 1
            done = terminated or truncated
        results.setdefault(task_names[info["task_id"]], []).append((total, length))
    return results


def markdown(results: dict[str, list[tuple[float, int]]]) -> str:
    lines = ["| task | episodes | mean return | std | min | max | mean length |", "|---|---|---|---|---|---|---|"]
    for task, rows in results.items():
        returns = np.array([r for r, _ in rows])
        lengths = np.array([n for _, n in rows])
        lines.append(
            f"| {task} | {len(rows)} | {returns.mean():.2f} | {returns.std():.2f} | {returns.min():g} | "
            f"{returns.max():g} | {lengths.mean():.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env_id", help="an mtenvs id (see `mtenvs list`)")
    parser.add_argument("--env-kwargs", default="{}", help="JSON object of keyword arguments for gym.make")
    parser.add_argument("--episodes", type=int, default=30, help="episodes in all (1..100000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first reset and of the action draws")
    args = parser.parse_args(argv)
    try:
        env_family(args.env_id)
        kwargs = json.loads(args.env_kwargs)
        if not isinstance(kwargs, dict):
            raise ValueError(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}")
        if not 1 <= args.episodes <= 100_000:
            raise ValueError(f"--episodes must be in 1..100000, got {args.episodes}")
        if not 0 <= args.seed < 2**32:
            raise ValueError(f"--seed must be in 0..2**32-1, got {args.seed}")
        env = gym.make(args.env_id, **kwargs)
    except (ValueError, TypeError) as error:
        print(f"random_policy.py: {error}", file=sys.stderr)
        return 2
    if not isinstance(env.action_space, gym.spaces.Discrete):
        print(f"random_policy.py: {args.env_id} has a {env.action_space} action space, not Discrete", file=sys.stderr)
        return 2
    start = time.time()
    results = run_episodes(env, args.episodes, args.seed)
    env.close()
    shown = sys.argv[1:] if argv is None else argv
    print(f"python scripts/random_policy.py {' '.join(shlex.quote(a) for a in shown)}")
    print(f"({time.time() - start:.0f} s)\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
