"""scripts/prl_results.py: the held-out figure and the returns table of docs/prl.md, for multi- and single-game runs."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "prl_results.py"
spec = importlib.util.spec_from_file_location("prl_results", SCRIPT)
prl_results = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = prl_results
spec.loader.exec_module(prl_results)


def fake_run(directory: Path, games: dict[str, tuple[list[float], list[float]]], auc: float) -> Path:
    """A run directory as baselines/prl.py leaves it: held-out report over a 25-step horizon, evaluation returns."""
    directory.mkdir()
    curve = {f"{head}_{key}": [auc] * 25 for head in ("score", "death") for key in ("auc", "predicted", "observed")}
    (directory / "heldout_1.json").write_text(json.dumps({"games": {game: curve for game in games}}))
    evaluation = {"planner": {g: p for g, (p, _) in games.items()}, "random": {g: r for g, (_, r) in games.items()}}
    (directory / "eval_returns.json").write_text(json.dumps(evaluation))
    return directory


@pytest.mark.parametrize("games", [["Breakout"], ["Breakout", "Pong", "DemonAttack"]])
def test_tables_average_over_seeds_and_the_figure_is_written(tmp_path, capsys, games):
    runs = [
        fake_run(tmp_path / "seed1", {g: ([1.0, 3.0], [0.0, 2.0]) for g in games}, auc=0.6),
        fake_run(tmp_path / "seed2", {g: ([5.0, 7.0], [1.0, 1.0]) for g in games}, auc=0.8),
    ]
    out_png = tmp_path / "figure.png"
    prl_results.main([*map(str, runs), "--out", str(out_png)])
    out = capsys.readouterr().out
    assert out_png.stat().st_size > 0
    for game in games:
        assert re.search(rf"^\| {game} \| 0\.70 / 0\.70 / 0\.70 \| 0\.70 / 0\.70 / 0\.70 \|$", out, flags=re.M)
        # planner: seed means 2.0 and 6.0, all four episodes 4.0 (sd 2.24); random: 1.0 and 1.0
        assert f"| {game} | 4 | 2.0, 6.0 | 4.0 (2.2) | 1.0, 1.0 | 1.0 (0.7) |" in out
