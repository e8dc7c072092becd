"""MultiAtari: the multi-game Atari family (ale-py), single env and fast grouped vector env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from mtenvs.atari.env import MultiAtariEnv
from mtenvs.atari.suites import PRESETS, REFERENCE_SCORES, SUITES
from mtenvs.atari.vector import MultiAtariVectorEnv, make_multi_atari_vec
from mtenvs.wrappers import TaskObservation

__all__ = [
    "PRESETS",
    "REFERENCE_SCORES",
    "SUITES",
    "MultiAtariEnv",
    "MultiAtariVectorEnv",
    "make_multi_atari",
    "make_multi_atari_vec",
]


def make_multi_atari(task_obs: bool = False, **kwargs: Any) -> gym.Env:
    """Entry point of every MultiAtari id: :class:`MultiAtariEnv`, with the one-hot task observation if asked."""
    env = MultiAtariEnv(**kwargs)
    return TaskObservation(env) if task_obs else env
