"""Shared-representation multi-task DQN (D'Eramo et al., "Sharing Knowledge in Multi-Task Deep
Reinforcement Learning", ICLR 2020): one network whose two hidden layers are shared by every task,
with a task-specific input layer and a task-specific head. How to run it and what it reaches:
docs/mt_dqn_shared.md.

    h_t(s)  = ReLU(W_in[t] s)                  task-specific input layer (80 units)
    phi(s)  = ReLU(W_2 ReLU(W_1 h_t(s)))       two shared hidden layers (80 units): the shared features
    Q_t(s)  = W_out[t] phi(s)                  task-specific head over the union action space

All tasks step together (one env per task, one step each per iteration), each into its own replay
memory; every update draws one minibatch from every task's memory and minimises the mean Huber TD
error over all of them, each task with its own discount and valid actions (``info["action_mask"]``).
``--tsne`` draws the shared features of states the trained agent visits, embedded with t-SNE and
coloured by task and by estimated value (needs the ``tsne`` extra: scikit-learn). Conventions shared by
every baseline: docs/baselines.md.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from gymnasium import spaces

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.train import checkpoint, cli, dqn_family, progress, replay, run, writer
from mtenvs.train.args import TorchRunArgs
from mtenvs.train.cli import BadArgument
from mtenvs.wrappers import RecordTaskEpisodeStatistics

SCRIPT = os.path.basename(__file__)
MODEL_FORMAT = "mtenvs-mt-dqn-shared/1"
RESUME_FORMAT = "mtenvs-mt-dqn-shared-resume/2"


# The run flags (seed, --track, --save-model, --resume, --progress-interval, --cuda, ...): mtenvs.train.args.
@dataclass
class Args(TorchRunArgs):
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    checkpoint_interval: int = 50_000
    """save runs/{run_name}/checkpoint.pt (network, optimizer, replay, RNGs, envs) every this many env steps
    (all tasks together; 0 disables)"""

    env_id: str = "MultiControl-v0"
    """the id of a multi-task mtenvs environment with vector observations (families: control, tworooms)"""
    env_kwargs: str = "{}"
    """JSON dict of extra keyword arguments for gym.make (e.g. '{"tasks": ["CartPole", "Acrobot"]}')"""
    total_timesteps: int | None = None
    """env steps, all tasks together (None: 50k per task, D'Eramo's 50 epochs of 1000 steps; with --resume, the
    checkpoint's budget)"""
    learning_rate: float = 1e-3
    """Adam learning rate"""
    buffer_size: int = 5_000
    """replay capacity per task (transitions)"""
    batch_size: int = 100
    """minibatch size per task (every update draws one from every task)"""
    target_network_frequency: int = 100
    """copy the network to the target network every this many gradient updates"""
    gamma: float | None = None
    """discount for every task (default: each task's own where the env gives one, e.g. 0.95 Car-on-Hill; else 0.99)"""
    features: int = 80
    """width of the task input layers and of the two shared hidden layers"""
    start_e: float = 1.0
    """starting epsilon of the epsilon-greedy exploration"""
    end_e: float = 0.01
    """final epsilon"""
    exploration_steps: int = 5_000
    """steps per task over which epsilon falls linearly to end_e"""
    learning_starts: int = 100
    """steps per task of random-policy data before learning starts"""
    train_frequency: int = 1
    """steps per task between gradient updates"""
    eval_episodes: int = 10
    """evaluation episodes per task at the end of training (and every eval_interval steps)"""
    eval_interval: int = 0
    """also evaluate every this many env steps, all tasks together (0: only at the end)"""
    tsne: bool = False
    """if toggled, write runs/{run_name}/tsne.png: t-SNE of the shared features of visited states (scikit-learn)"""
    tsne_steps: int = 1000
    """greedy steps per task whose states go into the t-SNE figure"""


# D'Eramo et al.'s settings are the Args defaults for every family with vector observations; the budget, 50k
# steps per task, is filled once the tasks are known.
FAMILY_DEFAULTS: dict[str, dict] = {"control": {}, "tworooms": {}}

ARG_RULES = (
    cli.integer(["buffer_size", "batch_size", "target_network_frequency", "exploration_steps"], 1),
    cli.integer(["train_frequency", "eval_episodes", "tsne_steps"], 1),
    cli.integer(["features"], 1, dqn_family.MAX_WIDTH),
    cli.integer(["learning_starts", "eval_interval"], 0),
    cli.number(["learning_rate"], 0.0, open_low=True),
    cli.number(["gamma"], 0.0, 1.0, open_low=True),
    cli.number(["start_e", "end_e"], 0.0, 1.0),
)
RESERVED = dict.fromkeys(("task", "task_schedule", "task_obs", "num_envs", "task_assignment"), "one env per task")
SCHEMA = {
    "format": RESUME_FORMAT, "args": dict, "run_name": str, "global_step": int, "iteration": int, "updates": int,
    "network": dict, "target_network": dict, "optimizer": dict,
    "replay": replay.TRANSITIONS_SCHEMA, "rng": checkpoint.RNG_SCHEMA,
    "envs": (dict, type(None)), "obs": (torch.Tensor, type(None)),
}  # fmt: skip


def make_envs(env_id: str, env_kwargs: dict) -> list[gym.Env]:
    """One env per task, each pinned to its task, with per-task episode statistics; clear errors otherwise."""
    probe = cli.build_env(lambda: gym.make(env_id, **env_kwargs), env_id, env_kwargs)
    task_names = probe.unwrapped.task_names
    obs_space, action_space = probe.observation_space, probe.action_space
    probe.close()
    if not isinstance(action_space, spaces.Discrete):
        raise BadArgument(f"DQN needs a Discrete action space, {env_id} has {action_space}.")
    if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
        raise BadArgument(
            f"mt_dqn_shared.py needs vector observations (its task input layers are linear); {env_id} gives "
            f"{obs_space}. For pixel envs use dqn.py (Nature CNN)."
        )
    return [
        RecordTaskEpisodeStatistics(gym.make(env_id, task_schedule="fixed", task=name, **env_kwargs))
        for name in task_names
    ]


class SharedQNetwork(nn.Module):
    """Task input layers, two shared hidden layers, task heads (D'Eramo et al. 2020, section 5).

    Batches are laid out by task, ``(num_tasks, batch, obs_dim)``: row ``t`` goes through task
    ``t``'s input layer and head, so every task's layers run as one batched matrix product.
    """

    def __init__(self, obs_dim: int, num_actions: int, num_tasks: int, features: int):
        super().__init__()
        self.input_weight = nn.Parameter(torch.empty(num_tasks, obs_dim, features))
        self.input_bias = nn.Parameter(torch.empty(num_tasks, 1, features))
        self.shared = nn.Sequential(nn.Linear(features, features), nn.ReLU(), nn.Linear(features, features), nn.ReLU())
        self.head_weight = nn.Parameter(torch.empty(num_tasks, features, num_actions))
        self.head_bias = nn.Parameter(torch.empty(num_tasks, 1, num_actions))
        for weight, bias, fan_in in ((self.input_weight, self.input_bias, obs_dim),
                                     (self.head_weight, self.head_bias, features)):  # fmt: skip
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialisation, per task
            nn.init.uniform_(weight, -bound, bound)
            nn.init.uniform_(bias, -bound, bound)

    def get_shared_features(self, obs: torch.Tensor) -> torch.Tensor:
        """phi(s), ``(num_tasks, batch, features)``: the shared layers' output, row t via task t's input layer."""
        return self.shared(F.relu(torch.baddbmm(self.input_bias, obs, self.input_weight)))

    def get_q_values(self, obs: torch.Tensor) -> torch.Tensor:
        """Q_t(s, .), ``(num_tasks, batch, num_actions)``, over the union action space."""
        return torch.baddbmm(self.head_bias, self.get_shared_features(obs), self.head_weight)


def task_batch(obs: np.ndarray, task: int, num_tasks: int, device: torch.device) -> torch.Tensor:
    """A ``(num_tasks, batch, obs_dim)`` batch holding ``obs`` in task ``task``'s row (other rows zero)."""
    batch = torch.zeros(num_tasks, *obs.shape, device=device)
    batch[task] = torch.as_tensor(obs, device=device)
    return batch


def masked_greedy(q_values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """argmax over each row's valid actions only."""
    return q_values.masked_fill(~valid, -torch.inf).argmax(dim=-1)


@torch.no_grad()
def evaluate(network: SharedQNetwork, args: Args, env_kwargs: dict, valid: torch.Tensor, device: torch.device,
             seed: int) -> np.ndarray:  # fmt: skip
    """Mean greedy return of ``eval_episodes`` episodes per task."""
    envs = make_envs(args.env_id, env_kwargs)
    means = []
    for task, env in enumerate(envs):
        returns = []
        obs, _ = env.reset(seed=seed)
        while len(returns) < args.eval_episodes:
            q_values = network.get_q_values(task_batch(obs[None], task, len(envs), device))[task]
            obs, _, terminated, truncated, info = env.step(int(masked_greedy(q_values, valid[task])[0]))
            if terminated or truncated:
                returns.append(info["episode"]["r"])
                obs, _ = env.reset()
        env.close()
        means.append(np.mean(returns))
    return np.array(means)


@torch.no_grad()
def tsne_figure(network: SharedQNetwork, args: Args, env_kwargs: dict, valid: torch.Tensor, device: torch.device,
                path: str) -> None:  # fmt: skip
    """Shared features of ``tsne_steps`` greedy steps per task, embedded in 2-D with t-SNE (the review's figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    envs = make_envs(args.env_id, env_kwargs)
    task_names = envs[0].unwrapped.task_names
    states = np.zeros((len(envs), args.tsne_steps, envs[0].observation_space.shape[0]), dtype=np.float32)
    for task, env in enumerate(envs):
        obs, _ = env.reset(seed=args.seed + 20_000)
        for step in range(args.tsne_steps):
            states[task, step] = obs
            q_values = network.get_q_values(task_batch(obs[None], task, len(envs), device))[task]
            obs, _, terminated, truncated, _ = env.step(int(masked_greedy(q_values, valid[task])[0]))
            if terminated or truncated:
                obs, _ = env.reset()
        env.close()
    obs_batch = torch.as_tensor(states, device=device)
    features = network.get_shared_features(obs_batch).reshape(-1, args.features).cpu().numpy()
    values = network.get_q_values(obs_batch).masked_fill(~valid[:, None, :], -torch.inf).max(dim=2).values.flatten()
    tasks = np.repeat(np.arange(len(envs)), args.tsne_steps)
    embedding = TSNE(n_components=2, init="pca", random_state=args.seed, perplexity=30.0).fit_transform(features)

    fig, (by_task, by_value) = plt.subplots(1, 2, figsize=(12, 5.2))
    for task, name in enumerate(task_names):
        rows = tasks == task
        by_task.scatter(embedding[rows, 0], embedding[rows, 1], s=4, label=name)
    by_task.legend(markerscale=4, fontsize=8)
    by_task.set_title("shared features of visited states, by task")
    points = by_value.scatter(embedding[:, 0], embedding[:, 1], s=4, c=values.cpu().numpy(), cmap="viridis")
    fig.colorbar(points, ax=by_value, label="max_a Q_task(s, a)")
    by_value.set_title("by estimated value")
    for axis in (by_task, by_value):
        axis.set_xticks([])
        axis.set_yticks([])
    fig.suptitle(f"{args.env_id}, mt_dqn_shared.py seed {args.seed}: t-SNE of the {args.features} shared features")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(args: Args) -> None:
    saved = checkpoint.load(args.resume, "--resume", SCHEMA, f"a checkpoint of {SCRIPT}") if args.resume else None
    if saved:
        args = cli.resume_args(args, saved["args"], saved["global_step"])
    cli.family_of(args.env_id, FAMILY_DEFAULTS, SCRIPT)
    cli.check_rules(args, cli.COMMON_RULES + ARG_RULES)
    if args.batch_size > args.buffer_size:
        raise BadArgument(f"--batch-size={args.batch_size} exceeds --buffer-size={args.buffer_size}.")
    if args.tsne:
        try:
            import matplotlib  # noqa: F401
            import sklearn  # noqa: F401
        except ImportError as err:
            raise BadArgument(
                f"--tsne needs scikit-learn and matplotlib: pip install 'mtenvs[tsne,report]' ({err})."
            ) from None
    env_kwargs = cli.parse_env_kwargs(args.env_kwargs, RESERVED)
    run_name = saved["run_name"] if saved else run.new_run_name(args.env_id, args.exp_name, args.seed)

    run.seed_everything(args.seed, args.torch_deterministic)
    device = run.choose_device(args.cuda, args.torch_threads)
    envs = make_envs(args.env_id, env_kwargs)
    base = envs[0].unwrapped
    task_names, num_tasks = base.task_names, base.num_tasks
    if args.total_timesteps is None:
        args.total_timesteps = 50_000 * num_tasks
    if args.total_timesteps < num_tasks:
        raise BadArgument(
            f"--total-timesteps={args.total_timesteps} is less than one step per task ({num_tasks} tasks)."
        )
    gammas = (
        [args.gamma] * num_tasks
        if args.gamma is not None
        else list(getattr(base, "task_discounts", [0.99] * num_tasks))
    )
    obs_dim = envs[0].observation_space.shape[0]
    num_actions = int(envs[0].action_space.n)
    masks = getattr(base, "action_masks", None)
    masks = np.ones((num_tasks, num_actions), dtype=np.int8) if masks is None else np.asarray(masks, dtype=np.int8)
    valid = torch.as_tensor(masks, dtype=torch.bool, device=device)
    valid_actions = [np.flatnonzero(row) for row in masks]
    print(f"mt_dqn_shared.py on {args.env_id}: tasks {', '.join(task_names)}; discounts {gammas}")
    print("  " + ", ".join(f"{k}={v}" for k, v in asdict(args).items()))
    fields = replay.transitions((obs_dim,), torch.float32)
    cli.require_memory(
        replay.nbytes(fields, num_tasks * args.buffer_size),
        f"--buffer-size {args.buffer_size} (x {num_tasks} tasks of {obs_dim} floats per observation)",
    )

    network = SharedQNetwork(obs_dim, num_actions, num_tasks, args.features).to(device)
    target_network = SharedQNetwork(obs_dim, num_actions, num_tasks, args.features).to(device)
    target_network.load_state_dict(network.state_dict())
    optimizer = torch.optim.Adam(network.parameters(), lr=args.learning_rate)
    gamma_t = torch.tensor(gammas, dtype=torch.float32, device=device)

    # --- storage --- one replay memory per task (all tasks step together, so they fill in lockstep)
    memory = replay.Replay(args.buffer_size, fields, device, lanes=num_tasks)

    iteration, updates = (saved["iteration"], saved["updates"]) if saved else (0, 0)  # iteration = env steps per task
    obs = np.stack([env.reset(seed=args.seed + 1000 * task + iteration)[0] for task, env in enumerate(envs)])
    if saved:
        checkpoint.load_state(network, saved["network"], "--resume", args.resume, "network")
        checkpoint.load_state(target_network, saved["target_network"], "--resume", args.resume, "target network")
        checkpoint.load_state(optimizer, saved["optimizer"], "--resume", args.resume, "optimizer")
        memory.restore(saved["replay"], "--resume", args.resume)
        checkpoint.restore_rng(saved["rng"])
        if saved["envs"] is not None:
            checkpoint.restore_env_state(envs, saved["envs"], "--resume", args.resume)
            obs = saved["obs"].numpy()
        else:
            print("The checkpoint holds no env state (this env's is not plain data): the episodes in progress restart.")
    global_step = iteration * num_tasks
    run_path = run.run_dir(run_name)
    tb = writer.open_writer(args, run_name, run_path, envs[0], global_step if saved else None, {"discounts": gammas})

    def save_checkpoint() -> None:
        env_state = checkpoint.env_state(envs)
        checkpoint.save(run_path / "checkpoint.pt", {
            "format": RESUME_FORMAT, "args": asdict(args), "run_name": run_name, "global_step": global_step,
            "iteration": iteration, "updates": updates, "network": network.state_dict(),
            "target_network": target_network.state_dict(), "optimizer": optimizer.state_dict(),
            "replay": memory.state(), "rng": checkpoint.rng_state(), "envs": env_state,
            "obs": torch.as_tensor(obs).clone() if env_state is not None else None,
        })  # fmt: skip

    iterations = args.total_timesteps // num_tasks
    tracker = progress.Progress(args.progress_interval, args.total_timesteps, global_step)
    while iteration < iterations:
        # --- rollout --- every task's env takes one epsilon-greedy step over its valid actions
        epsilon = dqn_family.linear_schedule(args.start_e, args.end_e, args.exploration_steps, iteration)
        with torch.no_grad():
            q_values = network.get_q_values(torch.as_tensor(obs, device=device).unsqueeze(1)).squeeze(1)
            greedy = masked_greedy(q_values, valid).tolist()
        next_obs = np.empty_like(obs)
        for task, env in enumerate(envs):
            explore = random.random() < epsilon
            action = int(np.random.choice(valid_actions[task])) if explore else greedy[task]
            step_obs, reward, terminated, truncated, info = env.step(action)
            # --- replay --- into this task's memory; a truncated episode keeps its real next observation
            memory.write(task, obs=obs[task], next_obs=step_obs, actions=action, rewards=float(reward),
                         terminated=float(terminated))  # fmt: skip
            next_obs[task] = env.reset()[0] if terminated or truncated else step_obs
            # --- logging --- per-task returns as they finish
            if "episode" in info:
                name, ret = task_names[task], info["episode"]["r"]
                tracker.returns.append(float(ret))
                tb.add_scalar("charts/episodic_return", ret, global_step + task + 1)
                tb.add_scalar(f"charts/episodic_return/{name}", ret, global_step + task + 1)
                tb.add_scalar(f"charts/episodic_length/{name}", info["episode"]["l"], global_step + task + 1)
        obs = next_obs
        memory.advance()
        iteration += 1
        global_step = iteration * num_tasks

        # --- loss --- one minibatch from every task's memory, Huber TD error against the target network
        if (
            iteration > args.learning_starts
            and iteration % args.train_frequency == 0
            and memory.size >= args.batch_size
        ):
            batch = memory.sample(args.batch_size)
            with torch.no_grad():
                next_q = target_network.get_q_values(batch["next_obs"])
                next_max = next_q.masked_fill(~valid[:, None, :], -torch.inf).max(dim=2).values
                td_target = batch["rewards"] + gamma_t[:, None] * next_max * (1.0 - batch["terminated"])
            q_values = network.get_q_values(batch["obs"])
            q_taken = q_values.gather(2, batch["actions"].unsqueeze(2)).squeeze(2)
            loss = F.smooth_l1_loss(q_taken, td_target)

            # --- update --- one gradient step; the target network follows every target_network_frequency
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            updates += 1
            if updates % args.target_network_frequency == 0:
                target_network.load_state_dict(network.state_dict())
            if updates % 100 == 0:
                tb.add_scalar("losses/td_loss", loss.item(), global_step)
                tb.add_scalar("losses/q_values", q_taken.mean().item(), global_step)

        if tracker.due(iteration == iterations):
            tb.add_scalar("charts/SPS", tracker.sps(global_step), global_step)
            tracker.print(global_step, f", epsilon {epsilon:.3f}")
        evaluation_due = args.eval_interval and progress.crossed(
            args.eval_interval, global_step - num_tasks, global_step
        )
        if evaluation_due or iteration == iterations:
            per_task = evaluate(network, args, env_kwargs, valid, device, args.seed + 10_000)
            for name, value in zip(task_names, per_task, strict=True):
                tb.add_scalar(f"eval/episodic_return/{name}", value, global_step)
            tb.add_scalar("eval/episodic_return", per_task.mean(), global_step)
            print(
                f"step {global_step}: eval return "
                + ", ".join(f"{n} {v:.2f}" for n, v in zip(task_names, per_task, strict=True))
            )
        if args.checkpoint_interval and (
            progress.crossed(args.checkpoint_interval, global_step - num_tasks, global_step) or iteration == iterations
        ):
            save_checkpoint()

    if args.save_model:
        path = run_path / f"{args.exp_name}.pt"
        checkpoint.save(path, {
            "format": MODEL_FORMAT, "env_id": args.env_id, "env_kwargs": env_kwargs, "task_names": list(task_names),
            "obs_shape": [obs_dim], "num_actions": num_actions, "action_masks": masks.tolist(),
            "features": args.features, "network": network.state_dict(), "args": asdict(args),
            "global_step": global_step,
        })  # fmt: skip
        print(f"Model saved to {path}")
    if args.tsne:
        path = run_path / "tsne.png"
        tsne_figure(network, args, env_kwargs, valid, device, str(path))
        print(f"t-SNE figure written to {path}")
    for env in envs:
        env.close()
    tb.close()
    print(f"Done: {global_step} steps; TensorBoard logs in {run_path}")


if __name__ == "__main__":
    cli.run(main, Args, SCRIPT)
