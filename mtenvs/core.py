"""The multi-task environment contract shared by every mtenvs family (docs/contract.md).

Every mtenvs environment subclasses :class:`MultiTaskEnv`, which owns the task bookkeeping:

* ``task_names`` / ``num_tasks`` / ``task_id`` describe the task set and the current task;
* ``reset(options={"task": id_or_name})`` pins the next episode's task, otherwise the
  ``task_schedule`` decides (``"uniform"``, ``"round_robin"`` or ``"fixed"`` with ``task=``);
* :meth:`MultiTaskEnv.task_info` builds the ``task_id`` (and ``action_mask``) entries that go into
  every reset and step ``info``.

Task sampling uses the env's seeded ``np_random``, so seeded runs pick the same tasks.

It also owns the episode state every family shares: ``step`` before the first ``reset``, or after
an episode has ended (terminated or truncated) without a new ``reset``, raises ``RuntimeError``
(:meth:`MultiTaskEnv._check_can_step`), as Gymnasium's checker treats both as errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from mtenvs.validation import check_int, check_reset_options, check_seed

TASK_SCHEDULES = ("uniform", "round_robin", "fixed")
RESET_OPTION_KEYS = ("task",)


def ensure_json_kwargs(env_name: str, kwargs: Mapping[str, Any]) -> None:
    """Raise ``TypeError`` naming the first constructor argument that JSON cannot encode.

    Registered envs must be re-creatable from their spec, so their kwargs stay JSON-serialisable.
    """
    for key, value in kwargs.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"{env_name}: argument {key}={value!r} ({type(value).__name__}) is not "
                "JSON-serialisable; use plain str/int/float/bool/None and lists or dicts of them."
            ) from err


def grouped_task_ids(num_envs: int, num_tasks: int) -> np.ndarray:
    """Task of each sub-env under grouped assignment: sub-env ``i`` runs task ``i * num_tasks // num_envs``.

    With ``num_envs`` a multiple of ``num_tasks`` every task gets an equal, contiguous group.
    """
    num_envs = check_int("num_envs", num_envs, low=1)
    num_tasks = check_int("num_tasks", num_tasks, low=1)
    return (np.arange(num_envs, dtype=np.int64) * num_tasks) // num_envs


def one_hot_tasks(task_ids: np.ndarray | int, num_tasks: int) -> np.ndarray:
    """One-hot float32 encoding of task ids (a vector for an int, a matrix for an array).

    Ids outside ``0..num_tasks - 1`` raise ``ValueError`` (NumPy indexing would wrap -1 to the last
    task), and ids that are not ints (bools included) ``TypeError``.
    """
    num_tasks = check_int("num_tasks", num_tasks, low=1)
    ids = np.asarray(task_ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"Task ids must be ints, got {task_ids!r} (dtype {ids.dtype}).")
    if ids.size and (ids.min() < 0 or ids.max() >= num_tasks):
        raise ValueError(f"Task ids must lie in 0..{num_tasks - 1}, got {task_ids!r}.")
    return np.eye(num_tasks, dtype=np.float32)[ids]


class MultiTaskEnv(gym.Env):
    """Base class of every mtenvs environment: task names, schedules and per-step task info.

    Subclasses call :meth:`_init_tasks` in ``__init__``, call :meth:`_choose_task` in ``reset``
    right after ``super().reset(seed=seed)``, and merge :meth:`task_info` into every info dict.
    Subclasses whose tasks have different valid actions pass ``action_masks`` (one row per task,
    1 = valid) and get ``info["action_mask"]`` for free.
    """

    task_names: tuple[str, ...] = ()
    task_id: int = 0
    task_schedule: str = "uniform"
    action_masks: np.ndarray | None = None  # (num_tasks, n) int8 where tasks' valid actions differ
    masked_action: str | None = None  # families with masks: what an action outside the mask does ("raise" refuses)
    _needs_reset: bool = True  # before the first reset and after an episode ends

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Check ``seed`` (None or an int >= 0) and ``options`` (None or a dict of valid options, with a
        valid task), then seed ``np_random``: subclasses call this first, so a bad call changes nothing.

        Subclasses then call :meth:`_choose_task` with the options.
        """
        options = check_reset_options(options, RESET_OPTION_KEYS)
        if options.get("task") is not None:
            self.task_index(options["task"])
        gym.Env.reset(self, seed=check_seed(seed))

    def _check_can_step(self) -> None:
        """Raise ``RuntimeError`` unless an episode is running (call before changing any state)."""
        if self._needs_reset:
            if getattr(self, "_np_random", None) is None:
                raise RuntimeError("Call reset() before step().")
            raise RuntimeError("The episode has ended (terminated or truncated); call reset() before step().")

    def _end_step(self, terminated: bool, truncated: bool) -> None:
        """Record whether this step ended the episode (then only ``reset`` may follow)."""
        self._needs_reset = bool(terminated or truncated)

    def _init_tasks(
        self,
        task_names: Sequence[str],
        *,
        task_schedule: str = "uniform",
        task: int | str | None = None,
        action_masks: np.ndarray | None = None,
        score_references: Sequence[tuple[float, float] | None] | None = None,
    ) -> None:
        names = tuple(task_names)
        if not names:
            raise ValueError(f"{type(self).__name__} needs at least one task.")
        if len(set(names)) != len(names):
            raise ValueError(f"Task names must be unique, got {names}.")
        self.task_names = names
        if task_schedule not in TASK_SCHEDULES:
            raise ValueError(
                f"Unknown task_schedule {task_schedule!r}; valid schedules: {', '.join(TASK_SCHEDULES)}."
                if isinstance(task_schedule, str)
                else f"task_schedule must be a str, one of {', '.join(TASK_SCHEDULES)}; got {task_schedule!r}."
            )
        if task_schedule == "fixed" and task is None:
            raise ValueError('task_schedule="fixed" needs task= (a task id or name).')
        if task is not None and task_schedule != "fixed":
            raise ValueError(
                f'task={task!r} only applies with task_schedule="fixed" (got {task_schedule!r}); '
                'pin a single episode with reset(options={"task": ...}) instead.'
            )
        self.task_schedule = task_schedule
        self._fixed_task = None if task is None else self.task_index(task)
        self.task_id = self._fixed_task if self._fixed_task is not None else 0
        self._round_robin_next = 0
        if action_masks is not None:
            action_masks = np.asarray(action_masks, dtype=np.int8)
            if action_masks.ndim != 2 or action_masks.shape[0] != len(names):
                raise ValueError(f"action_masks must have shape (num_tasks={len(names)}, n), got {action_masks.shape}")
        self.action_masks = action_masks
        if score_references is None:
            score_references = (None,) * len(names)
        if len(score_references) != len(names):
            raise ValueError("score_references needs one entry (or None) per task.")
        self.score_references = tuple(score_references)

    @property
    def num_tasks(self) -> int:
        """Number of tasks in the task set."""
        return len(self.task_names)

    def task_index(self, task: int | str | np.integer) -> int:
        """Resolve a task id or name to its id; raise ``ValueError`` for anything else."""
        if isinstance(task, str):
            if task in self.task_names:
                return self.task_names.index(task)
            raise ValueError(f"Unknown task {task!r}; valid tasks: {', '.join(self.task_names)}.")
        if isinstance(task, (int, np.integer)) and not isinstance(task, bool):
            if 0 <= int(task) < self.num_tasks:
                return int(task)
            raise ValueError(
                f"Task id {int(task)} out of range; valid ids are 0..{self.num_tasks - 1} "
                f"({', '.join(self.task_names)})."
            )
        raise TypeError(f"A task is an int id or a str name, got {task!r} ({type(task).__name__}).")

    def _choose_task(self, options: Mapping[str, Any] | None) -> int:
        """Pick the next episode's task from ``options["task"]`` or the schedule; sets ``task_id``."""
        options = check_reset_options(options, RESET_OPTION_KEYS)
        self._needs_reset = False
        if options.get("task") is not None:
            self.task_id = self.task_index(options["task"])
        elif self.task_schedule == "fixed":
            self.task_id = self._fixed_task
        elif self.task_schedule == "round_robin":
            self.task_id = self._round_robin_next
            self._round_robin_next = (self._round_robin_next + 1) % self.num_tasks
        else:
            self.task_id = int(self.np_random.integers(self.num_tasks))
        return self.task_id

    def task_info(self) -> dict[str, Any]:
        """The contract's per-step info entries for the current task."""
        info: dict[str, Any] = {"task_id": self.task_id}
        if self.action_masks is not None:
            info["action_mask"] = self.action_masks[self.task_id].copy()
        return info

    def _contract_state(self) -> dict[str, Any]:
        """The contract's part of a pickled env: its RNG and where its task schedule stands.

        Envs that pickle as their constructor kwargs plus state (``__getstate__``) include this and
        hand it back to :meth:`_restore_contract_state` after re-running ``__init__``.
        """
        return {
            "np_random": self._np_random.bit_generator.state if self._np_random is not None else None,
            "task_id": self.task_id,
            "round_robin_next": self._round_robin_next,
            "needs_reset": self._needs_reset,
        }

    def _restore_contract_state(self, state: Mapping[str, Any]) -> None:
        """Undo :meth:`_contract_state` on a freshly constructed env."""
        if state["np_random"] is not None:
            self.np_random = np.random.Generator(np.random.PCG64())
            self._np_random.bit_generator.state = state["np_random"]
        self.task_id = state["task_id"]
        self._round_robin_next = state["round_robin_next"]
        self._needs_reset = state["needs_reset"]

    def human_normalized_score(self, task: int | str, score: float) -> float:
        """(score - random) / (human - random) for tasks with reference scores, else NaN."""
        reference = self.score_references[self.task_index(task)]
        if reference is None:
            return float("nan")
        random_score, human_score = reference
        return (score - random_score) / (human_score - random_score)
