"""Bad input to every vector path: num_envs, reset seeds and options, action batches, wrong state.

Each vector path of every family shares one base (``mtenvs.vector.MultiTaskVectorBase``), so the
same bad input gets the same exception type and message on all of them. Cases are listed by class
(type, range, size bound, seeds, options, batch, wrong state).
"""

from __future__ import annotations

import copy
import pickle
import re
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import VectorEnv

from mtenvs.tworooms import TwoRoomsEnv
from mtenvs.vector import MAX_NUM_ENVS, MultiTaskVectorBase, MultiTaskVectorEnv
from mtenvs.workers import WorkerVectorEnv

CONTROL_TASKS = ["Acrobot", "CarOnHill"]  # three actions and two: action 2 is masked for sub-env 1
# Every vector path, each with two tasks, as factory(num_envs, **kwargs). The generic
# MultiTaskVectorEnv and WorkerVectorEnv run TwoRooms single envs, whose step raises on a bad action:
# the case where a Gymnasium vector env used to step the sub-envs before the bad one.
PATHS: dict[str, Callable[..., VectorEnv]] = {
    "generic-sync": lambda n, **kw: MultiTaskVectorEnv(TwoRoomsEnv, n, num_tasks=2, **kw),
    "generic-async": lambda n, **kw: MultiTaskVectorEnv(TwoRoomsEnv, n, num_tasks=2, vectorization="async", **kw),
    "generic-workers": lambda n, **kw: WorkerVectorEnv(TwoRoomsEnv, n, num_tasks=2, **kw),
    "tworooms-batched": lambda n, **kw: gym.make_vec("TwoRooms-v0", num_envs=n, num_tasks=2, **kw),
    "tworooms-sync": lambda n, **kw: gym.make_vec("TwoRooms-v0", num_envs=n, num_tasks=2, vectorization="sync", **kw),
    "atari-ale": lambda n, **kw: gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=n, **kw),
    "atari-sync": lambda n, **kw: gym.make_vec(
        "MultiAtari-PongBreakout-v0", num_envs=n, vectorization="sync", preset="nature", **kw
    ),
    "atari-workers": lambda n, **kw: gym.make_vec(
        "MultiAtari-PongBreakout-v0", num_envs=n, vectorization="workers", preset="nature", **kw
    ),
    "control-native": lambda n, **kw: gym.make_vec("MultiControl-v0", num_envs=n, tasks=CONTROL_TASKS, **kw),
    "control-sync": lambda n, **kw: gym.make_vec(
        "MultiControl-v0", num_envs=n, tasks=CONTROL_TASKS, vectorization="sync", **kw
    ),
    "control-workers": lambda n, **kw: gym.make_vec(
        "MultiControl-v0", num_envs=n, tasks=CONTROL_TASKS, vectorization="workers", **kw
    ),
    "maze-sync": lambda n, **kw: gym.make_vec("MultiMaze-v0", num_envs=n, vectorization="sync", **kw),
    "maze-workers": lambda n, **kw: gym.make_vec("MultiMaze-v0", num_envs=n, vectorization="workers", **kw),
}
# The paths cheap enough to build in every test (MiniWorld's are only refused here, never built).
BUILT = [path for path in PATHS if not path.startswith("maze-")]


def build(path: str, num_envs: int = 2, **kwargs: Any) -> VectorEnv:
    return PATHS[path](num_envs, **kwargs)


# ---------------------------------------------------------------------- num_envs

NUM_ENVS_TYPE = [1.5, True, "2", None, 2.0]
NUM_ENVS_RANGE = [0, -3]
NUM_ENVS_SIZE = [2**20 + 1, 10**9]  # beyond every path's bound (1024; 2**20 for batched TwoRooms)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("num_envs", NUM_ENVS_TYPE)
def test_num_envs_of_a_wrong_type_is_refused_alike_everywhere(path, num_envs):
    with pytest.raises(TypeError, match=r"^num_envs must be an int in 1\.\.\d+, got"):
        build(path, num_envs)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("num_envs", NUM_ENVS_RANGE + NUM_ENVS_SIZE)
