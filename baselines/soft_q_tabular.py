"""Independent soft Q learning per task on TwoRooms: the baseline of Distral's grid-world experiment.

Teh et al. 2017, section 4.1 compare tabular Distral (baselines/distral_tabular.py) with "one which soft
Q learns a separate policy for each task". This is that learner: the Distral script's data collection,
soft Q learning, hyperparameters and evaluation with the prior held uniform instead of distilled
(pi_i = exp(beta (Q_i - V_i)) / |A|, the Distral equations of docs/references.md with pi0 uniform and
alpha = 1), so the two differ only in what the tasks share: here nothing. Settings, the exact learning
curve and the results: docs/tworooms.md.

No `--cuda`: the learner is a few NumPy tables stepped by the batched NumPy env, so nothing would run
on a GPU.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, fields
from typing import NoReturn

import gymnasium as gym
import numpy as np
import torch
import tyro
from torch.utils.tensorboard import SummaryWriter

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.provenance import run_provenance
from mtenvs.tworooms.env import DEFAULT_MAX_STEPS
from mtenvs.tworooms.layout import NUM_ACTIONS, TwoRoomsLayout
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector

SCRIPT = os.path.basename(__file__)
PREVIOUS_ACTIONS = NUM_ACTIONS + 1  # up, right, down, left, none
THRESHOLD = 0.9  # "steps to 0.9 of optimal" in the summary
# TwoRooms arguments the tables can learn and the exact return can evaluate (the script sets the rest).
ENV_KWARGS = ("room_size", "corridor_length", "layout", "goals", "num_tasks", "task_seed", "max_steps")
ENV_REWARD_KWARGS = ("goal_reward", "step_reward")
MAX_ENVS = 65_536
TABLES = ("q", "visits")
CHECKPOINT_KEYS = ("script", "args", "run_name", "iteration", "global_step", "curve", *TABLES)


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment"""
    seed: int = 1
    """seed of the experiment (env resets and action sampling), in [0, 2**31)"""
    track: bool = False
    """if toggled, track the run with Weights and Biases (offline when WANDB_API_KEY is unset)"""
    wandb_project_name: str = "mtenvs"
    """the wandb project name"""
    wandb_entity: str | None = None
    """the entity (team) of the wandb project"""
    save_model: bool = False
    """if toggled, save the final tables (Q, visits) to runs/{run_name}/{exp_name}.npz"""
    checkpoint_interval: int = 100_000
    """save runs/{run_name}/checkpoint.npz every this many env steps (0 disables)"""
    resume: str | None = None
    """path of a checkpoint.npz to continue: tables, counters, learning curve, run name and args come from
    it (the envs restart from fresh episodes, so a resumed run is not bit-identical to an uninterrupted one)"""
    progress_interval: float = 30.0
    """print a progress line (step, SPS, recent return) at least every this many seconds (0 = every iteration)"""

    env_id: str = "TwoRooms-v0"
    """the id of a TwoRooms environment"""
    env_kwargs: str = "{}"
    """JSON dict of TwoRooms arguments: room_size, corridor_length, layout, goals, num_tasks, task_seed,
    max_steps, goal_reward (> 0) and step_reward (0 only: the exact return assumes a goal-only reward)"""
    total_timesteps: int = 480_000
    """total env steps over all envs (converted to whole iterations of num_envs * rollout_length steps)"""
    iterations: int | None = None
    """the budget in iterations instead; when given it replaces --total-timesteps"""
    envs_per_task: int = 4
    """envs collecting rollouts for each task in every iteration (at most 65536 envs in all)"""
    rollout_length: int = 10
    """steps per env per iteration (the paper's rollouts of length 10)"""
    beta: float = 100.0
    """inverse temperature of the soft Q learning, > 0 (paper: 5, unverified; docs/tworooms.md says why 100)"""
    gamma: float = 0.95
    """discount factor in (0, 1) (docs/references.md, unverified)"""
    learning_rate: float = 0.1
    """soft Q learning rate in (0, 1] (docs/references.md, unverified)"""
    eval_interval: int = 8_000
    """compute the exact expected return of every task policy every this many env steps"""
    eval_episodes: int = 20
    """sampled evaluation episodes per task at the end (logged as eval/episodic_return/<task>)"""


