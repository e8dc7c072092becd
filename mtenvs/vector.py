"""Vectorised multi-task envs: grouped and sampled task assignment (docs/contract.md).

* **grouped** — sub-env ``i`` is pinned to task ``i * num_tasks // num_envs`` for the whole run
  (the per-task worker groups of Distral and multi-task A3C);
* **sampled** — every sub-env draws a task per episode from its own seeded RNG.

:class:`MultiTaskVectorBase` is the contract every mtenvs vector env subclasses: the task
attributes (``task_names``, ``num_tasks``, ``task_assignment``, ``env_task_ids``: the pinned tasks,
or ``None`` when sampled, ``score_references``) and the checks of ``num_envs``, ``reset``'s seed
and options, and each action batch. :class:`MultiTaskVectorEnv` builds either assignment from any
single mtenvs env with Gymnasium's ``SyncVectorEnv`` or ``AsyncVectorEnv``, and
:class:`mtenvs.workers.WorkerVectorEnv` in batched worker processes (:func:`make_copies_vec` picks
one by ``vectorization``); families with a faster native batch (MultiAtari, TwoRooms) subclass the
base directly. Every one returns ``infos["task_id"]`` on every call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv

from mtenvs.core import MultiTaskEnv, grouped_task_ids
from mtenvs.validation import check_bool, check_choice, check_int, check_reset_options, check_seed
from mtenvs.wrappers import TaskObservation, TaskObservationVector

TASK_ASSIGNMENTS = ("grouped", "sampled")
VECTORIZATIONS = ("sync", "async")
# What a vector env over copies of a single env may run on (make_copies_vec): Gymnasium's
# SyncVectorEnv, its AsyncVectorEnv, or mtenvs.workers.WorkerVectorEnv.
COPIES_VECTORIZATIONS = ("sync", "async", "workers")
# Upper bound on sub-envs of the process- and emulator-backed vector envs (batched TwoRooms, whose
# sub-envs are array rows, allows more: mtenvs.tworooms.vector).
MAX_NUM_ENVS = 1024
MAX_BATCH_OBSERVATION_BYTES = 2**30  # 1 GiB: one batch of observations, on every path


def check_batch_memory(num_envs: int, observation_space: spaces.Space) -> None:
    """``ValueError`` when one batch of ``num_envs`` observations would take more than 1 GiB."""
    size = sum(int(np.prod(leaf.shape)) * np.dtype(leaf.dtype).itemsize for leaf in _leaf_spaces(observation_space))
    if num_envs * size > MAX_BATCH_OBSERVATION_BYTES:
        raise ValueError(
            f"num_envs={num_envs} sub-envs x {size:,}-byte observations ({observation_space}) is "
            f"{num_envs * size:,} bytes, more than the 1 GiB a batch may hold; use fewer sub-envs or "
            "smaller observations."
        )


def _leaf_spaces(space: spaces.Space) -> list[spaces.Space]:
    if isinstance(space, spaces.Dict):
        return [leaf for sub in space.spaces.values() for leaf in _leaf_spaces(sub)]
    if isinstance(space, spaces.Tuple):
        return [leaf for sub in space.spaces for leaf in _leaf_spaces(sub)]
    return [space]


def check_num_envs(num_envs: object, maximum: int = MAX_NUM_ENVS) -> int:
    """``num_envs``: an int in ``1..maximum`` (the same check and message on every vector path)."""
    return check_int("num_envs", num_envs, low=1, high=maximum)


def check_task_assignment(task_assignment: object) -> str:
    """Raise ``ValueError`` unless ``task_assignment`` is ``"grouped"`` or ``"sampled"``."""
    return check_choice("task_assignment", task_assignment, TASK_ASSIGNMENTS)


def check_vectorization(vectorization: object, valid: tuple[str, ...], default: str) -> str:
    """``vectorization``: one of a family's ``valid`` modes; the message lists all of them and the default."""
    if vectorization not in valid:
        raise ValueError(f"Unknown vectorization {vectorization!r}; valid: {', '.join(valid)} (default {default}).")
    return vectorization