def test_num_envs_out_of_range_is_refused_alike_everywhere(path, num_envs):
    with pytest.raises(ValueError, match=r"^num_envs must be an int in 1\.\.\d+, got"):
        build(path, num_envs)


def test_each_path_states_its_own_bound():
    with pytest.raises(ValueError, match=rf"num_envs must be an int in 1\.\.{MAX_NUM_ENVS}, got {MAX_NUM_ENVS + 1}"):
        build("tworooms-sync", MAX_NUM_ENVS + 1)
    envs = build("tworooms-batched", MAX_NUM_ENVS + 1)
    assert envs.num_envs == MAX_NUM_ENVS + 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: gym.make_vec("TwoRooms-v0", num_envs=2**20, room_size=32, corridor_length=32, observation_type="image"),
        lambda: gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=1024, screen_size=336, stack_size=64),
        lambda: gym.make_vec(
            "MultiAtari-PongBreakout-v0", num_envs=1024, screen_size=336, stack_size=64, vectorization="sync"
        ),
    ],
    ids=["tworooms-batched", "atari-ale", "atari-sync"],
)
def test_observation_batches_are_bounded_in_memory(make):
    with pytest.raises(ValueError, match=r"num_envs=\d+ sub-envs x [\d,]+-byte observations .* more than the 1 GiB"):
        make()


# ---------------------------------------------------------------------- other constructor arguments


@pytest.mark.parametrize(
    ("env_id", "default", "valid"),
    [
        ("MultiAtari-PongBreakout-v0", "ale when grouped, workers when sampled", "ale, workers, sync, async"),
        ("TwoRooms-v0", "batched", "batched, sync, async, workers"),
        ("MultiMaze-v0", "workers", "sync, async, workers"),
        ("MultiControl-v0", "native", "native, sync, async, workers"),
    ],
)
def test_unknown_vectorization_lists_every_mode_and_the_default(env_id, default, valid):
    with pytest.raises(ValueError, match=rf"Unknown vectorization 'foo'; valid: {valid} \(default {default}\)"):
        gym.make_vec(env_id, num_envs=8, vectorization="foo")


ARGUMENT_CASES = [  # (kwargs, exception, words of the message)
    ({"task_assignment": "mixed"}, ValueError, "Unknown task_assignment 'mixed'; valid: grouped, sampled"),
    ({"task_assignment": ["grouped"]}, ValueError, "Unknown task_assignment"),
    ({"task_obs": "yes"}, TypeError, "task_obs must be True or False"),
    ({"task_obs": 1}, TypeError, "task_obs must be True or False"),
]


@pytest.mark.parametrize("path", ["generic-sync", "tworooms-batched", "atari-ale", "atari-workers"])
@pytest.mark.parametrize(("kwargs", "error", "match"), ARGUMENT_CASES)
def test_bad_vector_arguments(path, kwargs, error, match):
    with pytest.raises(error, match=match):
        build(path, **kwargs)


# ---------------------------------------------------------------------- wrong state


@pytest.mark.parametrize(
    ("make", "needed"),
    [
        (lambda: gym.make_vec("MultiAtari-v0", num_envs=4), 8),
        (lambda: gym.make_vec("TwoRooms-v0", num_envs=2), 8),
        (lambda: gym.make_vec("TwoRooms-v0", num_envs=7, vectorization="sync"), 8),
        (lambda: gym.make_vec("MultiNav-v0", num_envs=3, vectorization="sync"), 4),
    ],
)
def test_grouped_assignment_with_fewer_envs_than_tasks_is_refused(make, needed):
    """Sub-env i runs task i * num_tasks // num_envs: with fewer envs than tasks some tasks never run."""
    with pytest.raises(ValueError, match=rf"needs num_envs >= num_tasks.*Use num_envs={needed} .*\"sampled\""):
        make()


def test_sampled_assignment_may_have_fewer_envs_than_tasks():
    envs = MultiTaskVectorEnv(TwoRoomsEnv, 2, task_assignment="sampled")
    assert envs.env_task_ids is None
    envs.close()


@pytest.mark.parametrize("path", BUILT)
def test_step_before_reset_raises(path):
    envs = build(path)
    with pytest.raises(RuntimeError, match=r"Call reset\(\) before step\(\)"):
        envs.step(np.zeros(2, dtype=np.int64))
    envs.close()