def check_args(args: Args) -> dict:
    """Reject invalid settings before anything is built; return the parsed env kwargs."""
    if not 0 <= args.seed < 2**31:
        raise ValueError(f"--seed must lie in [0, 2**31), got {args.seed}.")
    for name, low, high in (
        ("total_timesteps", 1, None),
        ("envs_per_task", 1, MAX_ENVS),
        ("rollout_length", 1, None),
        ("eval_interval", 1, None),
        ("eval_episodes", 1, MAX_ENVS),
        ("checkpoint_interval", 0, None),
    ):
        value = getattr(args, name)
        if value < low or (high is not None and value > high):
            allowed = f"in [{low}, {high}]" if high is not None else f">= {low}"
            raise ValueError(f"--{name.replace('_', '-')} must be {allowed}, got {value}.")
    if args.iterations is not None and args.iterations < 1:
        raise ValueError(f"--iterations must be >= 1 (or left out to use --total-timesteps), got {args.iterations}.")
    for name, value, allowed, ok in (
        ("beta", args.beta, "finite and > 0", math.isfinite(args.beta) and args.beta > 0.0),
        ("gamma", args.gamma, "in (0, 1)", 0.0 < args.gamma < 1.0),
        ("learning_rate", args.learning_rate, "in (0, 1]", 0.0 < args.learning_rate <= 1.0),
        ("progress_interval", args.progress_interval, "finite and >= 0", 0.0 <= args.progress_interval < math.inf),
    ):
        if not ok:
            raise ValueError(f"--{name.replace('_', '-')} must be {allowed}, got {value}.")
    try:
        env_kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as err:
        raise ValueError(f"--env-kwargs must be a JSON object, e.g. '{{\"num_tasks\": 4}}'; {err}.") from None
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}.")
    unknown = sorted(set(env_kwargs) - set(ENV_KWARGS + ENV_REWARD_KWARGS))
    if unknown:
        raise ValueError(
            f"--env-kwargs may not set {unknown}; it accepts {list(ENV_KWARGS + ENV_REWARD_KWARGS)} "
            "(the script sets observation_type, num_envs and task_assignment itself)."
        )
    if env_kwargs.get("step_reward", 0.0) != 0.0:
        raise ValueError(
            f"--env-kwargs step_reward must be 0, got {env_kwargs['step_reward']!r}: the exact return assumes a "
            "goal-only reward, and the table state leaves out the previous reward, which is then always 0."
        )
    goal_reward = env_kwargs.get("goal_reward", 1.0)
    if not isinstance(goal_reward, (int, float)) or isinstance(goal_reward, bool) or not goal_reward > 0.0:
        raise ValueError(f"--env-kwargs goal_reward must be a number > 0, got {goal_reward!r}.")
    try:
        spec = gym.spec(args.env_id)
    except gym.error.Error as err:
        raise ValueError(f"--env-id {args.env_id!r}: {err}") from None
    if not str(spec.entry_point).startswith("mtenvs.tworooms"):
        raise ValueError(f"--env-id {args.env_id!r} is not a TwoRooms env; the tabular learner needs its grid.")
    return env_kwargs


def load_checkpoint(path: str) -> dict[str, np.ndarray]:
    """The arrays of a checkpoint this script wrote; a clear error for anything else."""
    if not os.path.isfile(path):
        raise ValueError(f"--resume {path!r}: no such file.")
    invalid = f"--resume {path!r} is not a valid checkpoint of {SCRIPT}"
    unreadable = f"{invalid}: it cannot be read as a .npz archive (truncated, corrupted or another format)."
    try:  # numpy and zipfile raise many exception types for truncated, corrupted or foreign files
        archive = np.load(path, allow_pickle=False)
    except Exception:
        raise ValueError(unreadable) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{invalid}: it is a single NumPy array, not a checkpoint archive.")
    try:
        with archive:
            checkpoint = {key: archive[key] for key in archive.files}
    except Exception:
        raise ValueError(unreadable) from None
    missing = [key for key in CHECKPOINT_KEYS if key not in checkpoint]
    if missing:
        raise ValueError(f"{invalid}: it lacks {missing}.")
    if str(checkpoint["script"]) != SCRIPT:
        raise ValueError(f"{invalid}: it was written by {checkpoint['script']}.")
    try:
        saved = json.loads(str(checkpoint["args"]))
        known = {f.name for f in fields(Args)}
        checkpoint["args"] = Args(**{k: v for k, v in saved.items() if k in known} | {"resume": path})
    except (ValueError, TypeError, AttributeError) as err:
        raise ValueError(f"{invalid}: its saved arguments cannot be read ({err}).") from None
    return checkpoint


