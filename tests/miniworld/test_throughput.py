"""``mtenvs throughput`` for the MiniWorld families: three contenders timed side by side and their ratios."""

from __future__ import annotations

import pytest

from mtenvs.throughput import measure


@pytest.mark.slow
def test_throughput_times_reference_single_and_workers_and_reports_ratios():
    result = measure("MultiMaze-v0", seconds=0.5)
    rates = {m.label: m.steps_per_second for m in result.measurements}
    assert list(rates) == [
        "MiniWorld MiniWorld-Maze-v0",
        "mtenvs MultiMaze-v0 single",
        "mtenvs MultiMaze-v0 workers x2",
    ]
    assert all(rate > 0 for rate in rates.values())
    single_ratio, workers_ratio = result.ratios
    assert single_ratio.value == pytest.approx(
        rates["mtenvs MultiMaze-v0 single"] / rates["MiniWorld MiniWorld-Maze-v0"]
    )
    assert workers_ratio.value == pytest.approx(
        rates["mtenvs MultiMaze-v0 workers x2"] / rates["mtenvs MultiMaze-v0 single"]
    )
    assert (single_ratio.target, workers_ratio.target) == (1.0, 1.5)


def test_throughput_needs_two_sub_envs():
    with pytest.raises(ValueError, match="num_envs must be >= 2"):
        measure("MultiMaze-v0", num_envs=1)
