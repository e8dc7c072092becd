"""Tests of mtenvs.train.metrics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mtenvs.train.metrics import roc_auc


def test_roc_auc_matches_known_values():
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), labels) == 0.5
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), labels) == 0.75
    assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([1, 1])))
    assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([False, False])))


def test_roc_auc_is_the_pairwise_win_rate_with_ties_counted_half():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 40).astype(np.float32)  # many ties
    labels = rng.random(40) < 0.4
    pairs = list(itertools.product(scores[labels], scores[~labels]))
    expected = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)
    assert roc_auc(scores, labels) == pytest.approx(expected, abs=1e-12)
