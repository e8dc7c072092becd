"""Multitask DQN (MDQN), the baseline of Actor-Mimic (Parisotto et al. 2016, appendix C).

One DQN trained on all tasks at once: one network, one output per action of the env's union action
space, with each task's invalid actions masked out (`info["action_mask"]`) when acting and in the
max of the target. One env and one replay memory per task; every update draws a minibatch from every
task's memory and takes one Huber-loss step on all of them together. Nature-DQN settings for pixel
envs, the control settings of dqn.py for vector envs.

Details, defaults and results: docs/actor_mimic.md.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import random
import sys
import time
import zipfile
from collections import deque
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from torch.utils.tensorboard import SummaryWriter

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.provenance import run_provenance
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector

CHECKPOINT_FORMAT = "mtenvs-mdqn-train/1"


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
    """if toggled, save the Q-network to runs/{run_name}/{exp_name}.pt"""
    checkpoint_interval: int = 20_000
    """save runs/{run_name}/checkpoint.pt every this many env steps (0 disables)"""
    checkpoint_replay: bool = True
    """if toggled, checkpoint.pt also holds the replay memories (GBs for pixels: --no-checkpoint-replay there; a resumed
    run then refills them for `learning_starts` steps before training again)"""
    resume: str | None = None
    """path of a checkpoint.pt to continue (its run name, args and step count are restored)"""

    env_id: str = "MultiControl-v0"
    """the id of a multi-task mtenvs environment"""
    env_kwargs: str = "{}"
    """JSON dict of extra keyword arguments for gym.make_vec (e.g. '{"tasks": ["CartPole", "Acrobot"]}')"""
    total_timesteps: int = 100_000
    """total env steps over all tasks (one env per task, so every task gets total_timesteps / num_tasks)"""
    gamma: float | None = None
    """discount of every task (default: each task's own, the env's `task_discounts`, where it has them; else 0.99)"""
    optimizer: str | None = None
    """"rmsprop" (Nature DQN's: centred, alpha 0.95, eps 0.01) or "adam" (default: rmsprop for pixels, else adam)"""
    learning_rate: float | None = None
    """optimiser step size (default: 2.5e-4 for pixels, Nature DQN; 1e-3 for vector observations)"""
    buffer_size: int | None = None
    """transitions kept per task (default: 100_000 for pixels; 5_000 for vector observations)"""
    batch_size: int | None = None
    """transitions drawn from every task's memory per update (default: 32 for pixels; 100 for vectors)"""
    learning_starts: int | None = None
    """env steps per task before the first update (default: 50_000 for pixels; 100 for vectors)"""
    train_frequency: int | None = None
    """env steps per task between updates (default: 4 for pixels; 1 for vectors)"""
    target_network_frequency: int | None = None
    """env steps per task between target-network copies (default: 10_000 for pixels; 100 for vectors)"""
    start_e: float = 1.0
    """exploration rate at the start"""
    end_e: float | None = None
    """final exploration rate (default: 0.1 for pixels; 0.01 for vectors)"""
    exploration_steps: int | None = None
    """env steps per task over which epsilon decays linearly (default: 1_000_000 for pixels; 5_000 for vectors)"""
    clip_rewards: bool | None = None
    """sign-clip rewards (default: on for pixels, the Atari convention; off for vectors)"""
    hidden_sizes: tuple[int, ...] = (80, 80, 80)
    """MLP torso widths for vector observations"""
    eval_interval: int = 25_000
    """evaluate every this many env steps (0: only at the end)"""
    eval_episodes: int = 10
    """evaluation episodes per task (0 disables evaluation)"""
    eval_epsilon: float | None = None
    """exploration rate during evaluation (default: 0.05 for pixels, Nature DQN's; 0 for vectors)"""


# Defaults that differ between pixel envs (Nature DQN, Mnih et al. 2015) and vector envs (control scale).
FAMILY_DEFAULTS = {
    "pixels": {"optimizer": "rmsprop", "learning_rate": 2.5e-4, "buffer_size": 100_000, "batch_size": 32,
               "learning_starts": 50_000, "train_frequency": 4, "target_network_frequency": 10_000, "end_e": 0.1,
               "exploration_steps": 1_000_000, "clip_rewards": True, "eval_epsilon": 0.05},
    "vector": {"optimizer": "adam", "learning_rate": 1e-3, "buffer_size": 5_000, "batch_size": 100,
               "learning_starts": 100, "train_frequency": 1, "target_network_frequency": 100, "end_e": 0.01,
               "exploration_steps": 5_000, "clip_rewards": False, "eval_epsilon": 0.0},
}  # fmt: skip


def resolve_defaults(args: Args, image: bool) -> Args:
    """Fill the hyperparameters left at None with the defaults of the env's observation family."""
    family = FAMILY_DEFAULTS["pixels" if image else "vector"]
    return Args(**{**asdict(args), **{k: v for k, v in family.items() if getattr(args, k) is None}})


class BadArgument(ValueError):
    """An invalid argument, found before training; the command line prints its message without a traceback."""


def check_args(args: Args) -> dict:
    """Reject invalid hyperparameters before anything is built; return the parsed env kwargs."""
    if isinstance(args.seed, bool) or not isinstance(args.seed, int) or not 0 <= args.seed <= 2**30:
        raise BadArgument(
            f"--seed must be an integer in [0, 2**30] (the envs are seeded with seed + offsets), got {args.seed!r}."
        )
    for name in ("total_timesteps", "buffer_size", "batch_size", "train_frequency", "target_network_frequency"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise BadArgument(f"--{name.replace('_', '-')} must be >= 1, got {value}.")
    for name in ("checkpoint_interval", "eval_interval", "eval_episodes", "torch_threads", "learning_starts"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise BadArgument(f"--{name.replace('_', '-')} must be >= 0, got {value}.")
    if args.exploration_steps is not None and args.exploration_steps < 1:
        raise BadArgument(f"--exploration-steps must be >= 1, got {args.exploration_steps}.")
    if not args.hidden_sizes or min(args.hidden_sizes) < 1:
        raise BadArgument(f"--hidden-sizes must be one or more widths >= 1, got {args.hidden_sizes}.")
    if args.gamma is not None and not 0.0 < args.gamma <= 1.0:
        raise BadArgument(f"--gamma must lie in (0, 1], got {args.gamma}.")
    for name in ("start_e", "end_e", "eval_epsilon"):
        value = getattr(args, name)
        if value is not None and not 0.0 <= value <= 1.0:
            raise BadArgument(f"--{name.replace('_', '-')} must lie in [0, 1], got {value}.")
    if args.learning_rate is not None and not (math.isfinite(args.learning_rate) and args.learning_rate > 0.0):
        raise BadArgument(f"--learning-rate must be a finite number > 0, got {args.learning_rate}.")
    if args.optimizer not in (None, "rmsprop", "adam"):
        raise BadArgument(f"--optimizer must be 'rmsprop' or 'adam', got {args.optimizer!r}.")
    try:
        env_kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as error:
        raise BadArgument(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r} ({error}).") from None
    if not isinstance(env_kwargs, dict):
        raise BadArgument(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}.")
    for reserved, setter in (("num_envs", "one env per task, times --eval-episodes to evaluate"),
                             ("task_assignment", "'grouped'")):  # fmt: skip
        if reserved in env_kwargs:
            raise BadArgument(f"--env-kwargs must not set {reserved!r}: mdqn.py sets it ({setter}).")
    return env_kwargs


def make_envs(env_id: str, env_kwargs: dict, envs_per_task: int = 1) -> gym.vector.VectorEnv:
    """Grouped multi-task vector env with `envs_per_task` envs per task, in task order."""
    if env_id not in gym.registry or not str(gym.spec(env_id).entry_point).startswith("mtenvs."):
        raise BadArgument(f"--env-id {env_id!r} is not a multi-task mtenvs id (see `mtenvs list`).")
    num_tasks = gym.make(env_id, **env_kwargs).unwrapped.num_tasks
    envs = gym.make_vec(env_id, num_envs=num_tasks * envs_per_task, task_assignment="grouped", **env_kwargs)
    if not isinstance(envs.single_action_space, spaces.Discrete):
        envs.close()
        raise BadArgument(f"DQN needs a Discrete action space, {env_id} has {envs.single_action_space}.")
    obs_space = envs.single_observation_space
    if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) not in (1, 3):
        envs.close()
        raise BadArgument(f"Observations must be a Box vector or a (C, H, W) image stack; {env_id} gives {obs_space}.")
    if AutoresetMode(envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)) != AutoresetMode.NEXT_STEP:
        envs.close()
        raise BadArgument(f"{env_id}: this script expects next-step autoreset (Gymnasium's default).")
    return RecordTaskEpisodeStatisticsVector(envs)


def task_action_masks(infos: dict, num_tasks: int, num_actions: int) -> np.ndarray:
    """(num_tasks, num_actions) valid-action masks; all ones for envs whose tasks share one action set."""
    if "action_mask" not in infos:
        return np.ones((num_tasks, num_actions), dtype=bool)
    return np.asarray(infos["action_mask"], dtype=bool)


def build_torso(torso_type: str, obs_shape: tuple[int, ...], hidden_sizes: tuple[int, ...]) -> tuple[nn.Module, int]:
    """The DQN feature extractor: an MLP (ReLU after every layer) or the Nature-DQN convolutions + 512 units."""
    if torso_type == "nature_cnn":
        torso = nn.Sequential(
            nn.Conv2d(obs_shape[0], 32, 8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = torso(torch.zeros(1, *obs_shape)).shape[1]
        torso.extend([nn.Linear(flat, 512), nn.ReLU()])
        return torso, 512
    layers, width = [], obs_shape[0]
    for size in hidden_sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    return nn.Sequential(*layers), width


class QNetwork(nn.Module):
    """dqn.py's layout, shared by all tasks: `torso` and one `head` over the union action space."""

    def __init__(self, torso_type: str, obs_shape: tuple[int, ...], hidden_sizes: tuple[int, ...], num_actions: int):
        super().__init__()
        self.image = torso_type == "nature_cnn"
        self.torso, feature_dim = build_torso(torso_type, obs_shape, hidden_sizes)
        self.head = nn.Linear(feature_dim, num_actions)

    def get_q_values(self, obs: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        """Q(s, .) of every row; the task ids are unused: every task shares the head."""
        return self.head(self.torso(obs.float() / 255.0 if self.image else obs.float()))


def act(network: QNetwork, obs: torch.Tensor, task_ids: torch.Tensor, masks: torch.Tensor, epsilon: float):
    """Epsilon-greedy over each row's valid actions (`masks` per row): greedy on Q, else uniform."""
    with torch.no_grad():
        q_values = network.get_q_values(obs, task_ids)
    greedy = q_values.masked_fill(~masks, float("-inf")).argmax(1)
    uniform = torch.rand(masks.shape, device=masks.device).masked_fill(~masks, -1.0).argmax(1)
    explore = torch.rand(len(obs), device=masks.device) < epsilon
    return torch.where(explore, uniform, greedy)


def linear_schedule(start_e: float, end_e: float, duration: int, t: int) -> float:
    return max(end_e, start_e + (end_e - start_e) * t / duration)


def evaluate(network: QNetwork, envs, masks: torch.Tensor, epsilon: float, seed: int, device) -> np.ndarray:
    """Mean return per task of one episode per eval env (envs grouped by task, equal groups)."""
    num_tasks = len(masks)
    per_task = envs.num_envs // num_tasks
    task_ids = torch.arange(num_tasks, device=device).repeat_interleave(per_task)
    obs, _ = envs.reset(seed=seed)
    returns = np.full(envs.num_envs, np.nan)
    while np.isnan(returns).any():
        actions = act(network, torch.as_tensor(obs, device=device), task_ids, masks[task_ids], epsilon)
        obs, _, _, _, infos = envs.step(actions.cpu().numpy())
        if "episode" in infos:
            finished = infos["_episode"] & np.isnan(returns)
            returns[finished] = infos["episode"]["r"][finished]
    return returns.reshape(num_tasks, per_task).mean(1)


def read_checkpoint(path: str) -> dict:
    """torch.load a training checkpoint of this script; anything else is a clear ValueError, never a pickle trace."""
    script = os.path.basename(__file__)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BadArgument(
            f"--resume {path} is not a valid checkpoint of {script} (cannot be read: {reason})."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise BadArgument(
            f"--resume {path} is not a valid checkpoint of {script} (expected format {CHECKPOINT_FORMAT!r})."
        )
    return payload


def rng_state() -> dict:
    """Python, NumPy and torch RNG states in types that `torch.load(weights_only=True)` reads back."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                   "has_gauss": has_gauss, "gauss": gauss}  # fmt: skip
    return {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}


def restore_rng(state: dict) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])


def main(args: Args) -> None:
    checkpoint = None
    if args.resume and not os.path.isfile(args.resume):
        raise BadArgument(f"--resume {args.resume}: no such file.")
    if args.resume:
        checkpoint = read_checkpoint(args.resume)
        args = Args(**dict(checkpoint["args"], resume=args.resume, cuda=args.cuda))
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
    task_names = tuple(envs.unwrapped.task_names)
    num_tasks, num_actions = len(task_names), envs.single_action_space.n
    obs_shape = envs.single_observation_space.shape
    image = len(obs_shape) == 3
    args = resolve_defaults(args, image)
    torso_type = "nature_cnn" if image else "mlp"
    q_network = QNetwork(torso_type, obs_shape, args.hidden_sizes, num_actions).to(device)
    target_network = QNetwork(torso_type, obs_shape, args.hidden_sizes, num_actions).to(device)
    target_network.load_state_dict(q_network.state_dict())
    if args.optimizer == "rmsprop":
        optimizer = torch.optim.RMSprop(
            q_network.parameters(), lr=args.learning_rate, alpha=0.95, eps=0.01, centered=True
        )
    else:
        optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate)
    obs, infos = envs.reset(seed=args.seed)
    masks = torch.as_tensor(task_action_masks(infos, num_tasks, num_actions), device=device)
    task_ids = torch.arange(num_tasks, device=device)
    discounts = [args.gamma] * num_tasks if args.gamma is not None else getattr(envs.unwrapped, "task_discounts", None)
    gammas = torch.tensor(discounts or [0.99] * num_tasks, dtype=torch.float32, device=device)

    # --- replay: one memory of transitions per task, allocated up front ---
    obs_dtype = envs.single_observation_space.dtype
    memory = {
        "obs": np.zeros((num_tasks, args.buffer_size, *obs_shape), dtype=obs_dtype),
        "next_obs": np.zeros((num_tasks, args.buffer_size, *obs_shape), dtype=obs_dtype),
        "actions": np.zeros((num_tasks, args.buffer_size), dtype=np.int64),
        "rewards": np.zeros((num_tasks, args.buffer_size), dtype=np.float32),
        "terminations": np.zeros((num_tasks, args.buffer_size), dtype=np.float32),
    }
    memory_pos, memory_len = np.zeros(num_tasks, dtype=np.int64), np.zeros(num_tasks, dtype=np.int64)

    global_step, task_step, updates = 0, 0, 0
    if checkpoint:
        q_network.load_state_dict(checkpoint["model"])
        target_network.load_state_dict(checkpoint["target_model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        global_step, task_step, updates = checkpoint["global_step"], checkpoint["task_step"], checkpoint["updates"]
        if checkpoint["memory"] is not None:
            for key, value in checkpoint["memory"].items():
                memory[key][:] = value.numpy()
            memory_pos[:], memory_len[:] = checkpoint["memory_pos"], checkpoint["memory_len"]
        restore_rng(checkpoint["rng"])
        print(f"Resumed {run_name} from step {global_step}.")
    # A resumed run without its memories refills them before training again.
    resume_step = task_step if checkpoint and checkpoint["memory"] is None else 0

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
    writer = SummaryWriter(f"runs/{run_name}", purge_step=global_step if checkpoint else None)
    if not checkpoint:
        record = {**vars(args), **run_provenance(envs), "torch_version": torch.__version__}
        table = "\n".join(f"|{key}|{value}|" for key, value in record.items())
        writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")

    def save_checkpoint() -> None:
        path = f"runs/{run_name}/checkpoint.pt"
        payload = {
            "format": CHECKPOINT_FORMAT,
            "args": asdict(args) | {"resume": None},
            "run_name": run_name,
            "global_step": global_step,
            "task_step": task_step,
            "updates": updates,
            "model": q_network.state_dict(),
            "target_model": target_network.state_dict(),
            "optimizer": optimizer.state_dict(),
            "memory": {k: torch.from_numpy(v) for k, v in memory.items()} if args.checkpoint_replay else None,
            "memory_pos": torch.from_numpy(memory_pos),
            "memory_len": torch.from_numpy(memory_len),
            "rng": rng_state(),
        }
        torch.save(payload, path + ".tmp")
        os.replace(path + ".tmp", path)  # atomic: a kill mid-save keeps the previous checkpoint

    eval_envs, last_eval_step = None, -1

    def run_evaluation() -> None:
        nonlocal eval_envs, last_eval_step
        if not args.eval_episodes or last_eval_step == global_step:
            return
        last_eval_step = global_step
        if eval_envs is None:
            eval_envs = make_envs(args.env_id, env_kwargs, args.eval_episodes)
        returns = evaluate(q_network, eval_envs, masks, args.eval_epsilon, args.seed + 10_000, device)
        for name, ret in zip(task_names, returns, strict=True):
            writer.add_scalar(f"eval/episodic_return/{name}", ret, global_step)
        writer.add_scalar("eval/episodic_return", returns.mean(), global_step)
        print(
            f"step {global_step}: eval return "
            + ", ".join(f"{n} {r:.1f}" for n, r in zip(task_names, returns, strict=True))
        )

    recent = [deque(maxlen=20) for _ in task_names]
    autoreset = np.zeros(num_tasks, dtype=bool)  # the env ignores its next action and resets
    steps_per_task = args.total_timesteps // num_tasks
    start_time, start_step, last_print = time.time(), global_step, time.time()
    while task_step < steps_per_task:
        # --- rollout: epsilon-greedy in every task; each transition goes to its task's memory ---
        epsilon = linear_schedule(args.start_e, args.end_e, args.exploration_steps, task_step)
        actions = act(q_network, torch.as_tensor(obs, device=device), task_ids, masks, epsilon).cpu().numpy()
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        for task in np.flatnonzero(~autoreset):  # an autoreset step is no transition
            pos = memory_pos[task]
            memory["obs"][task, pos], memory["next_obs"][task, pos] = obs[task], next_obs[task]
            memory["actions"][task, pos] = actions[task]
            memory["rewards"][task, pos] = np.sign(rewards[task]) if args.clip_rewards else rewards[task]
            memory["terminations"][task, pos] = terminations[task]
            memory_pos[task] = (pos + 1) % args.buffer_size
            memory_len[task] = min(memory_len[task] + 1, args.buffer_size)
        obs, autoreset = next_obs, np.logical_or(terminations, truncations)
        global_step += num_tasks
        task_step += 1
        if "episode" in infos:
            for i in np.flatnonzero(infos["_episode"]):
                task = int(infos["episode"]["task_id"][i])
                ret = float(infos["episode"]["r"][i])
                recent[task].append(ret)
                writer.add_scalar("charts/episodic_return", ret, global_step)
                writer.add_scalar(f"charts/episodic_return/{task_names[task]}", ret, global_step)
                writer.add_scalar(f"charts/episodic_length/{task_names[task]}", infos["episode"]["l"][i], global_step)
                if np.isfinite(infos["episode"]["hns"][i]):
                    writer.add_scalar(
                        f"charts/human_normalized_score/{task_names[task]}", infos["episode"]["hns"][i], global_step
                    )

        if task_step >= resume_step + args.learning_starts and task_step % args.train_frequency == 0:
            # --- returns: one-step targets from the target network, max over each task's valid actions ---
            picks = [np.random.randint(0, memory_len[t], args.batch_size) for t in range(num_tasks)]
            batch = {
                key: torch.as_tensor(np.concatenate([value[t, picks[t]] for t in range(num_tasks)]), device=device)
                for key, value in memory.items()
            }
            batch_tasks = task_ids.repeat_interleave(args.batch_size)
            with torch.no_grad():
                next_q = target_network.get_q_values(batch["next_obs"], batch_tasks)
                next_q = next_q.masked_fill(~masks[batch_tasks], float("-inf")).max(1).values
                targets = batch["rewards"] + gammas[batch_tasks] * (1.0 - batch["terminations"]) * next_q
            # --- loss: Huber on the taken actions of all tasks together ---
            q_taken = q_network.get_q_values(batch["obs"], batch_tasks).gather(1, batch["actions"].unsqueeze(1))
            loss = F.smooth_l1_loss(q_taken.squeeze(1), targets)
            # --- update ---
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            updates += 1
            # --- logging ---
            if updates == 1 or updates % 100 == 0:
                writer.add_scalar("losses/td_loss", loss.item(), global_step)
                writer.add_scalar("losses/q_values", q_taken.mean().item(), global_step)
                writer.add_scalar("charts/epsilon", epsilon, global_step)
                writer.add_scalar(
                    "charts/SPS", int((global_step - start_step) / (time.time() - start_time)), global_step
                )
        if task_step % args.target_network_frequency == 0:
            target_network.load_state_dict(q_network.state_dict())

        if time.time() - last_print >= 30.0:
            last_print = time.time()
            sps = int((global_step - start_step) / (last_print - start_time))
            means = ", ".join(
                f"{n} {np.mean(r):.1f}" if r else f"{n} -" for n, r in zip(task_names, recent, strict=True)
            )
            print(f"step {global_step}/{args.total_timesteps}, SPS {sps}, recent return: {means}")
        if args.eval_interval and global_step % args.eval_interval < num_tasks:
            run_evaluation()
        if args.checkpoint_interval and global_step % args.checkpoint_interval < num_tasks:
            save_checkpoint()

    run_evaluation()
    if args.save_model:
        torch.save(
            {"format": "mtenvs-mdqn/1", "env_id": args.env_id, "env_kwargs": env_kwargs, "task_names": list(task_names),
             "obs_shape": list(obs_shape), "num_actions": int(num_actions), "torso_type": torso_type,
             "hidden_sizes": list(args.hidden_sizes) if torso_type == "mlp" else [],
             "q_network": q_network.state_dict(), "args": asdict(args), "global_step": global_step},
            f"runs/{run_name}/{args.exp_name}.pt",
        )  # fmt: skip
    if args.checkpoint_interval:
        save_checkpoint()
    envs.close()
    if eval_envs is not None:
        eval_envs.close()
    writer.close()
    print(f"Done: {global_step} steps; TensorBoard logs in runs/{run_name}")


if __name__ == "__main__":
    try:
        main(tyro.cli(Args))
    except BadArgument as error:
        print(f"mdqn.py: error: {error}", file=sys.stderr)
        sys.exit(2)
