"""Shared test fixtures: a tiny contract env for testing the shared multi-task machinery."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gymnasium import spaces

from mtenvs.core import MultiTaskEnv


class CountdownEnv(MultiTaskEnv):
    """Three tasks; episode of task t lasts t + 2 steps and pays reward t + 1 per step. Action 2 is masked in task 0."""

    metadata = {"render_modes": []}

    def __init__(self, task_schedule: str = "uniform", task: int | str | None = None):
        masks = np.ones((3, 3), dtype=np.int8)
        masks[0, 2] = 0
        self._init_tasks(
            ("short", "medium", "long"),
            task_schedule=task_schedule,
            task=task,
            action_masks=masks,
            score_references=[(0.0, 10.0), None, (1.0, 3.0)],
        )
        self.observation_space = spaces.Box(0, 10, (1,), np.float32)
        self.action_space = spaces.Discrete(3)
        self._left = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._choose_task(options)
        self._left = self.task_id + 2
        return np.array([self._left], np.float32), self.task_info()

    def step(self, action: int):
        self._left -= 1
        obs = np.array([self._left], np.float32)
        return obs, float(self.task_id + 1), self._left == 0, False, self.task_info()


@pytest.fixture
def countdown_env_cls() -> type[CountdownEnv]:
    return CountdownEnv
