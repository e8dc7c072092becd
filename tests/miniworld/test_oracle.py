"""The scripted oracle solves every task (so every generated level is solvable) and beats a random agent."""

from __future__ import annotations

import numpy as np
import pytest

from mtenvs.miniworld import MultiMazeEnv, MultiNavEnv
from mtenvs.miniworld.oracle import oracle_action


def run(env, seed: int, task: int, policy) -> tuple[float, dict]:
    _, info = env.reset(seed=seed, options={"task": task})
    total = 0.0
    rng = np.random.default_rng(seed)
    while True:
        action = oracle_action(env) if policy == "oracle" else int(rng.integers(6))
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
        if terminated or truncated:
            return total, info


@pytest.mark.parametrize("task", range(8))
def test_oracle_collects_every_reward_and_reaches_the_goal_in_every_maze(task):
    env = MultiMazeEnv(maze_size=3, num_rewards=4, episode_steps=150)
    oracle_return, info = run(env, seed=task, task=task, policy="oracle")
    assert info["rewards_left"] == 0 and info["goals_reached"] >= 2
    assert oracle_return == 4 + 10 * info["goals_reached"]
    random_return, _ = run(env, seed=task, task=task, policy="random")
    assert oracle_return > 2 * random_return + 10


@pytest.mark.parametrize(
    ("task", "min_events"),
    [("collect", 7), ("carry_back", 3), ("find_goal", 3), ("find_goal_doors", 3)],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_oracle_solves_every_navigation_task(task, min_events, seed):
    env = MultiNavEnv(maze_size=3, num_objects=3, episode_steps=250, door_period=10)
    task_id = env.task_index(task)
    oracle_return, info = run(env, seed=seed, task=task_id, policy="oracle")
    assert info["score_events"] >= min_events  # collect: more than one full set, so the level refilled
    assert oracle_return == info["score_events"] * (10.0 if task.startswith("find_goal") else 1.0)
    random_return, _ = run(env, seed=seed, task=task_id, policy="random")
    assert oracle_return > 2 * random_return


def oracle_steps_until(env, seed: int, task: int, solved) -> int | None:
    """Steps the oracle needs until ``solved(info)`` holds (``None`` if the episode ends first)."""
    env.reset(seed=seed, options={"task": task})
    for step in range(1, env.max_episode_steps + 1):
        *_, info = env.step(oracle_action(env))
        if solved(info):
            return step
    return None


@pytest.mark.slow
@pytest.mark.parametrize("seed", [10, 11])
def test_oracle_on_default_sizes(seed):
    """Default maze sizes and object counts: every maze and every generated level gets solved."""
    maze_env = MultiMazeEnv()
    for task in range(8):
        assert oracle_steps_until(maze_env, seed, task, lambda i: i["rewards_left"] == 0 and i["goals_reached"] >= 1)
    nav_env = MultiNavEnv()
    for task in range(4):
        assert oracle_steps_until(nav_env, seed, task, lambda i: i["score_events"] >= 3), nav_env.task_names[task]
