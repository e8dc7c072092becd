"""Batched worker processes (mtenvs.workers.WorkerVectorEnv): the same batches as Gymnasium's
SyncVectorEnv whatever the number of workers, shared-memory observations of any space, worker
failures reported at once, and workers always reaped."""

from __future__ import annotations

import copy
import gc
import multiprocessing
import os
import pickle
import signal
import threading
import time

import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode

from mtenvs.vector import MultiTaskVectorEnv
from mtenvs.workers import WorkerVectorEnv, usable_cores
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector, TaskObservation


def alive(pid: int) -> bool:
    """Whether a process with this id exists (reaped workers do not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def rollout(envs, mode: AutoresetMode, sampled: bool) -> list:
    """Seeded resets (an int seed, a seed list, masks, pinned tasks) and steps with random actions;
    with autoreset disabled, ended sub-envs are reset by mask as Gymnasium expects."""
    rng = np.random.default_rng(0)
    record = [envs.reset(seed=4)]
    for step in range(30):
        record.append(envs.step(rng.integers(0, 3, envs.num_envs)))
        ended = record[-1][2] | record[-1][3]
        if mode == AutoresetMode.DISABLED and ended.any():
            record.append(envs.reset(options={"reset_mask": ended}))
        if step == 10:
            mask = np.zeros(envs.num_envs, dtype=bool)
            mask[1] = True
            record.append(envs.reset(seed=9, options={"reset_mask": mask}))
    record.append(envs.reset(seed=list(range(20, 20 + envs.num_envs))))
    if sampled:
        record.append(envs.reset(options={"task": "long"}))
    return record


@pytest.mark.parametrize(
    ("num_workers", "parent_slice"), [(0, True), (1, True), (4, True), (1, False), (2, False), (5, False)]
)
@pytest.mark.parametrize("task_assignment", ["grouped", "sampled"])
@pytest.mark.parametrize("mode", list(AutoresetMode))
def test_batches_equal_sync_vector_env_for_any_worker_count(
    countdown_env_cls, mode, task_assignment, num_workers, parent_slice
):
    """Observations, rewards, flags and infos (masks, final_obs/final_info under same-step autoreset),
    with or without a slice in the parent."""
    kwargs = {"task_assignment": task_assignment, "autoreset_mode": mode}
    sync = MultiTaskVectorEnv(countdown_env_cls, 5, **kwargs)
    workers = WorkerVectorEnv(countdown_env_cls, 5, num_workers=num_workers, parent_slice=parent_slice, **kwargs)
    assert workers.metadata["autoreset_mode"] == mode and len(workers.worker_pids()) == num_workers
    expected = rollout(sync, mode, task_assignment == "sampled")
    got = rollout(workers, mode, task_assignment == "sampled")
    assert data_equivalence(expected, got)
    steps = [item for item in got if len(item) == 5]
    assert sum(int(terminated.sum()) for _, _, terminated, _, _ in steps) >= 20  # many episodes ended
    if mode == AutoresetMode.SAME_STEP:
        assert any("final_obs" in infos for *_, infos in steps)
    if task_assignment == "sampled":
        assert len({task for *_, infos in steps for task in infos["task_id"]}) == 3
        np.testing.assert_array_equal(got[-1][1]["task_id"], [2] * 5)  # options={"task": "long"}
    sync.close()
    workers.close()


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_per_task_episode_statistics_match_the_sync_path(countdown_env_cls, mode):
    envs = [
        RecordTaskEpisodeStatisticsVector(cls(countdown_env_cls, 4, task_assignment="sampled", autoreset_mode=mode))
        for cls in (MultiTaskVectorEnv, WorkerVectorEnv)
    ]
    for env in envs:
        env.reset(seed=1)
    episodes = 0
    for _ in range(20):
        sync_infos, worker_infos = (env.step(np.zeros(4, dtype=np.int64))[4] for env in envs)
        assert ("episode" in sync_infos) == ("episode" in worker_infos)
        if "episode" in sync_infos:
            np.testing.assert_array_equal(sync_infos["_episode"], worker_infos["_episode"])
            for key in ("r", "l", "task_id", "hns"):  # not "t", the wall time
                np.testing.assert_array_equal(sync_infos["episode"][key], worker_infos["episode"][key])
            episodes += int(worker_infos["_episode"].sum())
    assert episodes >= 10
    for env in envs:
        env.close()


def test_dict_observations_go_through_shared_memory(countdown_env_cls):
    def with_task(**kwargs):
        return TaskObservation(countdown_env_cls(**kwargs))

    sync = MultiTaskVectorEnv(countdown_env_cls, 3, task_obs=True, task_assignment="sampled")
    workers = WorkerVectorEnv(with_task, 3, task_assignment="sampled")
    assert workers.single_observation_space == sync.single_observation_space
    assert data_equivalence(
        rollout(sync, AutoresetMode.NEXT_STEP, True), rollout(workers, AutoresetMode.NEXT_STEP, True)
    )
    workers.close()


def test_hosts_step_contiguous_slices_the_parent_first(countdown_env_cls):
    class Located(countdown_env_cls):  # records the process it was built in
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.pid = os.getpid()

    envs = WorkerVectorEnv(Located, 5, num_workers=2, task_assignment="sampled")
    first, second = envs.worker_pids()
    assert envs.get_attr("pid") == (os.getpid(), first, first, second, second)  # 3 hosts: 0 | 1-2 | 3-4
    envs.close()
    envs = WorkerVectorEnv(Located, 5, num_workers=2, parent_slice=False, task_assignment="sampled")
    first, second = envs.worker_pids()
    assert envs.get_attr("pid") == (first, first, second, second, second)
    assert os.getpid() not in (first, second)
    envs.close()


def test_default_hosts_are_the_usable_cores_at_most_num_envs_the_parent_one_of_them(countdown_env_cls):
    for num_envs in (1, 64):
        envs = WorkerVectorEnv(countdown_env_cls, num_envs, task_assignment="sampled")
        assert envs.num_workers == len(envs.worker_pids()) == min(usable_cores(), num_envs) - 1
        envs.close()
        envs = WorkerVectorEnv(countdown_env_cls, num_envs, task_assignment="sampled", parent_slice=False)
        assert envs.num_workers == len(envs.worker_pids()) == min(usable_cores(), num_envs)
        envs.close()
    assert usable_cores() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_workers": 0, "parent_slice": False}, ValueError, r"num_workers must be an int in 1\.\.4, got 0"),
        ({"num_workers": 5, "parent_slice": False}, ValueError, r"num_workers must be an int in 1\.\.4, got 5"),
        ({"num_workers": 4}, ValueError, r"num_workers \(besides the parent's slice\) must be an int in 0\.\.3, got 4"),
        ({"num_workers": -1}, ValueError, r"num_workers \(besides the parent's slice\) must be an int in 0\.\.3"),
        (
            {"num_workers": 1.0},
            TypeError,
            r"num_workers \(besides the parent's slice\) must be an int in 0\.\.3, got 1\.0",
        ),
        ({"num_workers": True}, TypeError, r"must be an int in 0\.\.3, got True"),
        ({"parent_slice": 1}, TypeError, r"parent_slice must be True or False, got 1 \(int\)"),
    ],
)
def test_bad_worker_counts(countdown_env_cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        WorkerVectorEnv(countdown_env_cls, 4, **kwargs)


def test_call_get_attr_and_a_failed_call_that_changes_nothing(countdown_env_cls):
    envs = WorkerVectorEnv(countdown_env_cls, 3)
    _, infos = envs.reset(seed=0)
    assert envs.get_attr("task_id") == tuple(infos["task_id"]) == (0, 1, 2)
    assert envs.call("task_index", "long") == (2, 2, 2)
    with pytest.raises(AttributeError, match="no_such_attribute"):
        envs.get_attr("no_such_attribute")
    assert not envs.closed
    _, rewards, *_ = envs.step(np.zeros(3, dtype=np.int64))
    np.testing.assert_array_equal(rewards, [1.0, 2.0, 3.0])
    envs.close()


def test_reset_arguments_are_checked_before_any_sub_env_resets(countdown_env_cls):
    envs = WorkerVectorEnv(countdown_env_cls, 2, task_assignment="sampled")
    obs, _ = envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"Unknown task 'huge'; valid tasks: short, medium, long"):
        envs.reset(seed=5, options={"task": "huge"})
    with pytest.raises(ValueError, match=r"reset_mask must be a bool array of shape \(2,\) with at least one True"):
        envs.reset(seed=5, options={"reset_mask": np.zeros(2, dtype=bool)})
    with pytest.raises(ValueError, match=r"one seed per sub-env \(2\), got 1"):
        envs.reset(seed=[1])
    np.testing.assert_array_equal(envs.step(np.zeros(2, dtype=np.int64))[0], obs - 1)  # nothing was reset
    envs.close()


def test_disabled_autoreset_refuses_to_step_ended_sub_envs(countdown_env_cls):
    envs = WorkerVectorEnv(countdown_env_cls, 3, autoreset_mode=AutoresetMode.DISABLED)
    envs.reset(seed=0)
    *_, terminated, _, _ = envs.step(np.zeros(3, dtype=np.int64))
    np.testing.assert_array_equal(terminated, [False, False, False])
    *_, terminated, _, _ = envs.step(np.zeros(3, dtype=np.int64))  # task 0 lasts 2 steps
    np.testing.assert_array_equal(terminated, [True, False, False])
    with pytest.raises(RuntimeError, match=r"Sub-envs \[0\] have ended and autoreset_mode is Disabled"):
        envs.step(np.zeros(3, dtype=np.int64))
    envs.reset(options={"reset_mask": np.array([True, False, False])})
    obs, *_ = envs.step(np.zeros(3, dtype=np.int64))
    np.testing.assert_array_equal(obs, [[1.0], [0.0], [1.0]])
    envs.close()


def test_a_killed_worker_is_reported_at_the_next_call_within_a_second(countdown_env_cls):
    envs = WorkerVectorEnv(countdown_env_cls, 4, num_workers=2)
    envs.reset(seed=0)
    pids = envs.worker_pids()
    os.kill(pids[1], signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(
        RuntimeError,
        match=r"Worker process 1 \(pid \d+, sub-envs 2\.\.3\) was killed by signal SIGKILL while stepping\. "
        r"The WorkerVectorEnv is closed",
    ):
        envs.step(np.zeros(4, dtype=np.int64))
    assert time.monotonic() - start < 1.0
    assert envs.closed and not any(alive(pid) for pid in pids)
    with pytest.raises(RuntimeError, match="This WorkerVectorEnv is closed; make a new one"):
        envs.reset()


def test_workers_end_on_sigterm_whatever_the_parent_catches(countdown_env_cls):
    """Regression: after MiniWorld rendered in the parent, a C library there caught SIGTERM, forked workers
    inherited that, and closing after a failure waited 5 s for a worker that ignored terminate()."""
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        envs = WorkerVectorEnv(countdown_env_cls, 4, num_workers=2, context="fork")
    finally:
        signal.signal(signal.SIGTERM, previous)
    envs.reset(seed=0)
    pids = envs.worker_pids()
    os.kill(pids[0], signal.SIGTERM)  # and closing after the failure terminates worker 1
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"Worker process 0 .* was killed by signal SIGTERM while stepping"):
        envs.step(np.zeros(4, dtype=np.int64))
    assert time.monotonic() - start < 1.0
    assert not any(alive(pid) for pid in pids)


def test_a_worker_killed_mid_step_does_not_leave_the_call_waiting(countdown_env_cls):
    class Sleepy(countdown_env_cls):
        def step(self, action):
            if action == 1:
                time.sleep(60)
            return super().step(action)

    envs = WorkerVectorEnv(Sleepy, 4, num_workers=2)
    envs.reset(seed=0)
    killer = threading.Timer(0.3, os.kill, (envs.worker_pids()[1], signal.SIGKILL))
    killer.start()
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"Worker process 1 .* was killed by signal SIGKILL while stepping"):
        envs.step(np.array([0, 0, 0, 1]))
    assert time.monotonic() - start < 1.3  # the kill at 0.3 s, reported within a second of it
    killer.join()


def breaking_env(countdown_env_cls, broken_task: int, closed_here: list[int]) -> type:
    """A countdown env whose step raises in one task; it records the process of every close."""

    class Breaking(countdown_env_cls):
        def step(self, action):
            if self.task_id == broken_task:
                raise ArithmeticError(f"task {broken_task} broke")
            return super().step(action)

        def close(self):
            closed_here.append(os.getpid())  # (the workers' closes happen in their own processes)
            super().close()

    return Breaking


def test_an_exception_in_a_worker_closes_the_vector_env_with_its_traceback(countdown_env_cls):
    envs = WorkerVectorEnv(breaking_env(countdown_env_cls, 2, []), 3, num_workers=3, parent_slice=False)
    envs.reset(seed=0)
    pids = envs.worker_pids()
    with pytest.raises(
        RuntimeError,
        match=r"(?s)Worker process 2 .* raised ArithmeticError: task 2 broke while stepping\. The "
        r"WorkerVectorEnv is closed .*\n\nWorker traceback:\nTraceback.*in step\n",
    ):
        envs.step(np.zeros(3, dtype=np.int64))
    assert envs.closed and not any(alive(pid) for pid in pids)


def test_an_exception_in_the_parents_slice_closes_the_vector_env_once_every_worker_answered(countdown_env_cls):
    closed_here = []
    envs = WorkerVectorEnv(breaking_env(countdown_env_cls, 0, closed_here), 3, num_workers=2)  # parent: sub-env 0
    envs.reset(seed=0)
    pids = envs.worker_pids()
    with pytest.raises(
        RuntimeError,
        match=r"Sub-envs 0\.\.0, stepped in the parent process, raised ArithmeticError: task 0 broke while "
        r"stepping\. The WorkerVectorEnv is closed",
    ) as raised:
        envs.step(np.zeros(3, dtype=np.int64))
    assert isinstance(raised.value.__cause__, ArithmeticError)
    assert envs.closed and not any(alive(pid) for pid in pids)
    assert closed_here == [os.getpid()] * 2  # the probe env, then the parent's sub-env


def test_a_worker_that_cannot_build_its_sub_envs_stops_them_all(countdown_env_cls):
    def factory(**kwargs):
        if kwargs.get("task") == 2:
            raise ValueError("no long tasks here")
        return countdown_env_cls(**kwargs)

    with pytest.raises(
        RuntimeError, match=r"Worker process 1 .* raised ValueError: no long tasks here.*while building its sub-envs"
    ):
        WorkerVectorEnv(factory, 3, num_workers=2)
    gc.collect()
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("mtenvs-worker")]


def test_close_and_garbage_collection_reap_every_worker(countdown_env_cls):
    envs = WorkerVectorEnv(countdown_env_cls, 3, num_workers=3, parent_slice=False)
    pids = envs.worker_pids()
    assert all(alive(pid) for pid in pids)
    envs.close()
    assert not any(alive(pid) for pid in pids)
    envs.close()  # a second close does nothing
    with pytest.raises(RuntimeError, match="closed"):
        envs.step(np.zeros(3, dtype=np.int64))

    envs = WorkerVectorEnv(countdown_env_cls, 3, num_workers=3, parent_slice=False)
    pids = envs.worker_pids()
    del envs
    gc.collect()
    assert not any(alive(pid) for pid in pids)


def test_pickling_is_refused_with_a_reason(countdown_env_cls):
    envs = WorkerVectorEnv(countdown_env_cls, 3)
    for clone in (pickle.dumps, copy.deepcopy):
        with pytest.raises(
            TypeError, match=r"WorkerVectorEnv cannot be pickled or deep-copied: its sub-envs live in worker"
        ):
            clone(envs)
    envs.close()


def test_forked_workers_never_collect_the_parents_garbage(countdown_env_cls, tmp_path):
    """Regression: a forked worker's garbage collector freed garbage inherited from the parent, and
    the destructor of some C-extension object crashed there (SIGSEGV while building its sub-envs).
    Here the garbage's destructor leaves a file named by the pid of the process that ran it."""

    class Traced:
        def __del__(self):
            (tmp_path / str(os.getpid())).touch()

    parent = os.getpid()

    def collecting(**kwargs):
        if os.getpid() != parent:  # in a worker (the parent builds a probe env too)
            gc.collect()  # what any allocation-heavy env construction may trigger
        return countdown_env_cls(**kwargs)

    gc.disable()
    try:
        garbage = [Traced()]
        garbage.append(garbage)  # a cycle: only the collector frees it
        del garbage
        envs = WorkerVectorEnv(collecting, 2, task_assignment="sampled", context="fork")
        pids = envs.worker_pids()
        envs.close()
    finally:
        gc.enable()
    gc.collect()
    assert sorted(path.name for path in tmp_path.iterdir()) == [str(parent)]  # freed here, not in a worker
    assert parent not in pids