def make_envs(args: Args, env_kwargs: dict) -> gym.vector.VectorEnv:
    """Grouped batched TwoRooms: `envs_per_task` envs per task, each pinned to its task."""
    num_tasks = gym.make(args.env_id, **env_kwargs).unwrapped.num_tasks
    if num_tasks * args.envs_per_task > MAX_ENVS:
        raise ValueError(f"{num_tasks} tasks x --envs-per-task {args.envs_per_task} is more than {MAX_ENVS} envs.")
    envs = gym.make_vec(
        args.env_id,
        num_envs=num_tasks * args.envs_per_task,
        task_assignment="grouped",
        observation_type="coordinates",
        **env_kwargs,
    )
    return RecordTaskEpisodeStatisticsVector(envs)


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


def soft_values(q: np.ndarray, beta: float) -> np.ndarray:
    """V_i(s) = (1/beta) log (1/|A|) sum_a exp(beta Q_i(s,a)) for q of shape (..., A)."""
    logits = beta * q
    top = logits.max(axis=-1)
    return (top + np.log(np.exp(logits - top[..., None]).mean(axis=-1))) / beta


def task_log_policies(q: np.ndarray, beta: float) -> np.ndarray:
    """log pi_i(a|s), pi_i proportional to exp(beta Q_i(s,a)); shape (tasks, states, actions)."""
    return log_softmax(beta * q)


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


