"""Vectorised multi-task envs: grouped and sampled task assignment (docs/contract.md).

* **grouped** — sub-env ``i`` is pinned to task ``i * num_tasks // num_envs`` for the whole run
  (the per-task worker groups of Distral and multi-task A3C);
* **sampled** — every sub-env draws a task per episode from its own seeded RNG.

:class:`MultiTaskVectorEnv` builds either assignment from any single mtenvs env with Gymnasium's
``SyncVectorEnv`` or ``AsyncVectorEnv``. Families with a faster native batch (MultiAtari,
TwoRooms) implement the same attributes themselves; every mtenvs vector env exposes
``task_names``, ``num_tasks``, ``task_assignment``, ``env_task_ids`` (the pinned tasks, or
``None`` when sampled) and ``score_references``, and returns ``infos["task_id"]`` on every call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv

from mtenvs.core import grouped_task_ids
from mtenvs.wrappers import TaskObservation, TaskObservationVector

TASK_ASSIGNMENTS = ("grouped", "sampled")
VECTORIZATIONS = ("sync", "async")


def check_task_assignment(task_assignment: str) -> None:
    """Raise ``ValueError`` unless ``task_assignment`` is ``"grouped"`` or ``"sampled"``."""
    if task_assignment not in TASK_ASSIGNMENTS:
        raise ValueError(f"Unknown task_assignment {task_assignment!r}; valid: {', '.join(TASK_ASSIGNMENTS)}.")


def check_vector_seed(seed: object) -> None:
    """Native mtenvs vector envs take an int seed (sub-env ``i`` gets ``seed + i``) or None."""
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
        raise TypeError(f"seed must be an int (sub-env i gets seed + i) or None, got {seed!r}.")


def check_batched_actions(actions: Any, num_envs: int, num_actions: int, space: str = "") -> np.ndarray:
    """One integer action per sub-env, each in ``0..num_actions - 1``; ``ValueError`` saying what is wrong.

    ``space`` names the action space in the message (e.g. ``"the union action space"``).
    """
    actions = np.asarray(actions)
    if actions.shape != (num_envs,) or not np.issubdtype(actions.dtype, np.integer):
        raise ValueError(
            f"actions must be an integer array of shape ({num_envs},), got shape {actions.shape} dtype {actions.dtype}."
        )
    if actions.min() < 0 or actions.max() >= num_actions:
        where = f"{space} " if space else ""
        raise ValueError(f"Actions must lie in {where}0..{num_actions - 1}, got {actions}.")
    return actions


class MultiTaskVectorEnv(VectorEnv):
    """Grouped or sampled task assignment over copies of a single mtenvs env.

    Args:
        env_factory: builds one single env from keyword arguments (``task_schedule``, ``task``
            and the ``env_kwargs``).
        num_envs: number of sub-envs.
        task_assignment: ``"grouped"`` (default) or ``"sampled"``.
        vectorization: ``"sync"`` (one process) or ``"async"`` (one process per sub-env).
        autoreset_mode: passed to the Gymnasium vector env; declared in ``metadata``.
        context: multiprocessing start method of ``"async"`` sub-envs (``None``: the platform's
            default). Envs holding OpenGL contexts (MiniWorld) need ``"spawn"`` or ``"forkserver"``.
        task_obs: if true, observations become ``{"obs": ..., "task": one-hot}``.
        env_kwargs: the single env's own arguments.
    """

    def __init__(
        self,
        env_factory: Callable[..., gym.Env],
        num_envs: int,
        *,
        task_assignment: str = "grouped",
        vectorization: str = "sync",
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        task_obs: bool = False,
        context: str | None = None,
        **env_kwargs: Any,
    ):
        check_task_assignment(task_assignment)
        if vectorization not in VECTORIZATIONS:
            raise ValueError(f"Unknown vectorization {vectorization!r}; valid: {', '.join(VECTORIZATIONS)}.")
        for reserved in ("task_schedule", "task"):
            if reserved in env_kwargs:
                raise ValueError(
                    f"{reserved}= is set by task_assignment in a vector env; "
                    'use task_assignment="grouped" or "sampled".'
                )
        probe = env_factory(**env_kwargs)
        self.task_names = tuple(probe.unwrapped.task_names)
        self.score_references = tuple(probe.unwrapped.score_references)
        self.protocol = getattr(probe.unwrapped, "protocol", None)  # emulator envs name theirs (MultiAtari)
        probe.close()
        self.num_envs = num_envs
        self.task_assignment = task_assignment
        if task_assignment == "grouped":
            self.env_task_ids: np.ndarray | None = grouped_task_ids(num_envs, self.num_tasks)
            kwargs_per_env = [dict(env_kwargs, task_schedule="fixed", task=int(t)) for t in self.env_task_ids]
        else:
            self.env_task_ids = None
            kwargs_per_env = [dict(env_kwargs, task_schedule="uniform") for _ in range(num_envs)]

        def make_one(kwargs: dict[str, Any]) -> Callable[[], gym.Env]:
            def thunk() -> gym.Env:
                env = env_factory(**kwargs)
                return TaskObservation(env) if task_obs else env

            return thunk

        env_fns = [make_one(kwargs) for kwargs in kwargs_per_env]
        if vectorization == "sync":
            self._vector = SyncVectorEnv(env_fns, autoreset_mode=AutoresetMode(autoreset_mode))
        else:
            self._vector = AsyncVectorEnv(env_fns, autoreset_mode=AutoresetMode(autoreset_mode), context=context)
        self.single_observation_space = self._vector.single_observation_space
        self.single_action_space = self._vector.single_action_space
        self.observation_space = self._vector.observation_space
        self.action_space = self._vector.action_space
        self.metadata = dict(self._vector.metadata)
        self.render_mode = self._vector.render_mode

    @property
    def num_tasks(self) -> int:
        """Number of tasks in the task set."""
        return len(self.task_names)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        if self.task_assignment == "grouped" and options and options.get("task") is not None:
            raise ValueError("Grouped sub-envs keep their tasks; reset(options={'task': ...}) is not allowed.")
        return self._vector.reset(seed=seed, options=options)

    def step(self, actions: Any):
        return self._vector.step(actions)

    def render(self) -> tuple[Any, ...] | None:
        return self._vector.render()

    def close_extras(self, **kwargs: Any) -> None:
        self._vector.close(**kwargs)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        return self._vector.call(name, *args, **kwargs)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return self._vector.get_attr(name)


def with_task_obs(envs: VectorEnv, task_obs: bool) -> VectorEnv:
    """Wrap a native mtenvs vector env with :class:`TaskObservationVector` when asked."""
    return TaskObservationVector(envs) if task_obs else envs
