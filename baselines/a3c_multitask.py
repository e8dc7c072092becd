"""A3C multitask (Distral's baseline, Teh et al. 2017, Table 1): one actor-critic shared by all tasks.

As in the paper the network is not told the task: it sees the same observation as the task policies.

The loss, the defaults per env family and how this differs from the paper: docs/a3c_baselines.md.
Conventions shared by every baseline (run names, metrics, env steps, checkpoints): docs/baselines.md.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, fields

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import tyro
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from torch.distributions import Categorical
from torch.utils.tensorboard import SummaryWriter

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.provenance import run_provenance
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector

SCRIPT = os.path.basename(__file__)


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
    """if toggled, save the final model to runs/{run_name}/{exp_name}.pt"""
    checkpoint_interval: int = 20_000
    """save runs/{run_name}/checkpoint.pt every this many env steps (0 disables)"""
    resume: str | None = None
    """path of a checkpoint.pt to continue (its run name, args and step count are restored)"""
    progress_interval: float = 30.0
    """print a progress line (step, SPS, recent mean return) at least every this many seconds"""

    env_id: str = "TwoRooms-v0"
    """the id of a multi-task mtenvs environment"""
    env_kwargs: str = "{}"
    """JSON object of extra keyword arguments for gym.make_vec (e.g. '{"num_tasks": 2}')"""
    total_timesteps: int = 300_000
    """total env steps, summed over all envs and tasks"""
    num_envs: int = 64
    """number of parallel envs, split into equal groups per task (must be a multiple of the task count)"""
    num_steps: int = 10
    """n of the n-step returns: steps per env per update"""
    learning_rate: float | None = None
    """RMSProp learning rate (default per env family: docs/a3c_baselines.md)"""
    rmsprop_alpha: float = 0.99
    """RMSProp smoothing constant"""
    rmsprop_eps: float = 1e-5
    """RMSProp epsilon"""
    gamma: float | None = None
    """discount factor (default per env family)"""
    ent_coef: float | None = None
    """coefficient of the entropy bonus (default per env family)"""
    value_coef: float = 0.5
    """coefficient of the value loss"""
    max_grad_norm: float = 0.5
    """maximum gradient norm of each network column, clipped separately (tasks stay independent)"""
    hidden_size: int | None = None
    """width of the MLP torso (vector observations) or of the LSTM (pixel observations); default per env family"""
    clip_rewards: bool | None = None
    """sign-clip rewards (the Atari convention; default per env family); the env never clips"""
    eval_interval: int = 50_000
    """evaluate the task policies every this many env steps (0 disables)"""
    eval_episodes: int = 8
    """evaluation episodes per task"""


# Defaults of the fields left unset, per env family: tuned on TwoRooms for a CPU budget; on pixel envs
# Distral's settings (Teh et al. 2017: RMSProp, lr from {2e-4, 4e-4, 8e-4}, gamma 0.99, LSTM columns)
# with A3C's entropy cost (Mnih et al. 2016) and Atari's reward clipping.
FAMILY_DEFAULTS = {
    "tworooms": {"learning_rate": 8e-4, "gamma": 0.95, "ent_coef": 0.01, "hidden_size": 128, "clip_rewards": False},
    "atari": {"learning_rate": 4e-4, "gamma": 0.99, "ent_coef": 0.01, "hidden_size": 256, "clip_rewards": True},
    "miniworld": {"learning_rate": 4e-4, "gamma": 0.99, "ent_coef": 0.01, "hidden_size": 256, "clip_rewards": False},
}


class BadArgument(ValueError):
    """An invalid argument, found before training; the command line prints its message without a traceback."""


def apply_family_defaults(args: Args) -> Args:
    """Fill the fields left unset with the defaults of the env's family (its package under mtenvs/)."""
    try:
        entry_point = str(gym.spec(args.env_id).entry_point)
    except gym.error.Error as error:
        raise BadArgument(f"--env-id {args.env_id!r} is not a registered env id ({error}).") from None
    if not entry_point.startswith("mtenvs."):
        raise BadArgument(
            f"--env-id {args.env_id} has no multi-task contract (it is not an mtenvs env); use an mtenvs id "
            "such as TwoRooms-v0 or MultiAtari-PongBreakout-v0."
        )
    family = entry_point.split(":")[0].split(".")[1]
    family = family if family in FAMILY_DEFAULTS else "miniworld"
    applied = {name: value for name, value in FAMILY_DEFAULTS[family].items() if getattr(args, name) is None}
    if applied:
        print(f"{family} defaults applied: " + ", ".join(f"{name}={value}" for name, value in applied.items()))
    return Args(**(asdict(args) | applied))


