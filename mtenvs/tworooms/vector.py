"""Batched TwoRooms: thousands of envs stepped at once in NumPy, or in torch on any device.

``gym.make_vec("TwoRooms-v0", num_envs=N)`` builds :class:`TwoRoomsVectorEnv` (the default,
``vectorization="batched"``); ``vectorization="sync"`` / ``"async"`` build Gymnasium's vector envs
over :class:`mtenvs.tworooms.env.TwoRoomsEnv` copies instead. Both run the same dynamics
(:class:`mtenvs.tworooms.dynamics.TwoRoomsBatch`), and with the same seed and actions they return
identical observations, rewards, flags and task ids.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from mtenvs.core import ensure_json_kwargs
from mtenvs.tworooms.dynamics import TwoRoomsBatch, key_from_seed, observation_space
from mtenvs.tworooms.env import DEFAULT_MAX_STEPS, TwoRoomsEnv, check_episode_options
from mtenvs.tworooms.layout import (
    DEFAULT_CORRIDOR_LENGTH,
    DEFAULT_ROOM_SIZE,
    NUM_ACTIONS,
    build_layout,
)
from mtenvs.validation import check_bool
from mtenvs.vector import (
    MultiTaskVectorBase,
    check_batch_memory,
    check_batched_actions,
    check_num_envs,
    check_task_assignment,
    check_vectorization,
    check_workers_only,
    make_copies_vec,
    with_task_obs,
)

VECTORIZATIONS = ("batched", "sync", "async", "workers")
# Sub-envs are rows of arrays here, so far more fit than in process-backed vector envs.
MAX_BATCHED_NUM_ENVS = 2**20


class TwoRoomsVectorEnv(MultiTaskVectorBase):
    """``num_envs`` TwoRooms envs as one batch (NumPy arrays, or torch tensors with ``device=``).

    Same arguments, observations and rewards as :class:`mtenvs.tworooms.env.TwoRoomsEnv`, plus:

    * ``task_assignment``: ``"grouped"`` (default; sub-env ``i`` keeps task
      ``i * num_tasks // num_envs``) or ``"sampled"`` (a task drawn per episode);
    * ``device``: ``None`` (default) steps in NumPy and returns NumPy arrays; a torch device
      (``"cpu"``, ``"cuda"``, ...) steps in torch there and returns tensors on it, so a GPU
      training loop never copies observations to the host. Actions may then be tensors.

    ``reset(seed=s)`` seeds sub-env ``i`` as a single env reset with ``seed=s + i``. Autoreset is
    next-step (``metadata["autoreset_mode"]``): the step after an episode ends ignores the action,
    starts the next episode and returns its first observation with reward 0. ``infos["task_id"]``
    (int64 array, NumPy) comes with every reset and step, and so does ``infos["shortest_path_length"]``,
    the fewest steps from the start cell of each sub-env's current episode to its goal, with
    ``infos["_shortest_path_length"]`` marking the sub-envs whose episode began at this reset or
    autoreset step. Rewards are float32; terminations and
    truncations bool.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(
        self,
        num_envs: int,
        *,
        task_assignment: str = "grouped",
        device: str | None = None,
        room_size: int = DEFAULT_ROOM_SIZE,
        corridor_length: int = DEFAULT_CORRIDOR_LENGTH,
        layout: list[str] | None = None,
        goals: list[list[int]] | None = None,
        num_tasks: int | None = None,
        task_seed: int | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        goal_reward: float = 1.0,
        step_reward: float = 0.0,
        observation_type: str = "onehot",
        render_mode: str | None = None,
    ):
        check_num_envs(num_envs, MAX_BATCHED_NUM_ENVS)
        check_task_assignment(task_assignment)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"Unknown render_mode {render_mode!r}; valid: {self.metadata['render_modes']}.")
        check_episode_options(max_steps, goal_reward, step_reward)
        self.layout = build_layout(room_size, corridor_length, layout, goals, num_tasks, task_seed)
        self._init_vector_tasks(
            num_envs, self.layout.task_names, task_assignment=task_assignment, max_num_envs=MAX_BATCHED_NUM_ENVS
        )
        self.single_observation_space = observation_space(self.layout, observation_type, (goal_reward, step_reward))
        check_batch_memory(self.num_envs, self.single_observation_space)
        if device is not None:
            import torch

            try:
                # A round trip, not just an allocation: "meta" allocates tensors that hold no data.
                torch.zeros(1, device=device).cpu()
            except (AssertionError, RuntimeError, TypeError, NotImplementedError) as err:  # torch raises all four
                raise ValueError(
                    f"device must be None (NumPy) or an available torch device that holds data, such as 'cpu' "
                    f"or 'cuda', got {device!r} ({err})."
                ) from err
        self.device = device
        self.render_mode = render_mode
        self._batch = TwoRoomsBatch(
            self.layout,
            num_envs,
            task_ids=self.env_task_ids,
            max_steps=max_steps,
            goal_reward=goal_reward,
            step_reward=step_reward,
            observation_type=observation_type,
            device=device,
        )
        self._goal_distances = np.stack([self.layout.shortest_path_lengths(goal) for goal in self.layout.goals])
        self._shortest_path_length = np.zeros(num_envs, dtype=np.int64)
        self.single_action_space = spaces.Discrete(NUM_ACTIONS)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._check_reset(seed, options)  # no options: tasks come from task_assignment
        if seed is not None:
            self._batch.set_keys([key_from_seed(int(seed) + i) for i in range(self.num_envs)])
        elif not self._started:
            self._batch.set_keys(np.random.default_rng().integers(2**63, size=self.num_envs).tolist())
        self._batch.begin(self._batch.ops.arange(self.num_envs))
        self._started = True
        return self._batch.observe(), self._infos()

    def step(self, actions: Any):
        rewards, terminated, truncated = self._batch.step(self._check_step(actions))
        return self._batch.observe(), rewards, terminated, truncated, self._infos()

    def _check_actions(self, actions: Any) -> Any:
        """A fresh int64 batch of valid actions (NumPy or tensor, as the backend needs), or a clear error."""
        if self._batch.ops.name == "torch":
            import torch

            if isinstance(actions, torch.Tensor):
                if actions.shape != (self.num_envs,) or actions.dtype.is_floating_point or actions.dtype == torch.bool:
                    raise ValueError(
                        f"actions must be an integer tensor of shape ({self.num_envs},), got "
                        f"shape {tuple(actions.shape)} dtype {actions.dtype}."
                    )
                if bool(((actions < 0) | (actions >= NUM_ACTIONS)).any()):
                    raise ValueError(f"Actions must lie in 0..{NUM_ACTIONS - 1}, got {actions.tolist()}.")
                return actions.to(device=self._batch.ops.device, dtype=torch.int64, copy=True)
            return self._batch.ops.asarray(self._check_numpy_actions(actions), torch.int64)
        return self._check_numpy_actions(actions)

    def _check_numpy_actions(self, actions: Any) -> np.ndarray:
        space = "the action space (0 up, 1 right, 2 down, 3 left)"
        return check_batched_actions(actions, self.num_envs, NUM_ACTIONS, space)  # a fresh int64 array

    def _infos(self) -> dict[str, Any]:
        batch = self._batch
        as_numpy = (lambda x: x.copy()) if batch.ops.name == "numpy" else (lambda x: x.cpu().numpy())
        task, position, steps = as_numpy(batch.task), as_numpy(batch.position), as_numpy(batch.steps)
        started = steps == 0  # the sub-envs whose episode began at this reset or autoreset step
        self._shortest_path_length[started] = self._goal_distances[task[started], position[started]]
        return {
            "task_id": task,
            "shortest_path_length": self._shortest_path_length.copy(),
            "_shortest_path_length": started,
        }

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One ``rgb_array`` frame per sub-env (for small batches: it draws every env)."""
        if self.render_mode != "rgb_array":
            return None
        self._check_render()
        tasks = self._infos()["task_id"].tolist()
        positions = self._batch.position.tolist()
        return tuple(self.layout.frame(int(self.layout.goals[t]), p) for t, p in zip(tasks, positions, strict=True))

    def __getstate__(self) -> dict[str, Any]:
        if self._batch.ops.name == "torch":
            raise self._pickling_error(
                f"with device={self.device!r} its state is torch tensors on that device, which it does not "
                "serialise (device=None, NumPy, pickles)"
            )
        return self.__dict__


def make_two_rooms_vec(
    num_envs: int,
    *,
    task_assignment: str = "grouped",
    vectorization: str = "batched",
    task_obs: bool = False,
    **kwargs: Any,
) -> VectorEnv:
    """Vector entry point of ``TwoRooms-v0`` (``gym.make_vec(id, num_envs=N, ...)``).

    ``vectorization="batched"`` (default) is :class:`TwoRoomsVectorEnv` (``device=`` picks NumPy
    or torch); ``"sync"`` / ``"async"`` run :class:`TwoRoomsEnv` copies in Gymnasium's vector envs,
    ``"workers"`` in :class:`mtenvs.workers.WorkerVectorEnv`.
    """
    check_task_assignment(task_assignment)
    check_vectorization(vectorization, VECTORIZATIONS, "batched")
    check_workers_only(vectorization, kwargs)
    check_bool("task_obs", task_obs)
    ensure_json_kwargs("TwoRooms vector env", kwargs)
    if vectorization == "batched":
        return with_task_obs(TwoRoomsVectorEnv(num_envs, task_assignment=task_assignment, **kwargs), task_obs)
    if "device" in kwargs:
        raise ValueError('device= only applies with vectorization="batched".')
    return make_copies_vec(
        TwoRoomsEnv,
        num_envs,
        task_assignment=task_assignment,
        vectorization=vectorization,
        task_obs=task_obs,
        **kwargs,
    )
