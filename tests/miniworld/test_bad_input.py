"""Bad input to MultiMaze, MultiNav and MultiLaserTag: every case raises at construction (before any
OpenGL context is made), with the exception type and a message that names the argument. Cases are
listed by class."""

from __future__ import annotations

import gymnasium as gym
import pytest

# (env id, kwargs, exception, words of the message)
TYPE_CASES = [
    ("MultiMaze-v0", {"maze_size": 4.0}, ValueError, r"maze cols must be an int|maze rows must be an int"),
    ("MultiMaze-v0", {"num_rewards": 2.5}, TypeError, r"num_rewards must be an int in 0\.\.256"),
    ("MultiMaze-v0", {"num_rewards": True}, TypeError, r"num_rewards must be an int in 0\.\.256, got True \(bool\)"),
    ("MultiMaze-v0", {"layout_seed": "0"}, TypeError, r"layout_seed must be an int >= 0"),
    ("MultiNav-v0", {"num_objects": 6.0}, TypeError, r"num_objects must be an int in 1\.\.256"),
    ("MultiNav-v0", {"door_period": None}, TypeError, r"door_period must be an int in 1\.\.1000000"),
    ("MultiNav-v0", {"door_close_prob": True}, TypeError, r"door_close_prob must be a finite number in \[0\.0, 1\.0\]"),
    ("MultiNav-v0", {"episode_steps": 20.0}, ValueError, r"episode_steps must be an int in 1\.\.1000000 or a list"),
    (
        "MultiLaserTag-v0",
        {"num_bots": True},
        TypeError,
        r"num_bots \(None: each level's own\) must be an int in 1\.\.4",
    ),
    ("MultiLaserTag-v0", {"bot_skill": "expert"}, TypeError, r"bot_skill must be a finite number in \[0\.0, 1\.0\]"),
    ("MultiLaserTag-v0", {"tag_penalty": "1"}, TypeError, r"tag_penalty must be a finite number"),
    ("MultiLaserTag-v0", {"task_obs": "yes"}, TypeError, r"task_obs must be True or False"),
]
RANGE_CASES = [
    ("MultiMaze-v0", {"maze_size": 1}, ValueError, r"maze rows=1 is out of range; mazes are 2\.\.16"),
    ("MultiMaze-v0", {"num_rewards": -1}, ValueError, r"num_rewards must be an int in 0\.\.256, got -1"),
    ("MultiMaze-v0", {"layout_seed": -1}, ValueError, r"layout_seed must be an int >= 0, got -1"),
    ("MultiMaze-v0", {"task_schedule": "fixed", "task": 8}, ValueError, r"valid ids are 0\.\.7"),
    ("MultiMaze-v0", {"episode_steps": 0}, ValueError, r"episode_steps must be an int in 1\.\.1000000"),
    ("MultiMaze-v0", {"render_mode": "human"}, ValueError, r"Unknown render_mode 'human'"),
    ("MultiNav-v0", {"num_objects": 0}, ValueError, r"num_objects must be an int in 1\.\.256, got 0"),
    ("MultiNav-v0", {"door_period": 0}, ValueError, r"door_period must be an int in 1\.\.1000000, got 0"),
    ("MultiNav-v0", {"door_close_prob": 1.5}, ValueError, r"door_close_prob must be a finite number in \[0\.0, 1\.0\]"),
    ("MultiNav-v0", {"task_schedule": "fixed", "task": "open_doors"}, ValueError, r"valid tasks: collect, carry_back"),
    ("MultiNav-v0", {"episode_steps": [5, 6]}, ValueError, r"one such int per task \(4: collect, carry_back"),
    ("MultiLaserTag-v0", {"num_bots": 0}, ValueError, r"num_bots \(None: each level's own\) must be an int in 1\.\.4"),
    ("MultiLaserTag-v0", {"num_bots": 5}, ValueError, r"num_bots .* must be an int in 1\.\.4, got 5"),
    ("MultiLaserTag-v0", {"bot_skill": -0.1}, ValueError, r"bot_skill must be a finite number in \[0\.0, 1\.0\]"),
    ("MultiLaserTag-v0", {"bot_skill": 1.5}, ValueError, r"bot_skill must be a finite number in \[0\.0, 1\.0\]"),
    ("MultiLaserTag-v0", {"tag_penalty": -1}, ValueError, r"tag_penalty must be a finite number in \[0\.0,"),
    ("MultiLaserTag-v0", {"task_schedule": "fixed", "task": "lt_chasm"}, ValueError, r"Unknown task 'lt_chasm'"),
]
NON_FINITE_CASES = [  # tag_penalty=nan used to give NaN rewards
    ("MultiLaserTag-v0", {"tag_penalty": float("nan")}, ValueError, r"tag_penalty must be a finite number"),
    ("MultiLaserTag-v0", {"tag_penalty": float("inf")}, ValueError, r"tag_penalty must be a finite number"),
    ("MultiLaserTag-v0", {"bot_skill": float("nan")}, ValueError, r"bot_skill must be a finite number"),
    ("MultiNav-v0", {"door_close_prob": float("nan")}, ValueError, r"door_close_prob must be a finite number"),
]
SIZE_CASES = [
    ("MultiNav-v0", {"maze_size": 40}, ValueError, r"maze rows=40 is out of range; mazes are 2\.\.16"),
    ("MultiMaze-v0", {"num_rewards": 10**6}, ValueError, r"num_rewards must be an int in 0\.\.256"),
    ("MultiNav-v0", {"num_objects": 10**6}, ValueError, r"num_objects must be an int in 1\.\.256"),
    ("MultiMaze-v0", {"episode_steps": 10**9}, ValueError, r"episode_steps must be an int in 1\.\.1000000"),
]
CASES = TYPE_CASES + RANGE_CASES + NON_FINITE_CASES + SIZE_CASES


@pytest.mark.parametrize(("env_id", "kwargs", "error", "match"), CASES)
def test_bad_arguments_are_refused_at_construction(env_id, kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make(env_id, **kwargs)


# Vector envs set task= / task_schedule= from task_assignment and take no render_mode.
VECTOR_CASES = [case for case in CASES if not {"render_mode", "task", "task_schedule"} & set(case[1])]


@pytest.mark.parametrize(("env_id", "kwargs", "error", "match"), VECTOR_CASES)
def test_vector_paths_refuse_the_same_arguments(env_id, kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make_vec(env_id, num_envs=8, vectorization="sync", **kwargs)


def test_unknown_vectorization_lists_every_mode_and_the_default():
    with pytest.raises(
        ValueError, match=r"Unknown vectorization 'ale'; valid: sync, async, workers \(default workers\)"
    ):
        gym.make_vec("MultiNav-v0", num_envs=4, vectorization="ale")
