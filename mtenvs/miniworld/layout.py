"""Grid mazes for the MiniWorld families: generation, geometry and shortest paths (no OpenGL here).

A :class:`GridMaze` is a ``rows x cols`` grid of square cells (MiniWorld rooms) with a set of open
edges between 4-neighbour cells. Cell ``(row, col)`` covers ``x in [col * pitch, col * pitch + cell_size]``
and ``z in [row * pitch, row * pitch + cell_size]`` with ``pitch = cell_size + GAP``; an open edge
becomes an opening of ``opening_width`` metres (the full cell side for corridor mazes) through the
thin gap between the two cells. Everything here is plain Python and NumPy, so the scripted oracle
and the tests can plan on it without rendering.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

Cell = tuple[int, int]
Edge = tuple[Cell, Cell]  # always (smaller cell, larger cell) in (row, col) order

GAP = 0.25  # metres between neighbouring cells (the thickness of the wall between them)
MIN_GRID_SIDE = 2
MAX_GRID_SIDE = 16


def edge(a: Cell, b: Cell) -> Edge:
    """The canonical (sorted) key of the edge between two neighbouring cells."""
    return (a, b) if a <= b else (b, a)


def opening_along_x(e: Edge) -> bool:
    """True when the opening of edge ``e`` runs along x (its cells are in the same column, one above the other)."""
    return e[0][1] == e[1][1]


def check_grid_size(name: str, rows: int, cols: int) -> None:
    """Raise ``ValueError`` unless ``rows`` and ``cols`` are ints in ``[MIN_GRID_SIDE, MAX_GRID_SIDE]``."""
    for label, value in (("rows", rows), ("cols", cols)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{name}: maze {label} must be an int, got {value!r}.")
        if not MIN_GRID_SIDE <= int(value) <= MAX_GRID_SIDE:
            raise ValueError(
                f"{name}: maze {label}={value} is out of range; mazes are {MIN_GRID_SIDE}..{MAX_GRID_SIDE} "
                "cells on each side."
            )


@dataclass
class GridMaze:
    """A grid of cells and the open edges (passages) between neighbouring cells."""

    rows: int
    cols: int
    cell_size: float
    opening_width: float
    open_edges: set[Edge] = field(default_factory=set)

    @property
    def pitch(self) -> float:
        return self.cell_size + GAP

    @property
    def cells(self) -> list[Cell]:
        return [(r, c) for r in range(self.rows) for c in range(self.cols)]

    def neighbours(self, cell: Cell) -> list[Cell]:
        """The 4-neighbours of ``cell`` inside the grid (open or not)."""
        r, c = cell
        candidates = ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1))
        return [(nr, nc) for nr, nc in candidates if 0 <= nr < self.rows and 0 <= nc < self.cols]

    def passages(self, cell: Cell, closed: Iterable[Edge] = ()) -> list[Cell]:
        """Neighbours reachable from ``cell`` through an open edge that is not in ``closed``."""
        closed = set(closed)
        return [n for n in self.neighbours(cell) if edge(cell, n) in self.open_edges and edge(cell, n) not in closed]

    def cell_bounds(self, cell: Cell) -> tuple[float, float, float, float]:
        """``(min_x, max_x, min_z, max_z)`` of a cell."""
        r, c = cell
        min_x, min_z = c * self.pitch, r * self.pitch
        return min_x, min_x + self.cell_size, min_z, min_z + self.cell_size

    def cell_center(self, cell: Cell) -> np.ndarray:
        """World position ``[x, 0, z]`` of a cell's centre."""
        min_x, max_x, min_z, max_z = self.cell_bounds(cell)
        return np.array([(min_x + max_x) / 2, 0.0, (min_z + max_z) / 2])

    def cell_of(self, pos: np.ndarray) -> Cell | None:
        """The cell containing world position ``pos`` (``None`` in a gap between cells or outside)."""
        col, x_off = divmod(float(pos[0]), self.pitch)
        row, z_off = divmod(float(pos[2]), self.pitch)
        row, col = int(row), int(col)
        if 0 <= row < self.rows and 0 <= col < self.cols and x_off <= self.cell_size and z_off <= self.cell_size:
            return row, col
        return None

    def nearest_cell(self, pos: np.ndarray) -> Cell:
        """The cell whose centre is nearest to ``pos`` (for positions inside an opening)."""
        col = int(np.clip(round((float(pos[0]) - self.cell_size / 2) / self.pitch), 0, self.cols - 1))
        row = int(np.clip(round((float(pos[2]) - self.cell_size / 2) / self.pitch), 0, self.rows - 1))
        return row, col

    def opening_center(self, e: Edge) -> np.ndarray:
        """World position of the middle of the opening of edge ``e`` (in the gap between its cells)."""
        return (self.cell_center(e[0]) + self.cell_center(e[1])) / 2

    def opening_segment(self, e: Edge) -> np.ndarray:
        """The ``(2, 3)`` segment across the opening of ``e``, in the middle of the gap (a door's line)."""
        center = self.opening_center(e)
        along = np.array([1.0, 0.0, 0.0]) if opening_along_x(e) else np.array([0.0, 0.0, 1.0])
        half = along * self.opening_width / 2
        return np.stack([center - half, center + half])

    def distances(self, source: Cell, closed: Iterable[Edge] = ()) -> dict[Cell, int]:
        """Breadth-first cell distances from ``source`` through open, not closed edges."""
        closed = set(closed)
        dist = {source: 0}
        queue = deque([source])
        while queue:
            cell = queue.popleft()
            for n in self.passages(cell, closed):
                if n not in dist:
                    dist[n] = dist[cell] + 1
                    queue.append(n)
        return dist

    def shortest_path(self, start: Cell, goal: Cell, closed: Iterable[Edge] = ()) -> list[Cell] | None:
        """Cells from ``start`` to ``goal`` inclusive along a shortest route, or ``None`` if cut off."""
        closed = set(closed)
        parent: dict[Cell, Cell | None] = {start: None}
        queue = deque([start])
        while queue:
            cell = queue.popleft()
            if cell == goal:
                path = [cell]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                return path[::-1]
            for n in self.passages(cell, closed):
                if n not in parent:
                    parent[n] = cell
                    queue.append(n)
        return None

    def is_connected(self, closed: Iterable[Edge] = ()) -> bool:
        """True when every cell reaches every other through open, not closed edges."""
        return len(self.distances((0, 0), closed)) == self.rows * self.cols

    def edges_of(self, cell: Cell) -> set[Edge]:
        """The open edges into ``cell`` (close them all to route around it)."""
        return {edge(cell, n) for n in self.passages(cell)}

    def bypassable_cells(self) -> list[Cell]:
        """Cells no route between two other cells has to pass through (not cut vertices)."""
        cells = []
        for cell in self.cells:
            others = [c for c in self.cells if c != cell]
            reached = self.distances(others[0], self.edges_of(cell))
            if all(c in reached for c in others):
                cells.append(cell)
        return cells


