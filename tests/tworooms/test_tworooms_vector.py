"""Batched TwoRooms: identical to the single env, NumPy == torch, the vector contract, bad input."""

from __future__ import annotations

import copy
import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch

import mtenvs
from mtenvs.tworooms import TwoRoomsVectorEnv

# A small map and short episodes, so a few hundred steps cover many terminations and truncations.
SMALL = {"room_size": 3, "corridor_length": 2, "num_tasks": 3, "max_steps": 12}


def _run(envs, seed, steps, num_envs):
    actions = np.random.default_rng(seed).integers(0, 4, size=(steps, num_envs))
    obs, infos = envs.reset(seed=seed)
    trace = [np.asarray(obs), np.asarray(infos["task_id"])]
    for a in actions:
        obs, rewards, terminated, truncated, infos = envs.step(a)
        trace += [np.asarray(x) for x in (obs, rewards, terminated, truncated, infos["task_id"])]
    return trace


@pytest.mark.parametrize("task_assignment", ["grouped", "sampled"])
@pytest.mark.parametrize("observation_type", ["onehot", "coordinates", "image"])
def test_batched_equals_sync_vector_of_single_envs(task_assignment, observation_type):
    kwargs = dict(SMALL, observation_type=observation_type, task_assignment=task_assignment)
    batched = gym.make_vec("TwoRooms-v0", num_envs=6, vectorization_mode="vector_entry_point", **kwargs)
    sync = gym.make_vec("TwoRooms-v0", num_envs=6, vectorization="sync", **kwargs)
    assert isinstance(batched.unwrapped, TwoRoomsVectorEnv)
    a, b = _run(batched, 7, 300, 6), _run(sync, 7, 300, 6)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y.astype(x.dtype))
    rewards = np.concatenate(a[3::5])
    truncations = np.concatenate(a[5::5])
    assert rewards.sum() > 5 and truncations.sum() > 5  # the comparison went through episode ends


def test_batched_env_i_follows_single_env_seeded_with_seed_plus_i():
    batched = TwoRoomsVectorEnv(4, task_assignment="sampled", **SMALL)
    single = mtenvs.tworooms.TwoRoomsEnv(**SMALL)
    obs, infos = batched.reset(seed=100)
    for i in range(4):
        single_obs, single_info = single.reset(seed=100 + i)
        np.testing.assert_array_equal(obs[i], single_obs)
        assert infos["task_id"][i] == single_info["task_id"]


def test_torch_backend_matches_numpy():
    kwargs = dict(SMALL, task_assignment="sampled")
    numpy_env = TwoRoomsVectorEnv(16, **kwargs)
    torch_env = TwoRoomsVectorEnv(16, device="cpu", **kwargs)
    obs, _infos = torch_env.reset(seed=3)
    assert isinstance(obs, torch.Tensor) and obs.dtype == torch.float32
    np.testing.assert_array_equal(numpy_env.reset(seed=3)[0], obs.numpy())
    actions = np.random.default_rng(0).integers(0, 4, size=(200, 16))
    for a in actions:
        expected = numpy_env.step(a)
        got = torch_env.step(torch.as_tensor(a))
        for x, y in zip(expected[:4], got[:4], strict=True):
            np.testing.assert_array_equal(x, y.numpy())
        np.testing.assert_array_equal(expected[4]["task_id"], got[4]["task_id"])


def test_grouped_assignment_pins_tasks_and_sampled_varies_them():
    envs = gym.make_vec("TwoRooms-v0", num_envs=16, max_steps=3)
    assert envs.unwrapped.task_assignment == "grouped"
    np.testing.assert_array_equal(envs.unwrapped.env_task_ids, np.repeat(np.arange(8), 2))
    _, infos = envs.reset(seed=0)
    for _ in range(20):
        np.testing.assert_array_equal(infos["task_id"], envs.unwrapped.env_task_ids)
        *_, infos = envs.step(envs.action_space.sample())
    envs = gym.make_vec("TwoRooms-v0", num_envs=4, max_steps=2, task_assignment="sampled")
    assert envs.unwrapped.env_task_ids is None
    _, infos = envs.reset(seed=0)
    seen = set(infos["task_id"].tolist())
    for _ in range(60):
        *_, infos = envs.step(np.zeros(4, dtype=np.int64))
        seen |= set(infos["task_id"].tolist())
    assert seen == set(range(8))