def check_batched_actions(actions: Any, num_envs: int, num_actions: int, space: str = "") -> np.ndarray:
    """One integer action per sub-env, each in ``0..num_actions - 1``, as a fresh int64 array;
    ``ValueError`` saying what is wrong.

    ``space`` names the action space in the message (e.g. ``"the union action space"``). The batch
    comes back as int64 whatever integer dtype it had, so no simulator sees a narrow or unsigned
    action (Gymnasium's MountainCar computes ``action - 1``, which wraps for uint8 0).
    """
    actions = np.asarray(actions)
    if actions.shape != (num_envs,) or not np.issubdtype(actions.dtype, np.integer):
        raise ValueError(
            f"actions must be an integer array of shape ({num_envs},), got shape {actions.shape} dtype {actions.dtype}."
        )
    if actions.min() < 0 or actions.max() >= num_actions:
        where = f"{space} " if space else ""
        raise ValueError(f"Actions must lie in {where}0..{num_actions - 1}, got {actions}.")
    return actions.astype(np.int64)


class MultiTaskVectorBase(VectorEnv):
    """Base class of every mtenvs vector env, as :class:`mtenvs.core.MultiTaskEnv` is of single envs.

    It owns the task bookkeeping (``task_names``, ``num_tasks``, ``task_assignment``,
    ``env_task_ids``: the pinned task of each sub-env, or ``None`` when sampled, and
    ``score_references``) and the checks every vector env makes at its boundary: ``num_envs`` at
    construction, ``reset(seed=..., options=...)``, and the whole action batch before any sub-env
    steps (so a bad batch never leaves sub-envs out of step): every action in the action space and,
    where the sub-envs refuse actions outside their task's mask (``masked_action == "raise"``),
    in its sub-env's mask. Subclasses call :meth:`_init_vector_tasks` in ``__init__``,
    :meth:`_check_reset` at the top of ``reset`` and :meth:`_check_step` at the top of ``step``;
    those whose sub-envs change task (sampled assignment) override :meth:`_current_task_ids`.
    """

    task_names: tuple[str, ...] = ()
    task_assignment: str = "grouped"
    env_task_ids: np.ndarray | None = None
    score_references: tuple[tuple[float, float] | None, ...] = ()
    action_space_name = "the action space"  # how action errors name the space
    action_masks: np.ndarray | None = None  # (num_tasks, n) int8, 1 = valid, where the tasks' actions differ
    masked_action: str | None = None  # "raise": the sub-envs refuse an action outside their task's mask
    _started: bool = False

    def _init_vector_tasks(
        self,
        num_envs: object,
        task_names: Sequence[str],
        *,
        task_assignment: object = "grouped",
        score_references: Sequence[tuple[float, float] | None] | None = None,
        max_num_envs: int = MAX_NUM_ENVS,
    ) -> None:
        self.num_envs = check_num_envs(num_envs, max_num_envs)
        self.task_assignment = check_task_assignment(task_assignment)
        self.task_names = tuple(task_names)
        self.score_references = tuple(score_references) if score_references is not None else (None,) * self.num_tasks
        if self.task_assignment == "grouped":
            if self.num_envs < self.num_tasks:
                raise ValueError(
                    f'task_assignment="grouped" needs num_envs >= num_tasks so that every task runs: '
                    f"{self.num_tasks} tasks ({', '.join(self.task_names)}) but num_envs={self.num_envs}. "
                    f"Use num_envs={self.num_tasks} (or a multiple of it for equal groups), a smaller task set, "
                    'or task_assignment="sampled".'
                )
            self.env_task_ids = grouped_task_ids(self.num_envs, self.num_tasks)
        else:
            self.env_task_ids = None

    @property
    def num_tasks(self) -> int:
        """Number of tasks in the task set."""
        return len(self.task_names)

    def _check_reset(self, seed: object, options: object, valid_keys: Sequence[str] = ()) -> dict[str, Any]:
        """Check ``reset``'s arguments; returns the options as a dict (empty for None).

        ``seed`` is None or an int >= 0, exactly what a single env's ``reset`` takes (sub-env ``i``
        gets ``seed + i``). Under grouped assignment a ``task`` option is refused on every path,
        whether or not the path knows the option: the sub-envs keep their tasks.
        """
        check_seed(seed)
        if self.task_assignment == "grouped" and isinstance(options, Mapping) and options.get("task") is not None:
            raise ValueError("Grouped sub-envs keep their tasks; reset(options={'task': ...}) is not allowed.")
        return check_reset_options(options, valid_keys)

    def _check_step(self, actions: Any) -> Any:
        """Refuse a step before the first reset, and any batch that is not one valid action per sub-env."""
        if not self._started:
            raise RuntimeError("Call reset() before step().")
        return self._check_actions(actions)

    def _pickling_error(self, why: str) -> TypeError:
        """The error of a vector env that cannot be pickled or deep-copied (raise it from ``__getstate__``)."""
        return TypeError(
            f"{type(self).__name__} cannot be pickled or deep-copied: {why}. Pickle single envs (gym.make) "
            "instead, or build the vector env again from its arguments."
        )

    def _check_render(self) -> None:
        """Refuse ``render()`` before the first reset (call it when there is a render mode)."""
        if not self._started:
            raise RuntimeError("Call reset() before render(): before the first reset no sub-env has a state to draw.")

    def _check_actions(self, actions: Any) -> Any:
        """The whole batch, checked against the single action space and, where the sub-envs refuse
        masked actions, against each sub-env's task mask (``ValueError`` saying what is wrong)."""
        space = self.single_action_space
        if isinstance(space, spaces.Discrete) and space.start == 0:
            actions = check_batched_actions(actions, self.num_envs, int(space.n), self.action_space_name)
            if self.masked_action == "raise" and self.action_masks is not None:
                self._check_masked_actions(actions)
            return actions
        if isinstance(space, spaces.Box):
            batch = np.asarray(actions, dtype=np.float64)
            if batch.shape != (self.num_envs, *space.shape):
                raise ValueError(f"actions must have shape {(self.num_envs, *space.shape)}, got {batch.shape}.")
            if not np.all(np.isfinite(batch)) or np.any(batch < space.low) or np.any(batch > space.high):
                raise ValueError(f"Actions must be finite and lie in {space} for every sub-env, got {actions!r}.")
            return actions
        if not self.action_space.contains(actions):
            raise ValueError(f"actions must be a batch in {self.action_space}, got {actions!r}.")
        return actions

    def _current_task_ids(self) -> np.ndarray:
        """Each sub-env's task, as its last reset or step reported it (the pinned tasks when grouped)."""
        return self.env_task_ids

    def _check_masked_actions(self, actions: np.ndarray) -> None:
        """``ValueError`` naming every sub-env whose action is outside its current task's mask.

        A sub-env about to autoreset ignores its action, but it is checked against the task its last
        infos reported all the same: that is the ``action_mask`` the agent was shown.
        """
        tasks = self._current_task_ids()
        refused = np.flatnonzero(self.action_masks[tasks, actions] == 0)
        if refused.size:
            valid = {self.task_names[t]: np.flatnonzero(self.action_masks[t]).tolist() for t in tasks[refused]}
            raise ValueError(
                f"Sub-envs {refused.tolist()} got actions {actions[refused].tolist()} outside their task's actions "
                "(masked_action='raise'; see infos['action_mask']): "
                + "; ".join(f"{name}'s actions are {ids}" for name, ids in valid.items())
                + ". No sub-env was stepped."
            )