def generate_maze(
    rows: int,
    cols: int,
    rng: np.random.Generator,
    *,
    cell_size: float,
    opening_width: float | None = None,
    loop_fraction: float = 0.0,
) -> GridMaze:
    """A random perfect maze (depth-first backtracking) plus ``loop_fraction`` of the remaining walls opened.

    Perfect mazes have exactly one route between two cells; opening extra walls adds loops, as the
    DeepMind Lab maze levels have.
    """
    if opening_width is None:
        opening_width = cell_size
    if not 0.0 < opening_width <= cell_size:
        raise ValueError(f"opening_width must be in (0, cell_size={cell_size}], got {opening_width}.")
    if not 0.0 <= loop_fraction <= 1.0:
        raise ValueError(f"loop_fraction must be in [0, 1], got {loop_fraction}.")
    maze = GridMaze(rows, cols, cell_size, opening_width)
    start = (int(rng.integers(rows)), int(rng.integers(cols)))
    visited = {start}
    stack = [start]
    while stack:
        cell = stack[-1]
        unvisited = [n for n in maze.neighbours(cell) if n not in visited]
        if not unvisited:
            stack.pop()
            continue
        nxt = unvisited[int(rng.integers(len(unvisited)))]
        maze.open_edges.add(edge(cell, nxt))
        visited.add(nxt)
        stack.append(nxt)
    walls = sorted({edge(c, n) for c in maze.cells for n in maze.neighbours(c)} - maze.open_edges)
    num_loops = round(loop_fraction * len(walls))
    for index in rng.permutation(len(walls))[:num_loops]:
        maze.open_edges.add(walls[int(index)])
    return maze
