"""MultiMaze: fixed layouts per task, rewards, goal respawns."""

from __future__ import annotations

import numpy as np

from mtenvs.miniworld import MultiMazeEnv
from mtenvs.miniworld.maze import GOAL_VALUE, REWARD_VALUE, TOUCH_MARGIN


def make(**kwargs) -> MultiMazeEnv:
    return MultiMazeEnv(**{"maze_size": 4, "episode_steps": 50, **kwargs})


def test_layouts_are_fixed_per_task_and_differ_between_tasks():
    env = make()
    layouts = {}
    for seed in (0, 1):
        for task in range(8):
            env.reset(seed=seed, options={"task": task})
            layouts.setdefault(task, set()).add(frozenset(env.maze.open_edges))
    assert all(len(edges) == 1 for edges in layouts.values())  # same maze whatever the episode seed
    assert len({next(iter(edges)) for edges in layouts.values()}) == 8  # eight different mazes
    other = make(layout_seed=1)
    assert other.layouts[0].open_edges != env.layouts[0].open_edges


def test_objects_and_goal_are_placed_anew_each_episode():
    env = make(task_schedule="fixed", task=2)
    env.reset(seed=0)
    first = (env.goal.pos.copy(), [e.pos.copy() for e in env.reward_objects])
    env.reset(seed=1)
    assert not np.allclose(first[0], env.goal.pos)
    assert len(env.reward_objects) == 8
    assert env.maze.distances(env.goal_cell)[env.maze.nearest_cell(env.agent.pos)] >= 2


def test_reward_object_pays_once():
    env = make(task_schedule="fixed", task=0)
    env.reset(seed=0)
    target = env.reward_objects[0]
    env.agent.pos = target.pos + np.array([env.agent.radius + target.radius + TOUCH_MARGIN / 2, 0.0, 0.0])
    _, reward, _, _, info = env.step(0)  # a turn: the agent stays touching the object
    assert reward >= REWARD_VALUE and target not in env.entities and info["rewards_left"] <= 7
    _, reward, _, _, _ = env.step(1)
    assert reward == 0.0


def test_goal_pays_and_respawns_the_agent_away_from_it_in_the_same_episode():
    env = make(task_schedule="fixed", task=5, num_rewards=0)
    env.reset(seed=3)
    goal_pos = env.goal.pos.copy()
    env.agent.pos = goal_pos + np.array([0.0, 0.0, env.agent.radius + env.goal.radius + TOUCH_MARGIN / 2])
    _, reward, terminated, truncated, info = env.step(0)
    assert reward == GOAL_VALUE and info["goal_reached"] and info["goals_reached"] == 1
    assert not terminated and not truncated
    np.testing.assert_array_equal(env.goal.pos, goal_pos)  # the goal stays
    assert env.maze.distances(env.goal_cell)[env.maze.nearest_cell(env.agent.pos)] >= 2
    assert np.hypot(*(env.agent.pos - goal_pos)[[0, 2]]) > 2.0


def test_fixed_episode_length():
    env = make(episode_steps=7)
    env.reset(seed=0)
    ends = [env.step(2)[2:4] for _ in range(7)]
    assert ends == [(False, False)] * 6 + [(False, True)]


def test_walls_block_movement():
    env = make(task_schedule="fixed", task=0)
    env.reset(seed=0)
    env.heading = 0  # facing +x
    env.agent.dir = 0.0
    for _ in range(20):
        env.step(2)
    before = env.agent.pos.copy()
    env.step(2)
    np.testing.assert_array_equal(env.agent.pos, before)  # stopped ...
    assert env._hits_wall(before + np.array([0.5, 0.0, 0.0]), env.agent.radius)  # ... by a wall ahead