def test_vector_contract_attributes_and_metadata():
    envs = gym.make_vec("TwoRooms-v0", num_envs=8)
    base = envs.unwrapped
    assert base.num_tasks == 8 and len(base.task_names) == 8 and base.score_references == (None,) * 8
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    obs, _ = envs.reset(seed=0)
    assert envs.observation_space.contains(obs)


def test_next_step_autoreset_starts_a_fresh_episode():
    envs = TwoRoomsVectorEnv(8, observation_type="coordinates", max_steps=2)
    envs.reset(seed=0)
    envs.step(np.zeros(8, dtype=np.int64))
    _, _, _, truncated, _ = envs.step(np.ones(8, dtype=np.int64))
    assert truncated.all()
    obs, rewards, terminated, truncated, _ = envs.step(np.full(8, 2))
    assert (obs[:, 2] == 4).all() and (obs[:, 3] == 0).all()  # no previous action or reward yet
    assert not rewards.any() and not terminated.any() and not truncated.any()


def test_vector_wrappers_on_batched_env():
    envs = mtenvs.RecordTaskEpisodeStatisticsVector(gym.make_vec("TwoRooms-v0", num_envs=8, max_steps=4, task_obs=True))
    obs, infos = envs.reset(seed=0)
    np.testing.assert_array_equal(obs["task"].argmax(1), infos["task_id"])
    for _ in range(4):
        _, _, _, _truncated, infos = envs.step(envs.action_space.sample())
    assert "episode" in infos and infos["_episode"].any()
    finished = infos["_episode"]
    assert (infos["episode"]["l"][finished] <= 4).all()
    np.testing.assert_array_equal(infos["episode"]["task_id"], envs.unwrapped.env_task_ids)


def test_batched_render_gives_a_frame_per_env():
    envs = TwoRoomsVectorEnv(3, render_mode="rgb_array", num_tasks=3)
    envs.reset(seed=0)
    frames = envs.render()
    assert len(frames) == 3 and all(f.shape == frames[0].shape and f.dtype == np.uint8 for f in frames)


def test_throughput_reports_batched_sync_and_their_ratio():
    from mtenvs.throughput import measure

    result = measure("TwoRooms-v0", num_envs=32, seconds=0.05)
    rates = {m.label: m.steps_per_second for m in result.measurements}
    assert len(rates) == 3 and all(rate > 0 for rate in rates.values())
    ratio = next(r for r in result.ratios if "SyncVectorEnv" in r.label)
    batched = next(rate for label, rate in rates.items() if "NumPy" in label)
    sync = next(rate for label, rate in rates.items() if "Sync" in label)
    assert ratio.value == pytest.approx(batched / sync)
    assert "SyncVectorEnv" in result.format()


def test_contract_wrappers_on_the_torch_backend():
    envs = mtenvs.RecordTaskEpisodeStatisticsVector(
        gym.make_vec("TwoRooms-v0", num_envs=8, device="cpu", max_steps=3, task_obs=True)
    )
    obs, infos = envs.reset(seed=0)
    assert isinstance(obs["task"], torch.Tensor) and obs["task"].dtype == torch.float32
    np.testing.assert_array_equal(obs["task"].argmax(1).numpy(), infos["task_id"])
    for _ in range(3):
        *_, infos = envs.step(torch.zeros(8, dtype=torch.int64))
    assert infos["_episode"].any() and (infos["episode"]["l"][infos["_episode"]] <= 3).all()


@pytest.mark.parametrize("copy_env", [pickle.dumps, copy.deepcopy], ids=["pickle", "deepcopy"])
def test_torch_backed_env_says_why_it_cannot_be_copied_and_numpy_one_copies(copy_env):
    envs = TwoRoomsVectorEnv(8, device="cpu")
    with pytest.raises(
        TypeError, match=r"TwoRoomsVectorEnv cannot be pickled .*: with device='cpu' its state is torch"
    ):
        copy_env(envs)  # used to be a raw "cannot pickle 'module' object"
    envs = TwoRoomsVectorEnv(8)
    envs.reset(seed=0)
    clone = pickle.loads(pickle.dumps(envs))
    actions = np.arange(8) % 4
    for got, expected in zip(clone.step(actions)[:4], envs.step(actions)[:4], strict=True):
        np.testing.assert_array_equal(got, expected)
