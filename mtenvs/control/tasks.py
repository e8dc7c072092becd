"""The five control tasks of D'Eramo et al. 2020 and how MultiControl lays them out.

CartPole, Acrobot and MountainCar are Gymnasium's own registered envs (built from their registry
entry points, so their dynamics, rewards and time limits are Gymnasium's); Car-on-Hill and the
inverted pendulum are :mod:`mtenvs.control.car_on_hill` and :mod:`mtenvs.control.inverted_pendulum`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import load_env_creator

from mtenvs.control import car_on_hill, inverted_pendulum


@dataclass(frozen=True)
class ControlTask:
    """One task: how to build its simulator and what its observation and actions mean."""

    name: str
    source: str
    """Gymnasium id, or the paper the env follows"""
    observation: tuple[str, ...]
    """meaning of the observation entries it uses (the rest of the padded vector is 0)"""
    actions: tuple[str, ...]
    """meaning of its actions, indices 0.. of the union action space"""
    episode_steps: int
    """its own episode limit (Gymnasium's TimeLimit for the Gymnasium tasks)"""
    discount: float
    """the discount its source uses"""
    build: Callable[[str | None, int], gym.Env]
    """(render_mode, episode_steps) -> the raw simulator, without wrappers"""


def _gymnasium(env_id: str) -> Callable[[str | None, int], gym.Env]:
    spec = gym.spec(env_id)
    creator = load_env_creator(spec.entry_point)

    def build(render_mode: str | None, episode_steps: int) -> gym.Env:
        return creator(**spec.kwargs, render_mode=render_mode)  # MultiControlEnv counts the episode limit

    return build


TASKS: dict[str, ControlTask] = {
    task.name: task
    for task in (
        ControlTask(
            "CartPole", "CartPole-v1", ("cart position", "cart velocity", "pole angle", "pole angular velocity"),
            ("push left", "push right"), gym.spec("CartPole-v1").max_episode_steps, 0.99, _gymnasium("CartPole-v1"),
        ),
        ControlTask(
            "Acrobot", "Acrobot-v1",
            ("cos theta1", "sin theta1", "cos theta2", "sin theta2", "theta1 velocity", "theta2 velocity"),
            ("torque -1", "torque 0", "torque +1"), gym.spec("Acrobot-v1").max_episode_steps, 0.99,
            _gymnasium("Acrobot-v1"),
        ),
        ControlTask(
            "MountainCar", "MountainCar-v0", ("position", "velocity"), ("push left", "no push", "push right"),
            gym.spec("MountainCar-v0").max_episode_steps, 0.99, _gymnasium("MountainCar-v0"),
        ),
        ControlTask(
            "CarOnHill", "Ernst, Geurts & Wehenkel 2005", ("position", "speed"), car_on_hill.ACTION_NAMES,
            car_on_hill.HORIZON, car_on_hill.DISCOUNT,
            lambda render_mode, steps: car_on_hill.CarOnHillEnv(steps, render_mode=render_mode),
        ),
        ControlTask(
            "InvertedPendulum", "Lagoudakis & Parr 2003", ("angle", "angular velocity"),
            inverted_pendulum.ACTION_NAMES, inverted_pendulum.HORIZON, inverted_pendulum.DISCOUNT,
            lambda render_mode, steps: inverted_pendulum.InvertedPendulumEnv(steps, render_mode=render_mode),
        ),
    )
}  # fmt: skip
TASK_NAMES = tuple(TASKS)
GYMNASIUM_TRIO = ("CartPole", "Acrobot", "MountainCar")


def observation_size(names: Sequence[str]) -> int:
    """Size of the padded observation: the largest task's."""
    return max(len(TASKS[name].observation) for name in names)


def num_actions(names: Sequence[str]) -> int:
    """Size of the union action space: the largest task's (every task's actions are 0..n-1)."""
    return max(len(TASKS[name].actions) for name in names)


def resolve_tasks(tasks: Sequence[str] | None) -> tuple[str, ...]:
    """The task names to use (all five by default), checked."""
    if tasks is None:
        return TASK_NAMES
    if isinstance(tasks, str) or not isinstance(tasks, (list, tuple)) or not tasks:
        raise ValueError(f"tasks must be a non-empty list of task names from {', '.join(TASK_NAMES)}; got {tasks!r}.")
    for name in tasks:
        if name not in TASKS:
            raise ValueError(f"Unknown task {name!r}; valid tasks: {', '.join(TASK_NAMES)}.")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"tasks lists a task twice: {list(tasks)}.")
    return tuple(tasks)


def resolve_episode_steps(names: Sequence[str], episode_steps: dict[str, int] | None) -> tuple[int, ...]:
    """Each task's episode limit: its own, unless ``episode_steps`` overrides it by name."""
    if episode_steps is not None and not isinstance(episode_steps, dict):
        raise ValueError(f"episode_steps must be a dict {{task name: steps}}, got {episode_steps!r}.")
    overrides = dict(episode_steps or {})
    for name, steps in overrides.items():
        if name not in names:
            raise ValueError(f"episode_steps names {name!r}, which is not one of the tasks {', '.join(names)}.")
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"episode_steps[{name!r}] must be an int >= 1, got {steps!r}.")
    return tuple(overrides.get(name, TASKS[name].episode_steps) for name in names)


def action_masks(names: Sequence[str]) -> np.ndarray:
    """(tasks, union actions) int8: 1 where the action is one of the task's own."""
    masks = np.zeros((len(names), num_actions(names)), dtype=np.int8)
    for row, name in enumerate(names):
        masks[row, : len(TASKS[name].actions)] = 1
    return masks


def observation_bounds(names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per entry of the padded observation, the lowest and highest bound over the tasks (padding is 0)."""
    size = observation_size(names)
    low = np.zeros((len(names), size), dtype=np.float32)
    high = np.zeros((len(names), size), dtype=np.float32)
    for row, name in enumerate(names):
        space = TASKS[name].build(None, 1).observation_space
        low[row, : space.shape[0]] = space.low
        high[row, : space.shape[0]] = space.high
    # CartPole-v1 declares its speeds unbounded with inf; the union space writes float32's largest value
    # instead (same values accepted), which Gymnasium's passive checker takes without a warning.
    largest = np.finfo(np.float32).max
    return np.clip(low.min(axis=0), -largest, largest), np.clip(high.max(axis=0), -largest, largest)
