"""The TwoRooms map and task set: walls, free cells, goals, and the picture of both.

A :class:`TwoRoomsLayout` is built once per env (single or batched) from the constructor
arguments and is the one definition of the grid that the dynamics (:mod:`mtenvs.tworooms.dynamics`),
the observation encodings and the renderer all read. Cells are addressed by their flat index
``row * width + col``; the map is always surrounded by walls, so a move from a free cell never
leaves the grid.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtenvs.validation import check_int

# Actions: 0 up, 1 right, 2 down, 3 left (row, col offsets). "No previous action" is encoded as 4.
ACTION_NAMES = ("up", "right", "down", "left")
ACTION_OFFSETS = ((-1, 0), (0, 1), (1, 0), (0, -1))
NUM_ACTIONS = len(ACTION_NAMES)
NO_ACTION = NUM_ACTIONS

DEFAULT_ROOM_SIZE = 5
DEFAULT_CORRIDOR_LENGTH = 5
DEFAULT_NUM_TASKS = 8
# Size bounds, checked at construction: the one-hot observation has a slot per free cell and a
# batched env holds one per sub-env, so maps stay small enough for millions of sub-envs.
MAX_ROOM_SIZE = 32
MAX_CORRIDOR_LENGTH = 32
MAX_LAYOUT_SIDE = 128

CELL_PIXELS = 16
COLORS = {
    "wall": (60, 60, 70),
    "floor": (235, 235, 230),
    "corridor": (215, 215, 205),
    "goal": (40, 170, 70),
    "agent": (210, 40, 40),
    "policy": (30, 90, 200),
}

# The "pixels" observation: an Atari-sized grayscale frame (the paper CNNs' 84x84 input).
PIXEL_FRAME_SIZE = 84
PIXEL_LEVELS = {"wall": 0, "floor": 150, "agent": 255}  # outside the map is drawn as wall


def two_rooms_map(room_size: int, corridor_length: int) -> list[str]:
    """ASCII map of two square rooms side by side, joined at mid-height by a horizontal corridor.

    ``#`` is a wall, ``.`` a room cell, ``=`` a corridor cell (free, like ``.``).
    """
    check_int("room_size", room_size, 1, MAX_ROOM_SIZE)
    check_int("corridor_length", corridor_length, 1, MAX_CORRIDOR_LENGTH)
    width = 2 * room_size + corridor_length + 2
    corridor_row = 1 + room_size // 2
    rows = ["#" * width]
    for row in range(1, room_size + 1):
        middle = "=" * corridor_length if row == corridor_row else "#" * corridor_length
        rows.append("#" + "." * room_size + middle + "." * room_size + "#")
    rows.append("#" * width)
    return rows


@dataclass(frozen=True)
class TwoRoomsLayout:
    """The grid (``walls``), its free cells, and one goal cell per task.

    Attributes:
        walls: ``(height, width)`` bool, True on walls.
        corridor: ``(height, width)`` bool, True on corridor cells.
        free_cells: flat indices of all non-wall cells, ascending.
        goals: ``(num_tasks,)`` flat index of each task's goal cell.
        start_cells: ``(num_tasks, len(free_cells) - 1)`` flat indices where an episode of each task
            may start (every free cell but the goal).
        free_index: ``(height * width,)`` position of each cell in ``free_cells`` (-1 on walls).
    """

    walls: np.ndarray
    corridor: np.ndarray
    free_cells: np.ndarray
    goals: np.ndarray
    start_cells: np.ndarray
    free_index: np.ndarray

    @property
    def height(self) -> int:
        return int(self.walls.shape[0])

    @property
    def width(self) -> int:
        return int(self.walls.shape[1])

    @property
    def num_tasks(self) -> int:
        return int(self.goals.shape[0])

    @property
    def task_names(self) -> tuple[str, ...]:
        """``goal_<row>_<col>`` for each task."""
        return tuple(f"goal_{g // self.width}_{g % self.width}" for g in self.goals.tolist())

    @property
    def move_offsets(self) -> np.ndarray:
        """Flat-index offset of each action (int64, shape ``(NUM_ACTIONS,)``)."""
        return np.array([dr * self.width + dc for dr, dc in ACTION_OFFSETS], dtype=np.int64)

    def cell(self, flat: int) -> tuple[int, int]:
        """(row, col) of a flat cell index."""
        return divmod(int(flat), self.width)

    def shortest_path_lengths(self, goal: int) -> np.ndarray:
        """Steps from every cell to ``goal`` (flat array; -1 on walls), by breadth-first search."""
        distance = np.full(self.walls.size, -1, dtype=np.int64)
        distance[goal] = 0
        queue = deque([goal])
        offsets = self.move_offsets
        walls = self.walls.ravel()
        while queue:
            here = queue.popleft()
            for offset in offsets:
                there = here + offset
                if not walls[there] and distance[there] < 0:
                    distance[there] = distance[here] + 1
                    queue.append(there)
        return distance

    def frame(self, goal: int | None, agent: int | None) -> np.ndarray:
        """``(height * 16, width * 16, 3)`` uint8 top-down picture: walls, floor, goal square, agent dot."""
        cells = np.empty((self.height, self.width, 3), dtype=np.uint8)
        cells[:] = COLORS["floor"]
        cells[self.corridor] = COLORS["corridor"]
        cells[self.walls] = COLORS["wall"]
        if goal is not None:
            cells[self.cell(goal)] = COLORS["goal"]
        image = np.repeat(np.repeat(cells, CELL_PIXELS, axis=0), CELL_PIXELS, axis=1)
        if agent is not None:
            row, col = self.cell(agent)
            margin = CELL_PIXELS // 4
            top, left = row * CELL_PIXELS + margin, col * CELL_PIXELS + margin
            image[top : top + CELL_PIXELS - 2 * margin, left : left + CELL_PIXELS - 2 * margin] = COLORS["agent"]
        return image

    @property
    def pixel_cell_size(self) -> int:
        """Side in pixels of one cell in the ``"pixels"`` frame: square cells, as large as fit in it."""
        return PIXEL_FRAME_SIZE // max(self.height, self.width)

    def pixel_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """What the ``"pixels"`` observation is drawn from.

        Returns ``(background, cell_pixels)``: the ``(84 * 84,)`` uint8 frame of the map without
        the agent (walls and the margin around the centred map dark, free cells grey), and for
        every cell (flat index) the ``(cell_size ** 2,)`` flat indices of its pixels in that frame.
        """
        size = self.pixel_cell_size
        top = (PIXEL_FRAME_SIZE - size * self.height) // 2
        left = (PIXEL_FRAME_SIZE - size * self.width) // 2
        rows, cols = np.divmod(np.arange(self.walls.size), self.width)
        offsets = np.arange(size)
        pixel_rows = top + rows[:, None, None] * size + offsets[None, :, None]
        pixel_cols = left + cols[:, None, None] * size + offsets[None, None, :]
        cell_pixels = (pixel_rows * PIXEL_FRAME_SIZE + pixel_cols).reshape(self.walls.size, size * size)
        background = np.full(PIXEL_FRAME_SIZE * PIXEL_FRAME_SIZE, PIXEL_LEVELS["wall"], dtype=np.uint8)
        background[cell_pixels[self.free_cells].ravel()] = PIXEL_LEVELS["floor"]
        return background, cell_pixels.astype(np.int64)

    def policy_frame(self, probabilities: np.ndarray, goal: int | None = None) -> np.ndarray:
        """The map with a policy drawn over it: from each free cell's centre, a bar per action whose
        length is that action's probability (a full half-cell for probability 1).

        ``probabilities`` has shape ``(len(free_cells), 4)`` (rows in ``free_cells`` order, columns
        up, right, down, left), e.g. a tabular policy at one previous action (Distral Figure 3, right).
        """
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if probabilities.shape != (self.free_cells.size, NUM_ACTIONS):
            raise ValueError(
                f"probabilities must have shape ({self.free_cells.size}, {NUM_ACTIONS}) (free cells x actions), "
                f"got {probabilities.shape}."
            )
        image = self.frame(goal, None)
        half, thick = CELL_PIXELS // 2, 1
        for index, flat in enumerate(self.free_cells.tolist()):
            row, col = self.cell(flat)
            cy, cx = row * CELL_PIXELS + half, col * CELL_PIXELS + half
            for (dr, dc), p in zip(ACTION_OFFSETS, probabilities[index], strict=True):
                length = round(float(p) * (half - 1))
                if length == 0:
                    continue
                rows = (cy - thick, cy + thick) if dr == 0 else tuple(sorted((cy, cy + dr * length)))
                cols = (cx - thick, cx + thick) if dc == 0 else tuple(sorted((cx, cx + dc * length)))
                image[rows[0] : rows[1] + 1, cols[0] : cols[1] + 1] = COLORS["policy"]
        return image


def build_layout(
    room_size: int = DEFAULT_ROOM_SIZE,
    corridor_length: int = DEFAULT_CORRIDOR_LENGTH,
    layout: Sequence[str] | None = None,
    goals: Sequence[Sequence[int]] | None = None,
    num_tasks: int | None = None,
    task_seed: int | None = None,
) -> TwoRoomsLayout:
    """Validate the layout arguments and build the map and task set.

    The map is ``layout`` (rows of ``#`` wall, ``.`` room, ``=`` corridor) if given, else
    :func:`two_rooms_map`. Goals are ``goals`` (``[row, col]`` per task) if given, else
    ``num_tasks`` (default 8) distinct room cells (never corridor cells) drawn with
    ``numpy.random.default_rng(task_seed)`` (default 0). ``task_seed`` with ``goals`` is refused:
    nothing is drawn then, so it would be ignored.
    """
    rows = two_rooms_map(room_size, corridor_length) if layout is None else _check_map(layout)
    walls = np.array([[ch == "#" for ch in row] for row in rows], dtype=bool)
    corridor = np.array([[ch == "=" for ch in row] for row in rows], dtype=bool)
    height, width = walls.shape
    free_cells = np.flatnonzero(~walls.ravel()).astype(np.int64)
    if free_cells.size < 2:
        raise ValueError(f"The map needs at least 2 free cells (a goal and a start), got {free_cells.size}.")
    _check_connected(walls, free_cells)

    if goals is not None:
        if isinstance(goals, str) or not isinstance(goals, Sequence):
            raise TypeError(f"goals must be a list of [row, col] cells, got {goals!r}.")
        if task_seed is not None:
            raise ValueError(
                f"task_seed={task_seed!r} only applies when the goals are drawn (goals=None); goals= sets them "
                "itself, so give one of goals and task_seed."
            )
        if num_tasks is not None and num_tasks != len(goals):
            raise ValueError(f"num_tasks={num_tasks} disagrees with the {len(goals)} goals given; pass one of them.")
        goal_cells = np.array([_goal_cell(goal, walls) for goal in goals], dtype=np.int64)
        if goal_cells.size == 0:
            raise ValueError("goals must name at least one [row, col] cell.")
        if np.unique(goal_cells).size != goal_cells.size:
            raise ValueError(f"goals must be distinct cells, got {[list(g) for g in goals]}.")
    else:
        num_tasks = DEFAULT_NUM_TASKS if num_tasks is None else check_int("num_tasks", num_tasks, 1)
        task_seed = 0 if task_seed is None else check_int("task_seed", task_seed, 0)
        room_cells = np.flatnonzero((~walls & ~corridor).ravel())
        if num_tasks > room_cells.size:
            raise ValueError(f"num_tasks={num_tasks} exceeds the {room_cells.size} room cells available as goals.")
        goal_cells = np.random.default_rng(task_seed).choice(room_cells, size=num_tasks, replace=False)
        goal_cells = goal_cells.astype(np.int64)

    start_cells = np.stack([free_cells[free_cells != goal] for goal in goal_cells])
    free_index = np.full(height * width, -1, dtype=np.int64)
    free_index[free_cells] = np.arange(free_cells.size)
    for array in (walls, corridor, free_cells, goal_cells, start_cells, free_index):
        array.setflags(write=False)
    return TwoRoomsLayout(walls, corridor, free_cells, goal_cells, start_cells, free_index)


def _check_map(layout: Sequence[str]) -> list[str]:
    if (
        isinstance(layout, str)
        or not isinstance(layout, Sequence)
        or not all(isinstance(row, str) for row in layout)
        or not 3 <= len(layout) <= MAX_LAYOUT_SIDE
    ):
        raise ValueError(
            f"layout must be a list of 3..{MAX_LAYOUT_SIDE} equal-length strings of '#', '.' and '=', got {layout!r}."
        )
    rows = list(layout)
    if len({len(row) for row in rows}) != 1 or not 3 <= len(rows[0]) <= MAX_LAYOUT_SIDE:
        raise ValueError(
            f"layout rows must all have the same length in 3..{MAX_LAYOUT_SIDE}, got lengths {[len(r) for r in rows]}."
        )
    bad = sorted({ch for row in rows for ch in row} - set("#.="))
    if bad:
        raise ValueError(f"layout may only contain '#' (wall), '.' (room) and '=' (corridor), found {bad}.")
    border = rows[0] + rows[-1] + "".join(row[0] + row[-1] for row in rows)
    if set(border) != {"#"}:
        raise ValueError("layout must be surrounded by walls ('#' on the first/last row and column).")
    return rows


def _check_connected(walls: np.ndarray, free_cells: np.ndarray) -> None:
    _height, width = walls.shape
    seen = {int(free_cells[0])}
    queue = deque(seen)
    while queue:
        here = queue.popleft()
        for dr, dc in ACTION_OFFSETS:
            there = here + dr * width + dc
            if not walls.flat[there] and there not in seen:
                seen.add(there)
                queue.append(there)
    if len(seen) != free_cells.size:
        raise ValueError("layout's free cells are not all connected; every start must be able to reach every goal.")


def _goal_cell(goal: Sequence[int], walls: np.ndarray) -> int:
    height, width = walls.shape
    if (
        not isinstance(goal, (list, tuple))
        or len(goal) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in goal)
    ):
        raise ValueError(f"Each goal is a [row, col] pair of ints, got {goal!r}.")
    row, col = int(goal[0]), int(goal[1])
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(f"Goal {[row, col]} lies outside the {height}x{width} map.")
    if walls[row, col]:
        raise ValueError(f"Goal {[row, col]} is on a wall; goals must be free cells ('.' or '=').")
    return row * width + col
