"""DQN (Mnih et al. 2015) on one task of any mtenvs env: the single-task baseline of D'Eramo et al.'s
shared MT-DQN and the expert trainer of Actor-Mimic. How to run it and what it reaches: docs/dqn.md.

An MLP torso for vector observations, the Nature-DQN CNN for pixels; epsilon-greedy over the task's
valid actions (``info["action_mask"]``), which also restrict the max of the targets; Huber loss;
a target network; replay as tensors allocated up front. Hyperparameters default per env family
(printed at start): D'Eramo et al.'s for MultiControl, Nature DQN's for MultiAtari, CleanRL's
``dqn.py`` otherwise.

Checkpoint written by ``--save-model`` (``runs/{run_name}/{exp_name}.pt``, ``torch.save`` of a
dict of tensors and plain Python values, loadable with ``torch.load(path, weights_only=True)``)::

    format        "mtenvs-dqn/1"
    env_id, env_kwargs, task, task_names
    obs_shape     list[int], one observation as the env gives it
    num_actions   size of the env's (union) action space
    action_mask   list[int], the task's valid actions (1 = valid)
    torso_type    "mlp" | "nature_cnn";  hidden_sizes: list[int] (mlp only)
    q_network     state_dict: torso.* (features = the last hidden layer's ReLU output),
                  head.* (Linear(feature_dim, num_actions))
    args, global_step

``torso`` is ``Sequential(Linear(obs, h1), ReLU, Linear(h1, h2), ReLU, ...)`` for vectors, and for
images (float in [0, 1], channel-first) ``Sequential(Conv2d(c, 32, 8, 4), ReLU, Conv2d(32, 64, 4, 2),
ReLU, Conv2d(64, 64, 3, 1), ReLU, Flatten, Linear(3136, 512), ReLU)``. ``--init-from PATH`` accepts
this format and Actor-Mimic's ``"mtenvs-amn/1"`` (same layout): it copies every ``torso.*`` tensor
and keeps a freshly initialised head.
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
from dataclasses import asdict, dataclass, replace

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

CHECKPOINT_FORMAT = "mtenvs-dqn/1"
TRANSFER_FORMATS = ("mtenvs-dqn/1", "mtenvs-amn/1")
RESUME_FORMAT = "mtenvs-dqn-resume/1"


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
    """if toggled, save the trained network to runs/{run_name}/{exp_name}.pt (format: module docstring)"""
    checkpoint_interval: int = 10_000
    """save runs/{run_name}/checkpoint.pt (network, optimizer, replay, RNGs, env) every this many steps (0 disables)"""
    resume: str | None = None
    """path of a checkpoint.pt to continue exactly (its run name, args, replay and step count are restored)"""
    init_from: str | None = None
    """start from the torso of this dqn.py / actor_mimic.py model (.pt); the head is re-initialised"""

    env_id: str = "MultiControl-v0"
    """the id of an mtenvs environment"""
    task: str = "CartPole"
    """the task (name) to train on; the env runs it with task_schedule="fixed\""""
    env_kwargs: str = "{}"
    """JSON dict of extra keyword arguments for gym.make (e.g. '{"preset": "nature"}')"""
    total_timesteps: int | None = None
    """env steps (family default: 50k control, 10M Atari, 500k otherwise); with --resume, None keeps the
    checkpoint's budget and a number extends it"""
    learning_rate: float | None = None
    """learning rate (family default: 1e-3 control, 2.5e-4 Atari and otherwise)"""
    optimizer: str | None = None
    """adam | rmsprop (centered, alpha 0.95, eps 0.01 as Nature DQN); family default: rmsprop Atari, adam otherwise"""
    buffer_size: int | None = None
    """replay capacity in transitions (family default: 5000 control, 100k Atari, 10k otherwise)"""
    gamma: float | None = None
    """discount (default: the task's own where the env gives one, e.g. 0.95 Car-on-Hill; else 0.99)"""
    target_network_frequency: int | None = None
    """copy the Q-network to the target network every this many gradient updates (100 control, 10k Atari, 50)"""
    batch_size: int | None = None
    """minibatch size (family default: 100 control, 32 Atari, 128 otherwise)"""
    start_e: float = 1.0
    """starting epsilon of the epsilon-greedy exploration"""
    end_e: float | None = None
    """final epsilon (family default: 0.01 control, 0.1 Atari, 0.05 otherwise)"""
    exploration_steps: int | None = None
    """env steps over which epsilon falls linearly to end_e (5000 control, 1M Atari, half the budget otherwise)"""
    learning_starts: int | None = None
    """env steps of random-policy data before learning starts (100 control, 50k Atari, 10k otherwise)"""
    train_frequency: int | None = None
    """env steps per gradient update (1 control, 4 Atari, 10 otherwise)"""
    hidden_sizes: tuple[int, ...] | None = None
    """MLP torso widths (control: 80, 80, 80 = one task's path in D'Eramo's shared network; else 120, 84)"""
    clip_rewards: bool | None = None
    """sign-clip rewards for learning (family default: Atari yes, otherwise no); logged returns stay raw"""
    eval_episodes: int = 10
    """evaluation episodes at the end of training (and every eval_interval steps)"""
    eval_interval: int = 0
    """also evaluate every this many env steps (0: only at the end)"""
    eval_epsilon: float | None = None
    """epsilon of evaluation episodes (family default: 0.05 Atari as Nature DQN, 0 otherwise)"""


