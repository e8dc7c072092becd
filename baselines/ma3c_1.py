"""MA3C-1 (Wang & Yang, "Multi-task Asynchronous Deep Reinforcement Learning"): the conv and FC layers are
shared by all tasks; each task has its own LSTM and its own policy and value output layers.

The architecture, the loss, how this differs from the paper and results: docs/ma3c.md.
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
ENCODER_WIDTH = 256  # units of the fully connected layer before the LSTM (A3C's)
MIN_IMAGE_SIZE = 20  # the smallest image side the CNN reduces to a feature map of at least one cell
PIXELS_HINT = """for TwoRooms pass --env-kwargs '{"observation_type": "pixels"}'"""


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

    env_id: str = "MultiAtari-PongBreakout-v0"
    """the id of a multi-task mtenvs environment with image observations and at least two tasks"""
    env_kwargs: str = "{}"
    """JSON object of extra keyword arguments for gym.make_vec (e.g. '{"observation_type": "pixels"}')"""
    total_timesteps: int = 10_000_000
    """total env steps, summed over all envs and tasks"""
    num_envs: int = 16
    """number of parallel envs (the paper's threads), split into equal groups per task (a multiple of the task count)"""
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
    """maximum norm of the whole gradient (shared and task layers together)"""
    hidden_size: int | None = None
    """width of the LSTM (default per env family)"""
    clip_rewards: bool | None = None
    """sign-clip rewards (the Atari convention; default per env family); the env never clips"""
    eval_interval: int = 50_000
    """evaluate the task policies every this many env steps (0 disables)"""
    eval_episodes: int = 8
    """evaluation episodes per task"""


# Defaults of the fields left unset, per env family: the same as a3c_independent.py's, so that the two
# compare at equal settings (the paper's protocol); TwoRooms' are tuned for its pixel task on a CPU budget.
FAMILY_DEFAULTS = {
    "tworooms": {"learning_rate": 8e-4, "gamma": 0.95, "ent_coef": 0.01, "hidden_size": 128, "clip_rewards": False},
    "atari": {"learning_rate": 4e-4, "gamma": 0.99, "ent_coef": 0.01, "hidden_size": 256, "clip_rewards": True},
    "miniworld": {"learning_rate": 4e-4, "gamma": 0.99, "ent_coef": 0.01, "hidden_size": 256, "clip_rewards": False},
}


class BadArgument(ValueError):
    """An invalid argument, found before training; the command line prints its message without a traceback."""


def env_family(env_id: str) -> str:
    """The mtenvs family of an env id (its package under mtenvs/), or a clear error for other ids."""
    try:
        entry_point = str(gym.spec(env_id).entry_point)
    except gym.error.Error as error:
        raise BadArgument(f"--env-id {env_id!r} is not a registered env id ({error}).") from None
    family = entry_point.split(":")[0].split(".")[1] if entry_point.startswith("mtenvs.") else None
    if family is None:
        raise BadArgument(
            f"--env-id {env_id} has no multi-task contract (it is not an mtenvs env); use an mtenvs id "
            "such as TwoRooms-v0 or MultiAtari-PongBreakout-v0."
        )
    return family if family in FAMILY_DEFAULTS else "miniworld"


def apply_family_defaults(args: Args) -> Args:
    """Fill the fields the user left unset with the env family's defaults, and say which were applied."""
    family = env_family(args.env_id)
    applied = {name: value for name, value in FAMILY_DEFAULTS[family].items() if getattr(args, name) is None}
    if applied:
        print(f"{family} defaults applied: " + ", ".join(f"{name}={value}" for name, value in applied.items()))
    return Args(**(asdict(args) | applied))


def check_args(args: Args) -> dict:
    """Reject out-of-range arguments before anything is built, naming the flag; return the env kwargs."""

    def require(name: str, ok: bool, allowed: str) -> None:
        value = getattr(args, name)
        if (isinstance(value, float) and not math.isfinite(value)) or not ok:
            raise BadArgument(f"--{name.replace('_', '-')} must be {allowed}, got {value!r}.")

    for name in ("total_timesteps", "num_envs", "num_steps", "hidden_size", "eval_episodes"):
        require(name, getattr(args, name) >= 1, "an integer >= 1")
    for name in ("checkpoint_interval", "eval_interval", "torch_threads"):
        require(name, getattr(args, name) >= 0, "an integer >= 0 (0 disables)")
    for name in ("learning_rate", "rmsprop_eps", "max_grad_norm", "progress_interval"):
        require(name, getattr(args, name) > 0.0, "a finite number > 0")
    for name in ("ent_coef", "value_coef"):
        require(name, getattr(args, name) >= 0.0, "a finite number >= 0")
    require("gamma", 0.0 < args.gamma <= 1.0, "a number in (0, 1]")
    require("seed", 0 <= args.seed <= 2**30, "an integer in [0, 2**30] (the envs are seeded with seed + offsets)")
    run_name_part = re.fullmatch(r"[A-Za-z0-9.-]+(_[A-Za-z0-9.-]+)*", args.exp_name)
    require(
        "exp_name", run_name_part is not None, "letters, digits, '.', '-' and single '_' (it is part of the run name)"
    )
    require("rmsprop_alpha", 0.0 <= args.rmsprop_alpha < 1.0, "a number in [0, 1)")
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
    elif base.num_tasks < 2:
        problem = (
            f"has {base.num_tasks} task; MA3C shares layers between tasks and needs an env with several "
            "(for a single task, train baselines/a3c_independent.py)"
        )
    elif num_envs % base.num_tasks:
        problem = f"has {base.num_tasks} tasks: --num-envs {num_envs} must be a multiple of it (equal groups)"
    elif not isinstance(envs.single_action_space, spaces.Discrete):
        problem = f"has {envs.single_action_space}; MA3C needs a Discrete action space"
    elif not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 3:
        problem = f"gives {obs_space}; MA3C's CNN needs image observations ({PIXELS_HINT})"
    elif min(observation_layout(obs_space)[0][1:]) < MIN_IMAGE_SIZE:
        problem = (
            f"gives {obs_space.shape} images; the CNN (8x8 stride 4, then 4x4 stride 2) needs at least "
            f"{MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} pixels ({PIXELS_HINT})"
        )
    elif AutoresetMode(envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)) != AutoresetMode.NEXT_STEP:
        problem = "does not autoreset on the next step (Gymnasium's default), which this script expects"
    if problem:
        envs.close()
        raise BadArgument(f"{env_id} {problem}.")
    return RecordTaskEpisodeStatisticsVector(envs)


