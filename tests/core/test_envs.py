"""The multi-task contract (docs/contract.md) on every registered id, as Gymnasium's tests/envs/test_envs.py.

The tests run on the ids of ``mtenvs.mtenvs_ids()``, so a new family is held to the contract as soon
as it registers (the costliest on one id per entry point). ``FAST`` only makes some ids cheaper
(smaller mazes, shorter episodes); an id without an entry is tested as registered.
"""

from __future__ import annotations

import copy
import pickle
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env, data_equivalence

import mtenvs
from mtenvs.registration import env_family

IDS = mtenvs.mtenvs_ids()
# Ids that share their entry points differ only in registered kwargs (e.g. a MultiAtari suite): the
# costliest tests run on the first id of each entry point, the others on every id. (An id defined by
# its task set has its own entry point object, whose str() is the family's shared one.)
REPRESENTATIVE_IDS = list(
    {
        (str(gym.spec(env_id).entry_point), str(gym.spec(env_id).vector_entry_point)): env_id
        for env_id in reversed(IDS)
    }.values()
)[::-1]

# Constructor arguments that keep an id cheap to test; episodes end within a few dozen steps.
FAST: dict[str, dict[str, Any]] = {
    "TwoRooms-v0": {"max_steps": 12},
    "MultiMaze-v0": {"maze_size": 3, "episode_steps": 15},
    "MultiNav-v0": {"maze_size": 3, "episode_steps": 15},
    "MultiLaserTag-v0": {"episode_steps": 15},
    **{env_id: {"max_episode_frames": 120} for env_id in IDS if env_id.startswith("MultiAtari")},
}
# Vector-only arguments: one process for every sub-env keeps process start-up out of the tests.
FAST_VECTOR: dict[str, dict[str, Any]] = {
    env_id: {"vectorization": "sync"}
    for env_id in IDS
    if env_id.split("-")[0] in ("MultiMaze", "MultiNav", "MultiLaserTag")
}
# The vector paths held to the contract: each representative id's default, and the batched worker
# processes (mtenvs.workers) on the first id of every family, as every family offers them.
VECTOR_PATHS = [(env_id, FAST_VECTOR.get(env_id, {})) for env_id in REPRESENTATIVE_IDS] + [
    (env_id, {"vectorization": "workers"})
    for env_id in list({env_family(env_id): env_id for env_id in reversed(REPRESENTATIVE_IDS)}.values())[::-1]
]


def make(env_id: str, **kwargs: Any) -> gym.Env:
    return gym.make(env_id, **{**FAST.get(env_id, {}), **kwargs})


def rollout(env: gym.Env, seed: int, steps: int, options: dict | None = None) -> list[tuple]:
    """Seeded actions from the action space; resets when an episode ends."""
    env.action_space.seed(seed)
    obs, info = env.reset(seed=seed, options=options)
    record = [(obs, info["task_id"])]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        record.append((obs, reward, terminated, truncated, info["task_id"]))
        if terminated or truncated:
            obs, info = env.reset()
            record.append((obs, info["task_id"]))
    return record


def out_of_range_actions(space: spaces.Space) -> list[Any]:
    if isinstance(space, spaces.Discrete):
        return [int(space.start + space.n), int(space.start) - 1, 0.5, None]
    if isinstance(space, spaces.Box):
        return [np.full(space.shape, np.nan, dtype=space.dtype), np.zeros((*space.shape, 2), dtype=space.dtype)]
    return [None]


