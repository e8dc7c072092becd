"""The one definition of TwoRooms' dynamics, randomness and observations, for a batch of envs.

:class:`TwoRoomsBatch` holds the state of ``num_envs`` TwoRooms instances as arrays and advances
them all at once, in NumPy (``device=None``) or in torch on any device (``device="cpu"``,
``"cuda"``, ...). The single env (:class:`mtenvs.tworooms.env.TwoRoomsEnv`) is a batch of one,
and the vector env (:class:`mtenvs.tworooms.vector.TwoRoomsVectorEnv`) a batch of ``num_envs``,
so both run exactly this code.

Randomness is counter-based: each env has a 63-bit key (drawn from its seed) and an episode
counter, and the start cell (and, with sampled tasks, the task) of episode ``k`` is a hash of
``(key, k)``. A batch therefore needs no per-env random generator objects, the NumPy and torch
backends give bit-identical draws, and env ``i`` of a batch seeded with ``seed`` follows exactly
the trajectory of a single env reset with ``seed + i`` under the same actions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding

from mtenvs.tworooms.layout import NO_ACTION, NUM_ACTIONS, PIXEL_FRAME_SIZE, PIXEL_LEVELS, TwoRoomsLayout

OBSERVATION_TYPES = ("onehot", "coordinates", "image", "pixels")
IMAGE_CHANNELS = 2 + (NUM_ACTIONS + 1) + 1  # walls, agent, previous action (incl. "none"), previous reward

# splitmix64 constants (Steele et al. 2014), as unsigned 64-bit integers.
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
STREAM_START, STREAM_TASK = 0, 1


def key_from_seed(seed: int | None) -> int:
    """The 63-bit hash key of an env reset with ``seed`` (fresh OS entropy for ``None``).

    Drawn from Gymnasium's seeded generator, so it is what ``env.np_random`` yields after
    ``reset(seed=seed)``.
    """
    generator, _ = seeding.np_random(seed)
    return int(generator.integers(2**63))


def observation_space(layout: TwoRoomsLayout, observation_type: str, rewards: tuple[float, float]) -> spaces.Box:
    """The single-env observation space of an encoding (see :class:`TwoRoomsBatch`)."""
    if observation_type not in OBSERVATION_TYPES:
        raise ValueError(f"Unknown observation_type {observation_type!r}; valid: {', '.join(OBSERVATION_TYPES)}.")
    if observation_type == "pixels":
        if layout.pixel_cell_size < 1:
            raise ValueError(
                f'observation_type="pixels" draws every cell at least 1 pixel wide in a {PIXEL_FRAME_SIZE}x'
                f"{PIXEL_FRAME_SIZE} frame; this {layout.height}x{layout.width} map has more than "
                f"{PIXEL_FRAME_SIZE} cells on a side (use a smaller map or another observation_type)."
            )
        return spaces.Box(0, 255, (1, PIXEL_FRAME_SIZE, PIXEL_FRAME_SIZE), dtype=np.uint8)
    low_reward, high_reward = min(0.0, *rewards), max(0.0, *rewards)
    if observation_type == "onehot":
        size = layout.free_cells.size + NUM_ACTIONS + 1 + 1
        low, high = np.zeros(size, np.float32), np.ones(size, np.float32)
        low[-1], high[-1] = low_reward, high_reward
    elif observation_type == "coordinates":
        low = np.array([0, 0, 0, low_reward], np.float32)
        high = np.array([layout.height - 1, layout.width - 1, NO_ACTION, high_reward], np.float32)
    else:
        shape = (IMAGE_CHANNELS, layout.height, layout.width)
        low, high = np.zeros(shape, np.float32), np.ones(shape, np.float32)
        low[-1], high[-1] = low_reward, high_reward
    return spaces.Box(low, high, dtype=np.float32)


class _NumpyOps:
    """Array creation for the NumPy backend (keys are uint64)."""

    name = "numpy"
    int64, float32, bool_, uint8, key_dtype = np.int64, np.float32, np.bool_, np.uint8, np.uint64

    def asarray(self, values: Any, dtype: Any) -> np.ndarray:
        return np.asarray(values, dtype=dtype)

    def zeros(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.zeros(shape, dtype=dtype)

    def tile_rows(self, row: np.ndarray, n: int) -> np.ndarray:
        return np.tile(row, (n, 1))

    def arange(self, n: int) -> np.ndarray:
        return np.arange(n)

    def flatnonzero(self, mask: np.ndarray) -> np.ndarray:
        return np.flatnonzero(mask)

    def where(self, condition: np.ndarray, a: Any, b: Any) -> np.ndarray:
        return np.where(condition, a, b)

    def const(self, value: int) -> int:
        return value


class _TorchOps:
    """Array creation for the torch backend (keys are int64 holding the same 64 bits)."""

    name = "torch"

    def __init__(self, device: str):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.int64, self.float32, self.bool_, self.uint8 = torch.int64, torch.float32, torch.bool, torch.uint8
        self.key_dtype = torch.int64

    def asarray(self, values: Any, dtype: Any) -> Any:
        if isinstance(values, self.torch.Tensor):
            return values.to(device=self.device, dtype=dtype)
        # np.array copies: the layout's arrays are read-only, and torch wants writable memory.
        return self.torch.as_tensor(np.array(values), dtype=dtype, device=self.device)

    def zeros(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.torch.zeros(shape, dtype=dtype, device=self.device)

    def tile_rows(self, row: Any, n: int) -> Any:
        return row.expand(n, -1).clone()

    def arange(self, n: int) -> Any:
        return self.torch.arange(n, device=self.device)

    def flatnonzero(self, mask: Any) -> Any:
        return self.torch.nonzero(mask).squeeze(1)

    def where(self, condition: Any, a: Any, b: Any) -> Any:
        return self.torch.where(condition, a, b)

    def const(self, value: int) -> int:
        # The same 64 bits as a signed int64.
        return value - 2**64 if value >= 2**63 else value


class TwoRoomsBatch:
    """State and step of ``num_envs`` TwoRooms envs, NumPy or torch (next-step autoreset).

    State per env: ``position`` (flat cell index), ``goal`` (its task's goal cell), ``prev_action``
    (0-3, or 4 = none yet), ``prev_reward``, ``steps`` (this episode), ``task``, the hash ``key`` and
    ``episode`` counter.

    Observation encodings (per env; float32 but for ``"pixels"``):

    * ``"onehot"``: ``[one-hot of the cell among the free cells (ascending flat index),
      one-hot of the previous action (5: up, right, down, left, none), previous reward]``;
    * ``"coordinates"``: ``[row, col, previous action (0-4), previous reward]``;
    * ``"image"``: ``(8, height, width)`` planes: walls, agent, five constant planes one-hot of the
      previous action, a constant plane holding the previous reward. The goal is never shown:
      the task is what the agent must find out (or be told with ``task_obs=True``);
    * ``"pixels"``: a ``(1, 84, 84)`` uint8 grayscale picture of the map from above, the agent a
      bright square (:meth:`TwoRoomsLayout.pixel_tables`); nothing else, so the agent's position
      is only in the image, and the goal is not shown either.

    Args:
        layout: the map and task set.
        num_envs: batch size.
        task_ids: the task of each env for the whole run (grouped assignment), or ``None`` to
            draw a task per episode (sampled assignment; the single env's ``"uniform"`` schedule).
        max_steps: episodes are truncated after this many steps.
        goal_reward: reward of the step that reaches the goal (the episode terminates there).
        step_reward: reward of every other step.
        observation_type: ``"onehot"``, ``"coordinates"``, ``"image"`` or ``"pixels"``.
        device: ``None`` for NumPy, else a torch device.
    """

    def __init__(
        self,
        layout: TwoRoomsLayout,
        num_envs: int,
        *,
        task_ids: np.ndarray | None,
        max_steps: int,
        goal_reward: float,
        step_reward: float,
        observation_type: str,
        device: str | None = None,
    ):
        observation_space(layout, observation_type, (goal_reward, step_reward))  # validates the type
        self.layout = layout
        self.num_envs = num_envs
        self.max_steps = max_steps
        self.goal_reward = float(goal_reward)
        self.step_reward = float(step_reward)
        self.observation_type = observation_type
        self.sampled = task_ids is None
        self.ops = _NumpyOps() if device is None else _TorchOps(device)
        ops = self.ops
        self._walls = ops.asarray(layout.walls.ravel(), ops.bool_)
        self._offsets = ops.asarray(layout.move_offsets, ops.int64)
        self._goals = ops.asarray(layout.goals, ops.int64)
        self._starts = ops.asarray(layout.start_cells, ops.int64)
        self._free_index = ops.asarray(layout.free_index, ops.int64)
        self._wall_plane = ops.asarray(layout.walls.ravel(), ops.float32)
        if observation_type == "pixels":
            background, cell_pixels = layout.pixel_tables()
            self._pixel_background = ops.asarray(background[None], ops.uint8)
            self._cell_pixels = ops.asarray(cell_pixels, ops.int64)
        self._rows = ops.arange(num_envs)
        self._onehot_row_starts = self._rows * (layout.free_cells.size + NUM_ACTIONS + 2)
        # 0-d float32 arrays, so that where() keeps rewards float32 in both backends.
        self._goal_reward = ops.asarray(goal_reward, ops.float32)
        self._step_reward = ops.asarray(step_reward, ops.float32)
        self._no_reward = ops.asarray(0.0, ops.float32)
        self.task = ops.zeros((num_envs,), ops.int64) if task_ids is None else ops.asarray(task_ids, ops.int64)
        self.goal = self._goals[self.task]  # each env's goal cell, kept in step with `task`
        self.position = ops.zeros((num_envs,), ops.int64)
        self.prev_action = ops.zeros((num_envs,), ops.int64)
        self.prev_reward = ops.zeros((num_envs,), ops.float32)
        self.steps = ops.zeros((num_envs,), ops.int64)
        self.key = ops.zeros((num_envs,), ops.key_dtype)
        self.episode = ops.zeros((num_envs,), ops.key_dtype)
        self.needs_reset = ops.zeros((num_envs,), ops.bool_)

    # -- randomness -------------------------------------------------------------------------
    def set_keys(self, keys: list[int]) -> None:
        """Give every env a new hash key and restart its episode counter (what seeding does)."""
        self.key = self.ops.asarray([self.ops.const(k) for k in keys], self.ops.key_dtype)
        self.episode = self.ops.zeros((self.num_envs,), self.ops.key_dtype)

    def _draw(self, rows: Any, stream: int, n: int) -> Any:
        """Uniform ints in ``[0, n)`` for episode ``episode[rows]`` of envs ``rows`` (splitmix64 hash)."""
        c = self.ops.const
        z = self.key[rows] + (self.episode[rows] * 2 + (stream + 1)) * c(_GOLDEN)
        z = (z ^ _shift_right(z, 30)) * c(_MIX1)
        z = (z ^ _shift_right(z, 27)) * c(_MIX2)
        z = z ^ _shift_right(z, 31)
        return _shift_right(z, 11) % n  # the top 53 bits are non-negative in both backends

    # -- episodes ---------------------------------------------------------------------------
    def begin(self, rows: Any, tasks: Any = None) -> None:
        """Start a new episode in envs ``rows`` (indices): pick the task (if sampled) and the start cell.

        ``tasks`` pins the task of each of these envs (the single env's fixed, round-robin or
        ``reset(options={"task": ...})`` choice); otherwise sampled batches draw one.
        """
        if tasks is not None:
            self.task[rows] = self.ops.asarray(tasks, self.ops.int64)
        elif self.sampled:
            self.task[rows] = self._draw(rows, STREAM_TASK, self.layout.num_tasks)
        self.goal[rows] = self._goals[self.task[rows]]
        column = self._draw(rows, STREAM_START, self.layout.start_cells.shape[1])
        self.position[rows] = self._starts[self.task[rows], column]
        self.prev_action[rows] = NO_ACTION
        self.prev_reward[rows] = 0.0
        self.steps[rows] = 0
        self.needs_reset[rows] = False
        self.episode[rows] = self.episode[rows] + 1

    def step(self, actions: Any) -> tuple[Any, Any, Any]:
        """Advance every env by one action; envs whose episode ended last step start a new one instead.

        Returns ``(rewards, terminated, truncated)``; a restarted env reports 0, False, False.
        """
        ops = self.ops
        target = self.position + self._offsets[actions]
        position = ops.where(self._walls[target], self.position, target)
        reached = position == self.goal
        rewards = ops.where(reached, self._goal_reward, self._step_reward)
        steps = self.steps + 1
        truncated = (steps >= self.max_steps) & ~reached
        self.position, self.prev_action, self.prev_reward, self.steps = position, actions, rewards, steps
        restarting = self.needs_reset
        if bool(restarting.any()):
            rewards = ops.where(restarting, self._no_reward, rewards)
            reached = reached & ~restarting
            truncated = truncated & ~restarting
            self.needs_reset = reached | truncated
            self.begin(ops.flatnonzero(restarting))
        else:
            self.needs_reset = reached | truncated
        return rewards, reached, truncated

    # -- observations -----------------------------------------------------------------------
    def observe(self) -> Any:
        """The observation batch in this batch's encoding (a new array)."""
        ops, n, layout = self.ops, self.num_envs, self.layout
        if self.observation_type == "pixels":
            frames = ops.tile_rows(self._pixel_background, n)
            frames[self._rows[:, None], self._cell_pixels[self.position]] = PIXEL_LEVELS["agent"]
            return frames.reshape(n, 1, PIXEL_FRAME_SIZE, PIXEL_FRAME_SIZE)
        if self.observation_type == "coordinates":
            obs = ops.zeros((n, 4), ops.float32)
            obs[:, 0] = self.position // layout.width
            obs[:, 1] = self.position % layout.width
            obs[:, 2] = self.prev_action
            obs[:, 3] = self.prev_reward
            return obs
        if self.observation_type == "onehot":
            cells = layout.free_cells.size
            obs = ops.zeros((n, cells + NUM_ACTIONS + 2), ops.float32)
            flat = obs.reshape(-1)  # a view: flat indices are cheaper than (row, column) pairs
            flat[self._onehot_row_starts + self._free_index[self.position]] = 1.0
            flat[self._onehot_row_starts + (cells + self.prev_action)] = 1.0
            obs[:, -1] = self.prev_reward
            return obs
        obs = ops.zeros((n, IMAGE_CHANNELS, layout.height * layout.width), ops.float32)
        obs[:, 0] = self._wall_plane
        obs[self._rows, 1, self.position] = 1.0
        obs[self._rows, 2 + self.prev_action] = 1.0
        obs[:, -1] = self.prev_reward[:, None]
        return obs.reshape(n, IMAGE_CHANNELS, layout.height, layout.width)


def _shift_right(z: Any, bits: int) -> Any:
    """Logical right shift of 64-bit words (torch's ``>>`` on int64 is arithmetic, so mask the sign copies)."""
    return (z >> bits) & ((1 << (64 - bits)) - 1)
