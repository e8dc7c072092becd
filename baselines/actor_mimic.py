"""Actor-Mimic (Parisotto, Ba & Salakhutdinov 2016): one network that imitates a DQN expert per task.

The Actor-Mimic Network (AMN) has the DQN layout (a torso and one head over the env's union action
space). On states from task i it is trained towards expert E_i (a `dqn.py --save-model` checkpoint):

    policy regression   L_policy^i  = -sum_a pi_Ei(a|s) log pi_AMN(a|s),  pi_Ei = softmax(Q_Ei(s, .) / tau)
    feature regression  L_feature^i = || f_i(h_AMN(s)) - h_Ei(s) ||^2    (f_i: a linear map per task)
    loss                = sum_i  L_policy^i + beta * L_feature^i

Both softmaxes run over task i's valid actions only (`info["action_mask"]`). The AMN itself collects
the data, acting epsilon-greedy (epsilon = 0.1) on every task; each task has its own replay memory of
visited states, and every update draws a minibatch from every task. `--save-model` writes an
"mtenvs-amn/1" checkpoint whose torso `dqn.py --init-from` copies (the transfer step).

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

EXPERT_FORMAT = "mtenvs-dqn/1"
AMN_FORMAT = "mtenvs-amn/1"


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
    """if toggled, save the AMN to runs/{run_name}/{exp_name}.pt (format "mtenvs-amn/1", for dqn.py --init-from)"""
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
    experts: tuple[str, ...] = ()
    """expert checkpoints written by `dqn.py --save-model`, one per task, in the env's task order"""
    total_timesteps: int = 100_000
    """total env steps over all tasks (one env per task, so every task gets total_timesteps / num_tasks)"""
    tau: float = 1.0
    """temperature of the experts' Boltzmann policies softmax(Q / tau) (paper: 1)"""
    epsilon: float = 0.1
    """constant exploration rate of the AMN while it collects data (paper: 0.1)"""
    feature_regression: bool = False
    """if toggled, add the feature-regression loss (the paper's AMN-feature)"""
    feature_regression_scale: float = 0.01
    """beta, the weight of the feature-regression loss (paper: 0.01)"""
    optimizer: str | None = None
    """"paper_adam" (the authors': no bias correction, beta1 = beta2 = 0.95, eps 0.01) or "adam" (torch's)
    (default: paper_adam for pixels; adam for vector observations, where it distils faster: docs/actor_mimic.md)"""
    learning_rate: float | None = None
    """optimiser step size (default: 2.5e-4 for pixels, the paper's; 1e-3 for vector observations)"""
    buffer_size: int | None = None
    """states kept per task (default: 100_000 for pixels, the paper's; 10_000 for vector observations)"""
    batch_size: int | None = None
    """states drawn from every task's memory per update (default: 8 for pixels; 32 for vector observations)"""
    learning_starts: int | None = None
    """env steps per task before the first update (default: 10_000 for pixels; 500 for vector observations)"""
    train_frequency: int | None = None
    """env steps per task between updates (default: 4 for pixels, as DQN; 1 for vector observations)"""
    hidden_sizes: tuple[int, ...] = (80, 80, 80)
    """MLP torso widths for vector observations (match the experts' to transfer with dqn.py --init-from)"""
    eval_interval: int = 25_000
    """evaluate the AMN (and, once, the experts) every this many env steps (0: only at the end)"""
    eval_episodes: int = 10
    """evaluation episodes per task (0 disables evaluation)"""
    eval_epsilon: float | None = None
    """exploration rate during evaluation (default: 0.05 for pixels, the paper's testing epochs; 0 for vectors)"""


