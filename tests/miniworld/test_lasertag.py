"""MultiLaserTag-v0: contract checks, tag rays, bot AI, bot skill and the scripted player.

Most tests step the game logic with ``simulate`` (no rendering); only the contract checks render.
"""

from __future__ import annotations

import math
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mtenvs  # noqa: F401  (registers the ids)
from mtenvs.miniworld.bots import FLEE_STEPS, TAG_COOLDOWN, Bot, SkillProfile, WallMap, tag_target
from mtenvs.miniworld.lasertag import (
    LASER_TAG_ACTIONS,
    LEVELS,
    TAG_ACTION,
    MultiLaserTagEnv,
    aim_and_tag_action,
)

ENV_ID = "MultiLaserTag-v0"
TURN_LEFT, TURN_RIGHT = 0, 1
HORSESHOE = 2
ARENA = 3


def make(task: int | str, **kwargs) -> MultiLaserTagEnv:
    return gym.make(ENV_ID, task_schedule="fixed", task=task, **kwargs).unwrapped


def make_and_reset(task: int, seed: int, **kwargs) -> MultiLaserTagEnv:
    env = make(task, **kwargs)
    env.reset(seed=seed)
    return env


def put(env: MultiLaserTagEnv, ent, cell: tuple[int, int], heading_steps: int | None = None) -> None:
    """Move an entity to the centre of a maze cell (the agent also gets a heading, in 30° steps)."""
    ent.pos = env.maze.cell_center(cell)
    if heading_steps is not None:
        env.heading = heading_steps
        ent.dir = env._heading_radians()


def rollout(env: gym.Env, seed: int, steps: int) -> list:
    obs, info = env.reset(seed=seed)
    trace = [(obs, info)]
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        trace.append(env.step(int(rng.integers(len(LASER_TAG_ACTIONS)))))
    return trace


def assert_same_trace(a: list, b: list) -> None:
    assert len(a) == len(b)
    for first, second in zip(a, b, strict=True):
        for x, y in zip(first, second, strict=True):
            if isinstance(x, np.ndarray):
                np.testing.assert_array_equal(x, y)
            elif isinstance(x, dict):
                assert x.keys() == y.keys()
                for key in x:
                    np.testing.assert_array_equal(x[key], y[key])
            else:
                assert x == y


# ---------------------------------------------------------------------- contract (renders)


@pytest.mark.slow
def test_check_env_and_passive_checker_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(ENV_ID, render_mode="rgb_array")
        check_env(env.unwrapped, skip_render_check=False)
        env.reset(seed=0)
        for action in range(len(LASER_TAG_ACTIONS)):
            env.step(action)
    assert env.action_space == gym.spaces.Discrete(7)
    assert env.observation_space.shape == (60, 80, 3)
    assert env.unwrapped.task_names == tuple(level.name for level in LEVELS)
    frame = env.render()
    assert frame.shape == (240, 640, 3) and frame.dtype == np.uint8 and frame.std() > 0


def test_seeded_rollout_is_deterministic_with_moving_bots():
    first, second = make(ARENA), make(ARENA)
    trace = rollout(first, seed=3, steps=50)
    assert_same_trace(trace, rollout(second, seed=3, steps=50))
    start = [bot.pos.copy() for bot in make_and_reset(ARENA, seed=3).bots]
    moved = [np.linalg.norm(bot.pos - pos) for bot, pos in zip(first.bots, start, strict=True)]
    assert max(moved) > 1.0, "bots did not move"
    assert not all(np.array_equal(trace[0][0], step[0]) for step in trace[1:])
    different = rollout(make(ARENA), seed=4, steps=5)
    assert not np.array_equal(trace[1][0], different[1][0])


def test_pickled_env_replays_the_same_rollout():
    env = gym.make(ENV_ID)
    env.reset(seed=11)
    clone = pickle.loads(pickle.dumps(env))
    assert_same_trace(rollout(env, seed=5, steps=20), rollout(clone, seed=5, steps=20))


def test_out_of_range_actions_raise():
    env = make(ARENA)
    env.reset(seed=0)
    for action in (-1, 7, 1.5):
        with pytest.raises(ValueError, match="outside the action space"):
            env.step(action)
        with pytest.raises(ValueError, match="outside the action space"):
            env.simulate(action)


def test_stepping_before_reset_raises():
    env = make(ARENA)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    with pytest.raises(RuntimeError, match="reset"):
        env.simulate(0)


# ---------------------------------------------------------------------- bad input


