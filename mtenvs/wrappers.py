"""Contract wrappers: the one-hot task observation and per-task episode statistics.

Each comes in a single-env and a vector-env form; both read the task from ``info["task_id"]``,
so they work on every mtenvs family (and on any env that follows the contract).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from mtenvs.core import one_hot_tasks
from mtenvs.validation import check_bool


def _as_numpy(values: Any) -> np.ndarray:
    """NumPy view of a batch that may be a torch tensor on any device (TwoRooms' torch backend)."""
    return values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)


def _require_contract(env: gym.Env | VectorEnv, wrapper: str, attributes: tuple[str, ...], *, vector: bool) -> None:
    """``TypeError`` unless ``env`` is a single (or, with ``vector``, a vector) env whose
    ``unwrapped`` has the contract attributes the wrapper reads."""
    if isinstance(env, VectorEnv) != vector:
        other = wrapper.removesuffix("Vector") if vector else f"{wrapper}Vector"
        kind, got = ("a vector env", "a single env") if vector else ("a single env", "a vector env")
        raise TypeError(f"{wrapper} wraps {kind}, got {got} ({type(env).__name__}); use {other} for it.")
    base = env.unwrapped
    missing = [name for name in attributes if not hasattr(base, name)]
    if missing:
        kind = "vector env" if vector else "env"
        raise TypeError(
            f"{wrapper} needs an mtenvs {kind} (one made by gym.make(_vec) of an mtenvs id, with "
            f"{', '.join(attributes)} and info['task_id']); {type(base).__name__} has no {', '.join(missing)}."
        )


def _task_dict_space(obs_space: spaces.Space, num_tasks: int) -> spaces.Dict:
    return spaces.Dict({"obs": obs_space, "task": spaces.Box(0.0, 1.0, shape=(num_tasks,), dtype=np.float32)})


class TaskObservation(gym.ObservationWrapper):
    """Observation becomes ``{"obs": original, "task": one-hot of the current task}``.

    This is the env_obs / task_obs split of mtenv and the one-hot task id of Meta-World.
    """

    def __init__(self, env: gym.Env):
        _require_contract(env, "TaskObservation", ("task_names", "num_tasks", "task_id"), vector=False)
        super().__init__(env)
        self.num_tasks = env.unwrapped.num_tasks
        self.observation_space = _task_dict_space(env.observation_space, self.num_tasks)

    def observation(self, observation: Any) -> dict[str, Any]:
        task = one_hot_tasks(self.env.unwrapped.task_id, self.num_tasks)
        return {"obs": observation, "task": task}


class TaskObservationVector(VectorWrapper):
    """Vector form of :class:`TaskObservation`: ``task`` is a ``(num_envs, num_tasks)`` one-hot batch."""

    def __init__(self, env: VectorEnv):
        _require_contract(env, "TaskObservationVector", ("task_names", "num_tasks"), vector=True)
        super().__init__(env)
        self.num_tasks = env.unwrapped.num_tasks
        self.single_observation_space = _task_dict_space(env.single_observation_space, self.num_tasks)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)

    def _with_task(self, obs: Any, infos: dict[str, Any]) -> dict[str, Any]:
        task = one_hot_tasks(np.asarray(infos["task_id"]), self.num_tasks)
        if hasattr(obs, "new_tensor"):  # torch observations: the task goes to the same device
            task = obs.new_tensor(task)
        return {"obs": obs, "task": task}

    def reset(self, **kwargs: Any):
        obs, infos = self.env.reset(**kwargs)
        return self._with_task(obs, infos), infos

    def step(self, actions: Any):
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        return self._with_task(obs, infos), rewards, terminations, truncations, infos


class RecordTaskEpisodeStatistics(gym.Wrapper):
    """Adds ``info["episode"]`` when an episode ends, keyed for per-task logging.

    ``info["episode"]`` holds ``r`` (return), ``l`` (length), ``t`` (wall seconds), ``task_id``,
    ``task`` (the task's name) and ``hns`` (human-normalized score; NaN where the task has no
    reference scores). The return is the env's raw reward: clip rewards after this wrapper.
    """

    def __init__(self, env: gym.Env):
        _require_contract(
            env, "RecordTaskEpisodeStatistics", ("task_names", "task_id", "human_normalized_score"), vector=False
        )
        super().__init__(env)
        self._return = 0.0
        self._length = 0
        self._start = time.perf_counter()
        self._task_id = 0

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._return, self._length, self._start = 0.0, 0, time.perf_counter()
        self._task_id = int(info["task_id"])
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._return += float(reward)
        self._length += 1
        if terminated or truncated:
            base = self.env.unwrapped
            info["episode"] = {
                "r": self._return,
                "l": self._length,
                "t": round(time.perf_counter() - self._start, 6),
                "task_id": self._task_id,
                "task": base.task_names[self._task_id],
                "hns": base.human_normalized_score(self._task_id, self._return),
            }
        return obs, reward, terminated, truncated, info


