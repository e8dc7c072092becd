"""W&B reports: refused clearly without an account, and built from the analysis (no network here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtenvs.cli import main as cli_main
from mtenvs.report.analysis import analyse
from mtenvs.report.runs import load_tensorboard_runs
from mtenvs.report.wandb_report import build_wandb_report, check_online
from tests.report.synthetic import ATARI_ENV


def test_wandb_report_without_an_account_fails_before_anything(
    runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    out = tmp_path / "out"
    assert cli_main(["report", str(runs_dir), "-o", str(out), "--wandb-report", "--wandb-project", "me/p"]) == 2
    assert "WANDB_API_KEY" in capsys.readouterr().err
    assert not out.exists()


def test_check_online_needs_key_online_mode_and_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_MODE", "offline")
    with pytest.raises(ValueError, match="WANDB_MODE=offline"):
        check_online("me/proj")
    monkeypatch.delenv("WANDB_MODE")
    with pytest.raises(ValueError, match="--wandb-project ENTITY/PROJECT"):
        check_online("proj")
    assert check_online("me/proj") == ("me", "proj")


def test_report_object_has_a_panel_grid_per_env(runs_dir: Path) -> None:
    import wandb_workspaces.reports.v2 as wr

    analysis = analyse(*load_tensorboard_runs(runs_dir))
    report = build_wandb_report(analysis, "me", "proj", "T")
    grids = [b for b in report.blocks if isinstance(b, wr.PanelGrid)]
    assert len(grids) == len(analysis.env_ids)
    atari = grids[analysis.env_ids.index(ATARI_ENV)]
    assert atari.runsets[0].query == f"{ATARI_ENV}__"
    line_plots = [p for p in atari.panels if isinstance(p, wr.LinePlot)]
    assert sorted(p.y[0] for p in line_plots) == ["charts/episodic_return/breakout", "charts/episodic_return/pong"]
    assert {(p.groupby_aggfunc, p.groupby_rangefunc) for p in line_plots} == {("mean", "stddev")}
    tables = "\n".join(b.text for b in report.blocks if isinstance(b, wr.MarkdownBlock))
    assert "| pong | alpha | 39.50 ± 10.00 | 3 |" in tables and "IQM [CI]" in tables
