"""Grid mazes (no OpenGL): generation, geometry, shortest paths and size checks."""

from __future__ import annotations

import numpy as np
import pytest

from mtenvs.miniworld.layout import GAP, check_grid_size, edge, generate_maze


def test_perfect_maze_is_a_spanning_tree_and_loops_add_edges():
    maze = generate_maze(5, 6, np.random.default_rng(0), cell_size=2.0)
    assert len(maze.open_edges) == 5 * 6 - 1 and maze.is_connected()
    looped = generate_maze(5, 6, np.random.default_rng(0), cell_size=2.0, loop_fraction=0.5)
    assert maze.open_edges < looped.open_edges and looped.is_connected()
    total_walls = 5 * 5 + 4 * 6  # all neighbour pairs
    assert len(looped.open_edges) == 29 + round(0.5 * (total_walls - 29))


def test_generation_is_seeded():
    same = [generate_maze(4, 4, np.random.default_rng(3), cell_size=2.0).open_edges for _ in range(2)]
    assert same[0] == same[1]
    assert same[0] != generate_maze(4, 4, np.random.default_rng(4), cell_size=2.0).open_edges


def test_geometry_and_cells():
    maze = generate_maze(3, 4, np.random.default_rng(0), cell_size=3.0, opening_width=1.5)
    assert maze.cell_bounds((1, 2)) == (2 * 3.25, 2 * 3.25 + 3.0, 3.25, 6.25)
    np.testing.assert_allclose(maze.cell_center((1, 2)), [8.0, 0.0, 4.75])
    assert maze.cell_of(np.array([8.0, 0.0, 4.75])) == (1, 2)
    assert maze.cell_of(np.array([3.0 + GAP / 2, 0.0, 1.0])) is None  # in the gap between two cells
    assert maze.nearest_cell(np.array([3.0 + GAP / 2 - 0.01, 0.0, 1.0])) == (0, 0)
    segment = maze.opening_segment(((0, 0), (1, 0)))  # cells one above the other: a door along x
    np.testing.assert_allclose(segment[:, 2], [3.125, 3.125])
    np.testing.assert_allclose(segment[:, 0], [0.75, 2.25])


def test_shortest_path_respects_closed_edges():
    maze = generate_maze(3, 3, np.random.default_rng(0), cell_size=2.0)
    maze.open_edges = {edge((0, 0), (0, 1)), edge((0, 1), (0, 2)), edge((0, 0), (1, 0)), edge((1, 0), (1, 1))}
    maze.open_edges |= {edge((1, 1), (1, 2)), edge((1, 2), (0, 2))}
    assert maze.shortest_path((0, 0), (0, 2)) == [(0, 0), (0, 1), (0, 2)]
    detour = maze.shortest_path((0, 0), (0, 2), closed={edge((0, 1), (0, 2))})
    assert detour == [(0, 0), (1, 0), (1, 1), (1, 2), (0, 2)]
    assert maze.shortest_path((0, 0), (2, 2)) is None  # row 2 is walled off
    assert maze.distances((0, 0))[(1, 2)] == 3


@pytest.mark.parametrize(
    ("rows", "cols", "match"), [(1, 5, "rows=1 is out of range"), (5, 17, "cols=17"), ("5", 5, "int")]
)
def test_bad_grid_sizes(rows, cols, match):
    with pytest.raises(ValueError, match=match):
        check_grid_size("Test", rows, cols)


def test_bad_maze_options():
    with pytest.raises(ValueError, match="opening_width"):
        generate_maze(3, 3, np.random.default_rng(0), cell_size=2.0, opening_width=2.5)
    with pytest.raises(ValueError, match="loop_fraction"):
        generate_maze(3, 3, np.random.default_rng(0), cell_size=2.0, loop_fraction=1.5)


def test_bypassable_cells_are_not_cut_vertices():
    maze = generate_maze(2, 3, np.random.default_rng(0), cell_size=2.0)
    maze.open_edges = {edge((0, 0), (0, 1)), edge((0, 1), (0, 2)), edge((0, 0), (1, 0))}
    maze.open_edges |= {edge((1, 0), (1, 1)), edge((1, 1), (1, 2))}  # an S-shaped corridor, no loops
    assert maze.bypassable_cells() == [(0, 2), (1, 2)]  # only the two dead ends
    maze.open_edges.add(edge((0, 1), (1, 1)))
    assert set(maze.bypassable_cells()) == {(0, 0), (1, 0), (0, 2), (1, 2)}