class RecordTaskEpisodeStatisticsVector(VectorWrapper):
    """Vector form of :class:`RecordTaskEpisodeStatistics`.

    When any sub-env finishes an episode, ``infos["episode"]`` holds arrays ``r``, ``l``, ``t``,
    ``task_id`` and ``hns`` over all sub-envs and ``infos["_episode"]`` marks which entries are
    valid. Handles the next-step and same-step autoreset modes and masked resets.
    """

    def __init__(self, env: VectorEnv):
        _require_contract(env, "RecordTaskEpisodeStatisticsVector", ("task_names", "score_references"), vector=True)
        super().__init__(env)
        self.autoreset_mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self._references = _reference_table(env.unwrapped.score_references)
        n = self.num_envs
        self._returns = np.zeros(n, dtype=np.float64)
        self._lengths = np.zeros(n, dtype=np.int64)
        self._starts = np.full(n, time.perf_counter())
        self._tasks = np.zeros(n, dtype=np.int64)
        self._prev_dones = np.zeros(n, dtype=bool)

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        reset = np.ones(self.num_envs, dtype=bool)
        if options is not None and "reset_mask" in options:
            reset = np.asarray(options["reset_mask"], dtype=bool)
        self._begin(reset, infos)
        self._prev_dones[reset] = False
        return obs, infos

    def _begin(self, which: np.ndarray, infos: dict[str, Any]) -> None:
        self._returns[which] = 0.0
        self._lengths[which] = 0
        self._starts[which] = time.perf_counter()
        self._tasks[which] = np.asarray(infos["task_id"])[which]

    def step(self, actions: Any):
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        dones = np.logical_or(_as_numpy(terminations), _as_numpy(truncations))
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            # Sub-envs that finished last step were reset by this step: it starts their next episode.
            live = ~self._prev_dones
            self._begin(self._prev_dones, infos)
        else:
            live = np.ones(self.num_envs, dtype=bool)
        self._returns[live] += _as_numpy(rewards).astype(np.float64)[live]
        self._lengths[live] += 1
        finished = dones & live
        if finished.any():
            random_score, human_score = self._references[self._tasks, 0], self._references[self._tasks, 1]
            infos["episode"] = {
                "r": np.where(finished, self._returns, 0.0),
                "l": np.where(finished, self._lengths, 0),
                "t": np.where(finished, np.round(time.perf_counter() - self._starts, 6), 0.0),
                "task_id": self._tasks.copy(),
                "hns": np.where(finished, (self._returns - random_score) / (human_score - random_score), np.nan),
            }
            infos["_episode"] = finished
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            # The same step already reset them: this step's info describes the next episode.
            self._begin(finished, infos)
        self._prev_dones = dones
        return obs, rewards, terminations, truncations, infos


def _reference_table(references: tuple[tuple[float, float] | None, ...]) -> np.ndarray:
    """(num_tasks, 2) array of (random, human) scores, NaN where a task has none."""
    return np.array([ref if ref is not None else (np.nan, np.nan) for ref in references], dtype=np.float64)


def task_obs_entry_point(env_cls: type[gym.Env], name: str) -> Callable[..., gym.Env]:
    """The ``gym.make`` entry point of a family: ``env_cls(**kwargs)``, wrapped in
    :class:`TaskObservation` when ``task_obs=True``. ``name`` is the function's name in its module."""

    def make(task_obs: bool = False, **kwargs: Any) -> gym.Env:
        env = env_cls(**kwargs)
        return TaskObservation(env) if check_bool("task_obs", task_obs) else env

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"Entry point of the {env_cls.__name__} ids; ``task_obs=True`` adds the one-hot task observation."
    return make
