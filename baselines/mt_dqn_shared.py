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
coloured by task and by estimated value (needs the ``tsne`` extra: scikit-learn).
"""

from __future__ import annotations

import json
import math
import os
import pickle
import random
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from gymnasium import spaces
from torch.utils.tensorboard import SummaryWriter

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.provenance import run_provenance
from mtenvs.wrappers import RecordTaskEpisodeStatistics

MODEL_FORMAT = "mtenvs-mt-dqn-shared/1"
RESUME_FORMAT = "mtenvs-mt-dqn-shared-resume/1"


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment"""
    seed: int = 1
    """seed of the experiment"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    cuda: bool = True
    """if toggled, train on CUDA when it is available (the script says when it is not)"""
    torch_threads: int = 1
    """CPU threads for torch (1 is fastest for small networks on a shared CPU; 0 keeps torch's default)"""
    track: bool = False
    """if toggled, track the run with Weights and Biases (offline when WANDB_API_KEY is unset)"""
    wandb_project_name: str = "mtenvs"
    """the wandb project name"""
    wandb_entity: str | None = None
    """the entity (team) of the wandb project"""
    save_model: bool = False
    """if toggled, save the trained network to runs/{run_name}/{exp_name}.pt"""
    checkpoint_interval: int = 50_000
    """save runs/{run_name}/checkpoint.pt (network, optimizer, replay, RNGs, envs) every this many env steps
    (all tasks together; 0 disables)"""
    resume: str | None = None
    """path of a checkpoint.pt to continue exactly (its run name, args, replay and step count are restored)"""

    env_id: str = "MultiControl-v0"
    """the id of a multi-task mtenvs environment with vector observations"""
    env_kwargs: str = "{}"
    """JSON dict of extra keyword arguments for gym.make (e.g. '{"tasks": ["CartPole", "Acrobot"]}')"""
    total_timesteps: int | None = None
    """env steps, all tasks together (default: 50k per task, D'Eramo's 50 epochs of 1000 steps); with
    --resume, None keeps the checkpoint's budget and a number extends it"""
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


class BadArgument(ValueError):
    """An invalid argument, found before training; the command line prints its message without a traceback."""


def check_args(args: Args) -> dict:
    """Reject invalid hyperparameters before anything is built; return the parsed env kwargs."""
    if isinstance(args.seed, bool) or not isinstance(args.seed, int) or not 0 <= args.seed <= 2**30:
        raise BadArgument(
            f"--seed must be an integer in [0, 2**30] (the envs are seeded with seed + offsets), got {args.seed!r}."
        )
    for name in ("learning_rate", "start_e", "end_e", "gamma"):
        value = getattr(args, name)
        if value is not None and not math.isfinite(value):
            raise BadArgument(f"--{name.replace('_', '-')} must be finite, got {value}.")
    for name in ("buffer_size", "batch_size", "target_network_frequency", "features", "exploration_steps",
                 "train_frequency", "eval_episodes", "tsne_steps"):  # fmt: skip
        if getattr(args, name) < 1:
            raise BadArgument(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    if args.total_timesteps is not None and args.total_timesteps < 1:
        raise BadArgument(f"--total-timesteps must be >= 1, got {args.total_timesteps}.")
    for name in ("checkpoint_interval", "eval_interval", "torch_threads", "learning_starts"):
        if getattr(args, name) < 0:
            raise BadArgument(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}.")
    if not args.learning_rate > 0.0:
        raise BadArgument(f"--learning-rate must be > 0, got {args.learning_rate}.")
    if args.gamma is not None and not 0.0 < args.gamma <= 1.0:
        raise BadArgument(f"--gamma must lie in (0, 1], got {args.gamma}.")
    for name in ("start_e", "end_e"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise BadArgument(f"--{name.replace('_', '-')} must lie in [0, 1], got {getattr(args, name)}.")
    if args.batch_size > args.buffer_size:
        raise BadArgument(f"--batch-size={args.batch_size} exceeds --buffer-size={args.buffer_size}.")
    if args.tsne:
        try:
            import matplotlib  # noqa: F401
            import sklearn  # noqa: F401
        except ImportError as err:
            raise BadArgument(
                f"--tsne needs scikit-learn and matplotlib: pip install 'mtenvs[tsne,report]' ({err})."
            ) from err
    try:
        env_kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as err:
        raise BadArgument(f"--env-kwargs is not valid JSON ({err}): {args.env_kwargs!r}.") from err
    if not isinstance(env_kwargs, dict):
        raise BadArgument(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}.")
    for reserved in ("task", "task_schedule", "task_obs", "num_envs", "task_assignment"):
        if reserved in env_kwargs:
            raise BadArgument(
                f"--env-kwargs must not set {reserved!r}: mt_dqn_shared.py sets it (one env per task, pinned to it)."
            )
    return env_kwargs


def make_envs(env_id: str, env_kwargs: dict) -> list[gym.Env]:
    """One env per task, each pinned to its task, with per-task episode statistics; clear errors otherwise."""
    if not str(gym.spec(env_id).entry_point).startswith("mtenvs."):
        raise BadArgument(f"{env_id} is not an mtenvs env; mt_dqn_shared.py needs the multi-task contract.")
    probe = gym.make(env_id, **env_kwargs)
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


def linear_schedule(start_e: float, end_e: float, duration: int, t: int) -> float:
    return max(start_e + (end_e - start_e) * t / duration, end_e)


def masked_greedy(q_values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """argmax over each row's valid actions only."""
    return q_values.masked_fill(~valid, -torch.inf).argmax(dim=-1)


def load_resume_checkpoint(path: str) -> dict:
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise BadArgument(f"--resume {path}: no such file.") from None
    except Exception as err:  # torch raises many types for foreign or truncated files
        raise BadArgument(
            f"--resume {path} is not a valid checkpoint of mt_dqn_shared.py ({type(err).__name__})."
        ) from err
    if not isinstance(data, dict) or data.get("format") != RESUME_FORMAT:
        raise BadArgument(
            f"--resume {path} is not a valid checkpoint of mt_dqn_shared.py (it needs runs/<run>/checkpoint.pt)."
        )
    return data


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
    checkpoint = None
    if args.resume:
        checkpoint = load_resume_checkpoint(args.resume)
        saved = checkpoint["args"]
        total = args.total_timesteps if args.total_timesteps is not None else saved["total_timesteps"]
        # Training settings come from the checkpoint; where to run and what to write out may change.
        kept = {"cuda": args.cuda, "save_model": args.save_model or saved["save_model"], "tsne": args.tsne}
        kept["track"] = args.track or saved["track"]
        args = Args(**dict(saved, resume=args.resume, total_timesteps=total, **kept))
    env_kwargs = check_args(args)
    run_name = (
        checkpoint["run_name"] if checkpoint else f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    )

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    if args.cuda and not torch.cuda.is_available():
        print("--cuda: CUDA is not available on this machine; training on the CPU.")
    device = torch.device("cuda" if args.cuda and torch.cuda.is_available() else "cpu")

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

    network = SharedQNetwork(obs_dim, num_actions, num_tasks, args.features).to(device)
    target_network = SharedQNetwork(obs_dim, num_actions, num_tasks, args.features).to(device)
    target_network.load_state_dict(network.state_dict())
    optimizer = torch.optim.Adam(network.parameters(), lr=args.learning_rate)
    gamma_t = torch.tensor(gammas, dtype=torch.float32, device=device)
    all_tasks = torch.arange(num_tasks, device=device)

    # Replay storage, one memory per task (all tasks step together, so they fill in lockstep).
    rb_obs = torch.zeros((num_tasks, args.buffer_size, obs_dim), dtype=torch.float32, device=device)
    rb_next_obs = torch.zeros_like(rb_obs)
    rb_actions = torch.zeros((num_tasks, args.buffer_size), dtype=torch.int64, device=device)
    rb_rewards = torch.zeros((num_tasks, args.buffer_size), dtype=torch.float32, device=device)
    rb_terminated = torch.zeros((num_tasks, args.buffer_size), dtype=torch.float32, device=device)
    rb_pos, rb_size = 0, 0

    iteration, updates = 0, 0  # iteration = env steps per task
    recent_returns = {name: deque(maxlen=10) for name in task_names}
    obs = None
    if checkpoint:
        network.load_state_dict(checkpoint["network"])
        target_network.load_state_dict(checkpoint["target_network"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        replay = checkpoint["replay"]
        rb_pos, rb_size = replay["pos"], replay["size"]
        for tensor, key in ((rb_obs, "obs"), (rb_next_obs, "next_obs"), (rb_actions, "actions"),
                            (rb_rewards, "rewards"), (rb_terminated, "terminated")):  # fmt: skip
            tensor[:, :rb_size] = replay[key].to(device)
        iteration, updates = checkpoint["iteration"], checkpoint["updates"]
        for name, values in checkpoint["recent_returns"].items():
            recent_returns[name].extend(values)
        random.setstate(checkpoint["rng"]["python"])
        np.random.set_state(checkpoint["rng"]["numpy"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        if checkpoint["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(checkpoint["rng"]["cuda"])
        if checkpoint["envs"] is not None:
            for env in envs:
                env.close()
            envs, obs = pickle.loads(checkpoint["envs"]), checkpoint["obs"]
        else:
            print("The checkpoint holds no env state (this env cannot be pickled): the episodes in progress restart.")
        print(f"Resumed {run_name} from step {iteration * num_tasks}.")

    if args.track:
        import wandb

        wandb.init(
            project=args.wandb_project_name,
            entity=args.wandb_entity,
            sync_tensorboard=True,
            config=vars(args),
            name=run_name,
            id=run_name.replace("/", "_"),
            resume="allow",
            save_code=True,
            mode="online" if os.environ.get("WANDB_API_KEY") else "offline",
        )
    global_step = iteration * num_tasks
    writer = SummaryWriter(f"runs/{run_name}", purge_step=global_step if checkpoint else None)
    if not checkpoint:
        record = {**vars(args), "discounts": gammas, **run_provenance(envs[0]), "torch_version": torch.__version__}
        table = "\n".join(f"|{key}|{value}|" for key, value in record.items())
        writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")

    def save_checkpoint() -> None:
        path = f"runs/{run_name}/checkpoint.pt"
        rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
        rng["cuda"] = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        try:
            env_state = pickle.dumps(envs)
        except (pickle.PicklingError, TypeError, AttributeError):
            env_state = None
        payload = {
            "format": RESUME_FORMAT,
            "args": asdict(args) | {"resume": None},
            "run_name": run_name,
            "iteration": iteration,
            "updates": updates,
            "network": network.state_dict(),
            "target_network": target_network.state_dict(),
            "optimizer": optimizer.state_dict(),
            "replay": {
                "pos": rb_pos,
                "size": rb_size,
                "obs": rb_obs[:, :rb_size].cpu(),
                "next_obs": rb_next_obs[:, :rb_size].cpu(),
                "actions": rb_actions[:, :rb_size].cpu(),
                "rewards": rb_rewards[:, :rb_size].cpu(),
                "terminated": rb_terminated[:, :rb_size].cpu(),
            },
            "recent_returns": {name: list(values) for name, values in recent_returns.items()},
            "rng": rng,
            "envs": env_state,
            "obs": obs,
        }
        torch.save(payload, path + ".tmp")
        os.replace(path + ".tmp", path)  # atomic: a kill mid-save keeps the previous checkpoint

    if obs is None:
        obs = np.stack([env.reset(seed=args.seed + 1000 * task + iteration)[0] for task, env in enumerate(envs)])
    iterations = args.total_timesteps // num_tasks
    start_time, start_iteration, last_print = time.time(), iteration, time.time()

    while iteration < iterations:
        # --- act --- every task's env takes one epsilon-greedy step over its valid actions
        epsilon = linear_schedule(args.start_e, args.end_e, args.exploration_steps, iteration)
        with torch.no_grad():
            q_values = network.get_q_values(torch.as_tensor(obs, device=device).unsqueeze(1)).squeeze(1)
            greedy = masked_greedy(q_values, valid).tolist()
        next_obs = np.empty_like(obs)
        for task, env in enumerate(envs):
            explore = random.random() < epsilon
            action = int(np.random.choice(valid_actions[task])) if explore else greedy[task]
            step_obs, reward, terminated, truncated, info = env.step(action)
            # --- replay --- into this task's memory; a truncated episode keeps its real next observation
            rb_obs[task, rb_pos] = torch.as_tensor(obs[task], device=device)
            rb_next_obs[task, rb_pos] = torch.as_tensor(step_obs, device=device)
            rb_actions[task, rb_pos] = action
            rb_rewards[task, rb_pos] = float(reward)
            rb_terminated[task, rb_pos] = float(terminated)
            next_obs[task] = env.reset()[0] if terminated or truncated else step_obs
            # --- logging --- per-task returns as they finish
            if "episode" in info:
                name = task_names[task]
                recent_returns[name].append(info["episode"]["r"])
                writer.add_scalar("charts/episodic_return", info["episode"]["r"], global_step + task + 1)
                writer.add_scalar(f"charts/episodic_return/{name}", info["episode"]["r"], global_step + task + 1)
                writer.add_scalar(f"charts/episodic_length/{name}", info["episode"]["l"], global_step + task + 1)
        obs = next_obs
        rb_pos, rb_size = (rb_pos + 1) % args.buffer_size, min(rb_size + 1, args.buffer_size)
        iteration += 1
        global_step = iteration * num_tasks

        # --- loss --- one minibatch from every task's memory, Huber TD error against the target network
        if iteration > args.learning_starts and iteration % args.train_frequency == 0 and rb_size >= args.batch_size:
            index = torch.randint(0, rb_size, (num_tasks, args.batch_size), device=device)
            rows = all_tasks.unsqueeze(1).expand(-1, args.batch_size)
            with torch.no_grad():
                next_q = target_network.get_q_values(rb_next_obs[rows, index])
                next_max = next_q.masked_fill(~valid[:, None, :], -torch.inf).max(dim=2).values
                not_terminal = 1.0 - rb_terminated[rows, index]
                td_target = rb_rewards[rows, index] + gamma_t[:, None] * next_max * not_terminal
            q_values = network.get_q_values(rb_obs[rows, index])
            q_taken = q_values.gather(2, rb_actions[rows, index].unsqueeze(2)).squeeze(2)
            loss = F.smooth_l1_loss(q_taken, td_target)

            # --- update --- one gradient step; the target network follows every target_network_frequency
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            updates += 1
            if updates % args.target_network_frequency == 0:
                target_network.load_state_dict(network.state_dict())
            if updates % 100 == 0:
                writer.add_scalar("losses/td_loss", loss.item(), global_step)
                writer.add_scalar("losses/q_values", q_taken.mean().item(), global_step)

        if time.time() - last_print >= 20 or iteration == iterations:
            sps = int((iteration - start_iteration) * num_tasks / (time.time() - start_time))
            writer.add_scalar("charts/SPS", sps, global_step)
            recent = "  ".join(
                f"{name} {np.mean(values):.1f}" if values else f"{name} n/a" for name, values in recent_returns.items()
            )
            print(
                f"step {global_step}/{args.total_timesteps}  SPS {sps}  epsilon {epsilon:.3f}  recent returns: {recent}"
            )
            last_print = time.time()
        crossed_eval = (
            args.eval_interval and global_step // args.eval_interval != (global_step - num_tasks) // args.eval_interval
        )
        if crossed_eval or iteration == iterations:
            per_task = evaluate(network, args, env_kwargs, valid, device, args.seed + 10_000)
            for name, value in zip(task_names, per_task, strict=True):
                writer.add_scalar(f"eval/episodic_return/{name}", value, global_step)
            writer.add_scalar("eval/episodic_return", per_task.mean(), global_step)
            print(
                f"step {global_step}: eval return "
                + ", ".join(f"{n} {v:.2f}" for n, v in zip(task_names, per_task, strict=True))
            )
        crossed_checkpoint = args.checkpoint_interval and (
            global_step // args.checkpoint_interval != (global_step - num_tasks) // args.checkpoint_interval
        )
        if crossed_checkpoint or (args.checkpoint_interval and iteration == iterations):
            save_checkpoint()

    if args.save_model:
        model = {
            "format": MODEL_FORMAT,
            "env_id": args.env_id,
            "env_kwargs": env_kwargs,
            "task_names": list(task_names),
            "obs_shape": [obs_dim],
            "num_actions": num_actions,
            "action_masks": masks.tolist(),
            "features": args.features,
            "network": network.state_dict(),
            "args": asdict(args),
            "global_step": global_step,
        }
        path = f"runs/{run_name}/{args.exp_name}.pt"
        torch.save(model, path)
        print(f"Model saved to {path}")
    if args.tsne:
        path = f"runs/{run_name}/tsne.png"
        tsne_figure(network, args, env_kwargs, valid, device, path)
        print(f"t-SNE figure written to {path}")
    for env in envs:
        env.close()
    writer.close()
    print(f"Done: {global_step} steps; TensorBoard logs in runs/{run_name}")


if __name__ == "__main__":
    try:
        main(tyro.cli(Args))
    except BadArgument as error:
        print(f"mt_dqn_shared.py: error: {error}", file=sys.stderr)
        sys.exit(2)
