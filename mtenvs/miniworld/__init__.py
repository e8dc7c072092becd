"""MiniWorld families: MultiMaze and MultiNav (Distral's DeepMind Lab maze and navigation task sets).

Importing this package first sets up headless rendering (:mod:`mtenvs.miniworld.headless`), so
every module below it may import ``miniworld`` and ``pyglet.gl`` normally.
"""

from typing import Any

from gymnasium.vector import VectorEnv

from mtenvs.miniworld import headless  # noqa: F401  (must run before anything imports miniworld)
from mtenvs.miniworld.base import ACTION_NAMES, Action, MultiTaskMiniWorldEnv, PlacementError
from mtenvs.miniworld.maze import MultiMazeEnv
from mtenvs.miniworld.nav import MultiNavEnv
from mtenvs.vector import COPIES_VECTORIZATIONS, check_vectorization, make_copies_vec
from mtenvs.wrappers import task_obs_entry_point

__all__ = [
    "ACTION_NAMES",
    "Action",
    "MultiMazeEnv",
    "MultiNavEnv",
    "MultiTaskMiniWorldEnv",
    "PlacementError",
    "make_miniworld_vec",
    "make_multi_maze",
    "make_multi_maze_vec",
    "make_multi_nav",
    "make_multi_nav_vec",
]


make_multi_maze = task_obs_entry_point(MultiMazeEnv, "make_multi_maze")


make_multi_nav = task_obs_entry_point(MultiNavEnv, "make_multi_nav")


def make_multi_maze_vec(num_envs: int, **kwargs: Any) -> VectorEnv:
    """Vector entry point of ``MultiMaze-v0`` (see :func:`make_miniworld_vec`)."""
    return make_miniworld_vec(MultiMazeEnv, num_envs, **kwargs)


def make_multi_nav_vec(num_envs: int, **kwargs: Any) -> VectorEnv:
    """Vector entry point of ``MultiNav-v0`` (see :func:`make_miniworld_vec`)."""
    return make_miniworld_vec(MultiNavEnv, num_envs, **kwargs)


def make_miniworld_vec(
    env_cls: type[MultiTaskMiniWorldEnv],
    num_envs: int,
    *,
    task_assignment: str = "grouped",
    vectorization: str = "workers",
    task_obs: bool = False,
    **kwargs: Any,
) -> VectorEnv:
    """Grouped (default) or sampled tasks over copies of ``env_cls``; ``"workers"`` (default:
    :class:`mtenvs.workers.WorkerVectorEnv`, one process per usable core, the parent one of them),
    ``"async"`` (a process per sub-env) or ``"sync"``. ``"workers"`` was the fastest of the three in
    docs/miniworld.md's measurements, and runs any number of sub-envs in a few processes.

    Async sub-envs and workers start with ``spawn``: a forked child would inherit the parent's
    OpenGL/EGL state and hang on its first render.
    """
    check_vectorization(vectorization, COPIES_VECTORIZATIONS, "workers")
    return make_copies_vec(
        env_cls,
        num_envs,
        task_assignment=task_assignment,
        vectorization=vectorization,
        task_obs=task_obs,
        context="spawn",
        **kwargs,
    )
