"""MultiAtari: the multi-game Atari family (ale-py), single env and fast grouped vector env."""

from __future__ import annotations

from mtenvs.atari.env import MultiAtariEnv
from mtenvs.atari.suites import PRESETS, REFERENCE_SCORES, SUITES
from mtenvs.atari.vector import MultiAtariVectorEnv, make_multi_atari_vec
from mtenvs.wrappers import task_obs_entry_point

__all__ = [
    "PRESETS",
    "REFERENCE_SCORES",
    "SUITES",
    "MultiAtariEnv",
    "MultiAtariVectorEnv",
    "make_multi_atari",
    "make_multi_atari_vec",
]


make_multi_atari = task_obs_entry_point(MultiAtariEnv, "make_multi_atari")
