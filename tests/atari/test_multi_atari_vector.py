"""MultiAtari vector envs: grouped assignment on ale-py's AtariVectorEnv, sampled on worker processes, bad input."""

from __future__ import annotations

import copy
import pickle

import gymnasium as gym
import numpy as np
import pytest
from ale_py.vector_env import AtariVectorEnv
from gymnasium.utils.env_checker import data_equivalence

import mtenvs
from mtenvs.atari.env import emulator_settings
from mtenvs.atari.throughput import load_every_game
from mtenvs.atari.vector import MultiAtariVectorEnv, ale_vector_kwargs
from mtenvs.workers import WorkerVectorEnv


def test_grouped_assignment_pins_games():
    envs = gym.make_vec("MultiAtari-PRL-v0", num_envs=6)  # Breakout, Pong, DemonAttack
    assert isinstance(envs, MultiAtariVectorEnv) and envs.task_assignment == "grouped"
    _, infos = envs.reset(seed=0)
    np.testing.assert_array_equal(infos["task_id"], [0, 0, 1, 1, 2, 2])
    # Each sub-env really plays its game: starting lives differ per game (Breakout 5, Pong 0, DemonAttack 4).
    np.testing.assert_array_equal(infos["lives"], [5, 5, 0, 0, 4, 4])
    masks = np.stack([gym.make("MultiAtari-PRL-v0").unwrapped.action_masks[t] for t in (0, 0, 1, 1, 2, 2)])
    np.testing.assert_array_equal(infos["action_mask"], masks)
    for _ in range(20):
        *_, infos = envs.step(envs.action_space.sample().astype(np.int64))
        np.testing.assert_array_equal(infos["task_id"], [0, 0, 1, 1, 2, 2])
    envs.close()
    uneven = gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=5)
    np.testing.assert_array_equal(uneven.reset(seed=0)[1]["task_id"], [0, 0, 0, 1, 1])


def test_groups_step_exactly_like_ale_py():
    """Each game group is ale-py's own vector env, seeded consecutively: same frames, same order."""
    settings = emulator_settings("machado", None, None)
    ours = gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=4)
    references = [AtariVectorEnv(game, 2, **ale_vector_kwargs(settings, 4, 84, 4, 30)) for game in ("pong", "breakout")]
    obs, _ = ours.reset(seed=10)
    ref_obs = [ref.reset(seed=10 + 2 * i)[0] for i, ref in enumerate(references)]
    np.testing.assert_array_equal(obs, np.concatenate(ref_obs))
    rng = np.random.default_rng(0)
    for _ in range(50):
        actions = rng.integers(0, 18, 4)
        obs, rewards, terminations, _, _ = ours.step(actions)
        ref = [r.step(actions[2 * i : 2 * i + 2].astype(np.int32)) for i, r in enumerate(references)]
        np.testing.assert_array_equal(obs, np.concatenate([r[0] for r in ref]))
        np.testing.assert_array_equal(rewards, np.concatenate([r[1] for r in ref]))
        np.testing.assert_array_equal(terminations, np.concatenate([r[2] for r in ref]))


def test_vector_seeded_determinism():
    actions = np.random.default_rng(0).integers(0, 18, (50, 4))

    def run(seed):
        envs = gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=4)
        out = [envs.reset(seed=seed)[0]]
        for step_actions in actions:
            obs, rewards, *_ = envs.step(step_actions)
            out += [obs, rewards]
        envs.close()
        return out

    first = run(3)
    for a, b in zip(first, run(3), strict=True):
        np.testing.assert_array_equal(a, b)


def test_partial_reset_with_mask():
    envs = gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=4)
    envs.reset(seed=0)
    for _ in range(10):
        moved, *_ = envs.step(np.ones(4, dtype=np.int64))
    obs2, infos = envs.reset(options={"reset_mask": np.array([True, False, False, True])})
    np.testing.assert_array_equal(obs2[1:3], moved[1:3])  # untouched sub-envs keep their frames
    np.testing.assert_array_equal(infos["task_id"], [0, 0, 1, 1])


def test_vector_episode_statistics_sum_rewards():
    envs = mtenvs.RecordTaskEpisodeStatisticsVector(
        gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=4, max_episode_frames=240)
    )
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    running = np.zeros(4)
    done_before = np.zeros(4, dtype=bool)
    checked = 0
    for _ in range(130):
        _, rewards, terminations, truncations, infos = envs.step(rng.integers(0, 18, 4))
        running = np.where(done_before, 0.0, running + rewards)  # next-step autoreset: reset step pays 0
        if "episode" in infos:
            for i in np.flatnonzero(infos["_episode"]):
                assert infos["episode"]["r"][i] == pytest.approx(running[i])
                assert infos["episode"]["task_id"][i] == infos["task_id"][i]
                checked += 1
        done_before = terminations | truncations
    assert checked >= 4


def test_sampled_assignment_uses_single_envs():
    envs = gym.make_vec(
        "MultiAtari-PRL-v0", num_envs=2, task_assignment="sampled", vectorization="sync", max_episode_frames=40
    )
    assert envs.unwrapped.env_task_ids is None
    _, infos = envs.reset(seed=0)
    seen = set(infos["task_id"].tolist())
    for _ in range(60):
        *_, infos = envs.step(np.zeros(2, dtype=np.int64))
        seen |= set(infos["task_id"].tolist())
    assert seen == {0, 1, 2}


def test_task_obs_vector():
    envs = gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=2, task_obs=True)
    obs, _ = envs.reset(seed=0)
    np.testing.assert_array_equal(obs["task"], np.eye(2, dtype=np.float32))
    assert obs["obs"].shape == (2, 4, 84, 84)


