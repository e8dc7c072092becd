"""The discrete-action inverted pendulum of Lagoudakis & Parr 2003, a standalone Gymnasium env."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mtenvs.control.canvas import Canvas
from mtenvs.validation import check_action, check_choice, check_int

POLE_MASS = 2.0  # m, kg
CART_MASS = 8.0  # M, kg
POLE_LENGTH = 0.5  # l, m
GRAVITY = 9.8
FORCES = (-50.0, 0.0, 50.0)
ACTION_NAMES = ("force -50 N", "force 0 N", "force +50 N")
FORCE_NOISE = 10.0  # uniform noise in [-10, 10] N added to every force
TIME_STEP = 0.1
SUBSTEPS = 10  # RK4 steps of 0.01 s inside each 0.1 s control step
START_PERTURBATION = 0.1  # theta and theta_dot start uniform in [-0.1, 0.1]
HORIZON = 3000
DISCOUNT = 0.95


ALPHA = 1.0 / (POLE_MASS + CART_MASS)


def _angular_acceleration(theta: float, theta_dot: float, force: float) -> float:
    cos, sin = math.cos(theta), math.sin(theta)
    coriolis = ALPHA * POLE_MASS * POLE_LENGTH * theta_dot**2 * math.sin(2 * theta) / 2
    numerator = GRAVITY * sin - coriolis - ALPHA * cos * force
    return numerator / (4 * POLE_LENGTH / 3 - ALPHA * POLE_MASS * POLE_LENGTH * cos**2)


def integrate(theta: float, theta_dot: float, force: float) -> tuple[float, float]:
    """State after one 0.1 s control step: RK4 in plain floats (a NumPy array per stage is ~10x slower)."""
    dt = TIME_STEP / SUBSTEPS
    for _ in range(SUBSTEPS):
        a1 = _angular_acceleration(theta, theta_dot, force)
        w2 = theta_dot + dt / 2 * a1
        a2 = _angular_acceleration(theta + dt / 2 * theta_dot, w2, force)
        w3 = theta_dot + dt / 2 * a2
        a3 = _angular_acceleration(theta + dt / 2 * w2, w3, force)
        w4 = theta_dot + dt * a3
        a4 = _angular_acceleration(theta + dt * w3, w4, force)
        theta = theta + dt / 6 * (theta_dot + 2 * w2 + 2 * w3 + w4)
        theta_dot = theta_dot + dt / 6 * (a1 + 2 * a2 + 2 * a3 + a4)
    return theta, theta_dot


class InvertedPendulumEnv(gym.Env):
    """
    ## Description
    Balance a pendulum upright on a cart by pushing the cart left or right with a noisy force. The
    pendulum of Lagoudakis & Parr, "Least-Squares Policy Iteration" (JMLR 2003, section 9.1;
    originally Wang, Tanaka & Griffin 1996), one of the five tasks of D'Eramo et al. 2020.
    MushroomRL's ``InvertedPendulumDiscrete`` implements the same system. Unlike Gymnasium's
    CartPole, the cart position is not part of the state and the force has three levels.

    ## Action Space
    ``Discrete(3)``: 0 pushes with -50 N, 1 applies no force, 2 pushes with +50 N; uniform noise in
    [-10, 10] N (from the env's seeded RNG) is added to every action.

    ## Observation Space
    ``Box([-pi, -3.4e38], [pi, 3.4e38], (2,), float32)`` (the speed is unbounded): the angle
    ``theta`` from upright (rad) and the angular velocity ``theta_dot`` (rad/s). Episodes end once
    ``|theta| > pi/2``; ``pi`` bounds the angle the step crossing that limit can reach.

    ## Rewards
    -1 on the step where the pendulum falls (``|theta| > pi/2``), 0 on every other step.

    ## Dynamics
    ``theta'' = (g sin(theta) - a m l theta'^2 sin(2 theta) / 2 - a cos(theta) u) /
    (4 l / 3 - a m l cos^2(theta))`` with ``a = 1 / (m + M)``, pendulum mass ``m = 2`` kg, cart mass
    ``M = 8`` kg, length ``l = 0.5`` m, ``g = 9.8``. Each 0.1 s step integrates it with 10
    fourth-order Runge-Kutta steps of 0.01 s, the force held constant.

    ## Starting State
    ``theta`` and ``theta_dot`` uniform in [-0.1, 0.1] (the paper starts "very close to" upright;
    the exact perturbation is our choice).

    ## Episode End
    Terminated when ``|theta| > pi/2``. Truncated after ``max_episode_steps`` steps (default 3000,
    the paper's 5 simulated minutes, as MushroomRL). The paper discounts with ``gamma = 0.95``.

    ## Arguments
    ```python
    InvertedPendulumEnv(max_episode_steps=3000, render_mode=None)
    ```

    ## Version History
    * v0: Initial version. Later, without changing dynamics: a bool action (``step(True)``) raises
      ``TypeError`` (it played action 1).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, max_episode_steps: int = HORIZON, render_mode: str | None = None):
        self.max_episode_steps = check_int("max_episode_steps", max_episode_steps, 1)
        self.render_mode = check_choice("render_mode", render_mode, (None, *self.metadata["render_modes"]))
        # Unbounded speed written as float32's largest value, as CartPole-v1 does (an inf bound warns).
        high = np.array([np.pi, np.finfo(np.float32).max], dtype=np.float32)
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.action_space = spaces.Discrete(len(FORCES))
        self.state: np.ndarray | None = None
        self._steps = 0
        self._done = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.state = self.np_random.uniform(-START_PERTURBATION, START_PERTURBATION, size=2)
        self._steps, self._done = 0, False
        return self.state.astype(np.float32), {}

    def step(self, action: int):
        action = check_action(action, len(FORCES), names=ACTION_NAMES)
        if self.state is None or self._done:
            raise RuntimeError("The episode has ended (or never started): call reset() before step().")
        force = FORCES[action] + float(self.np_random.uniform(-FORCE_NOISE, FORCE_NOISE))
        self.state = np.array(integrate(float(self.state[0]), float(self.state[1]), force))
        self._steps += 1
        terminated = bool(abs(self.state[0]) > np.pi / 2)
        truncated = self._steps >= self.max_episode_steps
        self._done = terminated or truncated
        return self.state.astype(np.float32), -1.0 if terminated else 0.0, terminated, truncated, {}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self.state is None:
            return None
        canvas = Canvas(240, 240, (-1.0, 1.0), (-0.6, 1.4))
        canvas.rectangle(-1.0, -0.42, 1.0, -0.4, (60, 60, 60))  # the track
        canvas.rectangle(-0.25, -0.4, 0.25, -0.2, (40, 40, 40))  # the cart
        theta = float(self.state[0])
        tip = (2 * POLE_LENGTH * np.sin(theta), -0.2 + 2 * POLE_LENGTH * np.cos(theta))
        canvas.polyline(np.array([0.0, tip[0]]), np.array([-0.2, tip[1]]), 6, (200, 120, 40))
        canvas.disc(0.0, -0.2, 4, (80, 80, 200))
        return canvas.image