FAMILY_DEFAULTS = {
    "control": dict(
        total_timesteps=50_000, learning_rate=1e-3, optimizer="adam", buffer_size=5_000,
        target_network_frequency=100, batch_size=100, end_e=0.01, exploration_steps=5_000, learning_starts=100,
        train_frequency=1, hidden_sizes=(80, 80, 80), clip_rewards=False, eval_epsilon=0.0,
    ),
    "atari": dict(
        total_timesteps=10_000_000, learning_rate=2.5e-4, optimizer="rmsprop", buffer_size=100_000,
        target_network_frequency=10_000, batch_size=32, end_e=0.1, exploration_steps=1_000_000,
        learning_starts=50_000, train_frequency=4, hidden_sizes=(120, 84), clip_rewards=True, eval_epsilon=0.05,
    ),
    "default": dict(
        total_timesteps=500_000, learning_rate=2.5e-4, optimizer="adam", buffer_size=10_000,
        target_network_frequency=50, batch_size=128, end_e=0.05, exploration_steps=None, learning_starts=10_000,
        train_frequency=10, hidden_sizes=(120, 84), clip_rewards=False, eval_epsilon=0.0,
    ),
}  # fmt: skip


def env_family(env_id: str) -> str:
    """``control``, ``atari`` or ``default``: which defaults apply to ``env_id``."""
    entry_point = str(gym.spec(env_id).entry_point)
    if not entry_point.startswith("mtenvs."):
        raise BadArgument(
            f"--env-id {env_id} is not an mtenvs env (entry point {entry_point}); dqn.py needs the task contract."
        )
    if entry_point.startswith("mtenvs.control"):
        return "control"
    return "atari" if entry_point.startswith("mtenvs.atari") else "default"


