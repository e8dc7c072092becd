"""Observations and action masks as the networks take them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces


@dataclass(frozen=True)
class ObservationLayout:
    """How one observation of a Box space reaches a network.

    ``shape`` is channel-first for images; ``channel_last`` says the env gives (H, W, C) images
    (MiniWorld, TwoRooms' image view), which :meth:`to_tensor` permutes to (C, H, W).
    """

    shape: tuple[int, ...]
    image: bool
    channel_last: bool

    @classmethod
    def of(cls, space: spaces.Space) -> ObservationLayout:
        """The layout of a vector (1-D) or image (3-D) Box; ``ValueError`` for anything else."""
        if not isinstance(space, spaces.Box) or len(space.shape) not in (1, 3):
            raise ValueError(f"observations must be a Box vector (MLP) or image (CNN), got {space}")
        return cls.of_shape(space.shape)

    @classmethod
    def of_shape(cls, shape: tuple[int, ...]) -> ObservationLayout:
        """The layout of one observation of ``shape`` (1-D or 3-D) as the env gives it (a model file's obs_shape)."""
        shape = tuple(int(n) for n in shape)
        if len(shape) not in (1, 3):
            raise ValueError(f"observations must be vectors (1-D) or images (3-D), got shape {shape}")
        if len(shape) == 1:
            return cls(shape, False, False)
        channel_last = shape[-1] <= 4 < shape[0]  # frame stacks and RGB have few channels, images many rows
        return cls((shape[2], shape[0], shape[1]) if channel_last else shape, True, channel_last)

    def to_tensor(self, obs: Any, device: torch.device) -> torch.Tensor:
        """A float batch (leading dims kept): images channel-first, uint8 scaled to [0, 1]."""
        x = torch.as_tensor(obs, device=device)
        if self.image and self.channel_last:
            x = x.movedim(-1, -3)
        return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def action_mask_of(infos: dict[str, Any], num_envs: int, num_actions: int, device: torch.device) -> torch.Tensor:
    """The env's per-env action mask (bool), or all actions allowed when the env gives none."""
    if "action_mask" in infos:
        return torch.as_tensor(np.asarray(infos["action_mask"]), device=device).bool()
    return torch.ones(num_envs, num_actions, dtype=torch.bool, device=device)


def task_action_masks(infos: dict[str, Any], num_tasks: int, num_actions: int) -> np.ndarray:
    """(num_tasks, num_actions) masks of a grouped vector env with one env per task, all ones without masks."""
    if "action_mask" not in infos:
        return np.ones((num_tasks, num_actions), dtype=bool)
    return np.asarray(infos["action_mask"], dtype=bool)
