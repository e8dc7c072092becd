"""Tabular Distral on TwoRooms (Teh et al. 2017, section 4.1): alternating soft Q learning and distillation.

Every task i has a table Q_i(s, a); the tasks share a distilled policy pi0(a|s). With pi0 fixed,
each task maximises the return of the regularised reward R_i + (alpha/beta) log pi0 - (1/beta) log pi_i
by soft Q learning with pi0^alpha as the prior (docs/references.md, "Distral equations"):

    V_i(s)      = (1/beta) log sum_a pi0(a|s)^alpha exp(beta Q_i(s, a))
    pi_i(a|s)   = pi0(a|s)^alpha exp(beta (Q_i(s, a) - V_i(s)))
    Q_i(s, a)  <- Q_i(s, a) + lr * (r + gamma * V_i(s') - Q_i(s, a))     (V_i(s') = 0 when s' is terminal)

With the task policies fixed, pi0 is the maximum-likelihood fit of their state-action visitation.
For tables, fitting pi0 to every (task i, state s) visited in the rollouts so far, with each visit
contributing the full distribution pi_i(.|s) of the policy that made it, gives

    pi0(a|s)    = sum over visits (i, s) of pi_i(a|s)  /  number of visits to s     (uniform where none yet)

One iteration = every env collects a rollout of 10 steps with its task's pi_i (the paper's
"rollout of length 10"), the TD updates above are applied step by step over the rollout (duplicate
(task, s, a) updates within a step are averaged), then pi0 is re-fitted. alpha = 1 (KL only) is
the paper's setting for this experiment; alpha < 1 adds the entropy term.

Why the fit uses all rollouts so far rather than the current task policies only: with alpha = 1,
re-fitting pi0 to the current pi_i = pi0 exp(beta (Q_i - V_i)) each iteration multiplies pi0 by
exp(beta Q) again, so pi0 and with it every pi_i collapse to one deterministic action per state
within a few hundred iterations, before Q is learned (all tasks then follow one policy; measured:
normalised return stuck at ~0.51 for every beta tried). Fitting to the accumulated data (a
maximum-likelihood fit over everything the task policies did, `distill_decay` = 1) keeps
early exploration in pi0 and avoids the collapse.

State: TwoRooms' "coordinates" observation (row, col, previous action, previous reward) mapped to
the table index (free cell, previous action), 5 x 55 = 275 states on the default map. The
previous reward is left out of the index: under the default rewards (1 at the goal, which ends
the episode, 0 elsewhere) it is 0 in every state an agent acts in, so it carries no information.

Hyperparameters: gamma = 0.95 and lr = 0.1 as docs/references.md lists (unverified); Q starts at 0.
beta = 100 instead of the paper's 5 (unverified): with a reward of 1 at the goal, Q differences
between actions are about gamma^d (1 - gamma) < 0.05, so at beta = 5 every soft policy stays
almost uniform (beta * dQ < 0.25) and neither learner gets far; at beta = 100 soft Q learning
becomes near-greedy at the goal distances of this map. docs/tworooms.md also reports beta = 5.

Learning curve: besides sampled episode returns, every `eval_interval` iterations the exact
expected discounted return of each task policy from the uniform start distribution is computed by
solving the policy's Bellman equation on the known map, and reported normalised by the optimal
(shortest-path) value: `eval/normalized_return` (1 = optimal). The baseline without distillation
(pi0 fixed uniform) is baselines/soft_q_tabular.py.

CleanRL conventions (docs/baselines.md) except `--cuda`: the learner is a few NumPy tables stepped by the
batched NumPy env, so there is nothing to put on a GPU (the flag would do nothing).
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch
import tyro
from torch.utils.tensorboard import SummaryWriter

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.provenance import run_provenance
from mtenvs.tworooms.layout import NUM_ACTIONS, TwoRoomsLayout
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector

PREVIOUS_ACTIONS = NUM_ACTIONS + 1  # up, right, down, left, none


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment"""
    seed: int = 1
    """seed of the experiment (env resets and action sampling)"""
    track: bool = False
    """if toggled, track the run with Weights and Biases (offline when WANDB_API_KEY is unset)"""
    wandb_project_name: str = "mtenvs"
    """the wandb project name"""
    wandb_entity: str | None = None
    """the entity (team) of the wandb project"""
    save_model: bool = False
    """if toggled, save the final tables (Q, pi0, visits) to runs/{run_name}/{exp_name}.npz"""
    checkpoint_interval: int = 0
    """save runs/{run_name}/checkpoint.npz every this many iterations (0 disables)"""
    resume: str | None = None
    """path of a checkpoint.npz to continue: tables, counters, run name and args come from it (the
    envs restart from fresh episodes, so a resumed run is not bit-identical to an uninterrupted one)"""

    env_id: str = "TwoRooms-v0"
    """the id of a TwoRooms environment"""
    env_kwargs: str = "{}"
    """JSON dict of extra TwoRooms arguments (e.g. '{"num_tasks": 4, "task_seed": 1}')"""
    envs_per_task: int = 4
    """envs collecting rollouts for each task in every iteration"""
    iterations: int = 1500
    """alternating iterations (soft Q learning on one rollout per env, then distillation)"""
    rollout_length: int = 10
    """steps per env per iteration (the paper's rollouts of length 10)"""
    beta: float = 100.0
    """inverse temperature beta = 1 / (c_KL + c_ent) (paper: 5, unverified; see the module docstring)"""
    alpha: float = 1.0
    """alpha = c_KL / (c_KL + c_ent): 1 = KL only (the paper's grid-world setting)"""
    gamma: float = 0.95
    """discount factor (docs/references.md, unverified)"""
    learning_rate: float = 0.1
    """soft Q learning rate (docs/references.md, unverified)"""
    distill_decay: float = 1.0
    """per-iteration decay of the distillation data (1 = fit pi0 to every rollout so far)"""
    eval_interval: int = 25
    """compute the exact expected return of every task policy every this many iterations"""
    eval_episodes: int = 20
    """sampled evaluation episodes per task at the end (logged as eval/episodic_return/<task>)"""