def observation_layout(obs_space: spaces.Box) -> tuple[tuple[int, ...], bool]:
    """(channel-first shape, is channel-last) of an image observation space."""
    shape = obs_space.shape
    channel_last = shape[-1] <= 4 < shape[0]
    return ((shape[2], shape[0], shape[1]) if channel_last else shape), channel_last


def to_tensor(obs: np.ndarray, layout: tuple, device: torch.device) -> torch.Tensor:
    """Float batch of channel-first images, scaled to [0, 1] when stored as uint8."""
    _, channel_last = layout
    x = torch.as_tensor(obs, device=device)
    if channel_last:
        x = x.permute(0, 3, 1, 2)
    return x.float() / 255.0 if obs.dtype == np.uint8 else x.float()


def layer_init(layer: nn.Module, std: float = np.sqrt(2), bias: float = 0.0) -> nn.Module:
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias)
    return layer


def conv_encoder(obs_shape: tuple[int, ...]) -> nn.Sequential:
    """The A3C CNN (Mnih et al. 2016): two conv layers and a fully connected layer of ENCODER_WIDTH units."""
    encoder = nn.Sequential(
        layer_init(nn.Conv2d(obs_shape[0], 16, 8, stride=4)),
        nn.ReLU(),
        layer_init(nn.Conv2d(16, 32, 4, stride=2)),
        nn.ReLU(),
        nn.Flatten(),
    )
    with torch.no_grad():
        flat = encoder(torch.zeros(1, *obs_shape)).shape[1]
    encoder.append(layer_init(nn.Linear(flat, ENCODER_WIDTH)))
    encoder.append(nn.ReLU())
    return encoder