# Defaults that differ between pixel envs (the paper's Atari settings) and vector envs (control scale).
FAMILY_DEFAULTS = {
    "pixels": {"optimizer": "paper_adam", "learning_rate": 2.5e-4, "buffer_size": 100_000, "batch_size": 8,
               "learning_starts": 10_000, "train_frequency": 4, "eval_epsilon": 0.05},
    "vector": {"optimizer": "adam", "learning_rate": 1e-3, "buffer_size": 10_000, "batch_size": 32,
               "learning_starts": 500, "train_frequency": 1, "eval_epsilon": 0.0},
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
    for name in ("total_timesteps", "buffer_size", "batch_size", "train_frequency"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise BadArgument(f"--{name.replace('_', '-')} must be >= 1, got {value}.")
    for name in ("checkpoint_interval", "eval_interval", "eval_episodes", "torch_threads", "learning_starts"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise BadArgument(f"--{name.replace('_', '-')} must be >= 0, got {value}.")
    if not args.hidden_sizes or min(args.hidden_sizes) < 1:
        raise BadArgument(f"--hidden-sizes must be one or more widths >= 1, got {args.hidden_sizes}.")
    if not (math.isfinite(args.tau) and args.tau > 0.0):
        raise BadArgument(f"--tau must be a finite number > 0, got {args.tau}.")
    for name in ("epsilon", "eval_epsilon"):
        if getattr(args, name) is not None and not 0.0 <= getattr(args, name) <= 1.0:
            raise BadArgument(f"--{name.replace('_', '-')} must lie in [0, 1], got {getattr(args, name)}.")
    if not (math.isfinite(args.feature_regression_scale) and args.feature_regression_scale >= 0.0):
        raise BadArgument(
            f"--feature-regression-scale must be a finite number >= 0, got {args.feature_regression_scale}."
        )
    if args.learning_rate is not None and not (math.isfinite(args.learning_rate) and args.learning_rate > 0.0):
        raise BadArgument(f"--learning-rate must be a finite number > 0, got {args.learning_rate}.")
    if args.optimizer not in (None, "paper_adam", "adam"):
        raise BadArgument(f"--optimizer must be 'paper_adam' or 'adam', got {args.optimizer!r}.")
    if not args.experts:
        raise BadArgument(
            "--experts: give one dqn.py checkpoint per task of the env, in task order (--experts A.pt B.pt)."
        )
    for path in args.experts:
        if not os.path.isfile(path):
            raise BadArgument(f"--experts: {path} does not exist or is not a file.")
    try:
        env_kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as error:
        raise BadArgument(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r} ({error}).") from None
    if not isinstance(env_kwargs, dict):
        raise BadArgument(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}.")
    for reserved, setter in (("num_envs", "one env per task, times --eval-episodes to evaluate"),
                             ("task_assignment", "'grouped'")):  # fmt: skip
        if reserved in env_kwargs:
            raise BadArgument(f"--env-kwargs must not set {reserved!r}: actor_mimic.py sets it ({setter}).")
    return env_kwargs


def make_envs(env_id: str, env_kwargs: dict, envs_per_task: int = 1) -> gym.vector.VectorEnv:
    """Grouped multi-task vector env with `envs_per_task` envs per task, in task order."""
    if env_id not in gym.registry or not str(gym.spec(env_id).entry_point).startswith("mtenvs."):
        raise BadArgument(f"--env-id {env_id!r} is not a multi-task mtenvs id (see `mtenvs list`).")
    num_tasks = gym.make(env_id, **env_kwargs).unwrapped.num_tasks
    envs = gym.make_vec(env_id, num_envs=num_tasks * envs_per_task, task_assignment="grouped", **env_kwargs)
    if not isinstance(envs.single_action_space, spaces.Discrete):
        envs.close()
        raise BadArgument(f"Actor-Mimic needs a Discrete action space, {env_id} has {envs.single_action_space}.")
    obs_space = envs.single_observation_space
    if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) not in (1, 3):
        envs.close()
        raise BadArgument(f"Observations must be a Box vector or a (C, H, W) image stack; {env_id} gives {obs_space}.")
    if AutoresetMode(envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)) != AutoresetMode.NEXT_STEP:
        envs.close()
        raise BadArgument(f"{env_id}: this script expects next-step autoreset (Gymnasium's default).")
    return RecordTaskEpisodeStatisticsVector(envs)


def task_action_masks(infos: dict, num_tasks: int, num_actions: int, envs_per_task: int) -> np.ndarray:
    """(num_tasks, num_actions) valid-action masks; all ones for envs whose tasks share one action set."""
    if "action_mask" not in infos:
        return np.ones((num_tasks, num_actions), dtype=bool)
    return np.asarray(infos["action_mask"], dtype=bool)[::envs_per_task]


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
    """dqn.py's layout: `torso` (features h(s), the last hidden layer) and `head` (one output per union action)."""

    def __init__(self, torso_type: str, obs_shape: tuple[int, ...], hidden_sizes: tuple[int, ...], num_actions: int):
        super().__init__()
        self.image = torso_type == "nature_cnn"
        self.torso, self.feature_dim = build_torso(torso_type, obs_shape, hidden_sizes)
        self.head = nn.Linear(self.feature_dim, num_actions)

    def get_features(self, obs: torch.Tensor) -> torch.Tensor:
        return self.torso(obs.float() / 255.0 if self.image else obs.float())

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(outputs, features): Q-values for an expert, policy logits for the AMN."""
        features = self.get_features(obs)
        return self.head(features), features


class ActorMimicNetwork(QNetwork):
    """The AMN: a QNetwork whose outputs are policy logits, plus a linear map f_i per task onto expert i's features."""

    def __init__(self, torso_type, obs_shape, hidden_sizes, num_actions, expert_feature_dims: list[int] | None):
        super().__init__(torso_type, obs_shape, hidden_sizes, num_actions)
        if expert_feature_dims is not None:
            self.feature_projections = nn.ModuleList(nn.Linear(self.feature_dim, d) for d in expert_feature_dims)


def masked_log_policy(logits: torch.Tensor, mask: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """log softmax(logits / tau) over the valid actions; invalid actions get probability exactly 0."""
    return F.log_softmax((logits / tau).masked_fill(~mask, float("-inf")), dim=-1)


def actor_mimic_losses(
    amn: ActorMimicNetwork,
    experts: list[QNetwork],
    obs_per_task: list[torch.Tensor],
    masks: torch.Tensor,
    tau: float,
    feature_regression: bool,
) -> dict[str, torch.Tensor]:
    """Per-task policy- and feature-regression losses (vectors over tasks) and the action agreement."""
    logits, features = amn(torch.cat(obs_per_task))
    sizes = [len(obs) for obs in obs_per_task]
    policy, feature, agreement = [], [], []
    for task, (obs, task_logits, task_features) in enumerate(
        zip(obs_per_task, logits.split(sizes), features.split(sizes), strict=True)
    ):
        with torch.no_grad():
            expert_q, expert_features = experts[task](obs)
            expert_policy = masked_log_policy(expert_q, masks[task], tau).exp()
        log_policy = masked_log_policy(task_logits, masks[task])
        # 0 * log 0 is 0 here: invalid actions are excluded instead of multiplied by -inf.
        cross_entropy = -torch.where(masks[task], expert_policy * log_policy, 0.0).sum(1)
        policy.append(cross_entropy.mean())
        if feature_regression:
            projected = amn.feature_projections[task](task_features)
            feature.append(((projected - expert_features) ** 2).sum(1).mean())
        else:
            feature.append(torch.zeros((), device=logits.device))
        agreement.append((log_policy.argmax(1) == expert_policy.argmax(1)).float().mean())
    return {"policy": torch.stack(policy), "feature": torch.stack(feature), "agreement": torch.stack(agreement)}


class PaperAdam(torch.optim.Optimizer):
    """The authors' Adam: m and v are running averages without bias correction; step = lr * m / (sqrt(v) + eps)."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.95, 0.95), eps: float = 0.01):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                state["exp_avg"].mul_(beta1).add_(param.grad, alpha=1.0 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(param.grad, param.grad, value=1.0 - beta2)
                param.addcdiv_(state["exp_avg"], state["exp_avg_sq"].sqrt().add_(group["eps"]), value=-group["lr"])


def read_checkpoint(path: str, expected_format: str, writer_script: str) -> dict:
    """torch.load a checkpoint dict of `expected_format`; anything else is a clear ValueError, never a pickle trace."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BadArgument(f"{path} is not a valid checkpoint of {writer_script} (cannot be read: {reason}).") from None
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise BadArgument(
            f"{path} is not a valid checkpoint of {writer_script}: "
            f"expected format {expected_format!r}, found {found!r}."
        )
    return payload


def load_experts(
    paths: tuple[str, ...], task_names: tuple[str, ...], obs_shape: tuple[int, ...], num_actions: int, masks
) -> list[QNetwork]:
    """One frozen expert per task; a clear error if a checkpoint was made for another task or shape."""
    if len(paths) != len(task_names):
        raise BadArgument(
            f"--experts: got {len(paths)} checkpoints for the {len(task_names)} tasks {list(task_names)}; "
            "give one per task, in task order."
        )
    experts = []
    for path, task, mask in zip(paths, task_names, masks, strict=True):
        ckpt = read_checkpoint(path, EXPERT_FORMAT, "dqn.py")
        if ckpt.get("task") != task:
            raise BadArgument(
                f"--experts: {path} is an expert for task {ckpt.get('task')!r}, but this slot is task {task!r}."
            )
        if tuple(ckpt["obs_shape"]) != tuple(obs_shape):
            raise BadArgument(
                f"--experts: {path} (task {task!r}) was trained on observations of shape {tuple(ckpt['obs_shape'])}, "
                f"the env gives {tuple(obs_shape)} for task {task!r}."
            )
        if ckpt["num_actions"] != num_actions:
            raise BadArgument(
                f"--experts: {path} (task {task!r}) has {ckpt['num_actions']} actions, "
                f"the env's action space for task {task!r} has {num_actions}."
            )
        if "action_mask" in ckpt and not np.array_equal(np.asarray(ckpt["action_mask"], dtype=bool), mask):
            raise BadArgument(
                f"--experts: {path} (task {task!r}) has valid actions {ckpt['action_mask']}, "
                f"the env's are {mask.astype(int).tolist()}."
            )
        expert = QNetwork(ckpt["torso_type"], tuple(obs_shape), tuple(ckpt.get("hidden_sizes") or ()), num_actions)
        try:
            expert.load_state_dict({k: v for k, v in ckpt["q_network"].items() if k.split(".")[0] in ("torso", "head")})
        except RuntimeError as error:
            raise BadArgument(
                f"{path} is not a valid checkpoint of dqn.py (its network does not load: {error})."
            ) from None
        experts.append(expert.eval().requires_grad_(False))
    return experts


def act(network: QNetwork, obs: torch.Tensor, masks: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Epsilon-greedy over each row's valid actions: greedy on the network's outputs, else uniform."""
    with torch.no_grad():
        outputs, _ = network(obs)
    greedy = outputs.masked_fill(~masks, float("-inf")).argmax(1)
    uniform = torch.rand(masks.shape, device=masks.device).masked_fill(~masks, -1.0).argmax(1)
    explore = torch.rand(len(obs), device=masks.device) < epsilon
    return torch.where(explore, uniform, greedy)


def evaluate(network: QNetwork, envs, masks: torch.Tensor, epsilon: float, seed: int, device) -> np.ndarray:
    """Mean return per task of one episode per eval env (envs grouped by task, equal groups)."""
    num_tasks = len(masks)
    per_task = envs.num_envs // num_tasks
    env_masks = masks.repeat_interleave(per_task, 0)
    obs, _ = envs.reset(seed=seed)
    returns = np.full(envs.num_envs, np.nan)
    while np.isnan(returns).any():
        actions = act(network, torch.as_tensor(obs, device=device), env_masks, epsilon)
        obs, _, _, _, infos = envs.step(actions.cpu().numpy())
        if "episode" in infos:
            finished = infos["_episode"] & np.isnan(returns)
            returns[finished] = infos["episode"]["r"][finished]
    return returns.reshape(num_tasks, per_task).mean(1)


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
        checkpoint = read_checkpoint(args.resume, "mtenvs-amn-train/1", "actor_mimic.py (checkpoint.pt)")
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
    obs, infos = envs.reset(seed=args.seed)
    masks_np = task_action_masks(infos, num_tasks, num_actions, 1)
    masks = torch.as_tensor(masks_np, device=device)
    experts = [e.to(device) for e in load_experts(args.experts, task_names, obs_shape, num_actions, masks_np)]
    torso_type = "nature_cnn" if image else "mlp"
    amn = ActorMimicNetwork(
        torso_type, obs_shape, args.hidden_sizes, num_actions,
        [e.feature_dim for e in experts] if args.feature_regression else None,
    ).to(device)  # fmt: skip
    if args.optimizer == "paper_adam":
        optimizer = PaperAdam(amn.parameters(), lr=args.learning_rate)
    else:
        optimizer = torch.optim.Adam(amn.parameters(), lr=args.learning_rate)

    # --- replay: the states each task's env visited, one ring buffer per task ---
    obs_dtype = envs.single_observation_space.dtype
    memory = np.zeros((num_tasks, args.buffer_size, *obs_shape), dtype=obs_dtype)
    memory_pos, memory_len = np.zeros(num_tasks, dtype=np.int64), np.zeros(num_tasks, dtype=np.int64)

    global_step, task_step, updates = 0, 0, 0
    if checkpoint:
        amn.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        global_step, task_step, updates = checkpoint["global_step"], checkpoint["task_step"], checkpoint["updates"]
        if checkpoint["memory"] is not None:
            memory[:], memory_pos[:], memory_len[:] = (
                checkpoint["memory"],
                checkpoint["memory_pos"],
                checkpoint["memory_len"],
            )
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
        keep_memory = args.checkpoint_replay
        payload = {
            "format": "mtenvs-amn-train/1",
            "args": asdict(args) | {"resume": None},
            "run_name": run_name,
            "global_step": global_step,
            "task_step": task_step,
            "updates": updates,
            "model": amn.state_dict(),
            "optimizer": optimizer.state_dict(),
            "memory": torch.from_numpy(memory) if keep_memory else None,
            "memory_pos": torch.from_numpy(memory_pos),
            "memory_len": torch.from_numpy(memory_len),
            "rng": rng_state(),
        }
        torch.save(payload, path + ".tmp")
        os.replace(path + ".tmp", path)  # atomic: a kill mid-save keeps the previous checkpoint

    def save_model() -> None:
        payload = {
            "format": AMN_FORMAT,
            "env_id": args.env_id,
            "env_kwargs": env_kwargs,
            "task_names": list(task_names),
            "obs_shape": list(obs_shape),
            "num_actions": int(num_actions),
            "action_masks": masks_np.astype(int).tolist(),
            "torso_type": torso_type,
            "hidden_sizes": list(args.hidden_sizes) if torso_type == "mlp" else [],
            "q_network": amn.state_dict(),
            "args": asdict(args),
            "global_step": global_step,
        }
        torch.save(payload, f"runs/{run_name}/{args.exp_name}.pt")

    eval_envs, expert_returns, last_eval_step = None, None, -1

    def run_evaluation() -> None:
        nonlocal eval_envs, expert_returns, last_eval_step
        if not args.eval_episodes or last_eval_step == global_step:
            return
        last_eval_step = global_step
        if eval_envs is None:
            eval_envs = make_envs(args.env_id, env_kwargs, args.eval_episodes)
        amn_returns = evaluate(amn, eval_envs, masks, args.eval_epsilon, args.seed + 10_000, device)
        if expert_returns is None:  # the experts are fixed: evaluated once, logged with every evaluation
            expert_returns = [
                evaluate(expert, eval_envs, masks, args.eval_epsilon, args.seed + 10_000, device)[task]
                for task, expert in enumerate(experts)
            ]
        for task, name in enumerate(task_names):
            writer.add_scalar(f"eval/episodic_return/{name}", amn_returns[task], global_step)
            writer.add_scalar(f"eval/expert_return/{name}", expert_returns[task], global_step)
        writer.add_scalar("eval/episodic_return", amn_returns.mean(), global_step)
        summary = ", ".join(
            f"{n} {a:.1f} (expert {e:.1f})" for n, a, e in zip(task_names, amn_returns, expert_returns, strict=True)
        )
        print(f"step {global_step}: eval AMN return {summary}")

    recent = [deque(maxlen=20) for _ in task_names]
    autoreset = np.zeros(num_tasks, dtype=bool)  # the env ignores its next action and resets
    steps_per_task = args.total_timesteps // num_tasks
    start_time, start_step, last_print = time.time(), global_step, time.time()
    while task_step < steps_per_task:
        # --- rollout: the AMN acts epsilon-greedy in every task; visited states go to that task's memory ---
        obs_t = torch.as_tensor(obs, device=device)
        actions = act(amn, obs_t, masks, args.epsilon)
        for task in np.flatnonzero(~autoreset):
            memory[task, memory_pos[task]] = obs[task]
            memory_pos[task] = (memory_pos[task] + 1) % args.buffer_size
            memory_len[task] = min(memory_len[task] + 1, args.buffer_size)
        obs, _, terminations, truncations, infos = envs.step(actions.cpu().numpy())
        autoreset = np.logical_or(terminations, truncations)
        global_step += num_tasks
        task_step += 1
        if "episode" in infos:
            for i in np.flatnonzero(infos["_episode"]):
                name, ret = task_names[infos["episode"]["task_id"][i]], float(infos["episode"]["r"][i])
                recent[infos["episode"]["task_id"][i]].append(ret)
                writer.add_scalar("charts/episodic_return", ret, global_step)
                writer.add_scalar(f"charts/episodic_return/{name}", ret, global_step)
                writer.add_scalar(f"charts/episodic_length/{name}", infos["episode"]["l"][i], global_step)
                if np.isfinite(infos["episode"]["hns"][i]):
                    writer.add_scalar(f"charts/human_normalized_score/{name}", infos["episode"]["hns"][i], global_step)

        if task_step >= resume_step + args.learning_starts and task_step % args.train_frequency == 0:
            # --- loss: a minibatch from every task's memory, each against its own expert ---
            batch = [
                torch.as_tensor(memory[t, np.random.randint(0, memory_len[t], args.batch_size)], device=device)
                for t in range(num_tasks)
            ]
            losses = actor_mimic_losses(amn, experts, batch, masks, args.tau, args.feature_regression)
            loss = (losses["policy"] + args.feature_regression_scale * losses["feature"]).sum()
            # --- update ---
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            updates += 1
            # --- logging ---
            if updates == 1 or updates % 100 == 0:
                for task, name in enumerate(task_names):
                    writer.add_scalar(f"losses/policy_loss/{name}", losses["policy"][task].item(), global_step)
                    writer.add_scalar(f"losses/feature_loss/{name}", losses["feature"][task].item(), global_step)
                    writer.add_scalar(f"charts/expert_agreement/{name}", losses["agreement"][task].item(), global_step)
                writer.add_scalar("losses/policy_loss", losses["policy"].sum().item(), global_step)
                writer.add_scalar("losses/feature_loss", losses["feature"].sum().item(), global_step)
                writer.add_scalar(
                    "charts/SPS", int((global_step - start_step) / (time.time() - start_time)), global_step
                )

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
        save_model()
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
        print(f"actor_mimic.py: error: {error}", file=sys.stderr)
        sys.exit(2)