# What each argument must be: (names, test, what is allowed); a float must also be finite.
ARG_RULES = (
    (("total_timesteps", "num_envs", "num_steps", "hidden_size", "eval_episodes"), lambda v: v >= 1, "an integer >= 1"),
    (("checkpoint_interval", "eval_interval", "torch_threads"), lambda v: v >= 0, "an integer >= 0 (0 disables)"),
    (("learning_rate", "rmsprop_eps", "max_grad_norm", "progress_interval"), lambda v: v > 0, "a finite number > 0"),
    (("ent_coef", "value_coef"), lambda v: v >= 0, "a finite number >= 0"),
    (("gamma",), lambda v: 0 < v <= 1, "a number in (0, 1]"),
    (("seed",), lambda v: 0 <= v <= 2**30, "an integer in [0, 2**30] (the envs are seeded with seed + offsets)"),
    (
        ("exp_name",),
        lambda v: re.fullmatch(r"[A-Za-z0-9.-]+(_[A-Za-z0-9.-]+)*", v) is not None,
        "letters, digits, '.', '-' and single '_' (it is part of the run name)",
    ),
    (("rmsprop_alpha",), lambda v: 0 <= v < 1, "a number in [0, 1)"),
)


def check_args(args: Args) -> dict:
    """Reject bad arguments before anything is built, naming the flag; return the env kwargs."""
    for names, test, allowed in ARG_RULES:
        for name in names:
            value = getattr(args, name)
            if (isinstance(value, float) and not math.isfinite(value)) or not test(value):
                raise BadArgument(f"--{name.replace('_', '-')} must be {allowed}, got {value!r}.")
    if args.total_timesteps < args.num_envs * args.num_steps:
        raise BadArgument(
            f"--total-timesteps {args.total_timesteps} is less than one update "
            f"(--num-envs * --num-steps = {args.num_envs * args.num_steps})."
        )
    try:
        env_kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as error:
        raise BadArgument(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r} ({error}).") from None
    if not isinstance(env_kwargs, dict):
        raise BadArgument(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}.")
    for reserved, flag in (("num_envs", "--num-envs"), ("task_assignment", "grouped, always")):
        if reserved in env_kwargs:
            raise BadArgument(f"--env-kwargs must not set {reserved!r}: the script sets it ({flag}).")
    return env_kwargs


def make_envs(env_id: str, num_envs: int, env_kwargs: dict) -> gym.vector.VectorEnv:
    """Grouped multi-task vector env; clear errors for envs this script cannot train on."""
    try:
        envs = gym.make_vec(env_id, num_envs=num_envs, task_assignment="grouped", **env_kwargs)
    except (TypeError, ValueError) as error:  # the env's own message names the keyword it refuses
        raise BadArgument(f"--env-kwargs {json.dumps(env_kwargs)} for {env_id}: {error}") from None
    base, obs_space, problem = envs.unwrapped, envs.single_observation_space, None
    if not hasattr(base, "task_names") or getattr(base, "env_task_ids", None) is None:
        problem = "has no multi-task contract (task_names, grouped env_task_ids)"
    elif num_envs % base.num_tasks:
        problem = f"has {base.num_tasks} tasks: --num-envs {num_envs} must be a multiple of it (equal groups)"
    elif not isinstance(envs.single_action_space, spaces.Discrete):
        problem = f"has {envs.single_action_space}; A3C needs a Discrete action space"
    elif not isinstance(obs_space, spaces.Box) or len(obs_space.shape) not in (1, 3):
        problem = f"gives {obs_space}; observations must be a Box vector (MLP) or image (CNN + LSTM)"
    elif AutoresetMode(envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)) != AutoresetMode.NEXT_STEP:
        problem = "does not autoreset on the next step (Gymnasium's default), which this script expects"
    if problem:
        envs.close()
        raise BadArgument(f"{env_id} {problem}.")
    return RecordTaskEpisodeStatisticsVector(envs)


def observation_layout(obs_space: spaces.Box) -> tuple[tuple[int, ...], bool, bool]:
    """(channel-first shape, is an image, is channel-last) of an observation space."""
    shape = obs_space.shape
    if len(shape) == 1:
        return shape, False, False
    channel_last = shape[-1] <= 4 < shape[0]
    return ((shape[2], shape[0], shape[1]) if channel_last else shape), True, channel_last


