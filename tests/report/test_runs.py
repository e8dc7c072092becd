"""Reading runs: names, metrics, hyperparameters, and damaged or partial input."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mtenvs.report.runs import load_tensorboard_runs, load_wandb_runs, parse_hyperparameters
from tests.report.synthetic import ATARI_ENV, GRID_ENV


@pytest.fixture(scope="module")
def loaded(runs_dir: Path):
    runs, skipped = load_tensorboard_runs(runs_dir)
    return {r.name: r for r in runs}, skipped


def test_run_name_fields_metrics_and_hyperparameters(loaded) -> None:
    runs, _ = loaded
    run = runs[f"{ATARI_ENV}__alpha__2__1700000000"]
    assert (run.env_id, run.algorithm, run.seed) == (ATARI_ENV, "alpha", 2)
    assert run.tasks() == ["breakout", "pong"]
    pong = run.scalars["charts/episodic_return/pong"]
    np.testing.assert_allclose(pong.steps, np.arange(20) * 100)
    np.testing.assert_allclose(pong.values, 25.0 + np.arange(20))
    assert run.hyperparameters == {"preset": "machado", "seed": "2", "lr": "0.001"}
    assert run.runtime_s == pytest.approx(19.0)
    assert run.env_steps == 1900


def test_damaged_and_partial_runs_are_listed_with_reasons(loaded) -> None:
    runs, skipped = loaded
    reasons = {Path(s.what).name: s.reason for s in skipped}
    assert "not {env_id}__{exp_name}__{seed}__{unix_time}" in reasons["notes"]
    assert "no TensorBoard event file" in reasons[f"{GRID_ENV}__delta__5__1700000000"]
    assert "no scalar metric" in reasons[f"{GRID_ENV}__delta__4__1700000000"]
    assert any("damaged after 0 records" in s.reason and "delta__4" in s.what for s in skipped)
    # The file cut in half: flagged, and the records before the cut are kept.
    assert any("damaged after" in s.reason and "delta__3" in s.what for s in skipped)
    truncated = runs[f"{GRID_ENV}__delta__3__1700000000"].scalars["charts/episodic_return"]
    assert 0 < len(truncated) < 20
    np.testing.assert_allclose(truncated.steps, np.arange(len(truncated)) * 100)
    assert f"{GRID_ENV}__delta__4__1700000000" not in runs


def test_parallel_reading_gives_the_same_runs(runs_dir: Path, loaded) -> None:
    runs, skipped = loaded
    parallel_runs, parallel_skipped = load_tensorboard_runs(runs_dir, jobs=2)
    assert parallel_skipped == skipped
    assert [r.name for r in parallel_runs] == list(runs)
    for run in parallel_runs:
        assert run.hyperparameters == runs[run.name].hyperparameters
        for tag, series in run.scalars.items():
            np.testing.assert_array_equal(series.values, runs[run.name].scalars[tag].values)


def test_missing_runs_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_tensorboard_runs(tmp_path / "nope")


def test_parse_hyperparameters_table() -> None:
    text = "|param|value|\n|-|-|\n|env_id|TwoRooms-v0|\n|learning_rate|0.1|\n"
    assert parse_hyperparameters(text) == {"env_id": "TwoRooms-v0", "learning_rate": "0.1"}


def test_wandb_reading_errors_are_clear() -> None:
    def no_key(path):
        raise RuntimeError("No API key configured")

    with pytest.raises(ValueError, match=r"Cannot read runs of W&B project 'me/proj'.*No API key"):
        load_wandb_runs("me/proj", api=SimpleNamespace(runs=no_key))
    with pytest.raises(ValueError, match="ENTITY/PROJECT"):
        load_wandb_runs("proj", api=SimpleNamespace(runs=no_key))


def test_wandb_runs_use_the_tensorboard_step() -> None:
    rows = [
        {"_step": 0, "_timestamp": 10.0, "global_step": 128, "charts/episodic_return/a": 1.0},
        {"_step": 1, "_timestamp": 12.0, "global_step": 256, "charts/episodic_return/a": 3.0, "charts/SPS": 64},
    ]
    good = SimpleNamespace(name="TwoRooms-v0__distral__1__1700000000", id="x1", config={"lr": 0.1, "_wandb": {}},
                           scan_history=lambda: iter(rows))  # fmt: skip
    bad = SimpleNamespace(name="cheerful-sun-3", id="x2", config={}, scan_history=lambda: iter(()))
    api = SimpleNamespace(runs=lambda path: [good, bad] if path == "me/proj" else [])
    runs, skipped = load_wandb_runs("me/proj", api=api)
    assert [r.name for r in runs] == [good.name] and runs[0].hyperparameters == {"lr": "0.1"}
    series = runs[0].scalars["charts/episodic_return/a"]
    np.testing.assert_allclose(series.steps, [128, 256])
    np.testing.assert_allclose(series.values, [1.0, 3.0])
    assert runs[0].runtime_s == pytest.approx(2.0)
    assert len(skipped) == 1 and "x2" in skipped[0].what


def test_a_resumed_run_keeps_only_the_resumed_events_after_its_purge_step(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    run_dir = tmp_path / "TwoRooms-v0__algo__1__100"
    first = SummaryWriter(str(run_dir))
    for step in range(0, 11):  # killed after step 10; its checkpoint was taken at step 5
        first.add_scalar("charts/episodic_return", 1.0, step)
    first.close()
    resumed = SummaryWriter(str(run_dir), purge_step=6)
    for step in range(6, 13):
        resumed.add_scalar("charts/episodic_return", 2.0, step)
    resumed.close()
    (run,), _ = load_tensorboard_runs(tmp_path)
    series = run.scalars["charts/episodic_return"]
    assert series.steps.tolist() == list(range(13))  # no step twice
    assert series.values.tolist() == [1.0] * 6 + [2.0] * 7  # steps 6..10 come from the resumed writer


def test_finding_the_purge_step_stops_at_the_first_summary(tmp_path: Path, monkeypatch) -> None:
    from tensorboard.backend.event_processing import event_file_loader
    from torch.utils.tensorboard import SummaryWriter

    from mtenvs.report.runs import _purge_step

    writer = SummaryWriter(str(tmp_path))
    for step in range(1000):
        writer.add_scalar("charts/episodic_return", 1.0, step)
    writer.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    loaded = []
    original_load = event_file_loader.LegacyEventFileLoader.Load

    def counting_load(self):
        for event in original_load(self):
            loaded.append(event)
            yield event

    monkeypatch.setattr(event_file_loader.LegacyEventFileLoader, "Load", counting_load)
    assert _purge_step(path) is None
    assert len(loaded) <= 2  # the file-version record and the first scalar, not the 1000 scalars
