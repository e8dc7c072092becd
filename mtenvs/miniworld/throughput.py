"""``mtenvs throughput MultiMaze-v0 | MultiNav-v0``: steps/s beside MiniWorld's own ``MiniWorld-Maze-v0``.

Three contenders are timed in the same run, interleaved: MiniWorld's ``MiniWorld-Maze-v0`` (the
reference, same 80x60 observation), one of our envs, and ``gym.make_vec(env_id, num_envs)`` on its
default path, ``vectorization="workers"`` (one process per usable core, the parent one of them).
The reference runs in the same process, so it shares our pyglet set-up (headless EGL, ``debug_gl``
off; importing this package applies it): the first ratio isolates what our env does differently
(single-sample framebuffer read back directly).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from mtenvs.throughput import Measurement, Ratio, ThroughputResult, interleaved, single_stepper, vector_stepper

REFERENCE_ID = "MiniWorld-Maze-v0"
SINGLE_TARGET = 1.0
VECTOR_TARGET = 1.5


def measure(env_id: str, num_envs: int | None = None, seconds: float = 10.0) -> ThroughputResult:
    """Steps/s of MiniWorld-Maze-v0, one ``env_id`` env and a workers vector env of ``num_envs`` (2)."""
    num_envs = num_envs or 2
    if num_envs < 2:
        raise ValueError(f"num_envs must be >= 2 for the vector env's comparison with one env, got {num_envs}.")
    reference = gym.make(REFERENCE_ID)
    ours = gym.make(env_id)
    vector = gym.make_vec(env_id, num_envs=num_envs, vectorization="workers", task_assignment="sampled")
    draws = np.random.default_rng(0)
    labels = (f"MiniWorld {REFERENCE_ID}", f"mtenvs {env_id} single", f"mtenvs {env_id} workers x{num_envs}")
    contenders = {
        labels[0]: single_stepper(reference, draws.integers(0, reference.action_space.n, 4096)),
        labels[1]: single_stepper(ours, draws.integers(0, ours.action_space.n, 4096)),
        labels[2]: vector_stepper(vector, draws.integers(0, vector.single_action_space.n, (4096, num_envs))),
    }
    rates = interleaved(contenders, seconds)
    for env in (reference, ours, vector):
        env.close()
    obs_shape = ours.observation_space.shape
    settings = {"obs": f"{obs_shape[1]}x{obs_shape[0]}", "num_envs": num_envs}
    result = ThroughputResult(env_id, settings)
    result.measurements += [Measurement(label, rates[label]) for label in labels]
    result.ratios.append(Ratio(f"single / {REFERENCE_ID}", rates[labels[1]] / rates[labels[0]], SINGLE_TARGET))
    result.ratios.append(Ratio(f"workers x{num_envs} / single", rates[labels[2]] / rates[labels[1]], VECTOR_TARGET))
    return result
