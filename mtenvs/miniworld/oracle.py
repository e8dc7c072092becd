"""A scripted oracle for the MiniWorld families: shortest-path navigation on the env's internal map.

The oracle reads the env's state (``maze``, ``closed_edges()``, the agent's position and heading,
``oracle_targets()`` and ``oracle_avoid()``), so it needs no rendering. It turns the agent to face along an axis
once, then only moves and strafes along the maze axes: it heads for the nearest target (fewest
maze steps), crossing each opening lined up with its middle, and steps into each cell fully before
moving sideways, so walls never stop it. Tests run it on every task to prove each generated level
is solvable and that rewards and goals can be collected.
"""

from __future__ import annotations

import numpy as np

from mtenvs.miniworld.base import FORWARD_STEP, TURN_STEP_DEGREES, Action, MultiTaskMiniWorldEnv
from mtenvs.miniworld.layout import Cell, GridMaze

TURN_LEFT = int(Action.turn_left)
AXES = (np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]))  # world x and z


def oracle_action(env: MultiTaskMiniWorldEnv) -> int:
    """The oracle's next action for ``env`` (a single MiniWorld env, wrapped or not)."""
    env = env.unwrapped
    if (env.heading * TURN_STEP_DEGREES) % 90:
        return TURN_LEFT  # face along a world axis first, so moves and strafes are axis-aligned
    maze: GridMaze = env.maze
    closed = env.closed_edges() | env.oracle_avoid()
    pos = env.agent.pos
    radius = env.agent.radius
    here = maze.nearest_cell(pos)

    target, path = _nearest_target(env, maze, here, closed)
    nxt = path[1] if path is not None and len(path) > 1 else None
    crossing_axis = None if nxt is None else (0 if here[0] == nxt[0] else 1)  # same row: cross along x

    # Partly outside the current cell (inside an opening): carry on into the next cell if that is
    # the way, otherwise step fully back in, along the opening's axis, before any sideways move.
    min_x, max_x, min_z, max_z = maze.cell_bounds(here)
    center = maze.cell_center(here)
    for axis, low, high in ((0, min_x, max_x), (1, min_z, max_z)):
        coord = pos[2 * axis]
        if low + radius <= coord <= high - radius:
            continue
        if axis == crossing_axis and np.sign(maze.cell_center(nxt)[2 * axis] - coord) == np.sign(
            coord - center[2 * axis]
        ):
            return _move_along(env, axis, maze.cell_center(nxt)[2 * axis] - coord)
        return _move_along(env, axis, center[2 * axis] - coord)

    if path is None:
        return TURN_LEFT  # nothing reachable now (doors may reopen): wait in place
    if nxt is None:
        return _approach(env, target)
    opening = maze.opening_center((here, nxt))
    lateral_axis = 1 - crossing_axis
    lateral_error = opening[2 * lateral_axis] - pos[2 * lateral_axis]
    if abs(lateral_error) > FORWARD_STEP / 2:
        return _move_along(env, lateral_axis, lateral_error)
    return _move_along(env, crossing_axis, maze.cell_center(nxt)[2 * crossing_axis] - pos[2 * crossing_axis])


def _nearest_target(
    env: MultiTaskMiniWorldEnv, maze: GridMaze, here: Cell, closed: set
) -> tuple[np.ndarray | None, list[Cell] | None]:
    best: tuple[float, np.ndarray | None, list[Cell] | None] = (np.inf, None, None)
    for target in env.oracle_targets():
        path = maze.shortest_path(here, maze.nearest_cell(target), closed)
        if path is None:
            continue
        cost = len(path) * 100 + float(np.hypot(*(target - env.agent.pos)[[0, 2]]))
        if cost < best[0]:
            best = (cost, target, path)
    return best[1], best[2]


def _approach(env: MultiTaskMiniWorldEnv, target: np.ndarray) -> int:
    """Inside the target's cell: reduce the larger remaining axis error by one step (if not blocked)."""
    errors = [float(target[0] - env.agent.pos[0]), float(target[2] - env.agent.pos[2])]
    for axis in sorted((0, 1), key=lambda a: -abs(errors[a])):
        if abs(errors[axis]) > FORWARD_STEP / 2:
            step = AXES[axis] * np.sign(errors[axis]) * FORWARD_STEP
            if not env.intersect(env.agent, env.agent.pos + step, env.agent.radius):
                return _move_along(env, axis, errors[axis])
    return _move_along(env, int(abs(errors[1]) > abs(errors[0])), max(errors, key=abs))


def _move_along(env: MultiTaskMiniWorldEnv, axis: int, error: float) -> int:
    """The move or strafe action that goes one step along world ``axis`` in the direction of ``error``."""
    direction = AXES[axis] * np.sign(error)
    forward = float(np.dot(direction, env.agent.dir_vec))
    right = float(np.dot(direction, env.agent.right_vec))
    if abs(forward) > abs(right):
        return int(Action.move_forward if forward > 0 else Action.move_back)
    return int(Action.strafe_right if right > 0 else Action.strafe_left)
