"""Statistics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from mtenvs.report.runs import Series
from mtenvs.report.stats import (
    aggregate_iqm,
    aggregate_mean,
    aggregate_median,
    final_value,
    iqm,
    mean_curve,
    mean_std,
    smooth,
    stratified_bootstrap_ci,
)


def series(steps, values) -> Series:
    return Series.from_points(steps, values, range(len(values)))


def test_iqm_trims_a_quarter_each_side() -> None:
    # 8 scores: int(0.25 * 8) = 2 dropped each side (-50, 1 and 6, 100) -> mean of 2, 3, 4, 5.
    assert iqm(np.array([100.0, 1, 2, 3, 4, 5, 6, -50])) == pytest.approx(3.5)
    # 6 scores: int(1.5) = 1 dropped each side -> mean of 0.5, 0.9, 1.0, 2.0.
    assert iqm(np.array([[0.1, 0.5, 0.9], [1.0, 2.0, 6.0]])) == pytest.approx(1.1)
    # 3 scores: nothing dropped.
    assert iqm(np.array([1.0, 2.0, 9.0])) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="empty"):
        iqm(np.array([]))


def test_aggregates_over_ragged_tasks() -> None:
    scores = [np.array([0.1, 0.5, 0.9]), np.array([1.0, 2.0, 6.0]), np.array([10.0])]
    assert aggregate_median(scores) == pytest.approx(3.0)  # per-task means 0.5, 3.0, 10.0
    assert aggregate_mean(scores) == pytest.approx(13.5 / 3)
    assert aggregate_iqm(scores) == pytest.approx(np.mean([0.5, 0.9, 1.0, 2.0, 6.0]))  # 7 scores, cut 1


def test_bootstrap_interval_of_a_two_point_mean() -> None:
    # Resampled means of {1, 3} are 1, 2, 3 with probabilities 1/4, 1/2, 1/4: the 95% interval is [1, 3].
    est = stratified_bootstrap_ci([np.array([1.0, 3.0])], aggregate_mean, reps=4000, seed=3)
    assert (est.value, est.low, est.high) == (2.0, 1.0, 3.0)
    # Constant scores: no spread at all.
    est = stratified_bootstrap_ci([np.full(4, 0.7), np.full(2, 0.3)], aggregate_iqm, reps=200)
    assert est.low == pytest.approx(est.high)  # every resample is four 0.7s and two 0.3s
    assert est.value == pytest.approx(0.6)  # sorted 0.3 0.3 0.7 0.7 0.7 0.7, cut 1 each side


def test_bootstrap_is_stratified_by_task() -> None:
    # Task 0 always scores 0, task 1 always 1: a stratified resample keeps one of each per task, so the
    # median of per-task means is always 0.5 (a pooled resample would give 0 or 1 often).
    scores = [np.zeros(5), np.ones(5)]
    est = stratified_bootstrap_ci(scores, aggregate_median, reps=300)
    assert (est.low, est.high) == (0.5, 0.5)


def test_bootstrap_is_reproducible_and_seeded() -> None:
    scores = [np.array([0.1, 0.5, 0.9, 1.4]), np.array([1.0, 2.0, 6.0, 0.2])]
    first = stratified_bootstrap_ci(scores, aggregate_iqm, reps=500, seed=7)
    assert stratified_bootstrap_ci(scores, aggregate_iqm, reps=500, seed=7) == first
    assert stratified_bootstrap_ci(scores, aggregate_iqm, reps=500, seed=8) != first
    assert first.low <= first.value <= first.high


def test_bootstrap_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one run"):
        stratified_bootstrap_ci([np.array([1.0]), np.array([])], aggregate_mean)
    with pytest.raises(ValueError, match="confidence"):
        stratified_bootstrap_ci([np.array([1.0])], aggregate_mean, confidence=95)


def test_final_value_and_mean_std() -> None:
    s = series(range(20), np.arange(20.0))
    assert final_value(s, 10) == pytest.approx(14.5)
    assert final_value(s, 100) == pytest.approx(9.5)  # fewer episodes than asked: all of them
    with pytest.raises(ValueError, match="last_n"):
        final_value(s, 0)
    mean, std, n = mean_std([1.0, 2.0, 3.0, float("nan")])
    assert (mean, std, n) == (2.0, 1.0, 3)
    assert np.isnan(mean_std([4.0])[1])


def test_smooth_is_a_trailing_average() -> None:
    np.testing.assert_allclose(smooth(np.array([0.0, 2.0, 4.0, 6.0]), 2), [0.0, 1.0, 3.0, 5.0])


def test_mean_curve_over_mismatched_grids() -> None:
    short = series([0, 100, 200], [0.0, 1.0, 2.0])
    long = series([0, 150, 300, 450], [10.0, 10.0, 10.0, 10.0])
    curve = mean_curve([short, long], points=4)  # grid 0, 150, 300, 450
    np.testing.assert_allclose(curve.steps, [0, 150, 300, 450])
    np.testing.assert_array_equal(curve.counts, [2, 2, 1, 1])
    np.testing.assert_allclose(curve.mean, [5.0, 5.75, 10.0, 10.0])  # short at 150 interpolates to 1.5
    np.testing.assert_allclose(curve.std, [5.0, 4.25, 0.0, 0.0])


def test_mean_curve_spans_only_the_common_stretch_when_runs_end_together() -> None:
    # Ends 1000 and 980, starts 0 and 20 (episode boundaries): no head or tail averaged over one run.
    a = series([0, 500, 1000], [0.0, 5.0, 10.0])
    b = series([20, 490, 980], [0.0, 5.0, 10.0])
    curve = mean_curve([a, b], points=3)
    np.testing.assert_allclose(curve.steps, [20, 500, 980])
    np.testing.assert_array_equal(curve.counts, [2, 2, 2])
    b_at_500 = 5.0 + 5.0 * 10 / 490
    np.testing.assert_allclose(curve.mean, [(0.2 + 0.0) / 2, (5.0 + b_at_500) / 2, (9.8 + 10.0) / 2])
