"""Bad input to TwoRooms, single and vector: every case raises at construction (or at the call),
with the exception type and a message that names the argument. Cases are listed by class."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from mtenvs.tworooms import TwoRoomsEnv, TwoRoomsVectorEnv

# (kwargs, exception, words of the message); each case is tried on the single and the batched env.
TYPE_CASES = [
    ({"room_size": 5.0}, TypeError, r"room_size must be an int in 1\.\.32, got 5\.0 \(float\)"),
    ({"corridor_length": 2.5}, TypeError, r"corridor_length must be an int in 1\.\.32"),
    ({"room_size": True}, TypeError, r"room_size must be an int in 1\.\.32, got True \(bool\)"),
    ({"num_tasks": 2.0}, TypeError, r"num_tasks must be an int >= 1"),
    ({"task_seed": "0"}, TypeError, r"task_seed must be an int >= 0"),
    ({"max_steps": 100.0}, TypeError, r"max_steps must be an int in 1\.\.1000000"),
    ({"max_steps": False}, TypeError, r"max_steps must be an int"),
    ({"goal_reward": True}, TypeError, r"goal_reward must be a finite number"),
    ({"step_reward": "0"}, TypeError, r"step_reward must be a finite number"),
    ({"goals": "1,1"}, TypeError, r"goals must be a list of \[row, col\] cells"),
    ({"goals": [1, 1]}, ValueError, r"Each goal is a \[row, col\] pair of ints"),
    ({"goals": [[1.0, 1]]}, ValueError, r"Each goal is a \[row, col\] pair of ints"),
    ({"layout": "#####"}, ValueError, r"layout must be a list of 3\.\.128 equal-length strings"),
    ({"observation_type": ["onehot"]}, ValueError, r"Unknown observation_type \['onehot'\]"),
]
RANGE_CASES = [
    ({"room_size": 0}, ValueError, r"room_size must be an int in 1\.\.32, got 0"),
    ({"corridor_length": -1}, ValueError, r"corridor_length must be an int in 1\.\.32"),
    ({"num_tasks": 0}, ValueError, r"num_tasks must be an int >= 1"),
    ({"num_tasks": 51}, ValueError, r"num_tasks=51 exceeds the 50 room cells"),
    ({"task_seed": -1}, ValueError, r"task_seed must be an int >= 0, got -1"),
    ({"max_steps": 0}, ValueError, r"max_steps must be an int in 1\.\.1000000, got 0"),
    ({"layout": ["###", "#.#"]}, ValueError, r"layout must be a list of 3\.\.128"),
    ({"layout": ["####", "#..#", "###"]}, ValueError, r"layout rows must all have the same length"),
    ({"layout": ["####", "#.x#", "####"]}, ValueError, r"layout may only contain"),
    ({"layout": ["####", "#...", "####"]}, ValueError, r"layout must be surrounded by walls"),
    ({"layout": ["#####", "#.#.#", "#####"]}, ValueError, r"layout's free cells are not all connected"),
    ({"goals": [[0, 0]]}, ValueError, r"Goal \[0, 0\] is on a wall"),
    ({"goals": [[1, 40]]}, ValueError, r"Goal \[1, 40\] lies outside"),
    ({"goals": [[1, 1], [1, 1]]}, ValueError, r"goals must be distinct cells"),
    ({"goals": [[1, 1]], "num_tasks": 2}, ValueError, r"num_tasks=2 disagrees with the 1 goals"),
    # task_seed only draws goals: given with goals= it used to be ignored (0 included).
    ({"goals": [[1, 1]], "task_seed": 3}, ValueError, r"task_seed=3 only applies when the goals are drawn"),
    ({"goals": [[1, 1]], "task_seed": 0}, ValueError, r"task_seed=0 only applies .*give one of goals and task_seed"),
    ({"goals": []}, ValueError, r"goals must name at least one"),
    ({"observation_type": "rgb"}, ValueError, r"Unknown observation_type 'rgb'; valid: onehot"),
    ({"render_mode": "human"}, ValueError, r"Unknown render_mode 'human'"),
    ({"goal_reward": 1e7}, ValueError, r"goal_reward must be a finite number in \[-1000000\.0, 1000000\.0\]"),
]
NON_FINITE_CASES = [
    ({"goal_reward": float("nan")}, ValueError, r"goal_reward must be a finite number"),
    ({"step_reward": float("-inf")}, ValueError, r"step_reward must be a finite number"),
    ({"goal_reward": np.float64("inf")}, ValueError, r"goal_reward must be a finite number"),
]
SIZE_CASES = [  # room_size=10**4 used to build a 10**8-cell map for minutes
    ({"room_size": 10**4}, ValueError, r"room_size must be an int in 1\.\.32, got 10000"),
    ({"corridor_length": 10**6}, ValueError, r"corridor_length must be an int in 1\.\.32"),
    ({"layout": ["#" * 200] * 3}, ValueError, r"layout rows must all have the same length in 3\.\.128"),
    ({"max_steps": 10**9}, ValueError, r"max_steps must be an int in 1\.\.1000000"),
]
CONSTRUCTION_CASES = TYPE_CASES + RANGE_CASES + NON_FINITE_CASES + SIZE_CASES


@pytest.mark.parametrize(("kwargs", "error", "match"), CONSTRUCTION_CASES)
def test_single_env_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make("TwoRooms-v0", **kwargs)


@pytest.mark.parametrize(("kwargs", "error", "match"), [c for c in CONSTRUCTION_CASES if "render_mode" not in c[0]])
def test_batched_env_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make_vec("TwoRooms-v0", num_envs=64, **kwargs)


SINGLE_ONLY_CASES = [
    ({"task_schedule": "fixed", "task": 8}, ValueError, r"Task id 8 out of range"),
    ({"task_schedule": "fixed", "task": "goal_0_0"}, ValueError, r"Unknown task 'goal_0_0'"),
    ({"task_obs": 1}, TypeError, r"task_obs must be True or False"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), SINGLE_ONLY_CASES)
def test_single_env_refuses_bad_task_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make("TwoRooms-v0", **kwargs)


def test_bad_reset_options_raise():
    env = TwoRoomsEnv()
    with pytest.raises(ValueError, match="Task id 8 out of range"):
        env.reset(seed=0, options={"task": 8})
    with pytest.raises(ValueError, match=r"Unknown reset option\(s\) \['goal'\]"):
        env.reset(seed=0, options={"goal": 1})


BATCH_CASES = [
    (np.zeros(7, dtype=np.int64), r"integer array of shape \(8,\)"),
    (np.zeros((8, 1), dtype=np.int64), r"integer array of shape \(8,\)"),
    (np.zeros(8, dtype=np.float32), r"integer array of shape \(8,\)"),
    (np.array([0, 1, 2, 3, 0, 1, 2, 4]), r"0\.\.3"),
    (np.array([0, -1, 2, 3, 0, 1, 2, 3]), r"0\.\.3"),
]


@pytest.mark.parametrize(("actions", "match"), BATCH_CASES)
def test_bad_batched_actions_raise(actions, match):
    envs = TwoRoomsVectorEnv(8)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        envs.step(actions)


def test_bad_torch_actions_raise():
    envs = TwoRoomsVectorEnv(8, device="cpu")
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="integer tensor"):
        envs.step(torch.zeros(8))
    with pytest.raises(ValueError, match=r"0\.\.3"):
        envs.step(torch.tensor([0, 1, 2, 9, 0, 0, 0, 0]))


def test_bad_vector_arguments_raise():
    with pytest.raises(ValueError, match="Unknown task_assignment 'random'"):
        TwoRoomsVectorEnv(8, task_assignment="random")
    with pytest.raises(ValueError, match=r"Unknown vectorization 'threads'; valid: batched, sync, async"):
        gym.make_vec("TwoRooms-v0", num_envs=8, vectorization="threads")
    with pytest.raises(ValueError, match=r'device= only applies with vectorization="batched"'):
        gym.make_vec("TwoRooms-v0", num_envs=8, vectorization="sync", device="cpu")
    with pytest.raises(ValueError, match="Grouped sub-envs keep their tasks"):
        TwoRoomsVectorEnv(8).reset(options={"task": 1})
    with pytest.raises(ValueError, match=r"Unknown reset option\(s\) \['task'\]"):
        TwoRoomsVectorEnv(8, task_assignment="sampled").reset(options={"task": 1})
    # "meta" allocates tensors without data: it used to pass here and fail at the first reset.
    for device in ("gpu0", 3.5, "meta"):
        with pytest.raises(ValueError, match=r"device must be None \(NumPy\) or an available torch device that holds"):
            TwoRoomsVectorEnv(8, device=device)


@pytest.mark.parametrize(
    "make",
    [
        lambda: TwoRoomsVectorEnv(8, render_mode="rgb_array"),
        lambda: TwoRoomsVectorEnv(8, render_mode="rgb_array", device="cpu"),
        lambda: gym.make_vec("TwoRooms-v0", num_envs=8, vectorization="sync", render_mode="rgb_array"),
    ],
    ids=["batched", "torch", "sync"],
)
def test_vector_render_before_reset_raises(make):
    """Regression: the batched env drew every sub-env in cell 0 with task 0's goal, a state that never existed."""
    envs = make()
    with pytest.raises(RuntimeError, match=r"Call reset\(\) before render\(\)"):
        envs.render()
    envs.reset(seed=0)
    assert len(envs.render()) == 8