def to_tensor(obs: np.ndarray, layout: tuple, device: torch.device) -> torch.Tensor:
    """Float batch for the torso: images channel-first and scaled to [0, 1] when stored as uint8."""
    _, image, channel_last = layout
    x = torch.as_tensor(obs, device=device)
    if image and channel_last:
        x = x.permute(0, 3, 1, 2)
    return x.float() / 255.0 if obs.dtype == np.uint8 else x.float()


def layer_init(layer: nn.Module, std: float = np.sqrt(2), bias: float = 0.0) -> nn.Module:
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias)
    return layer


class Column(nn.Module):
    """One actor-critic column: MLP torso for vectors or CNN + LSTM for pixels, policy logits and a value."""

    def __init__(self, obs_shape: tuple[int, ...], image: bool, num_actions: int, hidden: int):
        super().__init__()
        self.image = image
        if image:
            self.encoder = nn.Sequential(
                layer_init(nn.Conv2d(obs_shape[0], 16, 8, stride=4)),
                nn.ReLU(),
                layer_init(nn.Conv2d(16, 32, 4, stride=2)),
                nn.ReLU(),
                nn.Flatten(),
            )
            with torch.no_grad():
                flat = self.encoder(torch.zeros(1, *obs_shape)).shape[1]
            self.encoder.append(layer_init(nn.Linear(flat, 256)))
            self.encoder.append(nn.ReLU())
            self.lstm = nn.LSTMCell(256, hidden)
        else:
            self.encoder = nn.Sequential(
                layer_init(nn.Linear(obs_shape[0], hidden)),
                nn.Tanh(),
                layer_init(nn.Linear(hidden, hidden)),
                nn.Tanh(),
            )
        self.policy = layer_init(nn.Linear(hidden, num_actions), std=0.01)
        self.value = layer_init(nn.Linear(hidden, 1), std=1.0)

    def initial_state(self, num_envs: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not self.image:
            return None
        zeros = torch.zeros(num_envs, self.lstm.hidden_size, device=device)
        return zeros, zeros.clone()

    def torso(self, obs: torch.Tensor, state, episode_start: torch.Tensor):
        """Features of T * num_envs rows (time-major) and the LSTM state after the last time step."""
        x = self.encoder(obs)
        if not self.image:
            return x, state
        num_envs = state[0].shape[0]
        outputs = []
        for x_t, start_t in zip(x.reshape(-1, num_envs, x.shape[1]), episode_start.reshape(-1, num_envs), strict=True):
            keep = (1.0 - start_t).unsqueeze(1)  # a new episode starts from a zero LSTM state
            state = self.lstm(x_t, (state[0] * keep, state[1] * keep))
            outputs.append(state[0])
        return torch.cat(outputs), state


class Agent(nn.Module):
    """One column (policy and value) acting in every task."""

    def __init__(self, obs_shape: tuple[int, ...], image: bool, num_actions: int, hidden: int):
        super().__init__()
        self.column = Column(obs_shape, image, num_actions, hidden)

    def initial_state(self, num_envs: int, device: torch.device):
        return self.column.initial_state(num_envs, device)

    def get_value(self, obs, state, episode_start) -> torch.Tensor:
        return self.column.value(self.column.torso(obs, state, episode_start)[0]).squeeze(1)

    def get_action_and_value(self, obs, state, episode_start, action_mask, action=None):
        """Sampled (or given) action, its log-probability, the policy entropy, the value and the new state."""
        hidden, state = self.column.torso(obs, state, episode_start)
        # invalid actions (mask False) get a large negative logit, so they are never sampled
        policy = Categorical(logits=self.column.policy(hidden).masked_fill(~action_mask, -1e8))
        if action is None:
            action = policy.sample()
        return action, policy.log_prob(action), policy.entropy(), self.column.value(hidden).squeeze(1), state


def masked_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of `x` over the valid entries (0 when there are none)."""
    return (x * valid).sum() / valid.sum().clamp(min=1)


def crossed(interval: int, before: int, after: int) -> bool:
    """Whether the env step count passed a multiple of `interval` between `before` and `after`."""
    return after // interval != before // interval


def action_mask_of(infos: dict, num_envs: int, num_actions: int, device: torch.device) -> torch.Tensor:
    """The env's action mask (MultiAtari's union action space) or all actions allowed."""
    if "action_mask" in infos:
        return torch.as_tensor(infos["action_mask"], device=device).bool()
    return torch.ones(num_envs, num_actions, dtype=torch.bool, device=device)


def update_shortest_paths(shortest_paths: np.ndarray, infos: dict) -> None:
    """Keep each env's optimal episode length (TwoRooms' `shortest_path_length` at reset) current."""
    if "shortest_path_length" in infos:
        started = infos.get("_shortest_path_length", np.ones(len(shortest_paths), dtype=bool))
        shortest_paths[started] = infos["shortest_path_length"][started]


def normalized_score(reached_goal: bool, shortest_path: float, length: int) -> float:
    """Optimal steps / steps taken for an episode that reached its goal, 0 for one that did not."""
    return float(shortest_path / length) if reached_goal else 0.0


@torch.no_grad()
def evaluate(agent: Agent, envs, layout, device: torch.device, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean return and normalised score (NaN where the env has none) per task, one episode per eval env."""
    num_envs, num_actions = envs.num_envs, envs.single_action_space.n
    obs, infos = envs.reset(seed=seed)
    shortest_paths = np.full(num_envs, np.nan)
    update_shortest_paths(shortest_paths, infos)
    state = agent.initial_state(num_envs, device)
    episode_start = torch.ones(num_envs, device=device)
    returns, scores = np.full(num_envs, np.nan), np.full(num_envs, np.nan)
    while np.isnan(returns).any():
        mask = action_mask_of(infos, num_envs, num_actions, device)
        action, _, _, _, state = agent.get_action_and_value(to_tensor(obs, layout, device), state, episode_start, mask)
        obs, _, terminations, _, infos = envs.step(action.cpu().numpy())
        episode_start = torch.zeros(num_envs, device=device)
        update_shortest_paths(shortest_paths, infos)
        if "episode" in infos:
            for i in np.flatnonzero(infos["_episode"] & np.isnan(returns)):
                returns[i] = infos["episode"]["r"][i]
                scores[i] = normalized_score(terminations[i], shortest_paths[i], infos["episode"]["l"][i])
    tasks = [envs.unwrapped.env_task_ids == task for task in range(envs.unwrapped.num_tasks)]
    return np.array([returns[task].mean() for task in tasks]), np.array([scores[task].mean() for task in tasks])