def masked(logits: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
    """Invalid actions (mask False) get a large negative logit, so they are never sampled."""
    return logits.masked_fill(~action_mask, -1e8)


class Agent(nn.Module):
    """MA3C-1: the conv + FC encoder is shared; each task has its own LSTM and policy / value output layers.

    The envs come as equal contiguous groups, one per task (grouped assignment with --num-envs a multiple
    of the task count): group k runs task k and goes through task k's LSTM and output layers.
    """

    def __init__(self, obs_shape: tuple[int, ...], num_actions: int, num_tasks: int, hidden: int):
        super().__init__()
        self.num_tasks = num_tasks
        self.encoder = conv_encoder(obs_shape)
        self.lstms = nn.ModuleList(nn.LSTMCell(ENCODER_WIDTH, hidden) for _ in range(num_tasks))
        self.policy_heads = nn.ModuleList(
            layer_init(nn.Linear(hidden, num_actions), std=0.01) for _ in range(num_tasks)
        )
        self.value_heads = nn.ModuleList(layer_init(nn.Linear(hidden, 1), std=1.0) for _ in range(num_tasks))

    def initial_state(self, num_envs: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(num_envs, self.lstms[0].hidden_size, device=device)
        return zeros, zeros.clone()

    def lstm_step(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """One LSTM step of every env: task k's group of envs through task k's LSTM."""
        groups = zip(self.lstms, x.chunk(self.num_tasks), *(s.chunk(self.num_tasks) for s in state), strict=True)
        steps = [lstm(x_k, (h_k, c_k)) for lstm, x_k, h_k, c_k in groups]
        return torch.cat([h for h, _ in steps]), torch.cat([c for _, c in steps])

    def torso(self, obs: torch.Tensor, state, episode_start: torch.Tensor):
        """LSTM features of T * num_envs rows (time-major) and the LSTM state after the last time step."""
        x = self.encoder(obs)
        num_envs = state[0].shape[0]
        outputs = []
        for x_t, start_t in zip(x.reshape(-1, num_envs, x.shape[1]), episode_start.reshape(-1, num_envs), strict=True):
            keep = (1.0 - start_t).unsqueeze(1)  # a new episode starts from a zero LSTM state
            state = self.lstm_step(x_t, (state[0] * keep, state[1] * keep))
            outputs.append(state[0])
        return torch.cat(outputs), state

    def heads(self, hidden: torch.Tensor, task_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and value of every row from its own task's output layers."""
        row_tasks = task_ids.repeat(hidden.shape[0] // task_ids.shape[0])
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        logits = torch.stack([head(hidden) for head in self.policy_heads], dim=1)[rows, row_tasks]
        values = torch.cat([head(hidden) for head in self.value_heads], dim=1)[rows, row_tasks]
        return logits, values

    def get_value(self, obs, state, episode_start, task_ids) -> torch.Tensor:
        return self.heads(self.torso(obs, state, episode_start)[0], task_ids)[1]

    def get_action_and_value(self, obs, state, episode_start, task_ids, action_mask, action=None):
        hidden, state = self.torso(obs, state, episode_start)
        logits, value = self.heads(hidden, task_ids)
        policy = Categorical(logits=masked(logits, action_mask))
        if action is None:
            action = policy.sample()
        return action, policy.log_prob(action), policy.entropy(), value, state


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
    task_ids = torch.as_tensor(envs.unwrapped.env_task_ids, device=device)
    obs, infos = envs.reset(seed=seed)
    shortest_paths = np.full(num_envs, np.nan)
    update_shortest_paths(shortest_paths, infos)
    state = agent.initial_state(num_envs, device)
    episode_start = torch.ones(num_envs, device=device)
    returns, scores = np.full(num_envs, np.nan), np.full(num_envs, np.nan)
    while np.isnan(returns).any():
        mask = action_mask_of(infos, num_envs, num_actions, device)
        action, _, _, _, state = agent.get_action_and_value(
            to_tensor(obs, layout, device), state, episode_start, task_ids, mask
        )
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
    task_ids = torch.as_tensor(envs.unwrapped.env_task_ids, device=device)
    num_actions = envs.single_action_space.n
    layout = observation_layout(envs.single_observation_space)
    agent = Agent(layout[0], num_actions, len(task_names), args.hidden_size).to(device)
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
        rng = {"torch": torch.get_rng_state()}
        rng["cuda"] = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        payload = {
            "script": SCRIPT,
            "args": asdict(args) | {"resume": None},
            "run_name": run_name,
            "global_step": global_step,
            "update": update,
            "model": agent.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rng,
        }
        torch.save(payload, path + ".tmp")
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
        initial_lstm_state = (lstm_state[0].clone(), lstm_state[1].clone())

        # --- rollout --- num_steps steps of every env with the current policies
        for step in range(args.num_steps):
            obs[step], action_masks[step] = next_obs, next_mask
            episode_starts[step], autoreset_steps[step] = next_episode_start, next_autoreset
            with torch.no_grad():
                action, _, _, value, lstm_state = agent.get_action_and_value(
                    next_obs, lstm_state, next_episode_start, task_ids, next_mask
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
                for i in np.flatnonzero(infos["_episode"]):
                    task, ret = task_names[infos["episode"]["task_id"][i]], infos["episode"]["r"][i]
                    length = infos["episode"]["l"][i]
                    recent_returns.append(ret)
                    writer.add_scalar("charts/episodic_return", ret, global_step)
                    writer.add_scalar(f"charts/episodic_return/{task}", ret, global_step)
                    writer.add_scalar("charts/episodic_length", length, global_step)
                    if np.isfinite(shortest_paths[i]):
                        score = normalized_score(terminations[i], shortest_paths[i], length)
                        writer.add_scalar(f"charts/normalized_score/{task}", score, global_step)
                    if np.isfinite(infos["episode"]["hns"][i]):
                        writer.add_scalar(
                            f"charts/human_normalized_score/{task}", infos["episode"]["hns"][i], global_step
                        )

        # --- returns --- n-step returns, backwards; an autoreset step's return is its value
        # V(final observation), which bootstraps the previous step when the episode was truncated
        with torch.no_grad():
            next_return = agent.get_value(next_obs, lstm_state, next_episode_start, task_ids)
            returns = torch.zeros_like(rewards)
            for t in reversed(range(args.num_steps)):
                next_return = torch.where(
                    autoreset_steps[t], values[t], rewards[t] + args.gamma * (1.0 - dones[t]) * next_return
                )
                returns[t] = next_return

        # --- loss --- actor-critic loss over the valid (non-autoreset) steps, re-evaluated with gradients
        # (the LSTM unrolls again from the rollout's first state: truncated backpropagation through time)
        _, newlogprob, entropy, newvalue, _ = agent.get_action_and_value(
            obs.flatten(0, 1),
            initial_lstm_state,
            episode_starts.flatten(),
            task_ids,
            action_masks.flatten(0, 1),
            actions.flatten(),
        )
        valid = (~autoreset_steps).flatten()
        advantages = returns.flatten() - newvalue.detach()
        policy_loss = masked_mean(-advantages * newlogprob, valid)
        value_loss = masked_mean(0.5 * (returns.flatten() - newvalue) ** 2, valid)
        entropy_loss = masked_mean(entropy, valid)
        loss = policy_loss - args.ent_coef * entropy_loss + args.value_coef * value_loss

        # --- update --- one RMSProp step on the shared and the task layers together (the tasks' losses
        # meet in the shared layers, so the gradient is clipped as a whole)
        optimizer.zero_grad()
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
        optimizer.step()

        # --- logging --- losses and SPS, evaluation, progress line, checkpoint
        sps = int((global_step - start_step) / (time.time() - start_time))
        last_update = global_step >= args.total_timesteps
        if update % 10 == 0 or last_update:
            writer.add_scalar("losses/policy_loss", policy_loss.item(), global_step)
            writer.add_scalar("losses/value_loss", value_loss.item(), global_step)
            writer.add_scalar("losses/entropy", entropy_loss.item(), global_step)
            writer.add_scalar("losses/grad_norm", grad_norm.item(), global_step)
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