def test_masked_action_modes_vector():
    actions = np.array([[5, 3], [5, 5], [4, 5]] * 5)  # DOWN (5) is masked in Pong and Breakout

    def run(mode, acts):
        envs = gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=2, preset="nature", masked_action=mode)
        frames = [envs.reset(seed=1)[0]]
        frames += [envs.step(a)[0] for a in acts]
        return frames

    for a, b in zip(run("noop", actions), run("emulate", np.where(actions == 5, 0, actions)), strict=True):
        np.testing.assert_array_equal(a, b)
    envs = gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=2, masked_action="raise")
    envs.reset(seed=0)
    refused = r"Sub-envs \[1\] got actions \[5\] outside their task's actions .*Breakout's actions are \[0, 1, 3, 4\]"
    with pytest.raises(ValueError, match=refused):
        envs.step(np.array([3, 5]))


def test_huge_seeds_reduce_as_documented():
    """Regression: reset(seed=2**64) raised OverflowError, though the single env takes it. Sub-env i
    gets (s + i) mod 2**31, so 2**64 seeds as 2**64 mod 2**31 does."""
    envs = gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=2, preset="nature")
    huge, _ = envs.reset(seed=2**64)
    reduced, _ = envs.reset(seed=2**64 % 2**31)
    np.testing.assert_array_equal(huge, reduced)
    gym.make("MultiAtari-PongBreakout-v0").reset(seed=2**64)  # the single env agrees: any seed >= 0
    envs.close()


@pytest.mark.parametrize("copy_env", [pickle.dumps, copy.deepcopy], ids=["pickle", "deepcopy"])
def test_the_ale_vector_env_says_why_it_cannot_be_copied(copy_env):
    envs = gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=2)
    with pytest.raises(TypeError, match=r"MultiAtariVectorEnv cannot be pickled or deep-copied: .*ale-py's C\+\+"):
        copy_env(envs)
    envs.close()


def _sampled_rollout(seed: int, steps: int = 80, **kwargs) -> list:
    envs = gym.make_vec("MultiAtari-PRL-v0", num_envs=3, task_assignment="sampled", max_episode_frames=120, **kwargs)
    actions = np.random.default_rng(0).integers(0, 18, (steps, 3))
    record = [envs.reset(seed=seed)]
    record += [envs.step(step_actions) for step_actions in actions]
    envs.close()
    return record


def test_sampled_default_runs_worker_processes_and_equals_the_sync_path():
    """Sampled assignment runs MultiAtariEnv copies in WorkerVectorEnv by default; sub-env i is the
    single env seeded with seed + i, exactly as on the sync path: same frames, rewards, flags, infos."""
    envs = gym.make_vec("MultiAtari-PRL-v0", num_envs=3, task_assignment="sampled")
    assert isinstance(envs, WorkerVectorEnv) and envs.env_task_ids is None
    envs.close()
    workers = _sampled_rollout(3)
    assert data_equivalence(workers, _sampled_rollout(3, vectorization="sync"))
    # 120-frame episodes (30 steps): every sub-env switched games, and all three games ran
    assert {task for *_, infos in workers[1:] for task in infos["task_id"]} == {0, 1, 2}
    assert sum(int(truncated.sum()) for _, _, _, truncated, _ in workers[1:]) >= 6


def test_seeded_sampled_runs_are_reproducible_whatever_the_worker_count():
    first = _sampled_rollout(5, steps=40)
    assert data_equivalence(first, _sampled_rollout(5, steps=40))
    assert data_equivalence(first, _sampled_rollout(5, steps=40, num_workers=0))  # all in the parent
    assert data_equivalence(first, _sampled_rollout(5, steps=40, num_workers=1, parent_slice=False))
    assert data_equivalence(first, _sampled_rollout(5, steps=40, num_workers=3, parent_slice=False))
    assert not data_equivalence(first, _sampled_rollout(6, steps=40))


def test_sampled_masked_actions_are_refused_before_any_sub_env_steps():
    """masked_action="raise": the batch is checked against each sub-env's current game (which changes
    per episode here), so a refused batch moves no sub-env."""
    kwargs = {"num_envs": 2, "task_assignment": "sampled", "masked_action": "raise"}
    envs, twin = (gym.make_vec("MultiAtari-PongBreakout-v0", **kwargs) for _ in range(2))
    _, infos = envs.reset(seed=0)
    twin.reset(seed=0)
    masks = infos["action_mask"]
    bad = np.array([np.flatnonzero(masks[0])[0], np.flatnonzero(masks[1] == 0)[0]])
    with pytest.raises(ValueError, match=r"Sub-envs \[1\] got actions \[\d+\] outside their task's actions"):
        envs.step(bad)
    good = np.array([0, 0])
    assert data_equivalence(envs.step(good), twin.step(good))
    envs.close()
    twin.close()


def test_throughput_warm_up_loads_every_game_in_every_sampled_sub_env_then_samples_again():
    """``mtenvs throughput`` times the sampled path after this warm-up (a first episode of each game
    loads that game's ROM): every sub-env then holds every game's emulator, and the episodes that
    follow are sampled from the seeded task stream, the same in two runs."""
    starts = []
    for _ in range(2):
        envs = gym.make_vec("MultiAtari-PRL-v0", num_envs=4, task_assignment="sampled", vectorization="sync")
        envs.reset(seed=7)
        load_every_game(envs)
        assert [sorted(games) for games in envs.get_attr("_games")] == [[0, 1, 2]] * 4
        obs, _, _, _, infos = envs.step(np.zeros(4, dtype=np.int64))
        starts.append((obs, infos["task_id"]))
        envs.close()
    np.testing.assert_array_equal(starts[0][0], starts[1][0])
    np.testing.assert_array_equal(starts[0][1], starts[1][1])