@pytest.mark.parametrize("env_id", REPRESENTATIVE_IDS)
def test_check_env_and_silent_passive_checker(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = make(env_id)  # gym.make adds the passive checker
        env.reset(seed=0)
        for _ in range(5):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
        check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", REPRESENTATIVE_IDS)
def test_seeded_determinism_over_50_steps(env_id):
    first = rollout(make(env_id), seed=7, steps=50)
    assert data_equivalence(first, rollout(make(env_id), seed=7, steps=50))
    reused = make(env_id)
    rollout(reused, seed=99, steps=10)  # reseeding forgets everything before the seed
    assert data_equivalence(first, rollout(reused, seed=7, steps=50))
    assert not data_equivalence(first, rollout(make(env_id), seed=8, steps=50))


@pytest.mark.parametrize(
    "copy_env", [lambda env: pickle.loads(pickle.dumps(env)), copy.deepcopy], ids=["pickle", "deepcopy"]
)
@pytest.mark.parametrize("env_id", REPRESENTATIVE_IDS)
def test_copies_behave_identically(env_id, copy_env):
    env = make(env_id)
    rollout(env, seed=3, steps=4)
    clone = copy_env(env)
    assert data_equivalence(rollout(env, seed=5, steps=20), rollout(clone, seed=5, steps=20))
    # the task schedule's RNG came along too
    assert [env.reset()[1]["task_id"] for _ in range(6)] == [clone.reset()[1]["task_id"] for _ in range(6)]


@pytest.mark.parametrize("env_id", IDS)
def test_render_rgb_array(env_id):
    env = make(env_id, render_mode="rgb_array")
    assert "rgb_array" in env.metadata["render_modes"]
    env.reset(seed=0)
    frame = env.render()
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.std() > 0


@pytest.mark.parametrize("env_id", IDS)
def test_out_of_range_actions_raise_and_change_nothing(env_id):
    env = make(env_id).unwrapped
    reference = make(env_id).unwrapped
    env.reset(seed=0)
    reference.reset(seed=0)
    for action in out_of_range_actions(env.action_space):
        with pytest.raises(ValueError, match="action"):
            env.step(action)
    action = env.action_space.sample()
    assert data_equivalence(env.step(action), reference.step(action))


@pytest.mark.parametrize("env_id", REPRESENTATIVE_IDS)
def test_a_bool_is_not_an_action(env_id):
    """Regression: Python lets True be 1, so step(True) used to play action 1 in every family."""
    env = make(env_id).unwrapped
    reference = make(env_id).unwrapped
    env.reset(seed=0)
    reference.reset(seed=0)
    for action in (True, False, np.bool_(True), np.array(False)):
        with pytest.raises(TypeError, match=r"Action .* is a bool; an action is an int in .*Discrete\(\d+\)"):
            env.step(action)
    action = env.action_space.sample()
    assert data_equivalence(env.step(action), reference.step(action))


@pytest.mark.parametrize("env_id", IDS)
def test_info_task_id_and_action_mask(env_id):
    env = make(env_id).unwrapped
    _, info = env.reset(seed=0)
    infos = [info] + [env.step(env.action_space.sample())[4] for _ in range(3)]
    for info in infos:
        assert isinstance(info["task_id"], (int, np.integer)) and 0 <= info["task_id"] < env.num_tasks
        assert info["task_id"] == env.task_id
        if getattr(env, "action_masks", None) is not None:
            mask = info["action_mask"]
            assert mask.dtype == np.int8 and mask.shape == (env.action_space.n,)
            np.testing.assert_array_equal(mask, env.action_masks[info["task_id"]])
    assert len(env.task_names) == env.num_tasks == len(env.score_references) >= 1


@pytest.mark.parametrize("env_id", IDS)
def test_reset_options(env_id):
    env = make(env_id).unwrapped
    last = env.num_tasks - 1
    assert env.reset(seed=0, options={"task": last})[1]["task_id"] == last
    assert env.reset(options={"task": env.task_names[0]})[1]["task_id"] == 0
    with pytest.raises(ValueError, match=r"Unknown reset option\(s\) \['level'\]"):
        env.reset(options={"level": 1})
    with pytest.raises(TypeError, match="reset options must be a dict"):
        env.reset(options=["task", 0])
    with pytest.raises(ValueError, match="valid ids are"):
        env.reset(options={"task": env.num_tasks})
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        env.reset(seed=-1)
    with pytest.raises(TypeError, match="seed must be an int"):
        env.reset(seed=1.5)


@pytest.mark.parametrize("env_id", IDS)
def test_a_refused_reset_changes_nothing(env_id):
    env, twin = make(env_id).unwrapped, make(env_id).unwrapped
    env.reset(seed=1)
    twin.reset(seed=1)
    for options in ({"level": 1}, {"task": env.num_tasks}, "task"):
        with pytest.raises((TypeError, ValueError)):
            env.reset(seed=2, options=options)  # neither reseeds nor restarts the episode
    action = env.action_space.sample()
    assert data_equivalence(env.step(action), twin.step(action))


@pytest.mark.parametrize("env_id", IDS)
def test_step_outside_an_episode_raises(env_id):
    env = make(env_id).unwrapped
    with pytest.raises(RuntimeError, match=r"reset\(\)"):
        env.step(env.action_space.sample())
    env.reset(seed=0)
    for _ in range(2000):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            break
    else:
        pytest.skip(f"no episode of {env_id} ended within 2000 steps")
    with pytest.raises(RuntimeError, match=r"episode has ended.*call reset\(\)"):
        env.step(env.action_space.sample())
    env.reset()
    env.step(env.action_space.sample())


@pytest.mark.parametrize(
    ("env_id", "vector_kwargs"), VECTOR_PATHS, ids=[f"{i}-{k.get('vectorization', 'default')}" for i, k in VECTOR_PATHS]
)
def test_vector_contract(env_id, vector_kwargs):
    num_tasks = make(env_id).unwrapped.num_tasks
    kwargs = {**FAST.get(env_id, {}), **vector_kwargs}
    envs = gym.make_vec(env_id, num_envs=num_tasks, **kwargs)
    base = envs.unwrapped
    assert base.task_assignment == "grouped" and base.num_tasks == num_tasks == len(base.task_names)
    np.testing.assert_array_equal(base.env_task_ids, np.arange(num_tasks))
    assert len(base.score_references) == num_tasks
    _, infos = envs.reset(seed=0)
    np.testing.assert_array_equal(infos["task_id"], base.env_task_ids)
    # A bad batch is refused before any sub-env steps: the envs stay in step with a twin.
    twin = gym.make_vec(env_id, num_envs=num_tasks, **kwargs)
    twin.reset(seed=0)
    bad = np.zeros(num_tasks, dtype=np.int64)
    bad[-1] = envs.single_action_space.n
    with pytest.raises(ValueError, match=r"[Aa]ctions must"):
        envs.step(bad)
    good = np.zeros(num_tasks, dtype=np.int64)
    assert data_equivalence(envs.step(good), twin.step(good))
    for seed in (-1, 1.5):
        with pytest.raises((TypeError, ValueError), match="seed must be an int"):
            envs.reset(seed=seed)
    with pytest.raises(TypeError, match="reset options must be a dict"):
        envs.reset(options="task")
    with pytest.raises(ValueError, match=r"num_envs must be an int in 1\.\."):
        gym.make_vec(env_id, num_envs=0, **kwargs)
    with pytest.raises(TypeError, match=r"num_envs must be an int in 1\.\."):
        gym.make_vec(env_id, num_envs=1.5, **kwargs)
    envs.close()
    twin.close()