def test_bad_bots_raise_clear_errors():
    with pytest.raises(ValueError, match="valid colors"):
        Bot("green", 0.5)
    with pytest.raises(ValueError, match=r"skill must be a finite number in \[0\.0, 1\.0\], got 2\.0"):
        Bot("red", 2.0)
    with pytest.raises(ValueError, match=r"skill must be a finite number in \[0\.0, 1\.0\]"):
        SkillProfile.from_skill(-1.0)


# ---------------------------------------------------------------------- levels


def test_levels_fixed_maps_stay_and_procedural_maps_change_with_the_seed():
    env = gym.make(ENV_ID).unwrapped

    def episode(task: int, seed: int) -> tuple[set, list[float], int]:
        env.reset(seed=seed, options={"task": task})
        return set(env.maze.open_edges), [bot.skill for bot in env.bots], env.maze.rows

    rows = {}
    for task, level in enumerate(LEVELS):
        (edges, skills, rows[level.name]), same, other = episode(task, 0), episode(task, 0), episode(task, 1)
        assert (edges, skills) == same[:2]
        assert (edges != other[0]) == level.procedural_map, level.name
        assert len(skills) == level.num_bots
        if level.skills is not None:
            assert skills == other[1] == list(level.skills)
        else:
            assert skills != other[1]
    assert rows["maze_small_1bot"] == rows["maze_small_3bots"] < rows["maze_large_1bot"] == rows["maze_large_3bots"]


def test_num_bots_and_bot_skill_override_every_level():
    env = make_and_reset("hallway", seed=0, num_bots=3, bot_skill=0.8)
    assert [bot.skill for bot in env.bots] == [0.8, 0.8, 0.8]


# ---------------------------------------------------------------------- tag rays


def test_wall_map_blocks_lines_through_walls_only():
    walls = WallMap(np.array([[[1.0, 0.0, -1.0], [1.0, 0.0, 1.0]]]))  # a wall along z at x = 1
    assert not walls.clear(np.zeros(3), np.array([2.0, 0.0, 0.0]))
    assert walls.clear(np.zeros(3), np.array([0.9, 0.0, 0.0]))
    assert walls.clear(np.zeros(3), np.array([2.0, 0.0, 3.0]))  # passes beyond the wall's end
    target = Bot("red", 0.5)
    target.pos = np.array([3.0, 0.0, 0.0])
    assert tag_target(np.zeros(3), 0.0, [target], walls) is None
    assert tag_target(np.zeros(3), 0.0, [target], WallMap(np.zeros((0, 2, 3)))) is target


def test_wall_map_collision_agrees_with_miniworld():
    env = make_and_reset("maze_large_3bots", seed=0)
    rng = np.random.default_rng(0)
    points = np.stack(
        [rng.uniform(env.min_x, env.max_x, 500), np.zeros(500), rng.uniform(env.min_z, env.max_z, 500)], 1
    )
    ours = [env.walls.touches(point, 0.42) for point in points]
    assert ours == [env._hits_wall(point, 0.42) for point in points]
    assert 50 < sum(ours) < 450


def test_a_ray_through_a_wall_never_tags_and_a_clear_ray_does():
    env = make_and_reset(HORSESHOE, seed=0, num_bots=1)
    bot = env.bots[0]
    put(env, env.agent, (1, 0), heading_steps=0)  # left arm, facing east (+x) into the solid block
    put(env, bot, (1, 4))  # right arm, straight ahead behind the block
    env.simulate(TAG_ACTION)
    assert env._events["tag_fired"] and not env._events["tag_hit"] and env.tags == 0
    for _ in range(TAG_COOLDOWN):
        env.simulate(TURN_LEFT)
    put(env, env.agent, (4, 0), heading_steps=0)  # the bottom corridor: a clear line
    put(env, bot, (4, 4))
    env.simulate(TAG_ACTION)
    assert env._events["tag_hit"] and env.tags == 1
    respawn_cell = env.maze.nearest_cell(bot.pos)
    assert env.maze.distances((4, 0))[respawn_cell] >= 2, "a tagged bot respawns away from the agent"
    assert not env.walls.clear(env.agent.pos, env.maze.cell_center(respawn_cell)), "and out of its sight"


def test_tag_cooldown_and_rewards():
    env = make_and_reset(HORSESHOE, seed=0, num_bots=1, tag_penalty=2.5)
    bot = env.bots[0]
    put(env, env.agent, (4, 0), heading_steps=0)
    put(env, bot, (4, 4))
    bot.dir = math.pi  # facing the agent, but it needs its reaction delay before firing
    assert env.simulate(TAG_ACTION) == 1.0
    put(env, bot, (4, 4))
    env.simulate(TAG_ACTION)
    assert not env._events["tag_fired"], "a tag during the cool-down must do nothing"
    env.bots[0].reset_mind()
    penalties = []
    for _ in range(200):
        penalties.append(env.simulate(TURN_LEFT if len(penalties) % 2 else TURN_RIGHT))
        if env.times_tagged:
            break
    assert env.times_tagged == 1 and penalties[-1] == -2.5