def usage_error(message: str) -> NoReturn:
    """Print a one-line error and exit with status 2 (a usage error, as argparse and tyro exit)."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


if __name__ == "__main__":
    args = tyro.cli(Args)
    checkpoint = None
    try:
        if args.resume:
            checkpoint = load_checkpoint(args.resume)
            args = checkpoint["args"]
            print(f"--resume: continuing {checkpoint['run_name']} with the arguments saved in the checkpoint.")
        env_kwargs = check_args(args)
    except ValueError as err:
        usage_error(f"{SCRIPT}: error: {err}")
    new_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    run_name = str(checkpoint["run_name"]) if checkpoint else new_name

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    start_iteration = int(checkpoint["iteration"]) if checkpoint else 0
    rng = np.random.default_rng([args.seed, start_iteration])

    try:  # TwoRooms checks its own arguments (room_size, goals, ...) when built
        envs = make_envs(args, env_kwargs)
    except ValueError as err:
        usage_error(f"{SCRIPT}: error: --env-kwargs {args.env_kwargs}: {err}")
    base = envs.unwrapped
    layout: TwoRoomsLayout = base.layout
    task_names, num_tasks, env_tasks = base.task_names, base.num_tasks, base.env_task_ids
    num_states = layout.free_cells.size * PREVIOUS_ACTIONS
    steps_per_iteration = envs.num_envs * args.rollout_length
    num_iterations = args.iterations if args.iterations is not None else args.total_timesteps // steps_per_iteration
    if num_iterations < 1:
        usage_error(
            f"{SCRIPT}: error: --total-timesteps {args.total_timesteps} is less than one iteration "
            f"({envs.num_envs} envs x {args.rollout_length} steps = {steps_per_iteration} env steps)."
        )
    if start_iteration >= num_iterations:
        usage_error(f"{SCRIPT}: {args.resume} is already at iteration {start_iteration} of {num_iterations}.")
    goal_reward = float(env_kwargs.get("goal_reward", 1.0))
    max_steps = int(env_kwargs.get("max_steps", DEFAULT_MAX_STEPS))

    q = np.zeros((num_tasks, num_states, NUM_ACTIONS))
    visits = np.zeros((num_tasks, num_states))
    curve = np.zeros((0, 2))  # (steps per task, exact normalised return) at every evaluation
    global_step = 0
    if checkpoint:
        if checkpoint["q"].shape != q.shape:
            usage_error(f"{SCRIPT}: error: --resume {args.resume!r} holds tables for another task set or map.")
        q, visits = checkpoint["q"], checkpoint["visits"]
        curve, global_step = checkpoint["curve"], int(checkpoint["global_step"])

    if args.track:
        import wandb

        wandb.init(
            project=args.wandb_project_name,
            entity=args.wandb_entity,
            sync_tensorboard=True,
            config=vars(args),
            name=run_name,
            id=run_name,
            resume="allow",
            save_code=True,
            mode="online" if os.environ.get("WANDB_API_KEY") else "offline",
        )
    # On resume, events the killed run logged after its checkpoint (steps > global_step) are dropped, not
    # written twice; the checkpoint is saved after everything logged at its own step.
    writer = SummaryWriter(f"runs/{run_name}", purge_step=global_step + 1 if checkpoint else None)
    if not checkpoint:
        record = {**vars(args), **run_provenance(envs), "torch_version": torch.__version__}
        table = "\n".join(f"|{key}|{value}|" for key, value in record.items())
        writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")
    print(
        f"{run_name}: {num_tasks} tasks, {num_states} states, {envs.num_envs} envs; {num_iterations} iterations x "
        f"{steps_per_iteration} = {num_iterations * steps_per_iteration:,} env steps"
        + (" (--iterations replaces --total-timesteps)" if args.iterations is not None else "")
        + f"; beta={args.beta} gamma={args.gamma} lr={args.learning_rate}"
    )

    def save(path: str, iteration: int) -> None:
        np.savez(
            path + ".tmp.npz", script=SCRIPT, args=json.dumps(asdict(args) | {"resume": None}), run_name=run_name,
            iteration=iteration, global_step=global_step, q=q, visits=visits, curve=curve,
            task_names=np.array(task_names), walls=layout.walls,
            free_cells=layout.free_cells, goals=layout.goals,
        )  # fmt: skip
        os.replace(path + ".tmp.npz", path)  # atomic: a kill mid-save keeps the previous file

    # Rollout storage, one row per step of the rollout (table indices, not observations).
    states = np.zeros((args.rollout_length, envs.num_envs), dtype=np.int64)
    actions = np.zeros((args.rollout_length, envs.num_envs), dtype=np.int64)
    rewards = np.zeros((args.rollout_length, envs.num_envs))
    terminations = np.zeros((args.rollout_length, envs.num_envs), dtype=bool)
    next_states = np.zeros((args.rollout_length, envs.num_envs), dtype=np.int64)
    valid = np.zeros((args.rollout_length, envs.num_envs), dtype=bool)  # False: the step only reset the env

    obs, _ = envs.reset(seed=args.seed + start_iteration * envs.num_envs)
    restarting = np.zeros(envs.num_envs, dtype=bool)  # next-step autoreset: the next step only resets
    recent_returns = deque(maxlen=100)
    start_time, start_step, last_print = time.time(), global_step, time.time()
    for iteration in range(start_iteration + 1, num_iterations + 1):
        # --- rollout: every env acts for rollout_length steps with its task's pi_i ---
        log_policies = task_log_policies(q, args.beta)
        policies = np.exp(log_policies)
        for step in range(args.rollout_length):
            states[step] = state_index(obs, layout)
            actions[step] = sample_actions(policies[env_tasks, states[step]], rng)
            obs, rewards[step], terminations[step], truncations, infos = envs.step(actions[step])
            next_states[step] = state_index(obs, layout)
            valid[step] = ~restarting
            restarting = terminations[step] | truncations
            global_step += envs.num_envs
            if "episode" in infos:
                finished = infos["_episode"]
                recent_returns.extend(infos["episode"]["r"][finished].tolist())
                writer.add_scalar("charts/episodic_return", infos["episode"]["r"][finished].mean(), global_step)
                writer.add_scalar("charts/episodic_length", infos["episode"]["l"][finished].mean(), global_step)
                for task in np.unique(infos["episode"]["task_id"][finished]):
                    of_task = finished & (infos["episode"]["task_id"] == task)
                    writer.add_scalar(
                        f"charts/episodic_return/{task_names[task]}", infos["episode"]["r"][of_task].mean(), global_step
                    )

        # --- soft Q learning: TD updates step by step over the rollout (duplicate (task, s, a) averaged) ---
        td_errors = []
        for step in range(args.rollout_length):
            live = valid[step]
            tasks, s, a = env_tasks[live], states[step, live], actions[step, live]
            next_s = next_states[step, live]
            next_values = soft_values(q[tasks, next_s], args.beta)
            targets = rewards[step, live] + args.gamma * np.where(terminations[step, live], 0.0, next_values)
            errors = targets - q[tasks, s, a]
            flat = (tasks * num_states + s) * NUM_ACTIONS + a
            sums = np.bincount(flat, errors, minlength=q.size)
            counts = np.bincount(flat, minlength=q.size)
            q += args.learning_rate * (sums / np.maximum(counts, 1)).reshape(q.shape)
            np.add.at(visits, (tasks, s), 1.0)
            td_errors.append(np.abs(errors).mean() if errors.size else 0.0)

        # --- logging: exact normalised return of the task policies, losses, progress ---
        evaluate = global_step // args.eval_interval > (global_step - steps_per_iteration) // args.eval_interval
        if evaluate or iteration == num_iterations:
            log_policies = task_log_policies(q, args.beta)
            policies = np.exp(log_policies)
            achieved, optimal = exact_returns(policies, layout, args.gamma, goal_reward, max_steps)
            normalized = float((achieved / optimal).mean())
            curve = np.concatenate([curve, [[global_step // num_tasks, normalized]]])
            writer.add_scalar("eval/normalized_return", normalized, global_step)
            writer.add_scalar("eval/steps_per_task", global_step // num_tasks, global_step)
            for task, name in enumerate(task_names):
                writer.add_scalar(f"eval/expected_discounted_return/{name}", achieved[task], global_step)
            entropy = -(policies * log_policies).sum(axis=2)
            writer.add_scalar("losses/td_error", float(np.mean(td_errors)), global_step)
            writer.add_scalar("losses/entropy", float((entropy * visits).sum() / visits.sum()), global_step)
            writer.add_scalar("charts/SPS", int((global_step - start_step) / (time.time() - start_time)), global_step)
        if time.time() - last_print >= args.progress_interval or iteration == num_iterations:
            last_print = time.time()
            sps = int((global_step - start_step) / max(last_print - start_time, 1e-9))
            recent = f"{np.mean(recent_returns):.3f}" if recent_returns else "n/a (no episode ended yet)"
            exact = f"{curve[-1, 1]:.3f}" if len(curve) else "n/a"
            print(
                f"step {global_step:,}/{num_iterations * steps_per_iteration:,}  SPS {sps:,}  "
                f"recent return {recent}  exact normalised return {exact}",
                flush=True,
            )
        if args.checkpoint_interval and (
            global_step // args.checkpoint_interval > (global_step - steps_per_iteration) // args.checkpoint_interval
        ):
            save(f"runs/{run_name}/checkpoint.npz", iteration)

    if args.save_model:
        save(f"runs/{run_name}/{args.exp_name}.npz", num_iterations)
        print(f"tables saved to runs/{run_name}/{args.exp_name}.npz")

    # Sampled evaluation: `eval_episodes` episodes per task with the final task policies.
    policies = np.exp(task_log_policies(q, args.beta))
    eval_envs = gym.make_vec(
        args.env_id, num_envs=num_tasks * args.eval_episodes, task_assignment="grouped",
        observation_type="coordinates", **env_kwargs,
    )  # fmt: skip
    eval_tasks = eval_envs.unwrapped.env_task_ids
    obs, _ = eval_envs.reset(seed=args.seed + 10**6)
    episode_returns = np.zeros(eval_envs.num_envs)
    running = np.ones(eval_envs.num_envs, dtype=bool)
    while running.any():
        eval_actions = sample_actions(policies[eval_tasks, state_index(obs, layout)], rng)
        obs, eval_rewards, eval_terminations, eval_truncations, _ = eval_envs.step(eval_actions)
        episode_returns += np.where(running, eval_rewards, 0.0)
        running &= ~(eval_terminations | eval_truncations)
    for task, name in enumerate(task_names):
        writer.add_scalar(f"eval/episodic_return/{name}", episode_returns[eval_tasks == task].mean(), global_step)

    print("exact normalized discounted return (1 = optimal) by steps per task:")
    for steps_per_task, normalized in np.concatenate([curve[:: max(1, len(curve) // 10)], curve[-1:]]):
        print(f"  {int(steps_per_task):>8d} steps/task  {normalized:.3f}")
    reached = curve[curve[:, 1] >= THRESHOLD, 0]
    print(
        f"final normalized return {curve[-1, 1]:.3f}; "
        f"reached {THRESHOLD} at {int(reached[0]) if reached.size else 'never'} steps/task; sampled eval return "
        f"{episode_returns.mean():.2f} over {eval_envs.num_envs} episodes; {time.time() - start_time:.1f}s"
    )
    print(f"TensorBoard logs: runs/{run_name}")
    eval_envs.close()
    envs.close()
    writer.close()
