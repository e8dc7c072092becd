"""MultiControl: D'Eramo et al.'s five classic-control tasks as one multi-task env, and its vector env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from mtenvs.control.car_on_hill import CarOnHillEnv
from mtenvs.control.env import MASKED_ACTION_MODES, MultiControlEnv
from mtenvs.control.inverted_pendulum import InvertedPendulumEnv
from mtenvs.control.tasks import GYMNASIUM_TRIO, TASK_NAMES, TASKS
from mtenvs.control.vector import MultiControlVectorEnv, make_multi_control_vec
from mtenvs.wrappers import TaskObservation

__all__ = [
    "GYMNASIUM_TRIO",
    "MASKED_ACTION_MODES",
    "TASKS",
    "TASK_NAMES",
    "CarOnHillEnv",
    "InvertedPendulumEnv",
    "MultiControlEnv",
    "MultiControlVectorEnv",
    "make_multi_control",
    "make_multi_control_vec",
]


def make_multi_control(task_obs: bool = False, **kwargs: Any) -> gym.Env:
    """Entry point of every MultiControl id: :class:`MultiControlEnv`, with the one-hot task observation if asked."""
    env = MultiControlEnv(**kwargs)
    return TaskObservation(env) if task_obs else env
