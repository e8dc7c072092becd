"""The actor-critic column of the Distral and A3C scripts (Teh et al. 2017's network building block).

A column maps observations to features, policy logits and (optionally) a value: a 2-layer tanh MLP
for vector observations, or for images the paper's column, a CNN (16 8x8/4, 32 4x4/2, a 256-unit
fully connected layer) followed by an LSTM. How columns combine into a policy (Distral's
``alpha h + f_i``, A3C 2col's ``h + f_i``, one column per task, one for all) is each script's own
``Agent``: that is the algorithm. :class:`TaskColumns` feeds the envs of task i to column i.

Parameters are created (and drawn from torch's RNG) in a fixed order: encoder, LSTM, policy, value.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

LSTMState = tuple[torch.Tensor, torch.Tensor]
IMAGE_FEATURES = 256  # width of the fully connected layer between the CNN and the LSTM (A3C's)


def layer_init(layer: nn.Module, std: float = np.sqrt(2), bias: float = 0.0) -> nn.Module:
    """Orthogonal weights with gain ``std`` and a constant bias (CleanRL's initialisation)."""
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias)
    return layer


class Column(nn.Module):
    """One column: MLP torso for vectors or CNN + LSTM for pixels, policy logits and optionally a value.

    ``hidden`` is the MLP's width or the LSTM's size; ``obs_shape`` is channel-first for images.
    """

    def __init__(self, obs_shape: tuple[int, ...], image: bool, num_actions: int, hidden: int, with_value: bool):
        super().__init__()
        self.image = image
        if image:
            self.encoder = nn.Sequential(
                layer_init(nn.Conv2d(obs_shape[0], 16, 8, stride=4)),
                nn.ReLU(),
                layer_init(nn.Conv2d(16, 32, 4, stride=2)),
                nn.ReLU(),
                nn.Flatten(),
            )
            with torch.no_grad():
                flat = self.encoder(torch.zeros(1, *obs_shape)).shape[1]
            self.encoder.append(layer_init(nn.Linear(flat, IMAGE_FEATURES)))
            self.encoder.append(nn.ReLU())
            self.lstm = nn.LSTMCell(IMAGE_FEATURES, hidden)
        else:
            self.encoder = nn.Sequential(
                layer_init(nn.Linear(obs_shape[0], hidden)),
                nn.Tanh(),
                layer_init(nn.Linear(hidden, hidden)),
                nn.Tanh(),
            )
        self.policy = layer_init(nn.Linear(hidden, num_actions), std=0.01)
        self.value = layer_init(nn.Linear(hidden, 1), std=1.0) if with_value else None

    def initial_state(self, num_envs: int, device: torch.device) -> LSTMState | None:
        """Zero LSTM state of ``num_envs`` envs (``None`` for the MLP, which has no state)."""
        if not self.image:
            return None
        zeros = torch.zeros(num_envs, self.lstm.hidden_size, device=device)
        return zeros, zeros.clone()

    def torso(
        self, obs: torch.Tensor, state: LSTMState | None, episode_start: torch.Tensor
    ) -> tuple[torch.Tensor, LSTMState | None]:
        """Features of T * num_envs rows (time-major) and the LSTM state after the last time step.

        A row whose ``episode_start`` is 1 starts from a zero LSTM state (a new episode); the LSTM
        unrolls over the T steps, so a rollout re-evaluated with gradients backpropagates through time.
        """
        x = self.encoder(obs)
        if not self.image:
            return x, state
        num_envs = state[0].shape[0]
        outputs = []
        for x_t, start_t in zip(x.reshape(-1, num_envs, x.shape[1]), episode_start.reshape(-1, num_envs), strict=True):
            keep = (1.0 - start_t).unsqueeze(1)  # a new episode starts from a zero LSTM state
            state = self.lstm(x_t, (state[0] * keep, state[1] * keep))
            outputs.append(state[0])
        return torch.cat(outputs), state


class TaskColumns(nn.ModuleList):
    """One :class:`Column` with a value per task; the envs of task i (``task_ids == i``) are fed to column i."""

    def __init__(self, obs_shape: tuple[int, ...], image: bool, num_actions: int, num_tasks: int, hidden: int):
        super().__init__(Column(obs_shape, image, num_actions, hidden, with_value=True) for _ in range(num_tasks))
        self.num_actions = num_actions

    def initial_state(self, num_envs: int, device: torch.device) -> LSTMState | None:
        """Zero LSTM state of ``num_envs`` envs, each row used by its own task's column."""
        return self[0].initial_state(num_envs, device)

    def forward(
        self, obs: torch.Tensor, state: LSTMState | None, episode_start: torch.Tensor, task_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, LSTMState | None]:
        """Logits, values and new LSTM state of T * num_envs rows (time-major), each row through its env's
        task column; ``task_ids`` holds the task of each of the num_envs envs."""
        row_tasks = task_ids.repeat(obs.shape[0] // task_ids.shape[0])
        logits = obs.new_zeros(obs.shape[0], self.num_actions)
        values = obs.new_zeros(obs.shape[0])
        new_state = None if state is None else (torch.zeros_like(state[0]), torch.zeros_like(state[1]))
        for task, column in enumerate(self):
            rows, envs = row_tasks == task, task_ids == task
            task_state = None if state is None else (state[0][envs], state[1][envs])
            hidden, task_state = column.torso(obs[rows], task_state, episode_start[rows])
            logits[rows] = column.policy(hidden)
            values[rows] = column.value(hidden).squeeze(1)
            if state is not None:
                new_state[0][envs], new_state[1][envs] = task_state
        return logits, values, new_state


def column_nbytes(obs_shape: tuple[int, ...], image: bool, num_actions: int, hidden: int) -> int:
    """Bytes one column's float32 parameters take (its gradient and RMSProp's state take as much again each)."""
    if image:
        h, w = (((size - 8) // 4 + 1 - 4) // 2 + 1 for size in obs_shape[1:])
        conv = obs_shape[0] * 16 * 8 * 8 + 16 + 16 * 32 * 4 * 4 + 32
        params = conv + (32 * h * w + 1) * IMAGE_FEATURES + 4 * hidden * (IMAGE_FEATURES + hidden + 2)
    else:
        params = (obs_shape[0] + 1) * hidden + (hidden + 1) * hidden
    return 4 * (params + (hidden + 1) * (num_actions + 1))
