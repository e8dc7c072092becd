"""``mtenvs throughput MultiControl-v0``: the native grouped vector env beside Gymnasium's ``SyncVectorEnv``
of the same raw envs.

The reference steps, for every task, a ``SyncVectorEnv`` of that task's own env (``gym.make`` of
``CartPole-v1`` etc., with its usual wrappers; Car-on-Hill and the pendulum wrapped in Gymnasium's
``TimeLimit``) with as many sub-envs as the task's grouped share of ``num_envs``. Both contenders
get the same pre-drawn valid actions and are timed side by side in 10 interleaved rounds (medians); the
target is a ratio >= 1 (the multi-task env costs nothing over running the raw envs).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.vector import SyncVectorEnv
from gymnasium.wrappers import TimeLimit

from mtenvs.control.tasks import TASKS
from mtenvs.core import grouped_task_ids
from mtenvs.throughput import Measurement, Ratio, ThroughputResult, interleaved, vector_stepper

DEFAULT_NUM_ENVS = 50
TARGET_RATIO = 1.0
# The two differ by a few percent only (the physics dominates both): with 10 rounds rather than the
# usual 5, a burst of load on a shared machine in a round or two cannot move either median.
ROUNDS = 10
NATIVE = "native MultiControlVectorEnv (grouped)"
SYNC = "gymnasium SyncVectorEnv per task of the raw envs"


def raw_env(task_name: str, episode_steps: int) -> gym.Env:
    """The task's env as a Gymnasium user would make it on its own."""
    task = TASKS[task_name]
    if task.source in gym.registry:
        return gym.make(task.source)
    return TimeLimit(task.build(None, episode_steps), episode_steps)


class PerTaskSyncVectorEnvs:
    """One ``SyncVectorEnv`` per task group, stepped in turn (the tasks' observation sizes differ)."""

    def __init__(self, task_names: tuple[str, ...], episode_steps: tuple[int, ...], env_task_ids: np.ndarray):
        self.num_envs = len(env_task_ids)
        self._groups = []
        for task_id, name in enumerate(task_names):
            (members,) = np.nonzero(env_task_ids == task_id)
            if members.size:
                fns = [lambda n=name, s=episode_steps[task_id]: raw_env(n, s)] * members.size
                self._groups.append((slice(int(members[0]), int(members[-1]) + 1), SyncVectorEnv(fns)))

    def reset(self, seed: int | None = None) -> None:
        for members, envs in self._groups:
            envs.reset(seed=None if seed is None else seed + members.start)

    def step(self, actions: np.ndarray) -> None:
        for members, envs in self._groups:
            envs.step(actions[members])

    def close(self) -> None:
        for _, envs in self._groups:
            envs.close()


def measure(env_id: str, num_envs: int | None = None, seconds: float = 10.0) -> ThroughputResult:
    """Steps/s of the native grouped vector env and of the per-task SyncVectorEnvs, and their ratio."""
    num_envs = num_envs or DEFAULT_NUM_ENVS
    native = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    base = native.unwrapped
    masks = base.action_masks[base.env_task_ids]
    # Pre-drawn actions valid for every sub-env's task, shared by both contenders.
    draws = np.random.default_rng(0).random((256, num_envs))
    actions = (draws * masks.sum(axis=1)).astype(np.int64)
    episode_steps = native.unwrapped._envs[0].episode_steps
    reference = PerTaskSyncVectorEnvs(base.task_names, episode_steps, grouped_task_ids(num_envs, base.num_tasks))
    contenders = {NATIVE: vector_stepper(native, actions), SYNC: vector_stepper(reference, actions)}
    rates = interleaved(contenders, seconds, ROUNDS)
    native.close()
    reference.close()
    result = ThroughputResult(env_id, {"num_envs": num_envs, "tasks": ", ".join(base.task_names)})
    result.measurements += [Measurement(label, rate) for label, rate in rates.items()]
    result.ratios.append(Ratio("native / SyncVectorEnv", rates[NATIVE] / rates[SYNC], TARGET_RATIO))
    return result
