"""TwoRooms single env: Gymnasium checks, dynamics, encodings, task set, and bad input."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mtenvs
from mtenvs.tworooms import TwoRoomsEnv, build_layout
from mtenvs.tworooms.layout import CELL_PIXELS, COLORS

UP, RIGHT, DOWN, LEFT = range(4)


@pytest.mark.parametrize("observation_type", ["onehot", "coordinates", "image"])
def test_check_env_passes(observation_type):
    env = gym.make("TwoRooms-v0", observation_type=observation_type, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)


def test_passive_checker_gives_no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make("TwoRooms-v0", render_mode="rgb_array")
        env.reset(seed=0)
        for _ in range(30):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            env.render()
            if terminated or truncated:
                env.reset()


def _rollout(env, seed, steps=50):
    obs, info = env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, 4, size=steps)
    trace = [(obs.copy(), info["task_id"])]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(int(action))
        trace.append((obs.copy(), reward, terminated, truncated, info["task_id"]))
        if terminated or truncated:
            obs, info = env.reset()
            trace.append((obs.copy(), info["task_id"]))
    return trace


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert len(x) == len(y)
        for u, v in zip(x, y, strict=True):
            np.testing.assert_array_equal(u, v)


def test_seeded_rollouts_are_deterministic_and_seeds_differ():
    kwargs = {"max_steps": 10}
    _same(_rollout(gym.make("TwoRooms-v0", **kwargs), 3), _rollout(gym.make("TwoRooms-v0", **kwargs), 3))
    with pytest.raises(AssertionError):
        _same(_rollout(gym.make("TwoRooms-v0", **kwargs), 3), _rollout(gym.make("TwoRooms-v0", **kwargs), 4))


def test_pickle_round_trip_continues_identically():
    env = gym.make("TwoRooms-v0", max_steps=7)
    env.reset(seed=11)
    for action in (RIGHT, RIGHT, DOWN):
        env.step(action)
    clone = pickle.loads(pickle.dumps(env))
    actions = np.random.default_rng(0).integers(0, 4, size=40)
    for action in actions:
        a, b = env.step(int(action)), clone.step(int(action))
        for u, v in zip(a, b, strict=True):
            np.testing.assert_array_equal(u, v)
        if a[2] or a[3]:
            np.testing.assert_array_equal(env.reset()[0], clone.reset()[0])


def test_rgb_array_frame_shows_walls_goal_and_agent():
    env = TwoRoomsEnv(render_mode="rgb_array", task_schedule="fixed", task=2)
    env.reset(seed=0)
    frame = env.render()
    layout = env.layout
    assert frame.shape == (layout.height * CELL_PIXELS, layout.width * CELL_PIXELS, 3) and frame.dtype == np.uint8

    def pixel(cell, corner=False):
        row, col = cell
        offset = 1 if corner else CELL_PIXELS // 2
        return tuple(frame[row * CELL_PIXELS + offset, col * CELL_PIXELS + offset])

    assert pixel((0, 0)) == COLORS["wall"]
    assert pixel(env.goal) == COLORS["goal"]
    assert pixel(env.position) == COLORS["agent"]
    assert pixel(env.position, corner=True) in (COLORS["floor"], COLORS["corridor"])
    assert TwoRoomsEnv().render() is None


@pytest.mark.parametrize("bad", [4, -1, 1.5, "up", None, np.array([1, 2])])
def test_out_of_range_actions_raise(bad):
    env = TwoRoomsEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside the action space"):
        env.step(bad)


def test_step_before_reset_and_after_the_end_raise():
    env = TwoRoomsEnv(max_steps=1)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    env.step(0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def _corridor_env(**kwargs):
    # 1-row corridor map: cells (1,1) .. (1,5), goal at the east end.
    layout = ["#######", "#.....#", "#######"]
    return TwoRoomsEnv(layout=layout, goals=[[1, 5]], observation_type="coordinates", **kwargs)


def test_walls_block_moves_and_the_goal_rewards_and_terminates():
    env = _corridor_env(goal_reward=2.0, step_reward=-0.5)
    obs, _ = env.reset(seed=0)
    while env.position != (1, 1):  # find a seed-independent start: walk west to the wall
        obs, *_ = env.step(LEFT)
    obs, reward, terminated, truncated, _ = env.step(UP)  # wall above: stays put
    assert env.position == (1, 1) and reward == -0.5 and not terminated and not truncated
    np.testing.assert_array_equal(obs, [1, 1, UP, -0.5])
    for col in range(2, 5):
        obs, reward, terminated, _, _ = env.step(RIGHT)
        assert env.position == (1, col) and reward == -0.5 and not terminated
    obs, reward, terminated, truncated, _ = env.step(RIGHT)
    assert env.position == (1, 5) and reward == 2.0 and terminated and not truncated
    np.testing.assert_array_equal(obs, [1, 5, RIGHT, 2.0])


def test_truncation_after_max_steps():
    env = _corridor_env(max_steps=3)
    _obs, _ = env.reset(seed=5)
    env.step(LEFT)
    env.step(LEFT)
    _, _, terminated, truncated, _ = env.step(LEFT)
    assert truncated and not terminated


def test_reset_observation_has_no_previous_action_or_reward():
    obs, _ = _corridor_env().reset(seed=0)
    assert obs[2] == 4 and obs[3] == 0.0


def test_encodings_describe_the_same_state():
    kwargs = {"max_steps": 15}
    envs = {t: TwoRoomsEnv(observation_type=t, **kwargs) for t in ("onehot", "coordinates", "image")}
    layout = envs["onehot"].layout
    cells = layout.free_cells.size
    results = {t: _rollout(env, 9, steps=40) for t, env in envs.items()}
    for onehot, coords, image in zip(results["onehot"], results["coordinates"], results["image"], strict=True):
        row, col, prev_action, prev_reward = coords[0]
        flat = int(row) * layout.width + int(col)
        assert onehot[0][layout.free_index[flat]] == 1 and onehot[0][:cells].sum() == 1
        assert onehot[0][cells + int(prev_action)] == 1 and onehot[0][cells : cells + 5].sum() == 1
        assert onehot[0][-1] == prev_reward
        planes = image[0]
        np.testing.assert_array_equal(planes[0], layout.walls)
        assert planes[1, int(row), int(col)] == 1 and planes[1].sum() == 1
        assert (planes[2 + int(prev_action)] == 1).all() and planes[2:7].sum() == planes[0].size
        assert (planes[7] == prev_reward).all()


def test_start_cells_are_uniform_over_free_cells_except_the_goal():
    env = TwoRoomsEnv(task_schedule="fixed", task=0, observation_type="coordinates")
    env.reset(seed=0)
    counts = {}
    for _ in range(5000):
        obs, _ = env.reset()
        cell = (int(obs[0]), int(obs[1]))
        counts[cell] = counts.get(cell, 0) + 1
    free = env.layout.free_cells.size
    assert env.goal not in counts
    assert len(counts) == free - 1
    expected = 5000 / (free - 1)
    assert all(abs(n - expected) < 5 * np.sqrt(expected) for n in counts.values())


def test_task_set_is_seeded_distinct_room_cells():
    a, b, c = build_layout(task_seed=0), build_layout(task_seed=0), build_layout(task_seed=1)
    np.testing.assert_array_equal(a.goals, b.goals)
    assert not np.array_equal(a.goals, c.goals)
    assert a.num_tasks == 8 and np.unique(a.goals).size == 8
    assert not a.walls.flat[a.goals].any() and not a.corridor.flat[a.goals].any()
    env = TwoRoomsEnv(goals=[[1, 1], [3, 8]])
    assert env.task_names == ("goal_1_1", "goal_3_8")


def test_task_choice_follows_options_and_schedules():
    env = TwoRoomsEnv(task_schedule="round_robin")
    assert [env.reset(seed=0)[1]["task_id"]] + [env.reset()[1]["task_id"] for _ in range(9)] == [*range(8), 0, 1]
    env = TwoRoomsEnv(task_schedule="fixed", task="goal_1_1", goals=[[1, 2], [1, 1]])
    assert env.reset(seed=0)[1]["task_id"] == 1
    assert env.reset(options={"task": 0})[1]["task_id"] == 0
    tasks = {TwoRoomsEnv().reset(seed=s)[1]["task_id"] for s in range(60)}
    assert tasks == set(range(8))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"room_size": 0}, "room_size"),
        ({"corridor_length": 2.5}, "corridor_length"),
        ({"layout": ["###", "#.#"]}, "at least 3"),
        ({"layout": ["####", "#..#", "###"]}, "same length"),
        ({"layout": ["####", "#.x#", "####"]}, "may only contain"),
        ({"layout": ["####", "#...", "####"]}, "surrounded by walls"),
        ({"layout": ["#####", "#.#.#", "#####"]}, "not all connected"),
        ({"goals": [[0, 0]]}, "on a wall"),
        ({"goals": [[1, 40]]}, "outside"),
        ({"goals": [[1, 1], [1, 1]]}, "distinct"),
        ({"goals": [[1, 1]], "num_tasks": 2}, "disagrees"),
        ({"goals": [1, 1]}, r"\[row, col\]"),
        ({"num_tasks": 0}, "num_tasks"),
        ({"num_tasks": 51}, "exceeds"),
        ({"max_steps": 0}, "max_steps"),
        ({"goal_reward": float("nan")}, "goal_reward"),
        ({"observation_type": "rgb"}, "observation_type"),
        ({"render_mode": "human"}, "render_mode"),
        ({"task_schedule": "fixed", "task": 8}, "out of range"),
        ({"task_schedule": "fixed", "task": "goal_0_0"}, "Unknown task"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TwoRoomsEnv(**kwargs)


def test_bad_reset_options_raise():
    env = TwoRoomsEnv()
    with pytest.raises(ValueError, match="out of range"):
        env.reset(seed=0, options={"task": 8})
    with pytest.raises(ValueError, match="Unknown reset option"):
        env.reset(seed=0, options={"goal": 1})


def test_task_observation_and_episode_statistics_wrappers():
    env = mtenvs.RecordTaskEpisodeStatistics(gym.make("TwoRooms-v0", task_obs=True, max_steps=5))
    obs, info = env.reset(seed=0)
    assert set(obs) == {"obs", "task"} and obs["task"][info["task_id"]] == 1 and obs["task"].sum() == 1
    for _ in range(5):
        _, _, terminated, truncated, info = env.step(LEFT)
        if terminated or truncated:
            break
    episode = info["episode"]
    assert episode["task"] == env.unwrapped.task_names[episode["task_id"]]
    assert episode["l"] <= 5 and episode["r"] in (0.0, 1.0) and np.isnan(episode["hns"])


def test_policy_frame_draws_bars_proportional_to_probabilities():
    layout = build_layout()
    probabilities = np.zeros((layout.free_cells.size, 4))
    probabilities[:, RIGHT] = 1.0
    frame = layout.policy_frame(probabilities)
    row, col = layout.cell(int(layout.free_cells[0]))
    centre_row, centre_col = row * CELL_PIXELS + CELL_PIXELS // 2, col * CELL_PIXELS + CELL_PIXELS // 2
    blue = np.array(COLORS["policy"])
    assert (frame[centre_row, centre_col : centre_col + CELL_PIXELS // 2 - 1] == blue).all()  # bar to the right
    assert not (frame[centre_row, col * CELL_PIXELS : centre_col - 2] == blue).all(axis=1).any()  # none to the left
    half = probabilities.copy()
    half[:, RIGHT] = 0.5
    shorter = (layout.policy_frame(half) == blue).all(axis=2).sum()
    assert 0 < shorter < (frame == blue).all(axis=2).sum()
    with pytest.raises(ValueError, match="free cells x actions"):
        layout.policy_frame(np.zeros((3, 4)))
