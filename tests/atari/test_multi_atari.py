"""MultiAtari single env: Gymnasium checks, masks, preprocessing, statistics and bad input."""

from __future__ import annotations

import copy
import pickle

import gymnasium as gym
import numpy as np
import pytest
from ale_py.env import AtariEnv

import mtenvs
from mtenvs.atari.suites import REFERENCE_SCORES, SUITES, rom_id
from mtenvs.registration import ATARI_SUITE_IDS

ATARI_IDS = ["MultiAtari-v0"] + [f"MultiAtari-{suffix}-v0" for suffix in ATARI_SUITE_IDS]


def rollout(env: gym.Env, actions: list[int], seed: int) -> list[tuple]:
    obs, info = env.reset(seed=seed)
    steps = [(obs, info["task_id"])]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        steps.append((obs, reward, terminated, truncated, info["task_id"], info["lives"]))
        if terminated or truncated:
            obs, info = env.reset()
            steps.append((obs, info["task_id"]))
    return steps


def pickle_copy(env: gym.Env) -> gym.Env:
    return pickle.loads(pickle.dumps(env))


def assert_same_rollouts(a: list[tuple], b: list[tuple]) -> None:
    assert len(a) == len(b)
    for step_a, step_b in zip(a, b, strict=True):
        np.testing.assert_array_equal(step_a[0], step_b[0])
        assert step_a[1:] == step_b[1:]


def test_every_atari_id_is_registered_with_its_suite():
    assert set(ATARI_IDS) <= set(mtenvs.mtenvs_ids())
    for suffix, suite in ATARI_SUITE_IDS.items():
        env = gym.make(f"MultiAtari-{suffix}-v0")
        assert env.unwrapped.task_names == SUITES[suite]


@pytest.mark.parametrize("game", sorted({g for games in SUITES.values() for g in games}))
def test_masks_are_the_minimal_action_sets(game):
    env = gym.make("MultiAtari-v0", games=[game])
    _, info = env.reset(seed=0)
    minimal = AtariEnv(rom_id(game), full_action_space=False)._action_set
    assert np.flatnonzero(info["action_mask"]).tolist() == sorted(action.value for action in minimal)


def test_different_seeds_choose_different_tasks():
    def tasks(seed):
        env = gym.make("MultiAtari-v0", max_episode_frames=8)
        return [env.reset(seed=seed)[1]["task_id"]] + [env.reset()[1]["task_id"] for _ in range(15)]

    assert tasks(0) != tasks(1)
    assert len(set(tasks(0))) > 3


@pytest.mark.parametrize(
    ("copy_env", "preset"),
    [(pickle_copy, "machado"), (copy.deepcopy, "machado"), (pickle_copy, "nature")],
    ids=["pickle", "deepcopy", "pickle-nature"],
)
def test_pickle_continues_identically(copy_env, preset):
    """Copies continue frame for frame, sticky actions included (the default "machado" preset).

    A copy is taken after every step of a rollout that keeps moving the paddle (RIGHT, LEFT, ...):
    with sticky actions a frame repeats the previous action with probability 0.25, so a copy that
    forgot the previous action diverges within a few copies; RAM shows a one-frame difference.
    """
    env = gym.make("MultiAtari-PongBreakout-v0", preset=preset).unwrapped
    env.reset(seed=3)
    for step in range(12):
        clone = copy_env(env)
        action = (3, 4, 11, 12)[step % 4]  # RIGHT, LEFT, RIGHTFIRE, LEFTFIRE
        ours, theirs = env.step(action), clone.step(action)
        np.testing.assert_array_equal(ours[0], theirs[0])
        assert ours[1:4] == theirs[1:4]
        np.testing.assert_array_equal(env._games[env.task_id].ale.getRAM(), clone._games[clone.task_id].ale.getRAM())
        if ours[2] or ours[3]:
            env.reset()
    clone = copy_env(env)
    actions = np.random.default_rng(1).integers(0, 18, 40).tolist()
    assert_same_rollouts(
        [(o, r, te, tr) for o, r, te, tr, _ in (env.step(a) for a in actions)],
        [(o, r, te, tr) for o, r, te, tr, _ in (clone.step(a) for a in actions)],
    )
    # and the env's own RNG (task draws, no-ops) was carried over too
    assert [env.reset()[1]["task_id"] for _ in range(6)] == [clone.reset()[1]["task_id"] for _ in range(6)]


