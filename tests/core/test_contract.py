"""The shared multi-task contract (mtenvs.core, wrappers, vector) on a tiny env with known values."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from mtenvs.core import ensure_json_kwargs, grouped_task_ids, one_hot_tasks
from mtenvs.vector import MultiTaskVectorEnv
from mtenvs.wrappers import (
    RecordTaskEpisodeStatistics,
    RecordTaskEpisodeStatisticsVector,
    TaskObservation,
    TaskObservationVector,
)


def test_grouped_task_ids_are_equal_contiguous_groups():
    np.testing.assert_array_equal(grouped_task_ids(6, 3), [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(grouped_task_ids(8, 8), np.arange(8))
    np.testing.assert_array_equal(grouped_task_ids(5, 2), [0, 0, 0, 1, 1])  # i * T // N
    with pytest.raises(ValueError, match="num_envs"):
        grouped_task_ids(0, 3)


def test_schedules(countdown_env_cls):
    env = countdown_env_cls(task_schedule="round_robin")
    assert [env.reset(seed=0)[1]["task_id"]] + [env.reset()[1]["task_id"] for _ in range(4)] == [0, 1, 2, 0, 1]
    env = countdown_env_cls(task_schedule="fixed", task="long")
    assert {env.reset()[1]["task_id"] for _ in range(5)} == {2}
    env = countdown_env_cls()
    env.reset(seed=1)
    drawn = [env.reset()[1]["task_id"] for _ in range(60)]
    assert set(drawn) == {0, 1, 2}


def test_uniform_schedule_is_seeded(countdown_env_cls):
    def tasks(seed):
        env = countdown_env_cls()
        return [env.reset(seed=seed)[1]["task_id"]] + [env.reset()[1]["task_id"] for _ in range(20)]

    assert tasks(3) == tasks(3)
    assert tasks(3) != tasks(4)


def test_reset_option_pins_one_episode_only(countdown_env_cls):
    env = countdown_env_cls(task_schedule="round_robin")
    assert env.reset(seed=0, options={"task": "long"})[1]["task_id"] == 2
    assert env.reset()[1]["task_id"] == 0  # the schedule goes on where it was


def test_action_mask_in_info(countdown_env_cls):
    env = countdown_env_cls(task_schedule="fixed", task=0)
    _, info = env.reset(seed=0)
    np.testing.assert_array_equal(info["action_mask"], [1, 1, 0])
    assert info["action_mask"].dtype == np.int8


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"task_schedule": "random"}, ValueError, "valid schedules: uniform, round_robin, fixed"),
        ({"task_schedule": "fixed"}, ValueError, "needs task="),
        ({"task_schedule": "fixed", "task": 3}, ValueError, r"valid ids are 0..2"),
        ({"task_schedule": "fixed", "task": "huge"}, ValueError, "valid tasks: short, medium, long"),
        ({"task_schedule": "fixed", "task": 1.0}, TypeError, "int id or a str name"),
        ({"task": 1}, ValueError, 'only applies with task_schedule="fixed"'),
    ],
)
def test_bad_task_arguments(countdown_env_cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        countdown_env_cls(**kwargs)


def test_bad_reset_options(countdown_env_cls):
    env = countdown_env_cls()
    with pytest.raises(ValueError, match="out of range"):
        env.reset(options={"task": -1})
    with pytest.raises(ValueError, match=r"Unknown reset option\(s\) \['level'\]"):
        env.reset(options={"level": 1})


def test_json_kwargs_check_names_the_argument():
    ensure_json_kwargs("X", {"games": ["Pong"], "task": None})
    with pytest.raises(TypeError, match=r"argument games=.*not JSON-serialisable"):
        ensure_json_kwargs("X", {"games": [object()]})


def test_human_normalized_score(countdown_env_cls):
    env = countdown_env_cls()
    assert env.human_normalized_score("short", 5.0) == pytest.approx(0.5)
    assert env.human_normalized_score(2, 3.0) == pytest.approx(1.0)
    assert np.isnan(env.human_normalized_score("medium", 5.0))


def test_task_observation_one_hot(countdown_env_cls):
    env = TaskObservation(countdown_env_cls(task_schedule="fixed", task=1))
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs["task"], [0, 1, 0])
    assert env.observation_space.contains(obs)
    np.testing.assert_array_equal(one_hot_tasks(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])


@pytest.mark.parametrize(
    ("task_ids", "error", "match"),
    [
        (-1, ValueError, r"Task ids must lie in 0\.\.1, got -1"),  # used to wrap to the last task
        (2, ValueError, r"Task ids must lie in 0\.\.1, got 2"),
        (np.array([0, -2]), ValueError, r"Task ids must lie in 0\.\.1"),
        (True, TypeError, r"Task ids must be ints, got True"),
        (np.array([0.0, 1.0]), TypeError, r"Task ids must be ints"),
    ],
)
def test_one_hot_tasks_refuses_ids_outside_the_task_set(task_ids, error, match):
    with pytest.raises(error, match=match):
        one_hot_tasks(task_ids, 2)
    np.testing.assert_array_equal(one_hot_tasks(1, 2), [0, 1])
    assert one_hot_tasks(np.zeros(0, dtype=np.int64), 2).shape == (0, 2)


def test_episode_statistics_single(countdown_env_cls):
    env = RecordTaskEpisodeStatistics(countdown_env_cls(task_schedule="fixed", task=2))
    env.reset(seed=0)
    for _ in range(3):
        *_, info = env.step(0)
    assert "episode" not in info
    *_, terminated, _, info = env.step(0)
    assert terminated
    episode = info["episode"]
    assert (episode["r"], episode["l"], episode["task_id"], episode["task"]) == (12.0, 4, 2, "long")
    assert episode["hns"] == pytest.approx((12.0 - 1.0) / (3.0 - 1.0))


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_grouped_vector_and_statistics(countdown_env_cls, mode):
    envs = MultiTaskVectorEnv(countdown_env_cls, 3, autoreset_mode=mode)
    np.testing.assert_array_equal(envs.env_task_ids, [0, 1, 2])
    envs = RecordTaskEpisodeStatisticsVector(envs)
    _, infos = envs.reset(seed=0)
    np.testing.assert_array_equal(infos["task_id"], [0, 1, 2])
    finished: dict[int, list[tuple[float, int]]] = {0: [], 1: [], 2: []}
    for _ in range(12):
        _, _, _, _, infos = envs.step(np.zeros(3, dtype=np.int64))
        np.testing.assert_array_equal(infos["task_id"], [0, 1, 2])  # grouped tasks never move
        if "episode" in infos:
            for i in np.flatnonzero(infos["_episode"]):
                assert infos["episode"]["task_id"][i] == i
                finished[i].append((infos["episode"]["r"][i], infos["episode"]["l"][i]))
    # Task t: episodes of t + 2 steps paying t + 1 per step, whatever the autoreset mode.
    for task, episodes in finished.items():
        assert episodes, f"task {task} never finished"
        assert set(episodes) == {((task + 1) * (task + 2), task + 2)}
    envs.close()


def test_sampled_vector_draws_tasks_per_episode(countdown_env_cls):
    envs = MultiTaskVectorEnv(countdown_env_cls, 2, task_assignment="sampled")
    assert envs.env_task_ids is None
    _, infos = envs.reset(seed=0)
    seen = {tuple(infos["task_id"])}
    for _ in range(40):
        *_, infos = envs.step(np.zeros(2, dtype=np.int64))
        seen.add(tuple(infos["task_id"]))
    assert len({task for pair in seen for task in pair}) == 3
    with pytest.raises(ValueError, match="valid: grouped, sampled"):
        MultiTaskVectorEnv(countdown_env_cls, 2, task_assignment="mixed")
    with pytest.raises(ValueError, match="set by task_assignment"):
        MultiTaskVectorEnv(countdown_env_cls, 2, task=1)


def test_task_observation_vector(countdown_env_cls):
    envs = TaskObservationVector(MultiTaskVectorEnv(countdown_env_cls, 3))
    obs, _ = envs.reset(seed=0)
    np.testing.assert_array_equal(obs["task"], np.eye(3, dtype=np.float32))
    assert envs.observation_space.contains(obs)
    sub_env_obs = MultiTaskVectorEnv(countdown_env_cls, 3, task_obs=True).reset(seed=0)[0]
    np.testing.assert_array_equal(sub_env_obs["task"], np.eye(3, dtype=np.float32))