CHECKPOINT_KEYS = {"script", "args", "run_name", "global_step", "update", "model", "optimizer", "rng"}


def load_checkpoint(path: str) -> dict:
    """A checkpoint written by this script, or a clear error (never a pickle traceback)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupted, truncated, not a torch file, or holding foreign objects
        raise BadArgument(f"--resume {path} is not a valid checkpoint of {SCRIPT} ({type(error).__name__}).") from None
    if not isinstance(checkpoint, dict) or set(checkpoint) != CHECKPOINT_KEYS or checkpoint["script"] != SCRIPT:
        found = checkpoint.get("script", "an unknown writer") if isinstance(checkpoint, dict) else "no dict"
        raise BadArgument(f"--resume {path} is not a valid checkpoint of {SCRIPT} (written by {found}).")
    unknown = set(checkpoint["args"]) - {field.name for field in fields(Args)}
    if unknown:
        raise BadArgument(f"--resume {path} is not a valid checkpoint of {SCRIPT} (unknown args {sorted(unknown)}).")
    return checkpoint


def main(args: Args) -> None:
    checkpoint = None
    if args.resume:
        checkpoint = load_checkpoint(args.resume)
        args = Args(**dict(checkpoint["args"], resume=args.resume, cuda=args.cuda))
    args = apply_family_defaults(args)
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

    envs = make_envs(args.env_id, args.num_envs, env_kwargs)
    eval_envs = None
    task_names = envs.unwrapped.task_names
    num_actions = envs.single_action_space.n
    layout = observation_layout(envs.single_observation_space)
    agent = Agent(layout[0], layout[1], num_actions, args.hidden_size).to(device)
    optimizer = torch.optim.RMSprop(
        agent.parameters(), lr=args.learning_rate, alpha=args.rmsprop_alpha, eps=args.rmsprop_eps
    )

    global_step, update = 0, 0
    if checkpoint:
        agent.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        global_step, update = checkpoint["global_step"], checkpoint["update"]
        torch.set_rng_state(checkpoint["rng"]["torch"])  # torch draws every action; the envs are seeded
        if checkpoint["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(checkpoint["rng"]["cuda"])
        print(f"Resumed {run_name} from step {global_step}.")

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
    # Events after the checkpoint are dropped; its own step was logged before it was saved.
    writer = SummaryWriter(f"runs/{run_name}", purge_step=global_step + 1 if checkpoint else None)
    if not checkpoint:
        # Versions and emulator protocol go with the hyperparameters: scores only compare within one protocol.
        record = {**vars(args), **run_provenance(envs), "torch_version": torch.__version__}
        table = "\n".join(f"|{key}|{value}|" for key, value in record.items())
        writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")

    def save_checkpoint() -> None:
        path = f"runs/{run_name}/checkpoint.pt"
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        state = dict(script=SCRIPT, args=asdict(args) | {"resume": None}, run_name=run_name, global_step=global_step)
        state |= dict(update=update, model=agent.state_dict(), optimizer=optimizer.state_dict())
        torch.save(state | {"rng": {"torch": torch.get_rng_state(), "cuda": cuda_rng}}, path + ".tmp")
        os.replace(path + ".tmp", path)  # atomic: a kill mid-save keeps the previous checkpoint

    # Rollout storage, allocated once: step t of env e holds the observation the agent acted on, ...
    obs = torch.zeros((args.num_steps, args.num_envs) + layout[0], device=device)
    action_masks = torch.ones((args.num_steps, args.num_envs, num_actions), dtype=torch.bool, device=device)
    actions = torch.zeros((args.num_steps, args.num_envs), dtype=torch.long, device=device)
    rewards = torch.zeros((args.num_steps, args.num_envs), device=device)
    dones = torch.zeros((args.num_steps, args.num_envs), device=device)  # the step terminated the episode
    values = torch.zeros((args.num_steps, args.num_envs), device=device)
    # ... whether the obs starts an episode (LSTM reset), and whether the step was an autoreset step:
    # next-step autoreset ignores that step's action, so it gets no loss.
    episode_starts = torch.zeros((args.num_steps, args.num_envs), device=device)
    autoreset_steps = torch.zeros((args.num_steps, args.num_envs), dtype=torch.bool, device=device)

    next_obs_np, infos = envs.reset(seed=args.seed + update)
    next_obs = to_tensor(next_obs_np, layout, device)
    next_mask = action_mask_of(infos, args.num_envs, num_actions, device)
    next_episode_start = torch.ones(args.num_envs, device=device)
    next_autoreset = torch.zeros(args.num_envs, dtype=torch.bool, device=device)
    lstm_state = agent.initial_state(args.num_envs, device)
    shortest_paths = np.full(args.num_envs, np.nan)  # optimal length of each env's episode (TwoRooms)
    update_shortest_paths(shortest_paths, infos)
    recent_returns = deque(maxlen=100)
    start_time, start_step, last_progress = time.time(), global_step, time.time()

    while global_step < args.total_timesteps:
        update += 1
        update_start_step = global_step
        initial_lstm_state = None if lstm_state is None else (lstm_state[0].clone(), lstm_state[1].clone())

        # --- rollout --- num_steps steps of every env with the current policies
        for step in range(args.num_steps):
            obs[step], action_masks[step] = next_obs, next_mask
            episode_starts[step], autoreset_steps[step] = next_episode_start, next_autoreset
            with torch.no_grad():
                action, _, _, value, lstm_state = agent.get_action_and_value(
                    next_obs, lstm_state, next_episode_start, next_mask
                )
            actions[step], values[step] = action, value
            next_obs_np, reward, terminations, truncations, infos = envs.step(action.cpu().numpy())
            global_step += int((~autoreset_steps[step]).sum())  # agent steps: autoreset steps ignore the action
            rewards[step] = torch.as_tensor(np.sign(reward) if args.clip_rewards else reward, device=device)
            dones[step] = torch.as_tensor(terminations, dtype=torch.float32, device=device)
            next_obs = to_tensor(next_obs_np, layout, device)
            next_mask = action_mask_of(infos, args.num_envs, num_actions, device)
            next_episode_start = next_autoreset.float()
            next_autoreset = torch.as_tensor(np.logical_or(terminations, truncations), device=device)
            update_shortest_paths(shortest_paths, infos)
            if "episode" in infos:
                episode = infos["episode"]
                for i in np.flatnonzero(infos["_episode"]):
                    ret, length, hns = episode["r"][i], episode["l"][i], episode["hns"][i]
                    task = task_names[episode["task_id"][i]]
                    recent_returns.append(ret)
                    writer.add_scalar("charts/episodic_return", ret, global_step)
                    writer.add_scalar(f"charts/episodic_return/{task}", ret, global_step)
                    writer.add_scalar("charts/episodic_length", length, global_step)
                    if np.isfinite(shortest_paths[i]):
                        score = normalized_score(terminations[i], shortest_paths[i], length)
                        writer.add_scalar(f"charts/normalized_score/{task}", score, global_step)
                    if np.isfinite(hns):
                        writer.add_scalar(f"charts/human_normalized_score/{task}", hns, global_step)

        # --- returns --- n-step returns, backwards; an autoreset step's return is its value
        # V(final observation), which bootstraps the previous step when the episode was truncated
        with torch.no_grad():
            next_return = agent.get_value(next_obs, lstm_state, next_episode_start)
            returns = torch.zeros_like(rewards)
            for t in reversed(range(args.num_steps)):
                bootstrapped = rewards[t] + args.gamma * (1.0 - dones[t]) * next_return
                next_return = torch.where(autoreset_steps[t], values[t], bootstrapped)
                returns[t] = next_return

        # --- loss --- actor-critic loss over the valid (non-autoreset) steps, re-evaluated with gradients
        # (the LSTM unrolls again from the rollout's first state: truncated backpropagation through time)
        _, newlogprob, entropy, newvalue, _ = agent.get_action_and_value(
            obs.flatten(0, 1),
            initial_lstm_state,
            episode_starts.flatten(),
            action_masks.flatten(0, 1),
            actions.flatten(),
        )
        valid = (~autoreset_steps).flatten()
        advantages = returns.flatten() - newvalue.detach()
        policy_loss = masked_mean(-advantages * newlogprob, valid)
        value_loss = masked_mean(0.5 * (returns.flatten() - newvalue) ** 2, valid)
        entropy_loss = masked_mean(entropy, valid)
        loss = policy_loss - args.ent_coef * entropy_loss + args.value_coef * value_loss

        # --- update --- one RMSProp step; the one network all tasks share is clipped as a whole
        optimizer.zero_grad()
        loss.backward()
        grad_norms = [nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)]
        optimizer.step()

        # --- logging --- losses and SPS, evaluation, progress line, checkpoint
        sps = int((global_step - start_step) / (time.time() - start_time))
        last_update = global_step >= args.total_timesteps
        if update % 10 == 0 or last_update:
            writer.add_scalar("losses/policy_loss", policy_loss.item(), global_step)
            writer.add_scalar("losses/value_loss", value_loss.item(), global_step)
            writer.add_scalar("losses/entropy", entropy_loss.item(), global_step)
            writer.add_scalar("losses/grad_norm_max", max(norm.item() for norm in grad_norms), global_step)
            writer.add_scalar("charts/SPS", sps, global_step)
        if args.eval_interval and (crossed(args.eval_interval, update_start_step, global_step) or last_update):
            if eval_envs is None:
                eval_envs = make_envs(args.env_id, len(task_names) * args.eval_episodes, env_kwargs)
            per_task, scores = evaluate(agent, eval_envs, layout, device, args.seed + 10_000 + update)
            for task, ret, score in zip(task_names, per_task, scores, strict=True):
                writer.add_scalar(f"eval/episodic_return/{task}", ret, global_step)
                if np.isfinite(score):
                    writer.add_scalar(f"eval/normalized_score/{task}", score, global_step)
            writer.add_scalar("eval/episodic_return", per_task.mean(), global_step)
            if np.isfinite(scores).all():
                writer.add_scalar("eval/normalized_score", scores.mean(), global_step)
            print(f"step {global_step}: eval/episodic_return {per_task.mean():.3f}, normalized {scores.mean():.3f}")
        if time.time() - last_progress >= args.progress_interval or last_update:
            mean_return = f"{np.mean(recent_returns):.3f}" if recent_returns else "n/a (no episode finished yet)"
            print(
                f"step {global_step}/{args.total_timesteps}, SPS {sps}, mean return of the last "
                f"{len(recent_returns)} episodes {mean_return}",
                flush=True,
            )
            last_progress = time.time()
        if args.checkpoint_interval and crossed(args.checkpoint_interval, update_start_step, global_step):
            save_checkpoint()

    if args.save_model:
        torch.save(agent.state_dict(), f"runs/{run_name}/{args.exp_name}.pt")
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
        print(f"{SCRIPT}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None  # usage error, as argparse and tyro exit
