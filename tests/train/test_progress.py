"""mtenvs.train.progress and observations: progress lines, interval crossings, evaluation, layouts and masks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import mtenvs  # noqa: F401
from mtenvs.train import progress
from mtenvs.train.observations import ObservationLayout, action_mask_of, task_action_masks
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector


def test_crossed_counts_interval_multiples_between_two_steps():
    assert progress.crossed(10, 9, 10) and progress.crossed(10, 5, 25) and not progress.crossed(10, 10, 19)


def test_progress_lines_follow_the_clock(capsys):
    now = [0.0]
    line = progress.Progress(interval=30.0, total=100, start_step=0, clock=lambda: now[0])
    now[0] = 10.0
    assert not line.due() and line.due(final=True)
    now[0] = 31.0
    assert line.due()
    line.returns.extend([1.0, 0.0])
    line.print(62, ", epsilon 0.5")
    assert capsys.readouterr().out == "step 62/100, SPS 2, mean return of the last 2 episodes 0.500, epsilon 0.5\n"
    assert not line.due()


def test_evaluation_of_the_first_episode_per_env_and_per_task_means():
    envs = RecordTaskEpisodeStatisticsVector(gym.make_vec("TwoRooms-v0", num_envs=4, num_tasks=2))
    firsts = []

    def act(obs, infos, first):
        firsts.append(first)
        return np.zeros(4, dtype=np.int64)  # always "up": some episodes end at the step limit, without a goal

    returns, scores = progress.evaluate_episodes(envs, act, seed=3)
    assert firsts[0] and not any(firsts[1:]) and np.isfinite(returns).all()
    assert ((scores == 0.0) == (returns == 0.0)).all() and ((scores >= 0) & (scores <= 1)).all()
    means = progress.per_task_means(returns, envs.unwrapped.env_task_ids, 2)
    assert np.allclose(means, [returns[:2].mean(), returns[2:].mean()])


def test_normalized_score_is_optimal_over_taken_steps_or_zero():
    assert progress.normalized_score(True, 5, 10) == 0.5 and progress.normalized_score(False, 5, 10) == 0.0


@pytest.mark.parametrize(
    ("shape", "expected", "image", "channel_last"),
    [((6,), (6,), False, False), ((4, 84, 84), (4, 84, 84), True, False), ((60, 80, 3), (3, 60, 80), True, True)],
)
def test_layouts_put_images_channel_first(shape, expected, image, channel_last):
    layout = ObservationLayout.of(spaces.Box(0, 255, shape, np.uint8))
    assert (layout.shape, layout.image, layout.channel_last) == (expected, image, channel_last)
    batch = np.random.default_rng(0).integers(0, 256, (2, *shape), dtype=np.uint8)
    x = layout.to_tensor(batch, torch.device("cpu"))
    assert x.shape == (2, *expected) and x.dtype == torch.float32 and float(x.max()) <= 1.0
    if channel_last:
        assert torch.equal(x[1, 2, 5, 7], torch.tensor(batch[1, 5, 7, 2] / 255.0, dtype=torch.float32))
    with pytest.raises(ValueError, match="Box vector"):
        ObservationLayout.of(spaces.Discrete(3))


def test_masks_default_to_every_action():
    assert action_mask_of({}, 2, 3, torch.device("cpu")).all()
    given = {"action_mask": np.array([[1, 0, 1], [0, 1, 1]], dtype=np.int8)}
    assert action_mask_of(given, 2, 3, torch.device("cpu")).tolist() == [[True, False, True], [False, True, True]]
    assert task_action_masks({}, 2, 3).all() and task_action_masks(given, 2, 3).dtype == bool


def test_evaluation_refuses_envs_that_do_not_record_episodes():
    envs = gym.make_vec("TwoRooms-v0", num_envs=2, num_tasks=2)
    with pytest.raises(ValueError, match="needs envs that record episodes"):
        progress.evaluate_episodes(envs, lambda obs, infos, first: np.zeros(2, dtype=np.int64), seed=0)
