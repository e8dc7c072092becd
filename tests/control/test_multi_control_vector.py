"""MultiControl vector env: grouped and sampled assignment, equality with the single env, autoreset,
statistics, throughput, and bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from mtenvs.control import MultiControlEnv, MultiControlVectorEnv
from mtenvs.throughput import measure
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector

SHORT = {"episode_steps": {"CartPole": 30, "Acrobot": 25, "MountainCar": 20, "CarOnHill": 15, "InvertedPendulum": 10}}


def _valid_actions(rng, masks):
    return (rng.random(len(masks)) * masks.sum(axis=1)).astype(np.int64)


@pytest.mark.parametrize("task_assignment", ["grouped", "sampled"])
def test_native_equals_single_envs_with_next_step_autoreset(task_assignment):
    num_envs = 7
    envs = gym.make_vec("MultiControl-v0", num_envs=num_envs, task_assignment=task_assignment, **SHORT)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    schedule = {"task_schedule": "uniform"}
    singles = []
    for i in range(num_envs):
        if task_assignment == "grouped":
            schedule = {"task_schedule": "fixed", "task": int(envs.unwrapped.env_task_ids[i])}
        singles.append(MultiControlEnv(**SHORT, **schedule))
    obs, infos = envs.reset(seed=10)
    expected = [env.reset(seed=10 + i) for i, env in enumerate(singles)]
    np.testing.assert_array_equal(obs, np.stack([o for o, _ in expected]))
    np.testing.assert_array_equal(infos["task_id"], [info["task_id"] for _, info in expected])
    rng = np.random.default_rng(0)
    autoreset = np.zeros(num_envs, dtype=bool)
    tasks_seen = set()
    for _ in range(120):
        actions = _valid_actions(rng, infos["action_mask"])
        obs, rewards, terminations, truncations, infos = envs.step(actions)
        for i, env in enumerate(singles):
            if autoreset[i]:
                o, info = env.reset()
                r, te, tr = 0.0, False, False
            else:
                o, r, te, tr, info = env.step(int(actions[i]))
            np.testing.assert_array_equal(obs[i], o)
            assert (rewards[i], terminations[i], truncations[i], infos["task_id"][i]) == (r, te, tr, info["task_id"])
            np.testing.assert_array_equal(infos["action_mask"][i], info["action_mask"])
        autoreset = terminations | truncations
        tasks_seen.update(infos["task_id"].tolist())
    assert tasks_seen == set(range(5))
    if task_assignment == "grouped":
        np.testing.assert_array_equal(envs.unwrapped.env_task_ids, [0, 0, 1, 2, 2, 3, 4])
    else:
        assert envs.unwrapped.env_task_ids is None
    envs.close()


def test_public_attributes_and_spaces():
    envs = gym.make_vec("MultiControl-GymTrio-v0", num_envs=6)
    base = envs.unwrapped
    assert isinstance(base, MultiControlVectorEnv)
    assert base.task_names == ("CartPole", "Acrobot", "MountainCar") and base.num_tasks == 3
    assert base.task_assignment == "grouped" and base.score_references == (None, None, None)
    np.testing.assert_array_equal(base.env_task_ids, [0, 0, 1, 1, 2, 2])
    assert envs.single_observation_space.shape == (6,) and envs.single_action_space.n == 3
    obs, infos = envs.reset(seed=0)
    assert envs.observation_space.contains(obs)
    assert infos["task_id"].dtype == np.int64 and infos["action_mask"].dtype == np.int8
    np.testing.assert_array_equal(infos["action_mask"][:2], [[1, 1, 0], [1, 1, 0]])
    envs.close()


def test_sync_vectorization_gives_the_same_batches():
    native = gym.make_vec("MultiControl-v0", num_envs=5, **SHORT)
    sync = gym.make_vec("MultiControl-v0", num_envs=5, vectorization="sync", **SHORT)
    (obs, infos), (sync_obs, _) = native.reset(seed=3), sync.reset(seed=3)
    np.testing.assert_array_equal(obs, sync_obs)
    rng = np.random.default_rng(1)
    for _ in range(60):
        actions = _valid_actions(rng, infos["action_mask"])
        a, b = native.step(actions), sync.step(actions)
        infos = a[4]
        for x, y in zip(a[:4], b[:4], strict=True):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a[4]["task_id"], b[4]["task_id"])


@pytest.mark.parametrize("task_assignment", ["grouped", "sampled"])
def test_worker_processes_give_the_native_batches(task_assignment):
    """vectorization="workers" (MultiControlEnv copies in worker processes) equals the native env over
    many episode ends; a batch with a masked action is refused by both alike."""
    kwargs = {"num_envs": 5, "task_assignment": task_assignment, "masked_action": "raise", **SHORT}
    native = gym.make_vec("MultiControl-v0", **kwargs)
    workers = gym.make_vec("MultiControl-v0", vectorization="workers", **kwargs)
    (obs, infos), (worker_obs, _) = native.reset(seed=3), workers.reset(seed=3)
    np.testing.assert_array_equal(obs, worker_obs)
    rng = np.random.default_rng(1)
    ended = steps = 0
    # At least 60 steps, then on until a sub-env plays a task with two actions (CartPole, Car-on-Hill).
    while steps < 60 or not (two_actions := np.flatnonzero(infos["action_mask"][:, 2] == 0)).size:
        actions = _valid_actions(rng, infos["action_mask"])
        expected, got = native.step(actions), workers.step(actions)
        for x, y in zip(expected[:4], got[:4], strict=True):
            np.testing.assert_array_equal(x, y)
        for key in ("task_id", "action_mask"):
            np.testing.assert_array_equal(expected[4][key], got[4][key])
        infos = expected[4]
        ended += int((expected[2] | expected[3]).sum())
        steps += 1
    assert ended >= 10
    actions = _valid_actions(rng, infos["action_mask"])
    actions[two_actions[0]] = 2
    for envs in (native, workers):
        with pytest.raises(ValueError, match=rf"Sub-envs \[{two_actions[0]}\] got actions \[2\] outside their task's"):
            envs.step(actions)
    native.close()
    workers.close()


def test_episode_statistics_per_task():
    envs = RecordTaskEpisodeStatisticsVector(gym.make_vec("MultiControl-v0", num_envs=5, **SHORT))
    envs.reset(seed=0)
    lengths = {task: set() for task in range(5)}
    for _ in range(80):
        *_, infos = envs.step(np.ones(5, dtype=np.int64))
        if "episode" in infos:
            for i in np.flatnonzero(infos["_episode"]):
                lengths[int(infos["episode"]["task_id"][i])].add(int(infos["episode"]["l"][i]))
    # MountainCar and the always-right Car-on-Hill run to their (shortened) limits.
    assert lengths[2] == {20} and lengths[3] == {15}
    limits = list(SHORT["episode_steps"].values())
    assert all(lengths[t] and max(lengths[t]) <= limit for t, limit in enumerate(limits))


def test_masked_actions_in_the_vector_env():
    envs = gym.make_vec("MultiControl-v0", num_envs=5, masked_action="raise")
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="CartPole's actions"):
        envs.step(np.full(5, 2, dtype=np.int64))
    with pytest.raises(ValueError, match=r"0\.\.2"):
        envs.step(np.full(5, 3))


@pytest.mark.parametrize("vectorization", ["native", "sync", "async"])
def test_a_masked_action_refuses_the_whole_batch_before_any_sub_env_steps(vectorization):
    """Regression: [0, 0, 0, 2, 0] raised for Car-on-Hill (sub-env 3) after sub-envs 0-2 had stepped."""
    kwargs = {"num_envs": 5, "masked_action": "raise", "vectorization": vectorization}
    envs, twin = gym.make_vec("MultiControl-v0", **kwargs), gym.make_vec("MultiControl-v0", **kwargs)
    envs.reset(seed=0)
    twin.reset(seed=0)
    with pytest.raises(ValueError, match=r"Sub-envs \[3\] got actions \[2\] .*CarOnHill's actions are \[0, 1\]"):
        envs.step(np.array([0, 0, 0, 2, 0]))
    good = np.array([0, 0, 0, 1, 0])
    for got, expected in zip(envs.step(good)[:4], twin.step(good)[:4], strict=True):
        np.testing.assert_array_equal(got, expected)
    envs.close()
    twin.close()


@pytest.mark.parametrize("vectorization", ["native", "sync"])
def test_sampled_tasks_are_checked_against_the_mask_of_their_current_task(vectorization):
    envs = gym.make_vec(
        "MultiControl-v0", num_envs=4, task_assignment="sampled", masked_action="raise", vectorization=vectorization
    )
    _, infos = envs.reset(seed=0)
    rng = np.random.default_rng(0)
    refused = 0
    for _ in range(200):
        actions = np.full(4, 2, dtype=np.int64)  # masked exactly for the two-action tasks
        two_action = infos["action_mask"][:, 2] == 0
        if two_action.any():
            with pytest.raises(ValueError, match=rf"Sub-envs \[{', '.join(map(str, np.flatnonzero(two_action)))}\]"):
                envs.step(actions)
            refused += 1
        _, _, _, _, infos = envs.step(_valid_actions(rng, infos["action_mask"]))
    assert refused > 0
    envs.close()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.int8])
def test_unsigned_actions_push_the_same_way_as_in_the_single_env(dtype):
    """Regression: uint8 0 reached MountainCar as a NumPy uint8, so its (action - 1) wrapped to 255
    and "push left" pushed right with 255 times the force."""
    envs = gym.make_vec("MultiControl-v0", num_envs=1, tasks=["MountainCar"])
    single = MultiControlEnv(tasks=["MountainCar"])
    obs, _ = envs.reset(seed=3)
    expected, _ = single.reset(seed=3)
    for action in [0] * 10 + [2] * 10 + [1] * 5:
        obs = envs.step(np.array([action], dtype=dtype))[0]
        expected = single.step(action)[0]
        np.testing.assert_array_equal(obs[0], expected)
    assert obs[0, 1] != 0.0  # the car moved


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_envs": 0}, ValueError, r"num_envs must be an int in 1\.\.1024"),
        ({"num_envs": 2}, ValueError, "needs num_envs >= num_tasks"),
        ({"num_envs": 2, "task_assignment": "mixed"}, ValueError, "valid: grouped, sampled"),
        ({"num_envs": 2, "vectorization": "gpu"}, ValueError, "valid: native, sync, async, workers"),
        ({"num_envs": 5, "num_workers": 2}, ValueError, 'num_workers= only applies with vectorization="workers"'),
        ({"num_envs": 2, "tasks": ["Foo"]}, ValueError, "Unknown task 'Foo'"),
        ({"num_envs": 2, "masked_action": "noop"}, ValueError, "valid: clamp, raise"),
    ],
)
def test_bad_vector_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        gym.make_vec("MultiControl-v0", **kwargs)


def test_bad_calls():
    envs = gym.make_vec("MultiControl-GymTrio-v0", num_envs=3)
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="seed must be an int"):
        envs.reset(seed=1.5)
    with pytest.raises(ValueError, match="Grouped sub-envs keep their tasks"):
        envs.reset(options={"task": 1})
    with pytest.raises(ValueError, match=r"Unknown reset option\(s\) \['level'\]"):
        envs.reset(options={"level": 1})
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        envs.step(np.zeros(2, dtype=np.int64))


@pytest.mark.parametrize("vectorization", ["native", "sync"])
def test_render_before_reset_raises(vectorization):
    envs = gym.make_vec("MultiControl-v0", num_envs=5, render_mode="rgb_array", vectorization=vectorization)
    with pytest.raises(RuntimeError, match=r"Call reset\(\) before render\(\)"):
        envs.render()
    envs.reset(seed=0)
    assert len(envs.render()) == 5


def test_throughput_reports_both_rates_and_the_ratio():
    result = measure("MultiControl-v0", num_envs=10, seconds=0.5)
    labels = [m.label for m in result.measurements]
    assert len(labels) == 2 and all(m.steps_per_second > 0 for m in result.measurements)
    assert result.ratios[0].target == 1.0 and result.ratios[0].value > 0
    assert "SyncVectorEnv" in result.format()


def test_native_env_hands_simulators_numpy_integers():
    # Gymnasium's Discrete.contains (called by every task's step) checks a NumPy integer in half the
    # time of a Python int; the throughput ratio depends on it (docs/multi_control.md).
    envs = gym.make_vec("MultiControl-v0", num_envs=5, vectorization_mode="vector_entry_point")
    envs.reset(seed=0)
    seen = []

    def recording(step):
        def step_and_record(action):
            seen.append(type(action))
            return step(action)

        return step_and_record

    for env in envs.unwrapped._envs:
        simulator = env._simulator(env.task_id)
        simulator.step = recording(simulator.step)
    envs.step(np.zeros(5, dtype=np.int64))
    assert len(seen) == 5 and all(issubclass(t, np.integer) for t in seen), seen