# ---------------------------------------------------------------------- bot AI


def test_bots_chase_a_visible_agent_and_flee_a_near_miss():
    env = make_and_reset(HORSESHOE, seed=0, num_bots=1, bot_skill=0.5)
    bot = env.bots[0]
    put(env, env.agent, (4, 0), heading_steps=0)
    put(env, bot, (4, 4))
    bot.dir = math.pi
    start = bot.pos.copy()
    env.simulate(TURN_LEFT)
    assert bot.mode == "chase" and bot.pos[0] < start[0]
    env.simulate(TURN_RIGHT)
    put(env, env.agent, (4, 0), heading_steps=1)  # aimed 30° off the bot: a near miss
    env.tag_cooldown = 0
    env.simulate(TAG_ACTION)
    assert not env._events["tag_hit"] and bot.mode == "flee"
    agent_cell_distances = env.maze.distances(env.maze.nearest_cell(env.agent.pos))
    start_distance = agent_cell_distances[env.maze.nearest_cell(bot.pos)]
    for _ in range(FLEE_STEPS):
        env.simulate(TURN_LEFT if env.step_count % 2 else TURN_RIGHT)
    assert agent_cell_distances[env.maze.nearest_cell(bot.pos)] >= start_distance + 1, "the bot ran away"
    assert env.times_tagged == 0, "fleeing bots do not fire"


def inside(room, pos: np.ndarray, tolerance: float = 1e-9) -> bool:
    """True when ``pos`` lies in the (rectangular) room or on its edge (an opening to the next room)."""
    x, z = pos[0], pos[2]
    return (
        room.min_x - tolerance <= x <= room.max_x + tolerance and room.min_z - tolerance <= z <= room.max_z + tolerance
    )


@pytest.mark.slow
def test_bots_never_leave_the_map_pass_walls_or_overlap():
    for task in range(len(LEVELS)):
        env = make_and_reset(task, seed=task, episode_steps=1500, num_bots=4 if task in (0, 3) else None)
        rng = np.random.default_rng(task)
        previous = [bot.pos.copy() for bot in env.bots]
        for _ in range(1500):
            env.simulate(int(rng.integers(len(LASER_TAG_ACTIONS))))
            bodies = [env.agent, *env.bots]
            for bot, before in zip(env.bots, previous, strict=True):
                assert any(inside(room, bot.pos) for room in env.rooms), f"bot left the map: {bot.pos}"
                assert not env._hits_wall(bot.pos, bot.radius), f"bot inside a wall: {bot.pos}"
                if np.linalg.norm(bot.pos - before) <= bot.profile.speed + 1e-9:
                    assert env.walls.clear(before, bot.pos), "bot stepped through a wall"
                for other in bodies:
                    if other is not bot:
                        assert np.linalg.norm((bot.pos - other.pos)[[0, 2]]) >= bot.radius + other.radius - 1e-9
            previous = [bot.pos.copy() for bot in env.bots]
        assert any(bot.mode != "wander" for bot in env.bots) or env.times_tagged > 0 or env.tags > 0


def test_higher_skill_bots_tag_a_stationary_agent_more_often():
    def times_tagged(skill: float) -> list[int]:
        counts = []
        for seed in range(3):
            env = make_and_reset(ARENA, seed=seed, bot_skill=skill)
            for step in range(400):
                env.simulate(TURN_LEFT if step % 2 else TURN_RIGHT)  # turns back and forth on the spot
            counts.append(env.times_tagged)
        return counts

    low, high = times_tagged(0.1), times_tagged(0.9)
    assert np.mean(high) >= 2 * np.mean(low) and np.mean(high) - np.mean(low) >= 10, (low, high)


@pytest.mark.slow
def test_scripted_player_scores_clearly_more_than_a_random_one():
    def returns(policy) -> list[float]:
        totals = []
        for task in (ARENA, 5):
            for seed in range(3):
                env = make_and_reset(task, seed=seed)
                rng = np.random.default_rng(seed)
                totals.append(sum(env.simulate(policy(env, rng)) for _ in range(300)))
        return totals

    scripted = returns(lambda env, rng: aim_and_tag_action(env))
    random = returns(lambda env, rng: int(rng.integers(len(LASER_TAG_ACTIONS))))
    assert np.mean(scripted) >= np.mean(random) + 10, (scripted, random)
    assert min(scripted) > max(random), (scripted, random)