def test_observation_is_dqn_preprocessed_stack():
    env = gym.make("MultiAtari-v0", games=["Breakout"])
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert all(np.array_equal(obs[0], frame) for frame in obs)  # stack starts filled with the first frame
    for _ in range(3):
        new_obs, *_ = env.step(1)
        np.testing.assert_array_equal(new_obs[:-1], obs[1:])  # oldest frame drops out
        obs = new_obs
    small = gym.make("MultiAtari-v0", games=["Breakout"], screen_size=42, stack_size=2)
    assert small.reset(seed=0)[0].shape == (2, 42, 42)


def test_render_rgb_array():
    env = gym.make("MultiAtari-PongBreakout-v0", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (210, 160, 3) and frame.dtype == np.uint8 and frame.any()


def test_presets_set_sticky_actions():
    assert gym.make("MultiAtari-v0").unwrapped.emulator_settings == {
        "repeat_action_probability": 0.25,
        "max_episode_frames": 108_000,
    }
    nature = gym.make("MultiAtari-v0", preset="nature").unwrapped
    assert nature.emulator_settings["repeat_action_probability"] == 0.0
    override = gym.make("MultiAtari-v0", preset="nature", repeat_action_probability=0.1).unwrapped
    assert override.emulator_settings["repeat_action_probability"] == 0.1


def test_life_loss_reported_without_termination():
    env = gym.make("MultiAtari-v0", games=["Breakout"], preset="nature")
    _, info = env.reset(seed=0)
    lives = [info["lives"]]
    losses = 0
    for _ in range(3000):
        _, _, terminated, truncated, info = env.step(1)  # FIRE launches the ball, then the paddle idles
        losses += info["life_loss"]
        lives.append(info["lives"])
        if terminated or truncated:
            break
    assert lives[0] == 5 and terminated
    assert losses == 5 and lives[-1] == 0  # every lost life reported, episode ends only at game over


def test_masked_action_modes():
    # Pong's minimal set is NOOP, FIRE, RIGHT, LEFT, RIGHTFIRE, LEFTFIRE: DOWN (5) is masked.
    actions = [5, 3, 5, 5, 4, 5] * 5

    def trajectory(mode, acts):
        env = gym.make("MultiAtari-v0", games=["Pong"], preset="nature", masked_action=mode)
        return rollout(env, acts, seed=0)

    noop_version = [0 if a == 5 else a for a in actions]
    assert_same_rollouts(trajectory("noop", actions), trajectory("emulate", noop_version))
    env = gym.make("MultiAtari-v0", games=["Pong"], masked_action="raise")
    env.reset(seed=0)
    env.step(3)
    with pytest.raises(ValueError, match=r"not in Pong's minimal action set \[0, 1, 3, 4, 11, 12\]"):
        env.step(5)


def test_episode_statistics_and_human_normalized_score():
    env = mtenvs.RecordTaskEpisodeStatistics(gym.make("MultiAtari-PongBreakout-v0", max_episode_frames=400))
    _, info = env.reset(seed=0)
    total, steps = 0.0, 0
    rng = np.random.default_rng(0)
    while True:
        _, reward, terminated, truncated, info = env.step(int(rng.integers(18)))
        total += reward
        steps += 1
        if terminated or truncated:
            break
    episode = info["episode"]
    game = env.unwrapped.task_names[episode["task_id"]]
    random_score, human_score = REFERENCE_SCORES[rom_id(game)]
    assert (episode["r"], episode["l"], episode["task"]) == (total, steps, game)
    # Truncated at the 400-frame cap, which counts the reset no-ops too (ALE's episode frame number).
    assert truncated and not terminated and info["episode_frame_number"] == 400
    assert 400 // 4 - 30 // 4 <= steps <= 400 // 4
    assert episode["hns"] == pytest.approx((total - random_score) / (human_score - random_score))


@pytest.mark.slow
def test_random_policy_scores_near_pongs_random_reference():
    envs = mtenvs.RecordTaskEpisodeStatisticsVector(
        gym.make_vec("MultiAtari-v0", num_envs=4, games=["Pong"], preset="nature")
    )
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    returns: list[float] = []
    while len(returns) < 8:
        *_, infos = envs.step(rng.choice([0, 1, 3, 4, 11, 12], size=4))
        if "episode" in infos:
            returns += infos["episode"]["r"][infos["_episode"]].tolist()
    assert -21.0 <= np.mean(returns) <= -19.5  # docs/references.md: random Pong is -20.7
    assert np.all(np.isfinite(returns))


def test_task_observation_option():
    env = gym.make("MultiAtari-PRL-v0", task_obs=True)
    obs, _ = env.reset(seed=0, options={"task": 2})
    assert obs["obs"].shape == (4, 84, 84)
    np.testing.assert_array_equal(obs["task"], [0, 0, 1])
    assert env.observation_space.contains(obs)