BATCH_CASES = [  # the last sub-env's action is bad, or the batch itself is
    np.array([0, 99]),
    np.array([0, -1]),
    np.array([0.0, 1.0]),
    np.array([0, 1, 0]),
    np.array([[0, 1]]),
    None,
    ["up", "down"],
]


@pytest.mark.parametrize("path", BUILT)
def test_a_bad_batch_is_refused_before_any_sub_env_steps(path):
    """Regression: sync/async Gymnasium vector envs stepped sub-env 0 before sub-env 1's action raised
    (async then lost its worker). Each bad batch is refused, and the envs stay in step with a twin
    that never saw it."""
    envs, twin = build(path), build(path)
    envs.reset(seed=3)
    twin.reset(seed=3)
    good = np.array([1, 0])
    for actions in BATCH_CASES:
        with pytest.raises(ValueError) as refused:
            envs.step(actions)
        assert data_equivalence(envs.step(good), twin.step(good)), f"sub-envs out of step after {actions!r}"
        assert re.search(r"[Aa]ctions must", str(refused.value)), refused.value
    envs.close()
    twin.close()


# The paths whose tasks have different valid actions, with a batch that is valid in the action
# space but masked for the last sub-env (Breakout has no action 11, Car-on-Hill no action 2).
MASKED_BATCHES = {
    "atari-ale": np.array([11, 11]),
    "atari-sync": np.array([11, 11]),
    "atari-workers": np.array([11, 11]),
    "control-native": np.array([2, 2]),
    "control-sync": np.array([2, 2]),
    "control-workers": np.array([2, 2]),
}


@pytest.mark.parametrize("path", MASKED_BATCHES)
def test_a_batch_with_a_masked_action_is_refused_before_any_sub_env_steps(path):
    """Regression: with masked_action="raise", MultiControl's native and sync vector envs stepped the
    sub-envs before the one whose single env refused its action. The boundary now checks each
    action against its sub-env's mask first, on every path."""
    envs, twin = build(path, masked_action="raise"), build(path, masked_action="raise")
    envs.reset(seed=3)
    twin.reset(seed=3)
    with pytest.raises(ValueError, match=r"^Sub-envs \[1\] got actions \[\d+\] outside their task's actions .*"
                       r"masked_action='raise'.*No sub-env was stepped\.$"):  # fmt: skip
        envs.step(MASKED_BATCHES[path])
    good = np.array([1, 0])
    assert data_equivalence(envs.step(good), twin.step(good))
    envs.close()
    twin.close()


@pytest.mark.parametrize("path", ["generic-sync", "generic-async", "generic-workers"])
def test_ended_sub_envs_without_autoreset_are_refused_before_any_sub_env_steps(path):
    """Regression: with autoreset disabled, Gymnasium's vector envs stepped the sub-envs before an
    ended one and then failed on it (an AssertionError from SyncVectorEnv)."""
    kwargs = {"max_steps": 1, "autoreset_mode": "Disabled"}
    envs, twin = build(path, **kwargs), build(path, **kwargs)
    for vector in (envs, twin):
        vector.reset(seed=0)
        vector.step(np.array([0, 0]))  # every episode ends after one step
    with pytest.raises(RuntimeError, match=r"Sub-envs \[0, 1\] have ended and autoreset_mode is Disabled"):
        envs.step(np.array([1, 1]))
    mask = np.array([True, False])
    assert data_equivalence(envs.reset(options={"reset_mask": mask}), twin.reset(options={"reset_mask": mask}))
    with pytest.raises(RuntimeError, match=r"Sub-envs \[1\] have ended"):
        envs.step(np.array([1, 1]))
    envs.reset(seed=1)
    twin.reset(seed=1)
    assert data_equivalence(envs.step(np.array([1, 2])), twin.step(np.array([1, 2])))
    envs.close()
    twin.close()


# ---------------------------------------------------------------------- reset seeds and options

SEED_TYPE = [1.5, "3", True, np.float64(2.0)]
SEED_RANGE = [-1, -(2**40)]