class CopiesVectorBase(MultiTaskVectorBase):
    """Base of the vector envs over copies of a single mtenvs env (:class:`MultiTaskVectorEnv`).

    It builds each copy's arguments from the task assignment (:meth:`_init_copies`), checks
    ``reset``'s arguments (:meth:`_check_copies_reset`), and keeps what the sub-envs last reported
    (:meth:`_record`): each one's task, against whose mask a batch is checked, and which have ended,
    so that without autoreset a batch that would step an ended sub-env is refused before any steps.
    """

    def _init_copies(
        self, env_factory: Callable[..., gym.Env], num_envs: object, task_assignment: object, env_kwargs: dict[str, Any]
    ) -> tuple[gym.Env, list[dict[str, Any]]]:
        """Set-up of a vector env over copies of a single env: returns a probe copy (closed) and each
        sub-env's constructor arguments (grouped: a fixed task each; sampled: a task per episode)."""
        check_num_envs(num_envs)  # before the probe: no env is built for a refused call
        check_task_assignment(task_assignment)
        for reserved in ("task_schedule", "task"):
            if reserved in env_kwargs:
                raise ValueError(
                    f"{reserved}= is set by task_assignment in a vector env; "
                    'use task_assignment="grouped" or "sampled".'
                )
        probe = env_factory(**env_kwargs)
        base = probe.unwrapped
        self._init_vector_tasks(
            num_envs, base.task_names, task_assignment=task_assignment, score_references=base.score_references
        )
        self.protocol = getattr(base, "protocol", None)  # emulator envs name theirs (MultiAtari)
        self.action_masks, self.masked_action = base.action_masks, base.masked_action
        check_batch_memory(self.num_envs, probe.observation_space)
        probe.close()
        self._task_ids = np.zeros(self.num_envs, dtype=np.int64)
        self._ended = np.zeros(self.num_envs, dtype=bool)
        if self.env_task_ids is not None:
            return probe, [dict(env_kwargs, task_schedule="fixed", task=int(t)) for t in self.env_task_ids]
        return probe, [dict(env_kwargs, task_schedule="uniform") for _ in range(self.num_envs)]

    def _check_copies_reset(self, seed: object, options: object) -> tuple[list[int | None], dict[str, Any], np.ndarray]:
        """``reset``'s arguments; returns each sub-env's seed, the options (a dict) and which sub-envs reset.

        ``seed``: None, an int (sub-env ``i`` gets ``seed + i``) or a list of one per sub-env.
        Options: ``reset_mask`` (a bool array of shape ``(num_envs,)`` with at least one True) and,
        under sampled assignment, ``task`` (resolved here, before any sub-env resets).
        """
        seeds = None
        if isinstance(seed, list):
            if len(seed) != self.num_envs:
                raise ValueError(f"seed as a list needs one seed per sub-env ({self.num_envs}), got {len(seed)}.")
            seeds = [check_seed(sub_seed, f"seed[{i}]") for i, sub_seed in enumerate(seed)]
            seed = None
        keys = ("reset_mask", "task") if self.task_assignment == "sampled" else ("reset_mask",)
        checked = self._check_reset(seed, options, keys)
        if seeds is None:
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        if checked.get("task") is not None:
            self.task_index(checked["task"])
        mask = np.ones(self.num_envs, dtype=bool)
        if "reset_mask" in checked:
            mask = np.asarray(checked["reset_mask"])
            if mask.dtype != np.bool_ or mask.shape != (self.num_envs,) or not mask.any():
                raise ValueError(
                    f"reset_mask must be a bool array of shape ({self.num_envs},) with at least one True, got {mask!r}."
                )
        return seeds, checked, mask

    # A task id or name to its id, by the single envs' own rule and messages.
    task_index = MultiTaskEnv.task_index

    def _record(self, task_ids: np.ndarray, ended: np.ndarray, which: np.ndarray | None = None) -> None:
        """Keep what the sub-envs (``which`` of them; all by default) reported: their tasks, and whether they ended."""
        if which is None:
            self._task_ids[:] = task_ids
            self._ended[:] = ended
        else:
            self._task_ids[which] = np.asarray(task_ids)[which]
            self._ended[which] = np.asarray(ended)[which]

    def _check_step(self, actions: Any) -> Any:
        actions = super()._check_step(actions)
        if self.metadata["autoreset_mode"] == AutoresetMode.DISABLED and self._ended.any():
            raise RuntimeError(
                f"Sub-envs {np.flatnonzero(self._ended).tolist()} have ended and autoreset_mode is Disabled; reset "
                "them with reset(options={'reset_mask': ...}) before step(). No sub-env was stepped."
            )
        return actions

    def _current_task_ids(self) -> np.ndarray:
        return self._task_ids