def check_args(args: Args) -> dict:
    """Reject invalid settings before anything is built; return the parsed env kwargs."""
    for name in ("envs_per_task", "iterations", "rollout_length", "eval_interval", "eval_episodes"):
        if getattr(args, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(args, name)}.")
    if args.checkpoint_interval < 0:
        raise ValueError(f"checkpoint_interval must be >= 0 (0 disables), got {args.checkpoint_interval}.")
    if not args.beta > 0.0:
        raise ValueError(f"beta must be > 0, got {args.beta}.")
    if not 0.0 <= args.alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {args.alpha}.")
    if not 0.0 < args.gamma < 1.0:
        raise ValueError(f"gamma must lie in (0, 1), got {args.gamma}.")
    if not 0.0 < args.learning_rate <= 1.0:
        raise ValueError(f"learning_rate must lie in (0, 1], got {args.learning_rate}.")
    env_kwargs = json.loads(args.env_kwargs)
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"env_kwargs must be a JSON object, got {args.env_kwargs!r}.")
    if "observation_type" in env_kwargs:
        raise ValueError("env_kwargs may not set observation_type: the tables read the 'coordinates' encoding.")
    return env_kwargs


def make_envs(args: Args, env_kwargs: dict) -> gym.vector.VectorEnv:
    """Grouped batched TwoRooms: `envs_per_task` envs per task, each pinned to its task."""
    probe = gym.make(args.env_id, **env_kwargs)
    if not hasattr(probe.unwrapped, "layout"):
        raise ValueError(f"{args.env_id} is not a TwoRooms env; the tabular learners need a grid layout.")
    num_envs = probe.unwrapped.num_tasks * args.envs_per_task
    envs = gym.make_vec(args.env_id, num_envs=num_envs, observation_type="coordinates", **env_kwargs)
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


