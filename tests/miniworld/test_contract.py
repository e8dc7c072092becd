"""MultiMaze-v0 and MultiNav-v0: their views, limits, placement and vector paths (the contract
itself, check_env, determinism and pickling, is tested on every id in tests/test_envs.py)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mtenvs
from mtenvs.miniworld import PlacementError
from mtenvs.workers import WorkerVectorEnv

# Small mazes and short episodes keep rendering under llvmpipe cheap.
SMALL = {
    "MultiMaze-v0": {"maze_size": 3, "episode_steps": 20},
    "MultiNav-v0": {"maze_size": 3, "episode_steps": 20},
}
IDS = list(SMALL)


def test_ids_are_registered_with_one_action_set_and_observation():
    assert set(IDS) <= set(mtenvs.mtenvs_ids())
    for env_id in IDS:
        env = gym.make(env_id, **SMALL[env_id])
        assert env.observation_space == gym.spaces.Box(0, 255, (60, 80, 3), np.uint8)
        assert env.action_space == gym.spaces.Discrete(6)
    assert gym.make("MultiMaze-v0").unwrapped.num_tasks == 8
    assert gym.make("MultiNav-v0").unwrapped.task_names == ("collect", "carry_back", "find_goal", "find_goal_doors")


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


def test_per_task_episode_limits():
    env = gym.make("MultiNav-v0", episode_steps=[3, 4, 5, 6]).unwrapped
    for task, limit in enumerate((3, 4, 5, 6)):
        env.reset(seed=task, options={"task": task})
        truncated = [env.step(2)[3] for _ in range(limit)]
        assert truncated == [False] * (limit - 1) + [True]


def test_impossible_placement_raises_instead_of_looping():
    env = gym.make("MultiMaze-v0", maze_size=2, num_rewards=200).unwrapped
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
def test_default_workers_and_async_vector_envs_step_alike():
    """The default path (worker processes, the parent hosting a slice) and Gymnasium's async one give
    the same frames from the same seed, across the sub-envs' autoresets."""
    runs = {}
    for vectorization in ("workers", "async"):
        kwargs = {} if vectorization == "workers" else {"vectorization": "async"}
        envs = gym.make_vec("MultiNav-v0", num_envs=2, task_assignment="sampled", **kwargs, **SMALL["MultiNav-v0"])
        assert isinstance(envs, WorkerVectorEnv) == (vectorization == "workers")
        obs, infos = envs.reset(seed=0)
        assert obs.shape == (2, 60, 80, 3) and "task_id" in infos
        frames, truncations = [obs], []
        for _ in range(25):  # past the 20-step limit: sub-envs autoreset
            obs, _, _, truncated, infos = envs.step(np.array([2, 3]))
            frames.append(obs)
            truncations.append(truncated.copy())
        assert np.flatnonzero(np.all(truncations, axis=1)).tolist() == [19]  # both sub-envs at step 20 exactly
        runs[vectorization] = np.stack(frames)
        envs.close()
    np.testing.assert_array_equal(runs["workers"], runs["async"])


def test_envs_in_one_process_keep_their_own_scenes():
    """MiniWorld compiles every env's static scene into display list 1; ours must not share one."""
    first = gym.make("MultiMaze-v0", maze_size=3).unwrapped
    obs_first, _ = first.reset(seed=0, options={"task": 0})
    second = gym.make("MultiMaze-v0", maze_size=3).unwrapped
    obs_second, _ = second.reset(seed=0, options={"task": 1})
    assert not np.array_equal(obs_first, obs_second)
    np.testing.assert_array_equal(first.render_obs(), obs_first)
    np.testing.assert_array_equal(second.render_obs(), obs_second)