class MultiTaskVectorEnv(CopiesVectorBase):
    """Grouped or sampled task assignment over copies of a single mtenvs env.

    Args:
        env_factory: builds one single env from keyword arguments (``task_schedule``, ``task``
            and the ``env_kwargs``).
        num_envs: number of sub-envs (1..``MAX_NUM_ENVS``).
        task_assignment: ``"grouped"`` (default) or ``"sampled"``.
        vectorization: ``"sync"`` (one process) or ``"async"`` (one process per sub-env).
        autoreset_mode: passed to the Gymnasium vector env; declared in ``metadata``.
        context: multiprocessing start method of ``"async"`` sub-envs (``None``: the platform's
            default). Envs holding OpenGL contexts (MiniWorld) need ``"spawn"`` or ``"forkserver"``.
        task_obs: if true, observations become ``{"obs": ..., "task": one-hot}``.
        env_kwargs: the single env's own arguments.

    ``reset(seed=s)`` seeds sub-env ``i`` with ``s + i`` (or takes one seed per sub-env as a list).
    Reset options: ``"reset_mask"`` (Gymnasium's), and ``"task"`` under sampled assignment.
    """

    def __init__(
        self,
        env_factory: Callable[..., gym.Env],
        num_envs: int,
        *,
        task_assignment: str = "grouped",
        vectorization: str = "sync",
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        task_obs: bool = False,
        context: str | None = None,
        **env_kwargs: Any,
    ):
        check_vectorization(vectorization, VECTORIZATIONS, "sync")
        check_bool("task_obs", task_obs)
        autoreset_mode = check_autoreset_mode(autoreset_mode)
        _, kwargs_per_env = self._init_copies(env_factory, num_envs, task_assignment, env_kwargs)

        def make_one(kwargs: dict[str, Any]) -> Callable[[], gym.Env]:
            def thunk() -> gym.Env:
                env = env_factory(**kwargs)
                return TaskObservation(env) if task_obs else env

            return thunk

        env_fns = [make_one(kwargs) for kwargs in kwargs_per_env]
        if vectorization == "sync":
            self._vector = SyncVectorEnv(env_fns, autoreset_mode=autoreset_mode)
        else:
            self._vector = AsyncVectorEnv(env_fns, autoreset_mode=autoreset_mode, context=context)
        self.single_observation_space = self._vector.single_observation_space
        self.single_action_space = self._vector.single_action_space
        self.observation_space = self._vector.observation_space
        self.action_space = self._vector.action_space
        self.metadata = dict(self._vector.metadata)
        self.render_mode = self._vector.render_mode

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        _, checked, mask = self._check_copies_reset(seed, options)
        # A copy: Gymnasium's vector envs pop reset_mask from the dict they are given.
        obs, infos = self._vector.reset(seed=seed, options=None if options is None else checked)
        self._record(infos["task_id"], np.zeros(self.num_envs, dtype=bool), mask)
        self._started = True
        return obs, infos

    def step(self, actions: Any):
        obs, rewards, terminations, truncations, infos = self._vector.step(self._check_step(actions))
        self._record(infos["task_id"], np.logical_or(terminations, truncations))
        return obs, rewards, terminations, truncations, infos

    def render(self) -> tuple[Any, ...] | None:
        if self.render_mode is not None:
            self._check_render()
        return self._vector.render()

    def close_extras(self, **kwargs: Any) -> None:
        self._vector.close(**kwargs)

    def __getstate__(self) -> dict[str, Any]:
        where = " in worker processes" if isinstance(self._vector, AsyncVectorEnv) else ""
        raise self._pickling_error(
            f"its sub-envs run{where} in Gymnasium's {type(self._vector).__name__}, built from local factories "
            "that pickle cannot carry"
        )

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        return self._vector.call(name, *args, **kwargs)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return self._vector.get_attr(name)


