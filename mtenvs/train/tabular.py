"""The plumbing of the tabular TwoRooms learners, ``distral_tabular.py`` and ``soft_q_tabular.py``.

Both learn NumPy tables over TwoRooms' (free cell, previous action) states from rollouts of a grouped
batched env with "coordinates" observations, and judge them by the exact expected return of their
policies. What differs between them is the algorithm, and it stays in each script: the soft values,
the task policies, the soft Q target and (Distral) the distillation of pi0. What is the same lives
here: the shared arguments, the env, table indices, sampling, the rollout and its storage, the
averaged TD step, the exact and the sampled evaluation, the tables' file and the closing summary.

The tables' file (a checkpoint, or the ``--save-model`` file) is a :mod:`mtenvs.train.checkpoint`
file: the tables as float64 tensors, the map (``walls``, ``free_cells``, ``goals``), ``task_names``,
``args`` and ``run_name`` as plain data.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from mtenvs.train import checkpoint, cli
from mtenvs.train.args import RunArgs
from mtenvs.train.progress import Progress
from mtenvs.tworooms.env import DEFAULT_MAX_STEPS
from mtenvs.tworooms.layout import NUM_ACTIONS, TwoRoomsLayout
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector

PREVIOUS_ACTIONS = NUM_ACTIONS + 1  # up, right, down, left, none
THRESHOLD = 0.9  # "steps to 0.9 of optimal" in the summary
MAX_ENVS = 65_536
# TwoRooms arguments the tables can learn and the exact return can evaluate; the script sets the rest.
ENV_KWARGS = ("room_size", "corridor_length", "layout", "goals", "num_tasks", "task_seed", "max_steps")
ENV_REWARD_KWARGS = ("goal_reward", "step_reward")
RESERVED = {
    "observation_type": "'coordinates': the tables index grid cells",
    "num_envs": "--envs-per-task x the task count",
    "task_assignment": "grouped, always",
}


@dataclass
class TabularArgs(RunArgs):
    """The arguments both tabular scripts take; each script's ``Args`` adds its algorithm's."""

    save_model: bool = False
    """if toggled, save the final tables and the map to runs/{run_name}/{exp_name}.pt"""
    checkpoint_interval: int = 100_000
    """save runs/{run_name}/checkpoint.pt every this many env steps (0 disables)"""
    resume: str | None = None
    """path of a checkpoint.pt to continue with its own arguments: tables, counters, learning curve and run name
    come from it (only --track, --save-model, --progress-interval and --total-timesteps may be given with it; the
    envs restart from fresh episodes, so a resumed run is not bit-identical to an uninterrupted one)"""
    progress_interval: float = 30.0
    """print a progress line (step, SPS, recent mean return, exact return) at least every this many seconds"""

    env_id: str = "TwoRooms-v0"
    """the id of a TwoRooms environment"""
    env_kwargs: str = "{}"
    """JSON dict of TwoRooms arguments: room_size, corridor_length, layout, goals, num_tasks, task_seed,
    max_steps, goal_reward (> 0) and step_reward (0 only: the exact return assumes a goal-only reward)"""
    total_timesteps: int | None = None
    """total env steps over all envs, converted to whole iterations of num_envs * rollout_length steps
    (None: the default, 480,000; with --resume, the checkpoint's budget)"""
    iterations: int | None = None
    """the budget in iterations instead; when given it replaces --total-timesteps"""
    envs_per_task: int = 4
    """envs collecting rollouts for each task in every iteration (at most 65536 envs in all)"""
    rollout_length: int = 10
    """steps per env per iteration (the paper's rollouts of length 10)"""
    eval_interval: int = 8_000
    """compute the exact expected return of every task policy every this many env steps"""
    eval_episodes: int = 20
    """sampled evaluation episodes per task at the end (logged as eval/episodic_return/<task>)"""


FAMILY_DEFAULTS = {"tworooms": {"total_timesteps": 480_000}}
ARG_RULES = (
    cli.integer(["envs_per_task", "eval_episodes"], 1, MAX_ENVS),
    cli.integer(["rollout_length", "eval_interval", "iterations"], 1),
)


def check_env_kwargs(env_kwargs: Mapping[str, Any]) -> None:
    """Refuse TwoRooms arguments the tables cannot learn or the exact return cannot evaluate."""
    unknown = sorted(set(env_kwargs) - set(ENV_KWARGS + ENV_REWARD_KWARGS))
    if unknown:
        raise cli.BadArgument(f"--env-kwargs may not set {unknown}; it accepts {list(ENV_KWARGS + ENV_REWARD_KWARGS)}.")
    if env_kwargs.get("step_reward", 0.0) != 0.0:
        raise cli.BadArgument(
            f"--env-kwargs step_reward must be 0, got {env_kwargs['step_reward']!r}: the exact return assumes a "
            "goal-only reward, and the table state leaves out the previous reward, which is then always 0."
        )
    goal_reward = env_kwargs.get("goal_reward", 1.0)
    if not isinstance(goal_reward, (int, float)) or isinstance(goal_reward, bool) or not goal_reward > 0.0:
        raise cli.BadArgument(f"--env-kwargs goal_reward must be a number > 0, got {goal_reward!r}.")


def reward_and_horizon(env_kwargs: Mapping[str, Any]) -> tuple[float, int]:
    """TwoRooms' goal reward and episode length (``max_steps``) under ``env_kwargs``."""
    return float(env_kwargs.get("goal_reward", 1.0)), int(env_kwargs.get("max_steps", DEFAULT_MAX_STEPS))


def make_envs(env_id: str, env_kwargs: Mapping[str, Any], envs_per_task: int) -> gym.vector.VectorEnv:
    """Grouped batched TwoRooms with 'coordinates' observations: ``envs_per_task`` envs pinned to each task."""
    num_tasks = cli.build_env(lambda: gym.make(env_id, **env_kwargs), env_id, env_kwargs).unwrapped.num_tasks
    if num_tasks * envs_per_task > MAX_ENVS:
        raise cli.BadArgument(f"{num_tasks} tasks x --envs-per-task {envs_per_task} is more than {MAX_ENVS} envs.")
    envs = gym.make_vec(
        env_id,
        num_envs=num_tasks * envs_per_task,
        task_assignment="grouped",
        observation_type="coordinates",
        **env_kwargs,
    )
    return RecordTaskEpisodeStatisticsVector(envs)


def resume_args(args: TabularArgs, saved: Mapping[str, Any]) -> TabularArgs:
    """:func:`cli.resume_args`; a ``--total-timesteps`` given with ``--resume`` is the new budget, in place of
    the checkpoint's ``--iterations`` if it had one."""
    new_budget = args.total_timesteps is not None
    args = cli.resume_args(args, saved["args"], saved["global_step"])
    return dataclasses.replace(args, iterations=None) if new_budget else args


def plan(args: TabularArgs, envs: Any, num_states: int, start_iteration: int, run_name: str, settings: str) -> int:
    """The budget in iterations (``--iterations``, else whole iterations of ``--total-timesteps``), announced
    with the run's size and ``settings`` (its hyperparameters)."""
    steps_per_iteration = envs.num_envs * args.rollout_length
    total = args.iterations if args.iterations is not None else args.total_timesteps // steps_per_iteration
    if total < 1:
        raise cli.BadArgument(
            f"--total-timesteps {args.total_timesteps} is less than one iteration "
            f"({envs.num_envs} envs x {args.rollout_length} steps = {steps_per_iteration} env steps)."
        )
    if start_iteration >= total:
        raise cli.BadArgument(f"--resume {args.resume} is already at iteration {start_iteration} of {total}.")
    print(
        f"{run_name}: {envs.unwrapped.num_tasks} tasks, {num_states} states, {envs.num_envs} envs; {total} iterations"
        f" x {steps_per_iteration} = {total * steps_per_iteration:,} env steps"
        + (" (--iterations replaces --total-timesteps)" if args.iterations is not None else "")
        + f"; {settings}"
    )
    return total


def state_index(obs: np.ndarray, layout: TwoRoomsLayout) -> np.ndarray:
    """Table index (free cell, previous action) of a batch of 'coordinates' observations."""
    cells = obs[:, 0].astype(np.int64) * layout.width + obs[:, 1].astype(np.int64)
    return layout.free_index[cells] * PREVIOUS_ACTIONS + obs[:, 2].astype(np.int64)


def sample_actions(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of a (batch, actions) probability table, by inverse CDF."""
    return (probs.cumsum(axis=1) < rng.random((probs.shape[0], 1))).sum(axis=1).clip(0, NUM_ACTIONS - 1)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@dataclass
class Rollout:
    """Storage of one rollout, a row per step (table indices, not observations), allocated once."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    next_states: np.ndarray
    valid: np.ndarray  # False: the step only reset the env (next-step autoreset ignores its action)
    restarting: np.ndarray  # per env: the next step only resets it

    @classmethod
    def allocate(cls, length: int, num_envs: int) -> Rollout:
        index, flag = np.zeros((length, num_envs), dtype=np.int64), np.zeros((length, num_envs), dtype=bool)
        return cls(index, index.copy(), np.zeros((length, num_envs)), flag, index.copy(), flag.copy(),
                   np.zeros(num_envs, dtype=bool))  # fmt: skip

    def collect(
        self, envs: Any, obs: np.ndarray, policies: np.ndarray, rng: np.random.Generator, writer: Any,
        global_step: int, progress: Progress,
    ) -> tuple[np.ndarray, int]:  # fmt: skip
        """Every env acts for the rollout's length with its task's row of ``policies`` (tasks, states, actions);
        finished episodes are logged (mean return and length of the step's episodes, overall and per task).
        Returns the last observation and the step count."""
        base = envs.unwrapped
        layout, env_tasks, task_names = base.layout, base.env_task_ids, base.task_names
        for step in range(len(self.states)):
            self.states[step] = state_index(obs, layout)
            self.actions[step] = sample_actions(policies[env_tasks, self.states[step]], rng)
            obs, self.rewards[step], self.terminations[step], truncations, infos = envs.step(self.actions[step])
            self.next_states[step] = state_index(obs, layout)
            self.valid[step] = ~self.restarting
            self.restarting = self.terminations[step] | truncations
            global_step += envs.num_envs
            if "episode" in infos:
                finished, episode = infos["_episode"], infos["episode"]
                progress.returns.extend(episode["r"][finished].tolist())
                writer.add_scalar("charts/episodic_return", episode["r"][finished].mean(), global_step)
                writer.add_scalar("charts/episodic_length", episode["l"][finished].mean(), global_step)
                for task in np.unique(episode["task_id"][finished]):
                    of_task = finished & (episode["task_id"] == task)
                    writer.add_scalar(f"charts/episodic_return/{task_names[task]}", episode["r"][of_task].mean(),
                                      global_step)  # fmt: skip
        return obs, global_step


def td_update(q: np.ndarray, tasks: np.ndarray, s: np.ndarray, a: np.ndarray, targets: np.ndarray, lr: float):
    """``q[tasks, s, a] += lr * (targets - q[tasks, s, a])``, duplicate (task, s, a) entries averaged; the errors."""
    errors = targets - q[tasks, s, a]
    flat = (tasks * q.shape[1] + s) * q.shape[2] + a
    sums = np.bincount(flat, errors, minlength=q.size)
    counts = np.bincount(flat, minlength=q.size)
    q += lr * (sums / np.maximum(counts, 1)).reshape(q.shape)
    return errors


def exact_returns(
    policies: np.ndarray, layout: TwoRoomsLayout, gamma: float, goal_reward: float, max_steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Expected discounted return of each task policy from TwoRooms' uniform start, and the optimum.

    TwoRooms pays `goal_reward` on the step that reaches the goal (which ends the episode) and nothing
    else, and truncates after `max_steps` steps. v_k = r_pi + gamma P_pi v_(k-1), v_0 = 0, over the
    (free cell, previous action) states is the expected discounted return of the next k steps, so
    `max_steps` iterations give each start's exact return. It is averaged over the start states
    (every free cell but the goal, no previous action) and compared with shortest paths:
    goal_reward * gamma^(d-1) where the goal is d <= max_steps steps away, 0 beyond.
    """
    free = layout.free_cells
    num_cells = free.size
    targets = free[:, None] + layout.move_offsets[None, :]
    next_cell = layout.free_index[np.where(layout.walls.ravel()[targets], free[:, None], targets)]  # (cells, A)
    cell_of_state = np.repeat(np.arange(num_cells), PREVIOUS_ACTIONS)
    next_state = next_cell[cell_of_state] * PREVIOUS_ACTIONS + np.arange(NUM_ACTIONS)[None, :]  # (S, A)
    goal_index = layout.free_index[layout.goals]  # (T,)
    ends = next_cell[cell_of_state][None] == goal_index[:, None, None]  # (T, S, A)
    reward = goal_reward * (policies * ends).sum(axis=2)
    carry = gamma * np.where(ends, 0.0, policies)
    values = np.zeros(reward.shape)
    for _ in range(max_steps):
        values = reward + (carry * values[:, next_state]).sum(axis=2)
    achieved, optimal = [], []
    for task, goal in enumerate(layout.goals.tolist()):
        starts = np.flatnonzero(np.arange(num_cells) != goal_index[task])
        achieved.append(values[task, starts * PREVIOUS_ACTIONS + NUM_ACTIONS].mean())
        distance = layout.shortest_path_lengths(goal)[free[starts]].astype(np.float64)
        optimal.append(np.where(distance <= max_steps, goal_reward * gamma ** (distance - 1.0), 0.0).mean())
    return np.array(achieved), np.array(optimal)


def log_exact_returns(
    writer: Any, policies: np.ndarray, envs: Any, gamma: float, env_kwargs: Mapping[str, Any], step: int
) -> tuple[float, np.ndarray]:
    """Log the exact discounted return of every task policy (``eval/expected_discounted_return/<task>``), its
    mean normalised by the optimum (``eval/normalized_return``) and ``eval/steps_per_task``; returns that
    normalised return and the optimum per task."""
    base = envs.unwrapped
    achieved, optimal = exact_returns(policies, base.layout, gamma, *reward_and_horizon(env_kwargs))
    normalized = float((achieved / optimal).mean())
    writer.add_scalar("eval/normalized_return", normalized, step)
    writer.add_scalar("eval/steps_per_task", step // base.num_tasks, step)
    for task, name in enumerate(base.task_names):
        writer.add_scalar(f"eval/expected_discounted_return/{name}", achieved[task], step)
    return normalized, optimal


def sampled_returns(
    args: TabularArgs, env_kwargs: Mapping[str, Any], policies: np.ndarray, layout: TwoRoomsLayout,
    rng: np.random.Generator, writer: Any, step: int,
) -> np.ndarray:  # fmt: skip
    """Sample ``--eval-episodes`` episodes per task with the task policies; log each task's mean return
    (``eval/episodic_return/<task>``) and return every episode's."""
    num_tasks = policies.shape[0]
    eval_envs = gym.make_vec(
        args.env_id, num_envs=num_tasks * args.eval_episodes, task_assignment="grouped",
        observation_type="coordinates", **env_kwargs,
    )  # fmt: skip
    eval_tasks, task_names = eval_envs.unwrapped.env_task_ids, eval_envs.unwrapped.task_names
    obs, _ = eval_envs.reset(seed=args.seed + 10**6)
    episode_returns = np.zeros(eval_envs.num_envs)
    running = np.ones(eval_envs.num_envs, dtype=bool)
    while running.any():
        eval_actions = sample_actions(policies[eval_tasks, state_index(obs, layout)], rng)
        obs, eval_rewards, eval_terminations, eval_truncations, _ = eval_envs.step(eval_actions)
        episode_returns += np.where(running, eval_rewards, 0.0)
        running &= ~(eval_terminations | eval_truncations)
    eval_envs.close()
    for task, name in enumerate(task_names):
        writer.add_scalar(f"eval/episodic_return/{name}", episode_returns[eval_tasks == task].mean(), step)
    return episode_returns


def print_summary(curve: np.ndarray, final: str, episode_returns: np.ndarray, start_time: float) -> None:
    """The exact learning curve (about 10 rows), then ``final`` return(s), when it reached THRESHOLD and the
    sampled evaluation."""
    print("exact normalized discounted return (1 = optimal) by steps per task:")
    for steps_per_task, normalized in np.concatenate([curve[:: max(1, len(curve) // 10)], curve[-1:]]):
        print(f"  {int(steps_per_task):>8d} steps/task  {normalized:.3f}")
    reached = curve[curve[:, 1] >= THRESHOLD, 0]
    print(
        f"{final}; reached {THRESHOLD} at {int(reached[0]) if reached.size else 'never'} steps/task; sampled eval "
        f"return {episode_returns.mean():.2f} over {episode_returns.size} episodes; {time.time() - start_time:.1f}s"
    )


# --- the tables' file ----------------------------------------------------------------------------------


def schema(script: str, tables: Sequence[str]) -> dict[str, Any]:
    """What :func:`checkpoint.load` checks in a tables' file of ``script`` holding ``tables``."""
    return {"script": script, "args": dict, "run_name": str, "iteration": int, "global_step": int,
            "curve": checkpoint.TENSOR, **{name: checkpoint.TENSOR for name in tables}}  # fmt: skip


def payload(
    script: str, args: TabularArgs, run_name: str, iteration: int, global_step: int, curve: np.ndarray,
    tables: Mapping[str, np.ndarray], envs: Any,
) -> dict[str, Any]:  # fmt: skip
    """A checkpoint (or ``--save-model`` file) of the tables, with the map they index and the run's arguments."""
    layout = envs.unwrapped.layout
    arrays = {"curve": curve, **tables, "walls": layout.walls, "free_cells": layout.free_cells, "goals": layout.goals}
    return {"script": script, "args": dataclasses.asdict(args) | {"resume": None}, "run_name": run_name,
            "iteration": iteration, "global_step": global_step, "task_names": list(envs.unwrapped.task_names),
            **{name: torch.from_numpy(np.array(array)) for name, array in arrays.items()}}  # fmt: skip


def restore_tables(
    saved: Mapping[str, Any], names: Sequence[str], fresh: Sequence[np.ndarray], path: str
) -> list[np.ndarray]:
    """The checkpoint's tables ``names``, then its curve, as NumPy arrays, after checking them against this
    run's ``fresh`` tables (same shape and dtype: the same map and task set)."""
    restored = []
    for name, table in zip((*names, "curve"), (*fresh, np.zeros((0, 2))), strict=True):
        array = saved[name].numpy()
        shape_fits = array.shape == table.shape or (name == "curve" and array.ndim == 2 and array.shape[1] == 2)
        if array.dtype != table.dtype or not shape_fits:
            raise cli.BadArgument(
                f"--resume {path}: its {name} table is {array.dtype} {tuple(array.shape)}, this run's is "
                f"{table.dtype} {tuple(table.shape)} (another task set or map)."
            )
        restored.append(array)
    return restored
