"""Replay memories of the DQN family: storage allocated up front, rings of a fixed capacity, saved as data.

- :class:`Replay`: transitions in torch tensors on the training device, sampled with ``torch.randint``
  (dqn.py). With ``lanes=n`` it holds ``n`` memories that fill in lockstep, one row of each per step,
  and a sample draws ``batch_size`` rows from each (mt_dqn_shared.py: one memory per task).
- :class:`TaskReplay`: one ring per task in NumPy arrays, each filled on its own (a task whose env only
  autoresets adds nothing that step), sampled per task with ``np.random.randint`` and concatenated in
  task order (mdqn.py and mcdqn.py; actor_mimic.py keeps states only).

The two draw from different RNGs in a different order on purpose: each keeps its scripts' seeded runs
identical to what they were before the toolkit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from mtenvs.train.cli import BadArgument

Fields = Mapping[str, tuple[tuple[int, ...], Any]]  # name -> (shape of one entry, dtype)


def nbytes(fields: Fields, rows: int) -> int:
    """Bytes that ``rows`` entries of every field take (for :func:`mtenvs.train.cli.require_memory`)."""
    total = 0
    for shape, dtype in fields.values():
        itemsize = dtype.itemsize if isinstance(dtype, torch.dtype) else np.dtype(dtype).itemsize
        total += rows * math.prod(shape) * itemsize
    return total


def transitions(obs_shape: tuple[int, ...], obs_dtype: torch.dtype) -> dict[str, tuple[tuple[int, ...], Any]]:
    """The fields of a :class:`Replay` of DQN transitions: obs, next_obs, actions, rewards, terminated."""
    shape = tuple(obs_shape)
    return {"obs": (shape, obs_dtype), "next_obs": (shape, obs_dtype), "actions": ((), torch.int64),
            "rewards": ((), torch.float32), "terminated": ((), torch.float32)}  # fmt: skip


# The checkpoint.load schema of Replay.state() for transitions().
TRANSITIONS_SCHEMA = {"pos": int, "size": int, **dict.fromkeys(transitions((), None), torch.Tensor)}


def _refuse(flag: str, path: str, problem: str) -> BadArgument:
    return BadArgument(f"{flag} {path}: its replay does not fit this run's ({problem}).")


class Replay:
    """A ring of ``capacity`` transitions (``lanes`` memories in lockstep when given) as tensors on ``device``."""

    def __init__(self, capacity: int, fields: Fields, device: torch.device, lanes: int | None = None):
        self.capacity, self.lanes, self.device = capacity, lanes, device
        lead = () if lanes is None else (lanes,)
        self.data = {
            name: torch.zeros((*lead, capacity, *shape), dtype=dtype, device=device)
            for name, (shape, dtype) in fields.items()
        }
        self.pos = self.size = 0

    def write(self, lane: int | None = None, **values: Any) -> None:
        """Put ``values`` in the current row (of memory ``lane``); :meth:`advance` moves to the next row."""
        where = self.pos if lane is None else (lane, self.pos)
        for name, value in values.items():
            self.data[name][where] = torch.as_tensor(value, device=self.device)

    def advance(self) -> None:
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        """``batch_size`` rows drawn uniformly with replacement (per memory: shape ``(lanes, batch_size, ...)``)."""
        if self.lanes is None:
            index = torch.randint(0, self.size, (batch_size,), device=self.device)
            return {name: tensor[index] for name, tensor in self.data.items()}
        index = torch.randint(0, self.size, (self.lanes, batch_size), device=self.device)
        rows = torch.arange(self.lanes, device=self.device).unsqueeze(1).expand(-1, batch_size)
        return {name: tensor[rows, index] for name, tensor in self.data.items()}

    def state(self) -> dict[str, Any]:
        """The filled rows (on the CPU), ``pos`` and ``size``: plain data for a checkpoint."""
        axis = 0 if self.lanes is None else 1
        filled = {name: tensor.narrow(axis, 0, self.size).cpu() for name, tensor in self.data.items()}
        return {"pos": self.pos, "size": self.size, **filled}

    def restore(self, state: Mapping[str, Any], flag: str, path: str) -> None:
        """Load a :meth:`state` after checking that it fits this memory."""
        size, pos = state["size"], state["pos"]
        if not (0 <= size <= self.capacity and 0 <= pos < self.capacity and (size == self.capacity or pos == size)):
            raise _refuse(flag, path, f"pos {pos}, size {size} for a capacity of {self.capacity}")
        axis = 0 if self.lanes is None else 1
        for name, tensor in self.data.items():
            expected = tensor.narrow(axis, 0, size)
            if tuple(state[name].shape) != tuple(expected.shape) or state[name].dtype != tensor.dtype:
                raise _refuse(flag, path, f"{name} is {state[name].dtype} {tuple(state[name].shape)}, "
                                          f"expected {tensor.dtype} {tuple(expected.shape)}")  # fmt: skip
        for name, tensor in self.data.items():
            tensor.narrow(axis, 0, size).copy_(state[name])
        self.pos, self.size = pos, size


class TaskReplay:
    """One ring of ``capacity`` entries per task, in NumPy arrays, each task filled and counted on its own."""

    def __init__(self, num_tasks: int, capacity: int, fields: Fields):
        self.num_tasks, self.capacity = num_tasks, capacity
        self.data = {
            name: np.zeros((num_tasks, capacity, *shape), dtype=dtype) for name, (shape, dtype) in fields.items()
        }
        self.pos = np.zeros(num_tasks, dtype=np.int64)
        self.size = np.zeros(num_tasks, dtype=np.int64)

    def add(self, task: int, **values: Any) -> None:
        """Append one entry to ``task``'s ring (the oldest goes once it is full)."""
        pos = self.pos[task]
        for name, value in values.items():
            self.data[name][task, pos] = value
        self.pos[task] = (pos + 1) % self.capacity
        self.size[task] = min(self.size[task] + 1, self.capacity)

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        """``batch_size`` entries of every task (uniform, with replacement), concatenated in task order."""
        picks = [np.random.randint(0, self.size[task], batch_size) for task in range(self.num_tasks)]
        return {
            name: np.concatenate([array[task, picks[task]] for task in range(self.num_tasks)])
            for name, array in self.data.items()
        }

    def state(self, with_data: bool = True) -> dict[str, Any]:
        """Positions and sizes, and (``with_data``) the whole storage: plain data for a checkpoint."""
        data = {name: torch.from_numpy(array) for name, array in self.data.items()} if with_data else None
        return {"data": data, "pos": torch.from_numpy(self.pos), "size": torch.from_numpy(self.size)}

    @staticmethod
    def schema() -> dict[str, Any]:
        """The :func:`mtenvs.train.checkpoint.load` schema of :meth:`state` (the data is checked by :meth:`restore`)."""
        return {"data": (dict, type(None)), "pos": torch.Tensor, "size": torch.Tensor}

    def restore(self, state: Mapping[str, Any], flag: str, path: str) -> bool:
        """Load a :meth:`state` after checking that it fits; ``False`` when it holds no data (nothing loaded)."""
        if state["data"] is None:
            return False
        pos, size = state["pos"].numpy(), state["size"].numpy()
        if pos.shape != (self.num_tasks,) or size.shape != (self.num_tasks,):
            raise _refuse(flag, path, f"positions for {pos.shape} tasks, this run has {self.num_tasks}")
        if (pos < 0).any() or (pos >= self.capacity).any() or (size < 0).any() or (size > self.capacity).any():
            raise _refuse(
                flag, path, f"positions {pos.tolist()}, sizes {size.tolist()} for a capacity of {self.capacity}"
            )
        if set(state["data"]) != set(self.data):
            raise _refuse(flag, path, f"fields {sorted(state['data'])}, expected {sorted(self.data)}")
        for name, array in self.data.items():
            saved = state["data"][name]
            if not isinstance(saved, torch.Tensor) or tuple(saved.shape) != array.shape:
                raise _refuse(flag, path, f"{name} does not have the shape {array.shape}")
        for name, array in self.data.items():
            array[...] = state["data"][name].numpy()
        self.pos[:], self.size[:] = pos, size
        return True
