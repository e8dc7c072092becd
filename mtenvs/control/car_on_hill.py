"""Car-on-Hill (Ernst, Geurts & Wehenkel 2005), a standalone Gymnasium env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mtenvs.control.canvas import Canvas
from mtenvs.validation import check_action, check_choice, check_int

MASS = 1.0
GRAVITY = 9.81
FORCES = (-4.0, 4.0)
ACTION_NAMES = ("force -4", "force +4")
TIME_STEP = 0.1
SUBSTEPS = 10  # RK4 steps of 0.01 s inside each 0.1 s control step
MAX_POSITION = 1.0
MAX_SPEED = 3.0
START_STATE = (-0.5, 0.0)
HORIZON = 100
DISCOUNT = 0.95


def hill(p: np.ndarray | float) -> np.ndarray | float:
    """Height of the hill: p^2 + p left of 0, p / sqrt(1 + 5 p^2) right of it."""
    return np.where(np.asarray(p) < 0, p**2 + p, p / np.sqrt(1 + 5 * np.asarray(p) ** 2))


def _slope_and_curvature(p: float) -> tuple[float, float]:
    if p < 0:
        return 2 * p + 1, 2.0
    root = 1 + 5 * p * p
    return root**-1.5, -15 * p * root**-2.5


def _acceleration(p: float, v: float, force: float) -> float:
    slope, curvature = _slope_and_curvature(p)
    scale = 1 + slope * slope
    return force / (MASS * scale) - GRAVITY * slope / scale - v * v * slope * curvature / scale


def integrate(p: float, v: float, force: float) -> tuple[float, float]:
    """State after one 0.1 s control step: RK4 in plain floats (a NumPy array per stage is ~10x slower)."""
    dt = TIME_STEP / SUBSTEPS
    for _ in range(SUBSTEPS):
        a1 = _acceleration(p, v, force)
        a2 = _acceleration(p + dt / 2 * v, v + dt / 2 * a1, force)
        v2 = v + dt / 2 * a1
        a3 = _acceleration(p + dt / 2 * v2, v + dt / 2 * a2, force)
        v3 = v + dt / 2 * a2
        a4 = _acceleration(p + dt * v3, v + dt * a3, force)
        v4 = v + dt * a3
        p, v = p + dt / 6 * (v + 2 * v2 + 2 * v3 + v4), v + dt / 6 * (a1 + 2 * a2 + 2 * a3 + a4)
    return p, v


class CarOnHillEnv(gym.Env):
    """
    ## Description
    A car on a hill must reach the top on the right without leaving the valley on the left or going
    too fast; its engine is too weak to climb directly, so it must first back up the left slope.
    The benchmark of Ernst, Geurts & Wehenkel, "Tree-Based Batch Mode Reinforcement Learning" (JMLR
    2005, appendix), used as one of the five tasks of D'Eramo et al. 2020. MushroomRL's
    ``CarOnHill`` implements the same system.

    ## Action Space
    ``Discrete(2)``: 0 applies the force -4, 1 applies +4 (held for the 0.1 s step).

    ## Observation Space
    ``Box([-2, -6], [2, 6], (2,), float32)``: position ``p`` and speed ``v``. Episodes end once
    ``|p| > 1`` or ``|v| > 3``; the bounds are twice those limits (as CartPole's are), so the
    observation of the step that crosses a limit still lies in the space.

    ## Rewards
    +1 when the car leaves on the right (``p > 1``) with ``|v| <= 3``; -1 when it leaves on the left
    (``p < -1``) or exceeds the speed limit (``|v| > 3``); 0 otherwise.

    ## Dynamics
    ``p'' = u / (m (1 + H'(p)^2)) - g H'(p) / (1 + H'(p)^2) - v^2 H'(p) H''(p) / (1 + H'(p)^2)`` with
    the hill ``H(p) = p^2 + p`` for ``p < 0`` and ``p / sqrt(1 + 5 p^2)`` otherwise, ``m = 1``,
    ``g = 9.81``. Each 0.1 s step integrates this ODE with 10 fourth-order Runge-Kutta steps of
    0.01 s (the paper integrates it numerically; the step size is our choice).

    ## Starting State
    ``(p, v) = (-0.5, 0)``, the paper's test state: the env is deterministic.

    ## Episode End
    Terminated when the car leaves the state box (the two reward events). Truncated after
    ``max_episode_steps`` steps (default 100, the paper's horizon). The paper discounts with
    ``gamma = 0.95`` (``DISCOUNT``).

    ## Arguments
    ```python
    CarOnHillEnv(max_episode_steps=100, render_mode=None)
    ```

    ## Version History
    * v0: Initial version. Later, without changing dynamics: a bool action (``step(True)``) raises
      ``TypeError`` (it played action 1).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, max_episode_steps: int = HORIZON, render_mode: str | None = None):
        self.max_episode_steps = check_int("max_episode_steps", max_episode_steps, 1)
        self.render_mode = check_choice("render_mode", render_mode, (None, *self.metadata["render_modes"]))
        high = np.array([2 * MAX_POSITION, 2 * MAX_SPEED], dtype=np.float32)
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.action_space = spaces.Discrete(len(FORCES))
        self.state: np.ndarray | None = None
        self._steps = 0
        self._done = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.state = np.array(START_STATE, dtype=np.float64)
        self._steps, self._done = 0, False
        return self.state.astype(np.float32), {}

    def step(self, action: int):
        action = check_action(action, len(FORCES), names=ACTION_NAMES)
        if self.state is None or self._done:
            raise RuntimeError("The episode has ended (or never started): call reset() before step().")
        p, v = integrate(float(self.state[0]), float(self.state[1]), FORCES[action])
        self.state = np.array([p, v])
        self._steps += 1
        reward = 0.0
        if p < -MAX_POSITION or abs(v) > MAX_SPEED:
            reward = -1.0
        elif p > MAX_POSITION:
            reward = 1.0
        terminated = reward != 0.0
        truncated = self._steps >= self.max_episode_steps
        self._done = terminated or truncated
        return self.state.astype(np.float32), reward, terminated, truncated, {}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self.state is None:
            return None
        canvas = Canvas(320, 240, (-1.1, 1.1), (-0.45, 0.75))
        xs = np.linspace(-1.1, 1.1, 120)
        canvas.polyline(xs, hill(xs), 3, (60, 60, 60))
        canvas.rectangle(1.0, hill(1.0), 1.01, hill(1.0) + 0.15, (40, 160, 40))  # the goal flag pole
        canvas.rectangle(1.01, hill(1.0) + 0.1, 1.07, hill(1.0) + 0.15, (40, 160, 40))
        p = float(np.clip(self.state[0], -1.1, 1.1))
        canvas.disc(p, float(hill(p)) + 0.045, 8, (200, 50, 50))
        return canvas.image