def soft_values(q: np.ndarray, log_pi0: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """V_i(s) = (1/beta) log sum_a pi0(a|s)^alpha exp(beta Q_i(s,a)) for q of shape (..., A)."""
    logits = alpha * log_pi0 + beta * q
    top = logits.max(axis=-1)
    return (top + np.log(np.exp(logits - top[..., None]).sum(axis=-1))) / beta


def task_log_policies(q: np.ndarray, log_pi0: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """log pi_i(a|s), pi_i proportional to pi0(a|s)^alpha exp(beta Q_i(s,a)); shape (tasks, states, actions)."""
    return log_softmax(alpha * log_pi0[None] + beta * q)


def distill(action_mass: np.ndarray) -> np.ndarray:
    """log pi0 from the accumulated task-policy mass of every visited state (uniform where none yet)."""
    total = action_mass.sum(axis=1, keepdims=True)
    uniform = np.full_like(action_mass, 1.0 / action_mass.shape[1])
    return np.log(np.where(total > 0, action_mass / np.maximum(total, 1e-300), uniform))


def exact_returns(policies: np.ndarray, layout: TwoRoomsLayout, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Expected discounted return of each task policy from TwoRooms' uniform start, and the optimum.

    Evaluates v = r_pi + gamma P_pi v over the (free cell, previous action) states of each task
    (reaching the goal pays 1 and ends the episode) by iterating it to within 1e-6, averages v over
    the start states (every free cell but the goal, no previous action), and compares with the
    shortest-path value gamma^(d-1) averaged over the same starts.
    """
    free = layout.free_cells
    num_cells = free.size
    targets = free[:, None] + layout.move_offsets[None, :]
    next_cell = layout.free_index[np.where(layout.walls.ravel()[targets], free[:, None], targets)]  # (cells, A)
    cell_of_state = np.repeat(np.arange(num_cells), PREVIOUS_ACTIONS)
    next_state = next_cell[cell_of_state] * PREVIOUS_ACTIONS + np.arange(NUM_ACTIONS)[None, :]  # (S, A)
    goal_index = layout.free_index[layout.goals]  # (T,)
    ends = next_cell[cell_of_state][None] == goal_index[:, None, None]  # (T, S, A)
    reward = (policies * ends).sum(axis=2)
    carry = gamma * np.where(ends, 0.0, policies)
    values = np.zeros(reward.shape)
    for _ in range(int(np.ceil(np.log(1e-6) / np.log(gamma)))):
        values = reward + (carry * values[:, next_state]).sum(axis=2)
    achieved, optimal = [], []
    for task, goal in enumerate(layout.goals.tolist()):
        starts = np.flatnonzero(np.arange(num_cells) != goal_index[task])
        achieved.append(values[task, starts * PREVIOUS_ACTIONS + NUM_ACTIONS].mean())
        distance = layout.shortest_path_lengths(goal)[free[starts]]
        optimal.append((gamma ** (distance - 1.0)).mean())
    return np.array(achieved), np.array(optimal)


if __name__ == "__main__":
    args = tyro.cli(Args)
    env_kwargs = check_args(args)
    start_iteration, checkpoint = 0, None
    if args.resume:
        checkpoint = np.load(args.resume, allow_pickle=False)
        run_name = str(checkpoint["run_name"])
        args = Args(**json.loads(str(checkpoint["args"])))
        env_kwargs = check_args(args)
        start_iteration = int(checkpoint["iteration"])
        if start_iteration >= args.iterations:
            raise SystemExit(f"{args.resume} is already at iteration {start_iteration} of {args.iterations}.")
    else:
        run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    if args.track:
        import wandb

        wandb.init(
            project=args.wandb_project_name,
            entity=args.wandb_entity,
            sync_tensorboard=True,
            config=vars(args),
            name=run_name,
            save_code=True,
            mode="online" if os.environ.get("WANDB_API_KEY") else "offline",
        )
    writer = SummaryWriter(f"runs/{run_name}")

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = True
    rng = np.random.default_rng([args.seed, start_iteration])

    envs = make_envs(args, env_kwargs)
    # Versions (and the emulator protocol, n/a here) go with the hyperparameters, for the report.
    record = {**vars(args), **run_provenance(envs), "torch_version": torch.__version__}
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in record.items()))
    base = envs.unwrapped
    layout: TwoRoomsLayout = base.layout
    task_names, num_tasks = base.task_names, base.num_tasks
    env_tasks = base.env_task_ids
    num_states = layout.free_cells.size * PREVIOUS_ACTIONS
    print(
        f"{run_name}: {num_tasks} tasks, {num_states} states, {envs.num_envs} envs, "
        f"beta={args.beta} alpha={args.alpha} gamma={args.gamma} lr={args.learning_rate}"
    )

    q = np.zeros((num_tasks, num_states, NUM_ACTIONS))
    log_pi0 = np.full((num_states, NUM_ACTIONS), -np.log(NUM_ACTIONS))
    visits = np.zeros((num_tasks, num_states))
    action_mass = np.zeros((num_states, NUM_ACTIONS))  # sum over visits (task i, s) of pi_i(.|s)
    global_step = 0
    if checkpoint is not None:
        q, log_pi0, visits = checkpoint["q"], checkpoint["log_pi0"], checkpoint["visits"]
        action_mass = checkpoint["action_mass"]
        global_step = int(checkpoint["global_step"])

    def save(path: str, iteration: int) -> None:
        np.savez(
            path, q=q, log_pi0=log_pi0, visits=visits, action_mass=action_mass, iteration=iteration,
            global_step=global_step,
            run_name=run_name, args=json.dumps(asdict(args)), task_names=np.array(task_names),
            walls=layout.walls, free_cells=layout.free_cells, goals=layout.goals,
        )  # fmt: skip

    resumed_step = global_step
    obs, _ = envs.reset(seed=args.seed + start_iteration * envs.num_envs)
    restarting = np.zeros(envs.num_envs, dtype=bool)  # next-step autoreset: this step only resets
    curve = []
    start_time = time.time()
    for iteration in range(start_iteration + 1, args.iterations + 1):
        # --- soft Q learning on one rollout per env, under the current pi0 ---
        log_policies = task_log_policies(q, log_pi0, args.alpha, args.beta)
        policies = np.exp(log_policies)
        rollout = []
        for _ in range(args.rollout_length):
            states = state_index(obs, layout)
            actions = sample_actions(policies[env_tasks, states], rng)
            obs, rewards, terminations, truncations, infos = envs.step(actions)
            valid = ~restarting
            rollout.append((states[valid], actions[valid], rewards[valid], terminations[valid], obs[valid], valid))
            restarting = terminations | truncations
            global_step += int(valid.sum())
            if "episode" in infos:
                finished = infos["_episode"]
                returns = infos["episode"]["r"][finished]
                writer.add_scalar("charts/episodic_return", returns.mean(), global_step)
                writer.add_scalar("charts/episodic_length", infos["episode"]["l"][finished].mean(), global_step)
                for task in np.unique(infos["episode"]["task_id"][finished]):
                    of_task = finished & (infos["episode"]["task_id"] == task)
                    writer.add_scalar(
                        f"charts/episodic_return/{task_names[task]}", infos["episode"]["r"][of_task].mean(), global_step
                    )
        td_errors = []
        for states, actions, rewards, terminations, next_obs, valid in rollout:
            tasks = env_tasks[valid]
            next_states = state_index(next_obs, layout)
            next_values = soft_values(q[tasks, next_states], log_pi0[next_states], args.alpha, args.beta)
            targets = rewards + args.gamma * np.where(terminations, 0.0, next_values)
            errors = targets - q[tasks, states, actions]
            flat = (tasks * num_states + states) * NUM_ACTIONS + actions
            sums = np.bincount(flat, errors, minlength=q.size)
            counts = np.bincount(flat, minlength=q.size)
            q += args.learning_rate * (sums / np.maximum(counts, 1)).reshape(q.shape)
            np.add.at(visits, (tasks, states), 1.0)
            np.add.at(action_mass, states, policies[tasks, states])
            td_errors.append(np.abs(errors).mean() if errors.size else 0.0)
        # --- distillation: pi0 = maximum-likelihood fit to the task policies at the visited states ---
        log_pi0 = distill(action_mass)
        action_mass *= args.distill_decay

        if iteration % args.eval_interval == 0 or iteration == args.iterations:
            log_policies = task_log_policies(q, log_pi0, args.alpha, args.beta)
            policies = np.exp(log_policies)
            achieved, optimal = exact_returns(policies, layout, args.gamma)
            normalized = float((achieved / optimal).mean())
            pi0 = np.exp(log_pi0)
            distilled, _ = exact_returns(np.broadcast_to(pi0, policies.shape), layout, args.gamma)
            distilled_normalized = float((distilled / optimal).mean())
            writer.add_scalar("eval/distilled_normalized_return", distilled_normalized, global_step)
            steps_per_task = global_step // num_tasks
            curve.append((steps_per_task, normalized))
            writer.add_scalar("eval/normalized_return", normalized, global_step)
            writer.add_scalar("eval/steps_per_task", steps_per_task, global_step)
            for task, name in enumerate(task_names):
                writer.add_scalar(f"eval/expected_discounted_return/{name}", achieved[task], global_step)
            kl = (policies * (log_policies - log_pi0[None])).sum(axis=2)
            writer.add_scalar("losses/td_error", float(np.mean(td_errors)), global_step)
            writer.add_scalar("losses/kl_to_distilled", float((kl * visits).sum() / visits.sum()), global_step)
            writer.add_scalar("losses/distilled_entropy", float(-(pi0 * log_pi0).sum(axis=1).mean()), global_step)
            writer.add_scalar("charts/SPS", int((global_step - resumed_step) / (time.time() - start_time)), global_step)
        if args.checkpoint_interval and iteration % args.checkpoint_interval == 0:
            save(f"runs/{run_name}/checkpoint.npz", iteration)

    if args.save_model:
        save(f"runs/{run_name}/{args.exp_name}.npz", args.iterations)
        print(f"tables saved to runs/{run_name}/{args.exp_name}.npz")

    # Sampled evaluation: `eval_episodes` episodes per task with the final task policies.
    policies = np.exp(task_log_policies(q, log_pi0, args.alpha, args.beta))
    eval_envs = gym.make_vec(
        args.env_id, num_envs=num_tasks * args.eval_episodes, observation_type="coordinates", **env_kwargs
    )
    eval_tasks = eval_envs.unwrapped.env_task_ids
    obs, _ = eval_envs.reset(seed=args.seed + 10**6)
    episode_returns = np.zeros(eval_envs.num_envs)
    running = np.ones(eval_envs.num_envs, dtype=bool)
    while running.any():
        actions = sample_actions(policies[eval_tasks, state_index(obs, layout)], rng)
        obs, rewards, terminations, truncations, _ = eval_envs.step(actions)
        episode_returns += np.where(running, rewards, 0.0)
        running &= ~(terminations | truncations)
    for task, name in enumerate(task_names):
        writer.add_scalar(f"eval/episodic_return/{name}", episode_returns[eval_tasks == task].mean(), global_step)

    print("exact normalized discounted return (1 = optimal) by steps per task:")
    for steps_per_task, normalized in curve[:: max(1, len(curve) // 10)] + curve[-1:]:
        print(f"  {steps_per_task:>8d} steps/task  {normalized:.3f}")
    reached = next((s for s, v in curve if v >= 0.9), None)
    print(
        f"final normalized return {curve[-1][1]:.3f} (distilled policy pi0 alone: {distilled_normalized:.3f}); "
        f"reached 0.9 at {reached if reached is not None else 'never'} steps/task; sampled eval success rate "
        f"{episode_returns.mean():.2f} over {eval_envs.num_envs} episodes; {time.time() - start_time:.1f}s"
    )
    print(f"TensorBoard logs: runs/{run_name}")
    eval_envs.close()
    envs.close()
    writer.close()
