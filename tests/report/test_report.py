"""The whole report on synthetic runs: its numbers, figures, Markdown and skipped list."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mtenvs.cli import main as cli_main
from mtenvs.report import Settings, make_report
from mtenvs.report.analysis import ALL_TASKS, analyse
from mtenvs.report.runs import load_tensorboard_runs
from tests.report.synthetic import ATARI_ENV, EVAL_ENV, GRID_ENV, PARTIAL_ENV, write_eval_runs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SETTINGS = Settings(
    last_episodes=10, smooth_window=1, bootstrap_reps=500, seed=0, extra_metrics=("losses/td_loss", "eval/none")
)


@pytest.fixture(scope="module")
def report(runs_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    manifest = tmp_path_factory.mktemp("logs") / "manifest.json"
    manifest.write_text(json.dumps({"runs": [{"command": "python baselines/x.py --env-id A --seed 1"}]}))
    return make_report(runs_dir, tmp_path_factory.mktemp("out"), SETTINGS, manifest=manifest)


def rows_by_key(rows):
    return {(r.env_id, r.algorithm, r.task): r for r in rows}


def test_final_performance_table(report) -> None:
    rows = rows_by_key(report.analysis.final_rows)
    # Returns ramp base + episode; the last 10 of 20 episodes average base + 14.5; bases 10 * seed
    # (+5 for pong, +100 for beta) over seeds 1, 2, 3: mean 20 + ..., sample std 10.
    for algorithm, offset in (("alpha", 0.0), ("beta", 100.0)):
        pong, breakout = rows[(ATARI_ENV, algorithm, "pong")], rows[(ATARI_ENV, algorithm, "breakout")]
        assert (pong.mean, pong.std, pong.runs) == pytest.approx((39.5 + offset, 10.0, 3))
        assert (breakout.mean, breakout.std, breakout.runs) == pytest.approx((34.5 + offset, 10.0, 3))
    # Only charts/episodic_return logged: one "all tasks" row over the readable runs (seeds 1 to 3).
    delta = rows[(GRID_ENV, "delta", ALL_TASKS)]
    assert (delta.mean, delta.std, delta.runs) == pytest.approx((2.0, 1.0, 3))
    assert not any(r.algorithm == "gamma" for r in report.analysis.final_rows)


def test_runs_missing_a_task_count_where_they_have_data(report) -> None:
    rows = rows_by_key(report.analysis.final_rows)
    a, b = rows[(PARTIAL_ENV, "eps", "a")], rows[(PARTIAL_ENV, "eps", "b")]
    assert (a.mean, a.std, a.runs) == pytest.approx((15.0, np.sqrt(50.0), 2))
    assert (b.mean, b.runs) == (10.0, 1) and np.isnan(b.std)
    reasons = [s.reason for s in report.analysis.skipped if s.what == f"{PARTIAL_ENV}__eps__2__1700000000"]
    assert "no episodic return for task(s) b: fewer seeds there" in reasons


def test_human_normalized_aggregates(report) -> None:
    hns = rows_by_key(report.analysis.hns_rows)
    assert (hns[(ATARI_ENV, "alpha", "pong")].mean, hns[(ATARI_ENV, "alpha", "pong")].std) == pytest.approx((0.5, 0.4))
    assert hns[(ATARI_ENV, "alpha", "breakout")].std == pytest.approx(np.sqrt(7.0))
    aggregates = {a.algorithm: a for a in report.analysis.aggregates}
    assert set(aggregates) == {"alpha", "beta"}
    alpha, beta = aggregates["alpha"], aggregates["beta"]
    assert (alpha.runs, alpha.tasks) == (3, 2)
    # alpha's 6 scores sorted: 0.1 0.5 0.9 1.0 2.0 6.0; IQM drops one each side -> 1.1.
    # Per-game means 0.5 and 3.0: median = mean = 1.75.
    assert (alpha.iqm.value, alpha.median.value, alpha.mean.value) == pytest.approx((1.1, 1.75, 1.75))
    # The intervals contain the estimate and lie within the range the resamples can reach.
    for est in (alpha.iqm, alpha.median, alpha.mean):
        assert 0.1 <= est.low <= est.value <= est.high <= 6.0
    assert alpha.median.low >= (0.1 + 1.0) / 2 and alpha.median.high <= (0.9 + 6.0) / 2
    # beta scores 0.2 on pong and 0.4 on breakout in every run: no spread.
    for est in (beta.iqm, beta.median, beta.mean):
        assert (est.value, est.low, est.high) == pytest.approx((0.3, 0.3, 0.3))


def test_numbers_are_reproducible(runs_dir: Path, report) -> None:
    again = analyse(*load_tensorboard_runs(runs_dir), SETTINGS)
    assert again.aggregates == report.analysis.aggregates
    other_seed = analyse(*load_tensorboard_runs(runs_dir), Settings(bootstrap_reps=500, seed=1))
    assert other_seed.aggregates[0].iqm != report.analysis.aggregates[0].iqm


def test_runs_table_and_stability_order(report) -> None:
    runs = {(r.algorithm, r.seed): r for r in report.analysis.run_rows if r.env_id == ATARI_ENV}
    alpha1 = runs[("alpha", 1)]
    assert (alpha1.runtime_s, alpha1.sps, alpha1.env_steps) == pytest.approx((19.0, 501.0, 1900.0))
    assert alpha1.final_return == pytest.approx((29.5 + 24.5) / 2)
    assert alpha1.protocol == "preset=machado"
    assert np.isnan(runs[("gamma", 1)].final_return) and runs[("gamma", 1)].sps == 100.0
    assert report.analysis.sorted_final_returns(ATARI_ENV)["alpha"] == pytest.approx([47.0, 37.0, 27.0])
    grid = [r for r in report.analysis.run_rows if r.env_id == GRID_ENV]
    assert {r.protocol for r in grid} == {"unknown"}


def test_extra_metrics_take_each_runs_last_value(report) -> None:
    (row,) = report.analysis.metric_rows
    assert (row.env_id, row.algorithm, row.task, row.runs) == (ATARI_ENV, "gamma", "losses/td_loss", 1)
    assert row.mean == pytest.approx(0.2)  # 1 / (i + 1) at the last of 5 points (float32 in the file)
    curve = report.analysis.metric_curves[ATARI_ENV]["losses/td_loss"]["gamma"]
    assert curve.mean[0] == pytest.approx(1.0) and curve.mean[-1] == pytest.approx(0.2)
    assert any(s.what == "metric eval/none" and "no run logged it" in s.reason for s in report.analysis.skipped)


def test_evaluations_are_summarised_by_each_runs_last_evaluation(tmp_path: Path) -> None:
    """Regression: the table took the mean of each run's last 10 eval points, but each point is
    already a whole evaluation, so evaluations from mid-training pulled the final score down."""
    result = make_report(write_eval_runs(tmp_path / "runs"), tmp_path / "out", SETTINGS)
    (row,) = result.analysis.eval_rows
    assert (row.env_id, row.task, row.runs) == (EVAL_ENV, "a", 2)
    assert (row.mean, row.std) == pytest.approx((111.5, np.sqrt(0.5)))  # 111 and 112, not 66 and 67
    (train,) = result.analysis.final_rows  # training episodes keep their window: the last 10 of 0..29
    assert train.mean == pytest.approx(24.5)
    text = result.markdown.read_text()
    assert "Each run's last evaluation (the last logged point" in text
    assert f"| {EVAL_ENV} | a | zeta | 111.50 ± 0.71 | 2 |" in text


def test_mismatched_grids_are_noted_and_averaged_where_covered(report) -> None:
    curve = report.analysis.curves[GRID_ENV][ALL_TASKS]["delta"]
    assert curve.steps[-1] == 2850.0  # seed 2's last step
    assert curve.counts[0] == 3 and curve.counts[-1] == 1
    assert curve.mean[-1] == pytest.approx(2.0) and curve.mean[0] == pytest.approx(2.0)
    # Seed 3's file was cut mid-way, so it ends earliest (how early depends on the cut), seed 2 last.
    truncated = {r.seed: r for r in report.analysis.runs if r.env_id == GRID_ENV}[3]
    first_end = int(truncated.scalars["charts/episodic_return"].steps[-1])
    assert first_end < 900
    assert report.analysis.notes == [
        f"{GRID_ENV} / delta: runs end between steps {first_end} and 2850; past a run's end its curves average"
        " fewer runs (the legend gives the most)."
    ]


def test_every_figure_is_a_valid_png(report) -> None:
    names = sorted(p.name for p in report.figures)
    assert names == sorted([
        f"curves_{ATARI_ENV}.png", f"curves_{GRID_ENV}.png", f"sorted_returns_{ATARI_ENV}.png",
        f"sorted_returns_{GRID_ENV}.png", f"aggregates_{ATARI_ENV}.png", "sps.png", f"metrics_{ATARI_ENV}.png",
        f"curves_{PARTIAL_ENV}.png", f"sorted_returns_{PARTIAL_ENV}.png",
    ])  # fmt: skip
    for path in report.figures:
        assert path.read_bytes()[:8] == PNG_MAGIC
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.size[0] > 200 and image.size[1] > 100


def test_markdown_links_figures_and_lists_what_was_skipped(report) -> None:
    text = report.markdown.read_text()
    for path in report.figures:
        assert f"]({path.name})" in text
    assert f"| {ATARI_ENV} | pong | alpha | 39.50 ± 10.00 | 3 |" in text
    assert f"| {ATARI_ENV} | alpha | 3 | 2 | 1.750 [" in text
    assert "python baselines/x.py --env-id A --seed 1" in text
    skipped = text.split("## Skipped", 1)[1]
    for reason in ("no charts/episodic_return", "no TensorBoard event file", "damaged after 0 records",
                   "damaged after", "not {env_id}__{exp_name}__{seed}__{unix_time}", "no charts/SPS"):  # fmt: skip
        assert reason in skipped
    assert "Versions on the machine that made this report" in text and "ale-py" in text


def test_cli_writes_the_report_and_rejects_bad_options(runs_dir: Path, tmp_path: Path, capsys) -> None:
    one_run = tmp_path / "runs"
    shutil.copytree(runs_dir / f"{ATARI_ENV}__alpha__1__1700000000", one_run / f"{ATARI_ENV}__alpha__1__1700000000")
    out = tmp_path / "cli"
    args = ["report", str(one_run), "-o", str(out), "--bootstrap-reps", "50", "--last-episodes", "5", "--jobs", "1"]
    assert cli_main(args) == 0
    text = (out / "report.md").read_text()
    assert f"mtenvs report {one_run} -o {out} --last-episodes 5 --bootstrap-reps 50" in text
    # Seed 1's pong returns are 15 + episode: the last 5 of 20 average 15 + 17.
    assert "last 5 logged training episodes" in text and f"| {ATARI_ENV} | pong | alpha | 32.00 ± n/a | 1 |" in text
    assert cli_main(["report", str(tmp_path / "missing"), "-o", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli_main(["report", str(runs_dir), "-o", str(out), "--confidence", "95"]) == 2


def test_empty_runs_dir_still_renders(tmp_path: Path) -> None:
    (tmp_path / "runs" / "A-v0__x__1__1").mkdir(parents=True)
    result = make_report(tmp_path / "runs", tmp_path / "out", SETTINGS)
    assert result.figures == [] and result.analysis.runs == []
    text = result.markdown.read_text()
    assert "No run logged episodic returns." in text and "no TensorBoard event file" in text


@pytest.mark.parametrize("width", [4.2, 8.4])
def test_figure_titles_fit_their_figure(width: float) -> None:
    import matplotlib.pyplot as plt

    from mtenvs.report.figures import suptitle

    fig = plt.figure(figsize=(width, 3.2))
    suptitle(fig, "MultiControl-v0-with-a-long-name: further metrics, mean over seeds, band = ±1 std")
    fig.canvas.draw()
    title = fig._suptitle.get_window_extent()
    plt.close(fig)
    assert title.x0 >= 0 and title.x1 <= fig.bbox.width, (title, fig.bbox)