@pytest.mark.parametrize("path", BUILT)
def test_vector_seeds_accept_and_refuse_what_single_envs_do(path):
    envs = build(path)
    for seed in SEED_TYPE:
        with pytest.raises(TypeError, match=r"seed must be an int >= 0"):
            envs.reset(seed=seed)
    for seed in SEED_RANGE:
        with pytest.raises(ValueError, match=r"seed must be an int >= 0"):
            envs.reset(seed=seed)
    # Large seeds are fine for single envs, so they are fine here (ale-py used to reject >= 2**31).
    first, _ = envs.reset(seed=2**31 - 1)
    again, _ = envs.reset(seed=2**31 - 1)
    assert data_equivalence(first, again)
    envs.reset(seed=2**40)
    envs.reset(seed=2**64)  # ale-py's path raised a raw OverflowError here (NumPy int64 arithmetic)
    envs.close()


def test_generic_vector_takes_one_seed_per_sub_env():
    envs = MultiTaskVectorEnv(TwoRoomsEnv, 2, num_tasks=2)
    envs.reset(seed=[1, 2])
    with pytest.raises(ValueError, match=r"one seed per sub-env \(2\), got 3"):
        envs.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match=r"seed\[1\] must be an int >= 0"):
        envs.reset(seed=[1, -2])
    envs.close()


OPTIONS_CASES = [  # (options, exception, words of the message)
    ("task", TypeError, "reset options must be a dict"),
    (["reset_mask"], TypeError, "reset options must be a dict"),
    ({"bogus": 1}, ValueError, r"Unknown reset option\(s\) \['bogus'\]"),
    ({"task": 0}, ValueError, "keep their"),
]


@pytest.mark.parametrize("path", BUILT)
@pytest.mark.parametrize(("options", "error", "match"), OPTIONS_CASES)
def test_bad_reset_options(path, options, error, match):
    envs = build(path)
    with pytest.raises(error, match=match):
        envs.reset(seed=0, options=options)
    envs.close()


@pytest.mark.parametrize("path", ["generic-sync", "generic-workers", "atari-ale"])
def test_bad_reset_mask(path):
    envs = build(path)
    envs.reset(seed=0)
    for mask in (np.array([1, 0]), np.array([True]), np.array([True, False, True])):
        with pytest.raises(ValueError, match=r"reset_mask must be a bool array of shape \(2,\)"):
            envs.reset(options={"reset_mask": mask})
    envs.close()


# Where a vector env cannot be pickled, the message says why (it used to be pickle's own error, e.g.
# "Can't pickle local object ...thunk" or "cannot pickle 'ALEVectorInterface' object").
UNPICKLABLE = {
    "generic-sync": "run in Gymnasium's SyncVectorEnv, built from local factories",
    "generic-async": "run in worker processes in Gymnasium's AsyncVectorEnv",
    "atari-ale": "its games run in ale-py's C\\+\\+ vector envs",
    "atari-sync": "run in Gymnasium's SyncVectorEnv",
    "control-sync": "run in Gymnasium's SyncVectorEnv",
    "tworooms-sync": "run in Gymnasium's SyncVectorEnv",
    "generic-workers": "its sub-envs live in worker processes",
    "atari-workers": "its sub-envs live in worker processes",
    "control-workers": "its sub-envs live in worker processes",
}


@pytest.mark.parametrize("path", BUILT)
def test_vector_envs_pickle_or_say_why_not(path):
    envs = build(path)
    envs.reset(seed=0)
    if path in UNPICKLABLE:
        for copy_env in (pickle.dumps, copy.deepcopy):
            with pytest.raises(TypeError, match=rf"^\w+ cannot be pickled or deep-copied: .*{UNPICKLABLE[path]}"):
                copy_env(envs)
    else:
        clone = pickle.loads(pickle.dumps(envs))
        assert data_equivalence(clone.step(np.array([1, 0])), envs.step(np.array([1, 0])))
    envs.close()


@pytest.mark.parametrize("path", BUILT)
def test_every_vector_path_is_a_multi_task_vector_base(path):
    envs = build(path)
    base = envs.unwrapped
    assert isinstance(base, MultiTaskVectorBase)
    assert (base.num_tasks, base.task_assignment, base.env_task_ids.tolist()) == (2, "grouped", [0, 1])
    assert len(base.score_references) == 2
    envs.close()
