"""``mtenvs render ID``: let people see an env — a GIF per task and one PNG overview (a row per task)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from mtenvs.paths import inside, path_component
from mtenvs.validation import check_int, check_seed


def rollout_frames(env_id: str, task: int, steps: int, seed: int) -> list[np.ndarray]:
    """``rgb_array`` frames of a random rollout of one task (valid actions only, where masked)."""
    env = gym.make(env_id, render_mode="rgb_array", task_schedule="fixed", task=task)
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    frames = [env.render()]
    for _ in range(steps):
        if "action_mask" in info:
            action = int(rng.choice(np.flatnonzero(info["action_mask"])))
        else:
            action = env.action_space.sample()
        _, _, terminated, truncated, info = env.step(action)
        frames.append(env.render())
        if terminated or truncated:
            _, info = env.reset()
    env.close()
    return frames


MAX_RENDER_STEPS = 5000
MAX_STRIP_FRAMES = 100


def render_tasks(env_id: str, out: str | Path, steps: int = 200, frames: int = 6, seed: int = 0) -> list[Path]:
    """Write ``<out>/<env_id>/<task>.gif`` for every task and ``<out>/<env_id>.png`` (tasks x frames).

    The env id and the task names become file names, so each must be a plain name
    (:func:`mtenvs.paths.path_component`; ``mtenvs:TwoRooms-v0`` is refused) and every file lies in ``out``.
    """
    import imageio.v3 as iio

    # Every step's frame is kept in memory: the bounds keep a clip to a few hundred MB at most.
    check_int("steps", steps, 1, MAX_RENDER_STEPS)
    check_int("frames", frames, 1, MAX_STRIP_FRAMES)
    check_seed(seed)
    path_component(env_id, "the env id")
    probe = gym.make(env_id)
    task_names = probe.unwrapped.task_names
    probe.close()
    for name in task_names:
        path_component(name, f"{env_id}'s task name")
    folder = inside(out, env_id)
    folder.mkdir(parents=True, exist_ok=True)
    written, rows = [], []
    for task, name in enumerate(task_names):
        clip = rollout_frames(env_id, task, steps, seed)
        gif = inside(folder, f"{name}.gif")
        iio.imwrite(gif, np.stack(clip[:: max(1, len(clip) // 100)]), duration=60, loop=0)
        written.append(gif)
        picks = np.linspace(0, len(clip) - 1, frames).round().astype(int)
        rows.append(np.concatenate([_pad(clip[i]) for i in picks], axis=1))
    width = max(row.shape[1] for row in rows)
    grid = np.concatenate([np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0))) for row in rows])
    overview = inside(out, f"{env_id}.png")
    iio.imwrite(overview, grid)
    return [overview, *written]


def _pad(frame: np.ndarray, border: int = 2) -> np.ndarray:
    """A white border so the frames of a strip stay apart."""
    return np.pad(frame, ((border, border), (border, border), (0, 0)), constant_values=255)