def check_autoreset_mode(
    autoreset_mode: object, valid: Sequence[AutoresetMode] = tuple(AutoresetMode)
) -> AutoresetMode:
    """An ``AutoresetMode`` or its value (``"NextStep"``, ...), one of ``valid``."""
    try:
        mode = AutoresetMode(autoreset_mode)
    except ValueError:
        mode = None
    if mode not in valid:
        raise ValueError(f"Unknown autoreset_mode {autoreset_mode!r}; valid: {', '.join(m.value for m in valid)}.")
    return mode


def with_task_obs(envs: VectorEnv, task_obs: bool) -> VectorEnv:
    """Wrap a native mtenvs vector env with :class:`TaskObservationVector` when asked."""
    return TaskObservationVector(envs) if task_obs else envs


WORKERS_ONLY = ("num_workers", "parent_slice")  # WorkerVectorEnv's own arguments


def check_workers_only(vectorization: str, kwargs: Mapping[str, Any]) -> None:
    """``num_workers=`` and ``parent_slice=`` belong to ``vectorization="workers"``: refused with any
    other, not handed on to an env as an unknown argument."""
    for name in WORKERS_ONLY:
        if vectorization != "workers" and name in kwargs:
            raise ValueError(f'{name}= only applies with vectorization="workers", got {vectorization!r}.')


def make_copies_vec(
    env_factory: Callable[..., gym.Env],
    num_envs: int,
    *,
    vectorization: str,
    task_obs: bool = False,
    **kwargs: Any,
) -> VectorEnv:
    """Copies of a single env as a vector env, by ``vectorization`` (one of ``COPIES_VECTORIZATIONS``):
    ``"sync"`` / ``"async"`` are :class:`MultiTaskVectorEnv` over Gymnasium's vector envs,
    ``"workers"`` is :class:`mtenvs.workers.WorkerVectorEnv` (``num_workers=`` and ``parent_slice=``
    apply to it only).
    The families' vector entry points call this after checking ``vectorization`` themselves.
    """
    check_workers_only(vectorization, kwargs)
    if vectorization != "workers":
        return MultiTaskVectorEnv(env_factory, num_envs, vectorization=vectorization, task_obs=task_obs, **kwargs)
    from mtenvs.workers import WorkerVectorEnv  # mtenvs.workers builds on this module

    check_bool("task_obs", task_obs)
    return with_task_obs(WorkerVectorEnv(env_factory, num_envs, **kwargs), task_obs)
