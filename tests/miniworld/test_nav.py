"""MultiNav: new maze per episode, refills, carrying back to the start, doors that keep a path."""

from __future__ import annotations

import numpy as np

from mtenvs.miniworld import MultiNavEnv
from mtenvs.miniworld.maze import TOUCH_MARGIN


def make(task: str, **kwargs) -> MultiNavEnv:
    return MultiNavEnv(**{"maze_size": 3, "episode_steps": 200, "task_schedule": "fixed", "task": task, **kwargs})


def touch(env: MultiNavEnv, ent) -> None:
    """Put the agent right beside ``ent`` (inside the touch margin)."""
    env.agent.pos = ent.pos * np.array([1.0, 0.0, 1.0]) + np.array(
        [env.agent.radius + ent.radius + TOUCH_MARGIN / 2, 0.0, 0.0]
    )


def test_maze_is_generated_anew_every_episode():
    env = make("find_goal", maze_size=5)
    mazes = set()
    for seed in range(4):
        env.reset(seed=seed)
        mazes.add(frozenset(env.maze.open_edges))
        assert env.maze.is_connected()
    assert len(mazes) == 4


def test_collect_refills_when_all_are_taken():
    env = make("collect", num_objects=3)
    env.reset(seed=0)
    first_set = list(env.objects)
    total = 0.0
    while any(ent in env.objects for ent in first_set):
        touch(env, next(ent for ent in first_set if ent in env.objects))
        total += env.step(0)[1]
    assert total == 3.0 == env._task_info()["score_events"]  # one point per object
    assert len(env.objects) == 3 and not set(env.objects) & set(first_set)  # a fresh set


def test_carried_objects_count_only_at_the_start_position():
    env = make("carry_back", num_objects=2)
    env.reset(seed=1)
    start = env.start_pos.copy()
    box = min(env.objects, key=lambda ent: -np.hypot(*(ent.pos - start)[[0, 2]]))  # the farther one
    touch(env, box)
    _, reward, _, _, info = env.step(0)
    assert reward == 0.0 and info["carrying"] and env.agent.carrying is box  # picked up, not paid
    far_cell = max(env.maze.cells, key=lambda c: np.hypot(*(env.maze.cell_center(c) - start)[[0, 2]]))
    env.agent.pos = env.maze.cell_center(far_cell)
    for action in (0, 0, 1):  # carrying it around elsewhere pays nothing
        _, reward, _, _, info = env.step(action)
        assert reward == 0.0 and info["carrying"]
    assert np.hypot(*(box.pos - env.agent.pos)[[0, 2]]) < 1.0  # it travels with the agent
    env.agent.pos = start.copy()
    _, reward, _, _, info = env.step(0)
    assert reward == 1.0 and not info["carrying"] and box not in env.entities and len(env.objects) == 1


def test_find_goal_respawns_away_from_the_fixed_goal():
    env = make("find_goal", maze_size=4)
    env.reset(seed=2)
    maze, goal = frozenset(env.maze.open_edges), env.goal.pos.copy()
    touch(env, env.goal)
    _, reward, terminated, _, info = env.step(0)
    assert reward == 10.0 and not terminated and info["score_events"] == 1
    assert env.maze.distances(env.goal_cell)[env.maze.nearest_cell(env.agent.pos)] >= 2
    assert frozenset(env.maze.open_edges) == maze and np.array_equal(env.goal.pos, goal)


def test_doors_change_and_always_leave_a_path_to_the_goal():
    env = make("find_goal_doors", maze_size=4, door_period=1, door_close_prob=0.6)
    env.reset(seed=0)
    assert {door.edge for door in env.doors} == env.maze.open_edges  # a door in every doorway
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(60):
        _, _, _, _, info = env.step(int(rng.integers(6)))
        closed = env.closed_edges()
        seen.add(frozenset(closed))
        assert info["doors_closed"] == len(closed)
        assert env.maze.is_connected(closed)  # every room, so the goal, stays reachable
        here = env.maze.nearest_cell(env.agent.pos)
        assert env.maze.shortest_path(here, env.goal_cell, closed) is not None
        assert not env._hits_wall(env.agent.pos, env.agent.radius)  # no door shut on the agent
    assert len(seen) > 30 and max(len(c) for c in seen) > 0


def test_closed_door_blocks_and_open_door_lets_through():
    env = make("find_goal_doors", maze_size=3, door_close_prob=0.0)
    env.reset(seed=0)
    door = env.doors[0]
    (r0, c0), (r1, c1) = door.edge
    crossing = np.array([float(c1 - c0), 0.0, float(r1 - r0)])  # from the first cell towards the second
    env.agent.pos = env.maze.opening_center(door.edge) - crossing * (env.agent.radius + 0.3)
    env.heading, env.agent.dir = 0, 0.0
    door.closed = True
    before = env.agent.pos.copy()
    env._apply_action(5 if crossing[2] else 2)  # strafe right moves +z at heading 0; forward moves +x
    np.testing.assert_array_equal(env.agent.pos, before)
    door.closed = False
    env._apply_action(5 if crossing[2] else 2)
    assert np.dot(env.agent.pos - before, crossing) == 0.5