def resolve_defaults(args: Args) -> Args:
    """Fill every family-dependent argument left at None."""
    defaults = dict(FAMILY_DEFAULTS[env_family(args.env_id)])
    total = args.total_timesteps if args.total_timesteps is not None else defaults["total_timesteps"]
    if defaults["exploration_steps"] is None:
        defaults["exploration_steps"] = max(total // 2, 1)  # CleanRL's exploration_fraction 0.5
    filled = {k: v for k, v in defaults.items() if getattr(args, k) is None}
    return replace(args, **filled)


class BadArgument(ValueError):
    """An invalid argument, found before training; the command line prints its message without a traceback."""


def check_args(args: Args) -> dict:
    """Reject invalid hyperparameters before anything is built; return the parsed env kwargs."""
    if isinstance(args.seed, bool) or not isinstance(args.seed, int) or not 0 <= args.seed <= 2**30:
        raise BadArgument(
            f"--seed must be an integer in [0, 2**30] (the envs are seeded with seed + offsets), got {args.seed!r}."
        )
    for name in ("learning_rate", "start_e", "end_e", "eval_epsilon", "gamma"):
        value = getattr(args, name)
        if value is not None and not math.isfinite(value):
            raise BadArgument(f"--{name.replace('_', '-')} must be finite, got {value}.")
    for name in ("total_timesteps", "buffer_size", "batch_size", "target_network_frequency", "exploration_steps",
                 "train_frequency", "eval_episodes"):  # fmt: skip
        if getattr(args, name) < 1:
            raise BadArgument(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    for name in ("checkpoint_interval", "eval_interval", "torch_threads", "learning_starts"):
        if getattr(args, name) < 0:
            raise BadArgument(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}.")
    if not args.learning_rate > 0.0:
        raise BadArgument(f"--learning-rate must be > 0, got {args.learning_rate}.")
    if args.gamma is not None and not 0.0 < args.gamma <= 1.0:
        raise BadArgument(f"--gamma must lie in (0, 1], got {args.gamma}.")
    for name in ("start_e", "end_e", "eval_epsilon"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise BadArgument(f"--{name.replace('_', '-')} must lie in [0, 1], got {getattr(args, name)}.")
    if args.optimizer not in ("adam", "rmsprop"):
        raise BadArgument(f"--optimizer must be 'adam' or 'rmsprop', got {args.optimizer!r}.")
    if not args.hidden_sizes or min(args.hidden_sizes) < 1:
        raise BadArgument(f"--hidden-sizes must be one or more widths >= 1, got {args.hidden_sizes}.")
    if args.batch_size > args.buffer_size:
        raise BadArgument(f"--batch-size={args.batch_size} exceeds --buffer-size={args.buffer_size}.")
    try:
        env_kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as err:
        raise BadArgument(f"--env-kwargs is not valid JSON ({err}): {args.env_kwargs!r}.") from err
    if not isinstance(env_kwargs, dict):
        raise BadArgument(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}.")
    for reserved, setter in (("task", "--task"), ("task_schedule", "'fixed', for --task"), ("task_obs", "--task"),
                             ("num_envs", "one env"), ("task_assignment", "one env, pinned by --task")):  # fmt: skip
        if reserved in env_kwargs:
            raise BadArgument(f"--env-kwargs must not set {reserved!r}: dqn.py sets it ({setter}).")
    return env_kwargs


def make_env(env_id: str, task: str, env_kwargs: dict) -> gym.Env:
    """The env pinned to ``task``, with per-task episode statistics; clear errors for what DQN cannot use."""
    probe = gym.make(env_id, **env_kwargs)
    task_names = probe.unwrapped.task_names
    obs_space, action_space = probe.observation_space, probe.action_space
    probe.close()
    if task not in task_names:
        raise BadArgument(f"--task {task!r} is not a task of {env_id}; its tasks: {', '.join(task_names)}.")
    if not isinstance(action_space, spaces.Discrete):
        raise BadArgument(f"DQN needs a Discrete action space, {env_id} has {action_space}.")
    if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) not in (1, 3):
        raise BadArgument(
            f"Observations must be a Box vector (MLP torso) or image (Nature CNN); {env_id} gives {obs_space}."
        )
    env = gym.make(env_id, task_schedule="fixed", task=task, **env_kwargs)
    return RecordTaskEpisodeStatistics(env)


def observation_layout(obs_space: spaces.Box) -> tuple[tuple[int, ...], bool]:
    """(channel-first shape, channel-last in the env) of an observation space."""
    shape = obs_space.shape
    channel_last = len(shape) == 3 and shape[-1] <= 4 < shape[0]
    return ((shape[2], shape[0], shape[1]) if channel_last else shape), channel_last


def to_tensor(obs: np.ndarray | torch.Tensor, channel_last: bool, device: torch.device) -> torch.Tensor:
    """Float batch for the torso: images channel-first and scaled to [0, 1] when stored as uint8."""
    x = torch.as_tensor(obs, device=device)
    if x.dim() == 4 and channel_last:
        x = x.permute(0, 3, 1, 2)
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


class QNetwork(nn.Module):
    """``torso`` (MLP or Nature CNN) to the last hidden layer's features, ``head`` to one Q-value per action."""

    def __init__(self, obs_shape: tuple[int, ...], num_actions: int, torso_type: str, hidden_sizes: tuple[int, ...]):
        super().__init__()
        if torso_type == "nature_cnn":
            self.torso = nn.Sequential(
                nn.Conv2d(obs_shape[0], 32, 8, stride=4),
                nn.ReLU(),
                nn.Conv2d(32, 64, 4, stride=2),
                nn.ReLU(),
                nn.Conv2d(64, 64, 3, stride=1),
                nn.ReLU(),
                nn.Flatten(),
            )
            with torch.no_grad():
                flat = self.torso(torch.zeros(1, *obs_shape)).shape[1]
            self.torso.append(nn.Linear(flat, 512))
            self.torso.append(nn.ReLU())
            feature_dim = 512
        else:
            layers, width = [], obs_shape[0]
            for hidden in hidden_sizes:
                layers += [nn.Linear(width, hidden), nn.ReLU()]
                width = hidden
            self.torso = nn.Sequential(*layers)
            feature_dim = width
        self.head = nn.Linear(feature_dim, num_actions)

    def get_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer (what Actor-Mimic's feature regression targets)."""
        return self.torso(x)

    def get_q_values(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.torso(x))


def linear_schedule(start_e: float, end_e: float, duration: int, t: int) -> float:
    return max(start_e + (end_e - start_e) * t / duration, end_e)


def masked_greedy(q_values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """argmax over the valid actions only."""
    return q_values.masked_fill(~valid, -torch.inf).argmax(dim=-1)


def load_transfer_checkpoint(path: str) -> dict:
    """A dqn.py or actor_mimic.py model file, or a clear error saying why it is not one."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises many types for foreign or truncated files
        raise BadArgument(
            f"{path} is not a valid checkpoint of dqn.py or actor_mimic.py: {type(err).__name__}."
        ) from err
    required = ("format", "obs_shape", "torso_type", "q_network")
    if not isinstance(data, dict) or data.get("format") not in TRANSFER_FORMATS or any(k not in data for k in required):
        raise BadArgument(
            f"{path} is not a valid checkpoint of dqn.py or actor_mimic.py "
            f"(expected format {' or '.join(TRANSFER_FORMATS)})."
        )
    return data


def copy_torso(q_network: QNetwork, source: dict, path: str, obs_shape: list[int], torso_type: str,
               hidden_sizes: list[int] | None) -> list[str]:  # fmt: skip
    """Copy the source's ``torso.*`` tensors into ``q_network`` after checking that they fit; their names."""
    if source["torso_type"] != torso_type:
        raise BadArgument(f"--init-from {path}: its torso is {source['torso_type']}, this run's is {torso_type}.")
    if list(source["obs_shape"]) != list(obs_shape):
        raise BadArgument(
            f"--init-from {path}: observation shape {list(source['obs_shape'])} does not fit "
            f"this env's {list(obs_shape)}."
        )
    if torso_type == "mlp" and list(source.get("hidden_sizes", [])) != list(hidden_sizes):
        raise BadArgument(
            f"--init-from {path}: its --hidden-sizes {list(source.get('hidden_sizes', []))} differ from this run's "
            f"{list(hidden_sizes)}; pass --hidden-sizes {' '.join(map(str, source.get('hidden_sizes', [])))}."
        )
    torso = {k[len("torso.") :]: v for k, v in source["q_network"].items() if k.startswith("torso.")}
    own = q_network.torso.state_dict()
    if set(torso) != set(own) or any(torso[k].shape != own[k].shape for k in own):
        raise BadArgument(f"--init-from {path}: its torso tensors do not match this network's ({sorted(own)}).")
    q_network.torso.load_state_dict(torso)
    return [f"torso.{k} {tuple(v.shape)}" for k, v in torso.items()]


def load_resume_checkpoint(path: str) -> dict:
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise BadArgument(f"--resume {path}: no such file.") from None
    except Exception as err:
        raise BadArgument(f"--resume {path} is not a valid checkpoint of dqn.py ({type(err).__name__}).") from err
    if not isinstance(data, dict) or data.get("format") != RESUME_FORMAT:
        raise BadArgument(f"--resume {path} is not a valid checkpoint of dqn.py (it needs a runs/<run>/checkpoint.pt).")
    return data


@torch.no_grad()
def evaluate(q_network: QNetwork, args: Args, env_kwargs: dict, valid: torch.Tensor, channel_last: bool,
             device: torch.device, seed: int) -> list[float]:  # fmt: skip
    """Returns of ``eval_episodes`` episodes, epsilon-greedy with ``eval_epsilon`` (own RNG: training is unaffected)."""
    env = make_env(args.env_id, args.task, env_kwargs)
    rng = np.random.default_rng(seed)
    valid_actions = torch.nonzero(valid).flatten().tolist()
    returns = []
    obs, _ = env.reset(seed=seed)
    while len(returns) < args.eval_episodes:
        if rng.random() < args.eval_epsilon:
            action = int(rng.choice(valid_actions))
        else:
            action = int(masked_greedy(q_network.get_q_values(to_tensor(obs[None], channel_last, device)), valid)[0])
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            returns.append(info["episode"]["r"])
            obs, _ = env.reset()
    env.close()
    return returns


def main(args: Args) -> None:
    checkpoint = None
    if args.resume:
        checkpoint = load_resume_checkpoint(args.resume)
        saved = checkpoint["args"]
        total = args.total_timesteps if args.total_timesteps is not None else saved["total_timesteps"]
        saved["hidden_sizes"] = tuple(saved["hidden_sizes"])
        # Training settings come from the checkpoint; where to run and what to write out may change.
        kept = {"cuda": args.cuda, "save_model": args.save_model or saved["save_model"]}
        kept["track"] = args.track or saved["track"]
        args = Args(**dict(saved, resume=args.resume, total_timesteps=total, **kept))
    args = resolve_defaults(args)
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

    env = make_env(args.env_id, args.task, env_kwargs)
    base = env.unwrapped
    task_id = base.task_index(args.task)
    gamma = args.gamma if args.gamma is not None else getattr(base, "task_discounts", (0.99,) * base.num_tasks)[task_id]
    obs_space = env.observation_space
    num_actions = int(env.action_space.n)
    torso_type = "nature_cnn" if len(obs_space.shape) == 3 else "mlp"
    net_shape, channel_last = observation_layout(obs_space)
    masks = getattr(base, "action_masks", None)
    valid_mask = np.ones(num_actions, dtype=np.int8) if masks is None else np.asarray(masks[task_id], dtype=np.int8)
    valid = torch.as_tensor(valid_mask, dtype=torch.bool, device=device)
    valid_actions = np.flatnonzero(valid_mask)
    print(f"dqn.py on {args.env_id} task {args.task} ({env_family(args.env_id)} defaults), gamma {gamma}:")
    print("  " + ", ".join(f"{k}={v}" for k, v in asdict(args).items()))

    q_network = QNetwork(net_shape, num_actions, torso_type, args.hidden_sizes).to(device)
    if args.init_from and not checkpoint:
        source = load_transfer_checkpoint(args.init_from)
        hidden = list(args.hidden_sizes) if torso_type == "mlp" else None
        copied = copy_torso(q_network, source, args.init_from, list(obs_space.shape), torso_type, hidden)
        print(f"--init-from {args.init_from} ({source['format']}): copied {', '.join(copied)}; head re-initialised.")
    target_network = QNetwork(net_shape, num_actions, torso_type, args.hidden_sizes).to(device)
    target_network.load_state_dict(q_network.state_dict())
    if args.optimizer == "adam":
        optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate)
    else:
        optimizer = torch.optim.RMSprop(
            q_network.parameters(), lr=args.learning_rate, alpha=0.95, eps=0.01, centered=True
        )

    # Replay storage, allocated up front (uint8 observations stay uint8).
    obs_dtype = torch.uint8 if obs_space.dtype == np.uint8 else torch.float32
    rb_obs = torch.zeros((args.buffer_size, *obs_space.shape), dtype=obs_dtype, device=device)
    rb_next_obs = torch.zeros_like(rb_obs)
    rb_actions = torch.zeros(args.buffer_size, dtype=torch.int64, device=device)
    rb_rewards = torch.zeros(args.buffer_size, dtype=torch.float32, device=device)
    rb_terminated = torch.zeros(args.buffer_size, dtype=torch.float32, device=device)
    rb_pos, rb_size = 0, 0

    global_step, updates = 0, 0
    recent_returns: deque[float] = deque(maxlen=20)
    obs = None
    if checkpoint:
        q_network.load_state_dict(checkpoint["q_network"])
        target_network.load_state_dict(checkpoint["target_network"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        replay = checkpoint["replay"]
        rb_pos, rb_size = replay["pos"], replay["size"]
        for tensor, key in ((rb_obs, "obs"), (rb_next_obs, "next_obs"), (rb_actions, "actions"),
                            (rb_rewards, "rewards"), (rb_terminated, "terminated")):  # fmt: skip
            tensor[:rb_size] = replay[key].to(device)
        global_step, updates = checkpoint["global_step"], checkpoint["updates"]
        recent_returns.extend(checkpoint["recent_returns"])
        random.setstate(checkpoint["rng"]["python"])
        np.random.set_state(checkpoint["rng"]["numpy"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        if checkpoint["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(checkpoint["rng"]["cuda"])
        if checkpoint["env"] is not None:
            env.close()
            env, obs = pickle.loads(checkpoint["env"]), checkpoint["obs"]
        else:
            print("The checkpoint holds no env state (this env cannot be pickled): the episode in progress restarts.")
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
    writer = SummaryWriter(f"runs/{run_name}", purge_step=global_step if checkpoint else None)
    if not checkpoint:
        record = {**vars(args), "gamma_used": gamma, **run_provenance(env), "torch_version": torch.__version__}
        table = "\n".join(f"|{key}|{value}|" for key, value in record.items())
        writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")

    def save_checkpoint() -> None:
        path = f"runs/{run_name}/checkpoint.pt"
        rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
        rng["cuda"] = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        try:
            env_state = pickle.dumps(env)
        except (pickle.PicklingError, TypeError, AttributeError):
            env_state = None
        payload = {
            "format": RESUME_FORMAT,
            "args": asdict(args) | {"resume": None, "init_from": None},
            "run_name": run_name,
            "global_step": global_step,
            "updates": updates,
            "q_network": q_network.state_dict(),
            "target_network": target_network.state_dict(),
            "optimizer": optimizer.state_dict(),
            "replay": {
                "pos": rb_pos,
                "size": rb_size,
                "obs": rb_obs[:rb_size].cpu(),
                "next_obs": rb_next_obs[:rb_size].cpu(),
                "actions": rb_actions[:rb_size].cpu(),
                "rewards": rb_rewards[:rb_size].cpu(),
                "terminated": rb_terminated[:rb_size].cpu(),
            },
            "recent_returns": list(recent_returns),
            "rng": rng,
            "env": env_state,
            "obs": obs,
        }
        torch.save(payload, path + ".tmp")
        os.replace(path + ".tmp", path)  # atomic: a kill mid-save keeps the previous checkpoint

    if obs is None:
        obs, _ = env.reset(seed=args.seed + global_step)
    start_time, start_step, last_print = time.time(), global_step, time.time()
    losses = {"td_loss": float("nan"), "q_values": float("nan")}

    while global_step < args.total_timesteps:
        # --- act --- epsilon-greedy over the task's valid actions
        epsilon = linear_schedule(args.start_e, args.end_e, args.exploration_steps, global_step)
        if random.random() < epsilon:
            action = int(np.random.choice(valid_actions))
        else:
            with torch.no_grad():
                q_values = q_network.get_q_values(to_tensor(obs[None], channel_last, device))
            action = int(masked_greedy(q_values, valid)[0])
        next_obs, reward, terminated, truncated, info = env.step(action)
        global_step += 1

        # --- logging --- per-task returns as they finish
        if "episode" in info:
            episode_return = info["episode"]["r"]
            recent_returns.append(episode_return)
            writer.add_scalar("charts/episodic_return", episode_return, global_step)
            writer.add_scalar(f"charts/episodic_return/{args.task}", episode_return, global_step)
            writer.add_scalar("charts/episodic_length", info["episode"]["l"], global_step)
            if np.isfinite(info["episode"]["hns"]):
                writer.add_scalar(f"charts/human_normalized_score/{args.task}", info["episode"]["hns"], global_step)
            writer.add_scalar("charts/epsilon", epsilon, global_step)

        # --- replay --- a truncated episode's last transition keeps its real next observation
        rb_obs[rb_pos] = torch.as_tensor(obs, device=device)
        rb_next_obs[rb_pos] = torch.as_tensor(next_obs, device=device)
        rb_actions[rb_pos] = action
        rb_rewards[rb_pos] = float(np.sign(reward)) if args.clip_rewards else float(reward)
        rb_terminated[rb_pos] = float(terminated)
        rb_pos, rb_size = (rb_pos + 1) % args.buffer_size, min(rb_size + 1, args.buffer_size)
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()

        # --- loss --- Huber TD error against the target network's best valid next action
        if (
            global_step > args.learning_starts
            and global_step % args.train_frequency == 0
            and rb_size >= args.batch_size
        ):
            index = torch.randint(0, rb_size, (args.batch_size,), device=device)
            with torch.no_grad():
                next_q = target_network.get_q_values(to_tensor(rb_next_obs[index], channel_last, device))
                next_max = next_q.masked_fill(~valid, -torch.inf).max(dim=1).values
                td_target = rb_rewards[index] + gamma * next_max * (1.0 - rb_terminated[index])
            q_taken = q_network.get_q_values(to_tensor(rb_obs[index], channel_last, device))
            q_taken = q_taken.gather(1, rb_actions[index].unsqueeze(1)).squeeze(1)
            loss = F.smooth_l1_loss(q_taken, td_target)

            # --- update --- one gradient step; the target network follows every target_network_frequency
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            updates += 1
            if updates % args.target_network_frequency == 0:
                target_network.load_state_dict(q_network.state_dict())
            if updates % 100 == 0:
                losses = {"td_loss": loss.item(), "q_values": q_taken.mean().item()}
                writer.add_scalar("losses/td_loss", losses["td_loss"], global_step)
                writer.add_scalar("losses/q_values", losses["q_values"], global_step)

        if time.time() - last_print >= 20 or global_step == args.total_timesteps:
            sps = int((global_step - start_step) / (time.time() - start_time))
            writer.add_scalar("charts/SPS", sps, global_step)
            recent = f"{np.mean(recent_returns):.2f}" if recent_returns else "n/a"
            print(
                f"step {global_step}/{args.total_timesteps}  SPS {sps}  recent return {recent}  epsilon {epsilon:.3f}"
            )
            last_print = time.time()
        crossed_eval = args.eval_interval and global_step % args.eval_interval == 0
        if crossed_eval or global_step == args.total_timesteps:
            returns = evaluate(q_network, args, env_kwargs, valid, channel_last, device, args.seed + 10_000)
            writer.add_scalar(f"eval/episodic_return/{args.task}", np.mean(returns), global_step)
            writer.add_scalar("eval/episodic_return", np.mean(returns), global_step)
            print(f"step {global_step}: eval return {np.mean(returns):.2f} over {len(returns)} episodes")
        if args.checkpoint_interval and (
            global_step % args.checkpoint_interval == 0 or global_step == args.total_timesteps
        ):
            save_checkpoint()

    if args.save_model:
        model = {
            "format": CHECKPOINT_FORMAT,
            "env_id": args.env_id,
            "env_kwargs": env_kwargs,
            "task": args.task,
            "task_names": list(base.task_names),
            "obs_shape": list(obs_space.shape),
            "num_actions": num_actions,
            "action_mask": valid_mask.tolist(),
            "torso_type": torso_type,
            "hidden_sizes": list(args.hidden_sizes) if torso_type == "mlp" else [],
            "q_network": q_network.state_dict(),
            "args": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(args).items()},
            "global_step": global_step,
        }
        path = f"runs/{run_name}/{args.exp_name}.pt"
        torch.save(model, path)
        print(f"Model saved to {path}")
    env.close()
    writer.close()
    print(f"Done: {global_step} steps; TensorBoard logs in runs/{run_name}")


if __name__ == "__main__":
    try:
        main(tyro.cli(Args))
    except BadArgument as error:
        print(f"dqn.py: error: {error}", file=sys.stderr)
        sys.exit(2)
