"""MultiMaze-v0 and MultiNav-v0 against the Gymnasium checks of the contract (docs/contract.md), and bad input."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mtenvs
from mtenvs.miniworld import PlacementError

# Small mazes and short episodes keep rendering under llvmpipe cheap.
SMALL = {
    "MultiMaze-v0": {"maze_size": 3, "episode_steps": 20},
    "MultiNav-v0": {"maze_size": 3, "episode_steps": 20},
}
IDS = list(SMALL)


def rollout(env: gym.Env, actions: list[int], seed: int) -> list[tuple]:
    obs, info = env.reset(seed=seed)
    steps = [(obs, info["task_id"])]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        steps.append((obs, reward, terminated, truncated, info["task_id"]))
        if terminated or truncated:
            obs, info = env.reset()
            steps.append((obs, info["task_id"]))
    return steps


def assert_same_rollouts(a: list[tuple], b: list[tuple]) -> None:
    assert len(a) == len(b)
    for step_a, step_b in zip(a, b, strict=True):
        np.testing.assert_array_equal(step_a[0], step_b[0])
        assert step_a[1:] == step_b[1:]


def test_ids_are_registered_with_one_action_set_and_observation():
    assert set(IDS) <= set(mtenvs.mtenvs_ids())
    for env_id in IDS:
        env = gym.make(env_id, **SMALL[env_id])
        assert env.observation_space == gym.spaces.Box(0, 255, (60, 80, 3), np.uint8)
        assert env.action_space == gym.spaces.Discrete(6)
    assert gym.make("MultiMaze-v0").unwrapped.num_tasks == 8
    assert gym.make("MultiNav-v0").unwrapped.task_names == ("collect", "carry_back", "find_goal", "find_goal_doors")


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_checks(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the passive checker must stay silent
        env = gym.make(env_id, **SMALL[env_id])
        env.reset(seed=0)
        for _ in range(5):
            env.step(env.action_space.sample())
        check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", IDS)
def test_seeded_determinism_over_50_steps(env_id):
    actions = np.random.default_rng(0).integers(0, 6, 50).tolist()
    make = lambda: gym.make(env_id, **SMALL[env_id])  # noqa: E731  (20-step episodes: resets mid-rollout)
    first = rollout(make(), actions, seed=7)
    assert_same_rollouts(first, rollout(make(), actions, seed=7))
    assert len({step[-1] for step in first}) > 1  # episodes switched tasks
    env = make()
    rollout(env, actions[:10], seed=99)  # reseeding must forget everything before the seed
    assert_same_rollouts(first, rollout(env, actions, seed=7))
    other = rollout(make(), actions, seed=8)
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(first, other, strict=False))


@pytest.mark.parametrize("env_id", IDS)
def test_pickle_round_trip_behaves_identically(env_id):
    env = gym.make(env_id, **SMALL[env_id]).unwrapped
    env.reset(seed=3)
    for action in (2, 2, 0, 4):
        env.step(action)
    clone = pickle.loads(pickle.dumps(env))
    actions = np.random.default_rng(1).integers(0, 6, 30).tolist()
    assert_same_rollouts(rollout(env, actions, seed=5), rollout(clone, actions, seed=5))
    # the task schedule's RNG came along too
    assert [env.reset()[1]["task_id"] for _ in range(6)] == [clone.reset()[1]["task_id"] for _ in range(6)]


@pytest.mark.parametrize("env_id", IDS)
def test_render_rgb_array_first_person_and_top_down(env_id):
    env = gym.make(env_id, render_mode="rgb_array", task_schedule="fixed", task=1, **SMALL[env_id])
    obs, _ = env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (240, 640, 3) and frame.dtype == np.uint8
    first_person, top_down = frame[:, :320], frame[:, 320:]
    assert first_person.std() > 5 and top_down.std() > 5
    np.testing.assert_array_equal(env.unwrapped.render_obs(), obs)  # rendering leaves the observation alone
    env.step(0)  # turning changes the view and the agent's marker on the map
    turned = env.render()
    assert not np.array_equal(turned[:, :320], first_person) and not np.array_equal(turned[:, 320:], top_down)


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("action", [6, -1, 1.5, "2", None, np.array([1, 2])])
def test_actions_outside_the_space_raise(env_id, action):
    env = gym.make(env_id, **SMALL[env_id]).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"outside the action space Discrete\(6\); valid actions: 0 turn_left"):
        env.step(action)


@pytest.mark.parametrize("env_id", IDS)
def test_step_before_reset_raises(env_id):
    with pytest.raises(RuntimeError, match="reset"):
        gym.make(env_id, **SMALL[env_id]).unwrapped.step(0)


@pytest.mark.parametrize(
    ("env_id", "kwargs", "match"),
    [
        ("MultiMaze-v0", {"task_schedule": "fixed", "task": 8}, r"valid ids are 0..7"),
        ("MultiNav-v0", {"task_schedule": "fixed", "task": 4}, r"valid ids are 0..3"),
        ("MultiNav-v0", {"task_schedule": "fixed", "task": "open_doors"}, "valid tasks: collect, carry_back"),
        ("MultiMaze-v0", {"maze_size": 1}, r"maze rows=1 is out of range; mazes are 2..16"),
        ("MultiNav-v0", {"maze_size": 40}, r"out of range"),
        ("MultiMaze-v0", {"maze_size": 4.0}, "must be an int"),
        ("MultiMaze-v0", {"num_rewards": -1}, "num_rewards"),
        ("MultiNav-v0", {"num_objects": 0}, "num_objects"),
        ("MultiNav-v0", {"door_close_prob": 1.5}, "door_close_prob"),
        ("MultiNav-v0", {"door_period": 0}, "door_period"),
        ("MultiMaze-v0", {"episode_steps": 0}, "episode_steps"),
        ("MultiNav-v0", {"episode_steps": [5, 6]}, r"one positive int per task \(4: collect, carry_back"),
        ("MultiMaze-v0", {"render_mode": "human"}, "Unknown render_mode"),
    ],
)
def test_bad_arguments(env_id, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make(env_id, **kwargs)


def test_per_task_episode_limits():
    env = gym.make("MultiNav-v0", episode_steps=[3, 4, 5, 6]).unwrapped
    for task, limit in enumerate((3, 4, 5, 6)):
        env.reset(seed=task, options={"task": task})
        truncated = [env.step(2)[3] for _ in range(limit)]
        assert truncated == [False] * (limit - 1) + [True]


def test_impossible_placement_raises_instead_of_looping():
    env = gym.make("MultiMaze-v0", maze_size=2, num_rewards=500).unwrapped
    with pytest.raises(
        PlacementError, match=r"No room for a Box \(radius 0.32 m\) in any of the cells .* Use fewer objects"
    ):
        env.reset(seed=0)


@pytest.mark.parametrize("env_id", IDS)
def test_task_obs_and_grouped_sync_vector(env_id):
    env = gym.make(env_id, task_obs=True, **SMALL[env_id])
    obs, _ = env.reset(seed=0)
    assert obs["obs"].shape == (60, 80, 3) and obs["task"].sum() == 1
    num_tasks = env.unwrapped.num_tasks
    envs = gym.make_vec(env_id, num_envs=num_tasks, vectorization="sync", **SMALL[env_id])
    _, infos = envs.reset(seed=0)
    np.testing.assert_array_equal(infos["task_id"], np.arange(num_tasks))
    _, _, _, _, infos = envs.step(np.zeros(num_tasks, dtype=np.int64))
    np.testing.assert_array_equal(infos["task_id"], np.arange(num_tasks))
    envs.close()


@pytest.mark.slow
def test_async_vector_env_starts_and_steps():
    envs = gym.make_vec("MultiNav-v0", num_envs=2, task_assignment="sampled", **SMALL["MultiNav-v0"])
    obs, infos = envs.reset(seed=0)
    assert obs.shape == (2, 60, 80, 3) and "task_id" in infos
    truncations = []
    for _ in range(25):  # past the 20-step limit: sub-envs autoreset
        obs, _, _, truncated, infos = envs.step(np.array([2, 3]))
        truncations.append(truncated.copy())
    assert np.flatnonzero(np.all(truncations, axis=1)).tolist() == [19]  # both sub-envs at step 20 exactly
    assert obs.shape == (2, 60, 80, 3) and infos["task_id"].shape == (2,)
    envs.close()


def test_envs_in_one_process_keep_their_own_scenes():
    """MiniWorld compiles every env's static scene into display list 1; ours must not share one."""
    first = gym.make("MultiMaze-v0", maze_size=3).unwrapped
    obs_first, _ = first.reset(seed=0, options={"task": 0})
    second = gym.make("MultiMaze-v0", maze_size=3).unwrapped
    obs_second, _ = second.reset(seed=0, options={"task": 1})
    assert not np.array_equal(obs_first, obs_second)
    np.testing.assert_array_equal(first.render_obs(), obs_first)
    np.testing.assert_array_equal(second.render_obs(), obs_second)
