"""Bad input to MultiAtari, single and vector: every case raises at construction (or at the call),
with the exception type and a message that names the argument. Cases are listed by class."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

# (kwargs, exception, words of the message); each case is tried on the single and the vector env.
TYPE_CASES = [
    ({"frame_skip": 4.0}, TypeError, r"frame_skip must be an int in 1\.\.64, got 4\.0 \(float\)"),
    ({"screen_size": "84"}, TypeError, r"screen_size must be an int in 8\.\.336"),
    ({"stack_size": True}, TypeError, r"stack_size must be an int in 1\.\.64, got True \(bool\)"),
    ({"noop_max": None}, TypeError, r"noop_max must be an int in 0\.\.1000"),
    ({"repeat_action_probability": True}, TypeError, r"repeat_action_probability must be a finite number in"),
    ({"repeat_action_probability": "0.25"}, TypeError, r"repeat_action_probability must be a finite number"),
    ({"max_episode_frames": 1.5}, TypeError, r"max_episode_frames must be an int in 1\.\.2147483647"),
    ({"games": ["Pong", 3]}, TypeError, r"A game name is a str, got 3"),
    ({"games": ["Pong", object()]}, TypeError, r"argument games=.*not JSON-serialisable"),
    ({"preset": ["machado"]}, ValueError, r"Unknown preset \['machado'\]; valid presets: machado, nature"),
    ({"masked_action": None}, ValueError, r"Unknown masked_action None; valid modes: emulate, noop, raise"),
]
RANGE_CASES = [
    ({"frame_skip": 0}, ValueError, r"frame_skip must be an int in 1\.\.64, got 0"),
    ({"screen_size": 7}, ValueError, r"screen_size must be an int in 8\.\.336, got 7"),
    ({"stack_size": 0}, ValueError, r"stack_size must be an int in 1\.\.64"),
    ({"noop_max": -1}, ValueError, r"noop_max must be an int in 0\.\.1000, got -1"),
    ({"repeat_action_probability": 1.5}, ValueError, r"repeat_action_probability must be .* in \[0\.0, 1\.0\]"),
    ({"repeat_action_probability": -0.1}, ValueError, r"repeat_action_probability must be"),
    ({"max_episode_frames": 0}, ValueError, r"max_episode_frames must be an int in 1\.\."),
    ({"games": []}, ValueError, r"games= must be a non-empty list of game names"),
    ({"games": "Pong"}, ValueError, r"games= must be a non-empty list of game names"),
    ({"games": ["Pongg"]}, ValueError, r"Unknown Atari game 'Pongg'; valid games: .*Pong, .*SpaceInvaders"),
    ({"games": ["Pong", "pong"]}, ValueError, r"games= lists a game twice"),
    ({"suite": "shooter"}, ValueError, r"Unknown suite 'shooter'; valid suites: prl, pong_breakout"),
    ({"games": ["Pong"], "suite": "prl"}, ValueError, r"games=\['Pong'\] and suite='prl' were both given"),
    ({"preset": "dqn"}, ValueError, r"Unknown preset 'dqn'; valid presets: machado, nature"),
    ({"masked_action": "ignore"}, ValueError, r"Unknown masked_action 'ignore'; valid modes: emulate, noop, raise"),
]
NON_FINITE_CASES = [
    ({"repeat_action_probability": float("nan")}, ValueError, r"repeat_action_probability must be a finite number"),
    ({"repeat_action_probability": float("inf")}, ValueError, r"repeat_action_probability must be a finite number"),
]
SIZE_CASES = [  # each used to run for minutes, exhaust memory or fail inside ale-py's C++ later
    ({"noop_max": 10**7}, ValueError, r"noop_max must be an int in 0\.\.1000, got 10000000"),
    ({"frame_skip": 10**6}, ValueError, r"frame_skip must be an int in 1\.\.64"),
    ({"screen_size": 10**5}, ValueError, r"screen_size must be an int in 8\.\.336"),
    ({"stack_size": 10**4}, ValueError, r"stack_size must be an int in 1\.\.64"),
    ({"max_episode_frames": 2**31}, ValueError, r"max_episode_frames must be an int in 1\.\.2147483647"),
]
CONSTRUCTION_CASES = TYPE_CASES + RANGE_CASES + NON_FINITE_CASES + SIZE_CASES


@pytest.mark.parametrize(("kwargs", "error", "match"), CONSTRUCTION_CASES)
def test_single_env_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make("MultiAtari-v0", **kwargs)


@pytest.mark.parametrize(("kwargs", "error", "match"), CONSTRUCTION_CASES)
def test_vector_env_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make_vec("MultiAtari-v0", num_envs=8, **kwargs)


SINGLE_ONLY_CASES = [
    ({"task_schedule": "fixed", "task": 8}, ValueError, r"Task id 8 out of range; valid ids are 0\.\.7"),
    ({"task_schedule": "fixed", "task": 1.0}, TypeError, r"A task is an int id or a str name"),
    ({"task_schedule": "sometimes"}, ValueError, r"Unknown task_schedule 'sometimes'; valid schedules"),
    ({"task_schedule": None}, ValueError, r"task_schedule must be a str"),
    ({"render_mode": "human"}, ValueError, r"Unknown render_mode 'human'; valid: \['rgb_array'\]"),
    ({"task_obs": "yes"}, TypeError, r"task_obs must be True or False"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), SINGLE_ONLY_CASES)
def test_single_env_refuses_bad_task_and_render_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make("MultiAtari-v0", **kwargs)


VECTOR_ONLY_CASES = [
    (
        {"task_assignment": "sampled", "vectorization": "ale"},
        ValueError,
        r'vectorization="ale" steps one fixed game per sub-env; .* or vectorization="workers" \(the default\)',
    ),
    ({"vectorization": "ale", "num_workers": 2}, ValueError, r'num_workers= only applies with vectorization="workers"'),
    (
        {"vectorization": "sync", "parent_slice": False},
        ValueError,
        r'parent_slice= only applies with vectorization="workers"',
    ),
    ({"vectorization": "sync", "num_threads": 2}, ValueError, r"\['num_threads'\] only apply with vectorization"),
    ({"num_threads": -1}, ValueError, r"num_threads must be an int in 0\.\.256, got -1"),
    ({"num_threads": 10**6}, ValueError, r"num_threads must be an int in 0\.\.256"),
    ({"num_threads": 1.0}, TypeError, r"num_threads must be an int in 0\.\.256"),
    ({"autoreset_mode": "Disabled"}, ValueError, r"Unknown autoreset_mode 'Disabled'; valid: NextStep, SameStep"),
    (
        {"vectorization": "foo"},
        ValueError,
        r"Unknown vectorization 'foo'; valid: ale, workers, sync, async "
        r"\(default ale when grouped, workers when sampled\)",
    ),
    (
        {"vectorization": "workers", "num_workers": 2},
        ValueError,
        r"num_workers \(besides the parent's slice\) must be an int in 0\.\.1, got 2",
    ),
    ({"vectorization": "sync", "task": 1}, ValueError, r"task= is set by task_assignment"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), VECTOR_ONLY_CASES)
def test_vector_env_refuses_bad_vector_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=2, **kwargs)


def test_a_suite_id_given_games_says_where_suite_came_from():
    with pytest.raises(
        ValueError,
        match=r"^MultiAtari-PongBreakout-v0 is defined by suite='pong_breakout', so it cannot be made with "
        r"games=\['Pong'\]; make MultiAtari-v0 with games= for another task set\.$",
    ):
        gym.make("MultiAtari-PongBreakout-v0", games=["Pong"])


BATCH_CASES = [
    (np.zeros(3, dtype=np.int64), r"integer array of shape \(4,\)"),
    (np.zeros(4, dtype=np.float32), r"integer array of shape \(4,\)"),
    (np.array([0, 1, 18, 2]), r"union action space 0\.\.17"),
    (np.array([0, -1, 1, 2]), r"union action space 0\.\.17"),
]


@pytest.mark.parametrize(("actions", "match"), BATCH_CASES)
def test_bad_batched_actions(actions, match):
    envs = gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=4)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        envs.step(actions)


def test_bad_input_at_reset_and_step():
    env = gym.make("MultiAtari-PRL-v0").unwrapped
    with pytest.raises(RuntimeError, match=r"Call reset\(\) before step\(\)"):
        env.step(0)
    with pytest.raises(ValueError, match="Unknown task 'Tetris'; valid tasks: Breakout, Pong, DemonAttack"):
        env.reset(options={"task": "Tetris"})
    assert env.reset(seed=0, options={"task": "Pong"})[1]["task_id"] == 1
    for action in (18, -1, 2.5, None):
        with pytest.raises(ValueError, match=r"outside the union action space Discrete\(18\)"):
            env.step(action)


def test_seeds_beyond_31_bits_work_on_single_and_vector_envs():
    """ale-py takes 31-bit seeds: larger ones (which single envs accept) are reduced modulo 2**31."""
    env = gym.make("MultiAtari-PongBreakout-v0", max_episode_frames=400)
    first, _ = env.reset(seed=2**40)
    assert np.array_equal(first, env.reset(seed=2**40)[0])
    envs = gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=2)
    envs.reset(seed=2**31 - 1)  # sub-env 1 gets 2**31: refused by ale-py before the reduction
    envs.step(np.zeros(2, dtype=np.int64))
    envs.close()
