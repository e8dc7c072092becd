"""MultiControl: D'Eramo et al.'s five classic-control tasks as one multi-task env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mtenvs.control.tasks import (
    TASKS,
    action_masks,
    num_actions,
    observation_bounds,
    resolve_episode_steps,
    resolve_tasks,
)
from mtenvs.core import MultiTaskEnv, ensure_json_kwargs
from mtenvs.validation import check_action, check_choice

MASKED_ACTION_MODES = ("clamp", "raise")


def check_control_options(masked_action: str, render_mode: str | None, render_modes: list[str]) -> None:
    """Validate the options shared by the single and vector MultiControl envs."""
    check_choice("masked_action", masked_action, MASKED_ACTION_MODES)
    check_choice("render_mode", render_mode, (None, *render_modes))


class MultiControlEnv(MultiTaskEnv):
    """
    ## Description
    The classic-control task set of D'Eramo et al., "Sharing Knowledge in Multi-Task Deep
    Reinforcement Learning" (ICLR 2020): every episode is one of five control problems. CartPole,
    Acrobot and MountainCar are Gymnasium's own ``CartPole-v1``, ``Acrobot-v1`` and
    ``MountainCar-v0`` (the registered envs, unwrapped, stepped unchanged: same dynamics, rewards
    and time limits, and the same observations for the same seed and actions); Car-on-Hill (Ernst
    et al. 2005) and the discrete inverted pendulum (Lagoudakis & Parr 2003) are small envs of this
    package (``CarOnHillEnv``, ``InvertedPendulumEnv``).

    ## Tasks
    ``CartPole``, ``Acrobot``, ``MountainCar``, ``CarOnHill``, ``InvertedPendulum`` (all by
    default, in this order); ``tasks=[...]`` picks a subset in the order given.
    ``MultiControl-GymTrio-v0`` is the Gymnasium trio of the shared-knowledge review.

    ## Action Space
    ``Discrete(n)``, the union of the tasks' actions: ``n`` is the largest task's action count (3
    for the default set). Task actions keep their own indices: CartPole 0 left, 1 right; Acrobot
    torque -1/0/+1; MountainCar left/none/right; Car-on-Hill force -4/+4; pendulum -50/0/+50 N.
    ``info["action_mask"]`` (int8, 1 = valid) marks the current task's actions. An action outside
    the mask is, by ``masked_action``: ``"clamp"`` (default) replaced by the task's highest action,
    so that action 2 of a two-action task (CartPole, Car-on-Hill) pushes right, as action 2 does in
    every three-action task, and a mask-unaware agent (e.g. Stable-Baselines3's DQN on one task)
    trains unchanged; ``"raise"`` rejected with ``ValueError``. Actions outside ``Discrete(n)``
    always raise ``ValueError``.

    ## Observation Space
    ``Box(low, high, (m,), float32)``, ``m`` the largest task's observation size (6, Acrobot's, for
    the default set). Each task fills the first entries with its own observation and zeros the rest:
    CartPole ``[x, x_dot, theta, theta_dot, 0, 0]``, Acrobot ``[cos t1, sin t1, cos t2, sin t2,
    t1_dot, t2_dot]``, MountainCar ``[position, velocity, 0, 0, 0, 0]``, Car-on-Hill ``[p, v, 0, 0,
    0, 0]``, pendulum ``[theta, theta_dot, 0, 0, 0, 0]``. ``low``/``high`` are, per entry, the
    extremes of the tasks' own bounds (0 for padding; unbounded speeds as float32's largest value).

    ## Rewards
    Each task's own: CartPole +1 per step; Acrobot -1 per step until the goal; MountainCar -1 per
    step; Car-on-Hill +1 at the top, -1 on leaving left or speeding; pendulum -1 when it falls.

    ## Starting State
    Each task's own. ``reset(seed=s)`` seeds the task choice and every task's simulator with ``s``
    (a simulator takes its seed at its next episode), so a fixed-task episode reset with seed ``s``
    is the episode Gymnasium's env gives after ``reset(seed=s)``.

    ## Episode End
    Each task's own termination, and truncation at its own limit: CartPole and Acrobot 500 steps,
    MountainCar 200 (Gymnasium's ``TimeLimit`` values), Car-on-Hill 100, pendulum 3000 (its
    sources' horizons). ``episode_steps={"InvertedPendulum": 500}`` overrides limits by task name.
    Stepping an ended episode without ``reset()`` raises ``RuntimeError``.

    ## Info
    ``task_id`` and ``action_mask``. ``task_discounts`` (attribute) holds each task's source
    discount: 0.99 for the Gymnasium tasks, 0.95 for Car-on-Hill and the pendulum.

    ## Arguments
    ```python
    gym.make("MultiControl-v0", tasks=None, task_schedule="uniform", task=None,
             masked_action="clamp", episode_steps=None, task_obs=False, render_mode=None)
    ```
    * ``task_schedule``: ``"uniform"`` (random task per episode), ``"round_robin"`` or
      ``"fixed"`` (with ``task=`` a task name or index).
    * ``task_obs``: observation becomes ``{"obs": padded vector, "task": one-hot}``.
    * ``render_mode="rgb_array"``: the current task's frame (Gymnasium's pygame drawing for the
      Gymnasium tasks, which needs ``pygame``: the ``control`` extra).

    ## Version History
    * v0: Initial version (Gymnasium 1.x classic-control envs). Later, without changing dynamics: a
      bool action (``step(True)``) raises ``TypeError`` (it played action 1);
      ``MultiControl-GymTrio-v0`` refuses ``tasks=``; the vector envs refuse a batch with a masked
      action (``masked_action="raise"``) before any sub-env steps, and the native one hands
      unsigned actions on as int64 (a ``uint8`` 0 pushed MountainCar right).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        tasks: list[str] | None = None,
        task_schedule: str = "uniform",
        task: int | str | None = None,
        masked_action: str = "clamp",
        episode_steps: dict[str, int] | None = None,
        render_mode: str | None = None,
    ):
        self._init_kwargs = {
            "tasks": tasks, "task_schedule": task_schedule, "task": task, "masked_action": masked_action,
            "episode_steps": episode_steps, "render_mode": render_mode,
        }  # fmt: skip
        ensure_json_kwargs(type(self).__name__, self._init_kwargs)
        check_control_options(masked_action, render_mode, self.metadata["render_modes"])
        names = resolve_tasks(tasks)
        self._init_tasks(names, task_schedule=task_schedule, task=task, action_masks=action_masks(names))
        self.episode_steps = resolve_episode_steps(names, episode_steps)
        self.task_discounts = tuple(TASKS[name].discount for name in names)
        self.masked_action = masked_action
        self.render_mode = render_mode
        low, high = observation_bounds(names)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.action_space = spaces.Discrete(num_actions(names))
        self._task_sizes = tuple(len(TASKS[name].observation) for name in names)
        self._num_task_actions = tuple(int(n) for n in self.action_masks.sum(axis=1))  # plain ints: hot path
        self._simulators: dict[int, gym.Env] = {}  # built on a task's first episode
        self._pending_seeds: dict[int, int] = {}
        self._elapsed = 0
        self._done = True

    def _simulator(self, task_id: int) -> gym.Env:
        if task_id not in self._simulators:
            task = TASKS[self.task_names[task_id]]
            self._simulators[task_id] = task.build(self.render_mode, self.episode_steps[task_id])
        return self._simulators[task_id]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._pending_seeds = dict.fromkeys(range(self.num_tasks), int(seed))
        self._choose_task(options)
        raw, _ = self._simulator(self.task_id).reset(seed=self._pending_seeds.pop(self.task_id, None))
        self._elapsed, self._done = 0, False
        return self._pad(raw), self.task_info()

    def step(self, action: int):
        action = check_action(action, int(self.action_space.n), "the union action space")
        raw, reward, terminated, truncated = self._advance(action)
        return self._pad(raw), reward, terminated, truncated, self.task_info()

    def _advance(self, action: int | np.integer) -> tuple[np.ndarray, float, bool, bool]:
        """One step of the current task's simulator with a checked union action; the unpadded result."""
        if self._done:
            raise RuntimeError("The episode has ended (or never started): call reset() before step().")
        if action >= self._num_task_actions[self.task_id]:
            if self.masked_action == "raise":
                valid = np.flatnonzero(self.action_masks[self.task_id]).tolist()
                raise ValueError(
                    f"Action {action} is not one of {self.task_names[self.task_id]}'s actions {valid} "
                    "(masked_action='raise'); see info['action_mask']."
                )
            action = self._num_task_actions[self.task_id] - 1
        raw, reward, terminated, _, _ = self._simulators[self.task_id].step(action)
        self._elapsed += 1
        truncated = self._elapsed >= self.episode_steps[self.task_id]  # as Gymnasium's TimeLimit
        self._done = bool(terminated or truncated)
        return raw, float(reward), bool(terminated), truncated

    def _pad(self, raw: np.ndarray) -> np.ndarray:
        obs = np.zeros(self.observation_space.shape, dtype=np.float32)
        obs[: self._task_sizes[self.task_id]] = raw
        return obs

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self.task_id not in self._simulators:
            return None
        return self._simulators[self.task_id].render()

    def close(self) -> None:
        for simulator in self._simulators.values():
            simulator.close()

    def __getstate__(self) -> dict[str, Any]:
        # The simulators' own attributes, less pygame's window, clock and surfaces (redrawn on demand).
        simulators = {
            task_id: {k: v for k, v in sim.__dict__.items() if not type(v).__module__.startswith("pygame")}
            for task_id, sim in self._simulators.items()
        }
        return {
            "kwargs": self._init_kwargs,
            **self._contract_state(),
            "simulators": simulators,
            "pending_seeds": self._pending_seeds,
            "elapsed": self._elapsed,
            "done": self._done,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state["kwargs"])
        self._restore_contract_state(state)
        for task_id, attributes in state["simulators"].items():
            self._simulator(task_id).__dict__.update(attributes)
        self._pending_seeds = state["pending_seeds"]
        self._elapsed, self._done = state["elapsed"], state["done"]
