"""Predictive Reinforcement Learning (Mujika 2016) on the multi-game Atari envs.

One model, never told which game it plays, learns from play data to predict, for a sequence of
future controls, whether the score will be higher and whether the agent will have died:

    h_0       = Perception(last 4 frames)                      residual CNN -> 100-d state
    h_{k}     = h_{k-1} + Delta_k,  Delta_k = s * LN(f([LN(h_{k-1}), c_k]))   residual recurrent net
    p_k       = sigmoid(Valuation(h_k)) = (P(score higher than at the start), P(died since the start))
    loss      = binary cross-entropy of p_k, k = 1..horizon

c_k = (fire, horizontal, vertical) of the ALE action. Iteration 1 plays uniformly at random; each
later iteration plays with the planner (random shooting over action sequences with the current
model) and adds its data; training always continues the previous model.

The docs page docs/prl.md gives the choices where the paper is illegible, and the results.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.atari.suites import resolve_games
from mtenvs.provenance import run_provenance
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector

SCRIPT = "prl"
FIRE = 1  # ALE action id of FIRE
# (fire, horizontal, vertical) of ALE's 18 actions, in ALE order: NOOP, FIRE, UP, RIGHT, LEFT, DOWN,
# UPRIGHT, UPLEFT, DOWNRIGHT, DOWNLEFT, then the same eight moves with FIRE.
CONTROLS = torch.tensor(
    [
        [0, 0, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0], [0, -1, 0], [0, 0, -1],
        [0, 1, 1], [0, -1, 1], [0, 1, -1], [0, -1, -1],
        [1, 0, 1], [1, 1, 0], [1, -1, 0], [1, 0, -1],
        [1, 1, 1], [1, -1, 1], [1, 1, -1], [1, -1, -1],
    ],
    dtype=torch.float32,
)  # fmt: skip
# Args that a resumed run must share with the run that wrote the checkpoint (the rest only change
# where or how fast it runs).
RUNTIME_ARGS = ("resume", "cuda", "torch_threads", "track", "wandb_project_name", "wandb_entity")


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment"""
    seed: int = 1
    """seed of the experiment"""
    cuda: bool = True
    """if toggled, train on CUDA when it is available (the script says when it is not)"""
    torch_threads: int = 1
    """CPU threads for torch (0 keeps torch's default)"""
    track: bool = False
    """if toggled, track the run with Weights and Biases (offline when WANDB_API_KEY is unset)"""
    wandb_project_name: str = "mtenvs"
    """the wandb project name"""
    wandb_entity: str | None = None
    """the entity (team) of the wandb project"""
    save_model: bool = False
    """if toggled, save the final model to runs/{run_name}/{exp_name}.pt"""
    checkpoint_interval: int = 500
    """save runs/{run_name}/checkpoint.pt every this many training updates (0: at iteration boundaries only)"""
    resume: str | None = None
    """path of a checkpoint.pt to continue; give the same arguments as the run that wrote it"""

    env_id: str = "MultiAtari-PRL-v0"
    """the id of an mtenvs MultiAtari env (one game per task)"""
    preset: str = "nature"
    """emulator protocol: "nature" (no sticky actions, as the paper ran) or "machado" (sticky 0.25)"""
    env_kwargs: str = "{}"
    """JSON dict of extra keyword arguments for gym.make_vec (e.g. '{"max_episode_frames": 18000}')"""
    total_timesteps: int = 60_000
    """total env steps over all iterations and games (split equally over the iterations)"""
    num_iterations: int = 1
    """play-then-train iterations; iteration 1 plays uniformly at random, later ones with the planner"""
    num_envs: int = 24
    """parallel envs, in equal groups per game (a multiple of the number of games)"""
    heldout_fraction: float = 0.1
    """the last fraction of every env's steps in an iteration is held out of training, for the AUCs"""
    horizon: int = 25
    """steps the prediction network is unrolled, in training and in the planner"""
    state_size: int = 100
    """size of the perception output and recurrent state h"""
    delta_std: float = 0.1
    """standard deviation of every recurrent update Delta (so |h_k - h_0| <= k * delta_std * sqrt(state_size))"""
    updates_per_iteration: int = 2_000
    """gradient updates in each iteration's training phase"""
    batch_size: int = 32
    """training windows (start frames with horizon future controls) per update"""
    learning_rate: float = 5e-4
    """Adam learning rate of the first stage"""
    lr_stage_factor: float = 0.5
    """the learning rate is multiplied by this after the first and after the second third of the iterations"""
    lr_halve_fraction: float = 0.5
    """inside every iteration the learning rate is halved after this fraction of its updates (1 = never)"""
    weight_decay: float = 1e-5
    """Adam weight decay (L2)"""
    grad_clamp: float = 1.0
    """every gradient element is clamped to [-grad_clamp, grad_clamp]"""
    weight_growth: float = 3.0
    """every three iterations, the sampling weight of new iterations' data is multiplied by this"""
    num_sequences: int = 100
    """random action sequences the planner scores at every step (plus the previous step's best)"""
    death_threshold: float = 0.2
    """the planner keeps sequences with P(died) <= this, then takes the highest P(score higher)"""
    safest_only_games: tuple[str, ...] = ("Breakout", "Pong")
    """games where the planner always takes the lowest P(died) (the paper's Breakout and Pong setting)"""
    fire_after_life_loss_games: tuple[str, ...] = ("Breakout",)
    """games where FIRE is pressed on the first step of an episode and after every lost life"""
    eval_episodes: int = 1
    """planner episodes per game after the last iteration (0 disables)"""
    progress_interval: float = 20.0
    """seconds between progress lines"""


class BadArgument(ValueError):
    """An invalid argument, found before training; the command line prints its message without a traceback."""


def check_args(args: Args) -> dict:
    """Reject invalid arguments before anything is built; return the parsed env kwargs."""
    for name in ("total_timesteps", "num_iterations", "num_envs", "horizon", "state_size",
                 "updates_per_iteration", "batch_size", "num_sequences"):  # fmt: skip
        value = getattr(args, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadArgument(f"--{name.replace('_', '-')} must be an integer >= 1, got {value!r}.")
    for name in ("checkpoint_interval", "torch_threads", "eval_episodes"):
        value = getattr(args, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadArgument(f"--{name.replace('_', '-')} must be an integer >= 0, got {value!r}.")
    if isinstance(args.seed, bool) or not isinstance(args.seed, int) or not 0 <= args.seed <= 2**30:
        raise BadArgument(
            f"--seed must be an integer in [0, 2**30] (the envs are seeded with seed + offsets), got {args.seed}."
        )
    for name, low, high, low_open, high_open in (
        ("heldout_fraction", 0.0, 0.5, True, False),
        ("delta_std", 0.0, math.inf, True, True),
        ("learning_rate", 0.0, 1.0, True, False),
        ("lr_stage_factor", 0.0, 1.0, True, False),
        ("lr_halve_fraction", 0.0, 1.0, True, False),
        ("weight_decay", 0.0, 1.0, False, False),
        ("grad_clamp", 0.0, math.inf, True, True),
        ("weight_growth", 1.0, math.inf, False, True),
        ("death_threshold", 0.0, 1.0, False, False),
        ("progress_interval", 0.0, 30.0, True, False),
    ):
        value = getattr(args, name)
        below = value <= low if low_open else value < low
        above = value >= high if high_open else value > high
        if not math.isfinite(value) or below or above:
            interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
            raise BadArgument(f"--{name.replace('_', '-')} must be a finite number in {interval}, got {value!r}.")
    for name in ("safest_only_games", "fire_after_life_loss_games"):
        for game in getattr(args, name):
            try:
                canonical = resolve_games([game], None)[0]
            except ValueError as error:
                raise BadArgument(f"--{name.replace('_', '-')}: {error}") from None
            if canonical != game:
                raise BadArgument(f"--{name.replace('_', '-')}: write {game!r} as the ALE game name {canonical!r}.")
    if args.preset not in ("nature", "machado"):
        raise BadArgument(f"--preset must be 'nature' or 'machado', got {args.preset!r}.")
    try:
        env_kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as error:
        raise BadArgument(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r} ({error}).") from None
    if not isinstance(env_kwargs, dict):
        raise BadArgument(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}.")
    for key in ("preset", "autoreset_mode", "task_assignment", "stack_size", "num_envs"):
        if key in env_kwargs:
            raise BadArgument(
                f"--env-kwargs must not set {key!r}: prl.py sets it (--preset and --num-envs are its own flags)."
            )
    try:
        spec = gym.spec(args.env_id)
    except gym.error.Error as error:
        raise BadArgument(f"--env-id {args.env_id!r} is not a registered id ({error}).") from None
    if not str(spec.entry_point).startswith("mtenvs.atari"):
        raise BadArgument(
            f"--env-id {args.env_id!r} is not an Atari env; PRL needs an mtenvs MultiAtari id such as "
            "MultiAtari-PRL-v0 or MultiAtari-v0."
        )
    steps_per_env = args.total_timesteps // args.num_iterations // args.num_envs
    heldout_steps = int(steps_per_env * args.heldout_fraction)
    if heldout_steps < args.horizon or steps_per_env - heldout_steps < 2 * args.horizon:
        raise BadArgument(
            f"--total-timesteps={args.total_timesteps} gives {steps_per_env} steps per env per iteration "
            f"({heldout_steps} held out); need >= --horizon ({args.horizon}) held-out steps and >= 2 * --horizon "
            "training steps per env: raise --total-timesteps or --heldout-fraction, or lower --horizon or --num-envs."
        )
    return env_kwargs


def make_envs(args: Args, env_kwargs: dict, num_envs: int) -> gym.vector.VectorEnv:
    """Grouped MultiAtari vector env (one game per sub-env, equal groups) with per-game episode stats."""
    envs = gym.make_vec(
        args.env_id,
        num_envs=num_envs,
        task_assignment="grouped",
        preset=args.preset,
        autoreset_mode="SameStep",  # every step is a real transition; the next obs starts the new episode
        **env_kwargs,
    )
    if num_envs % envs.unwrapped.num_tasks:
        games = envs.unwrapped.num_tasks
        envs.close()
        raise BadArgument(f"--num-envs {num_envs} must be a multiple of the {games} games of {args.env_id}.")
    return RecordTaskEpisodeStatisticsVector(envs)


# --- model ---
class ResidualBlock(nn.Module):
    """Two 3x3 convolutions, each followed by batch norm and ReLU, plus the identity."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))


class Perception(nn.Module):
    """Residual CNN from the stacked frames to the initial state h_0 (batch norm + ReLU after each conv)."""

    def __init__(self, obs_shape: tuple[int, int, int], state_size: int):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(obs_shape[0], 32, 8, stride=4, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            ResidualBlock(64),
            ResidualBlock(64),
            nn.Conv2d(64, 64, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Flatten(),
        )  # fmt: skip
        with torch.no_grad():
            flat = self.convs(torch.zeros(2, *obs_shape)).shape[1]
        self.out = nn.Linear(flat, state_size)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.out(self.convs(frames.float() / 255.0))


class Prediction(nn.Module):
    """Residual recurrent network: h <- h + Delta, Delta = delta_std * LN(f([LN(h), c]))."""

    def __init__(self, state_size: int, delta_std: float, hidden: int = 500):
        super().__init__()
        self.norm = nn.LayerNorm(state_size)
        self.f = nn.Sequential(nn.Linear(state_size + 3, hidden), nn.ReLU(), nn.Linear(hidden, state_size))
        self.delta_std = delta_std

    def delta(self, h: torch.Tensor, control: torch.Tensor) -> torch.Tensor:
        """The state change: mean 0 and standard deviation delta_std over the units, whatever f's weights."""
        raw = self.f(torch.cat([self.norm(h), control], dim=-1))
        return self.delta_std * F.layer_norm(raw, raw.shape[-1:])

    def forward(self, h: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        """States h_1..h_K, shape (batch, K, state), from h_0 (batch, state) and controls (batch, K, 3)."""
        states = []
        for k in range(controls.shape[1]):
            h = h + self.delta(h, controls[:, k])
            states.append(h)
        return torch.stack(states, dim=1)


class Valuation(nn.Module):
    """LN -> Linear + ReLU -> Linear: logits of (score higher than at the start, died since the start)."""

    def __init__(self, state_size: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(state_size), nn.Linear(state_size, 100), nn.ReLU(), nn.Linear(100, 2))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.net(states)


class PredictiveModel(nn.Module):
    """Perception -> Prediction -> Valuation; logits of (score up, died) at every unrolled step."""

    def __init__(self, obs_shape: tuple[int, int, int], state_size: int, delta_std: float):
        super().__init__()
        self.perception = Perception(obs_shape, state_size)
        self.prediction = Prediction(state_size, delta_std)
        self.valuation = Valuation(state_size)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        return self.perception(frames)

    def unroll(self, h0: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        """Logits (batch, K, 2) of the valuation heads after each of the K controls."""
        return self.valuation(self.prediction(h0, controls))

    def forward(self, frames: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        return self.unroll(self.encode(frames), controls)


def encode_actions(actions: torch.Tensor) -> torch.Tensor:
    """ALE action ids (any shape) -> (..., 3) controls (fire, horizontal, vertical)."""
    return CONTROLS.to(actions.device)[actions.long()]


# --- data ---
@dataclass
class PlayData:
    """One iteration's play, (steps, envs) arrays in time order; frames are the newest frame of each observation."""

    frames: np.ndarray  # uint8 (T, E, H, W)
    actions: np.ndarray  # int64 (T, E): action taken at t
    rewards: np.ndarray  # float32 (T, E): reward of step t
    died: np.ndarray  # bool (T, E): step t lost a life, ended the game or lost a point
    truncated: np.ndarray  # bool (T, E): step t ended the episode without a death (time limit)
    episode_start: np.ndarray  # int64 (T, E): index of the first step of t's episode

    def save(self, path: str) -> None:
        np.savez(path + ".tmp.npz", **asdict(self))
        os.replace(path + ".tmp.npz", path)

    @classmethod
    def load(cls, path: str) -> PlayData:
        try:
            with np.load(path, allow_pickle=False) as stored:
                data = cls(**{key: stored[key] for key in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError, EOFError) as error:
            raise BadArgument(f"{path} is not a valid play-data file of {SCRIPT}.py ({error}).") from None
        return data


def frame_stacks(data: PlayData, steps: np.ndarray, envs: np.ndarray, stack: int) -> np.ndarray:
    """The stacked observations at (steps, envs): the last `stack` frames, zeros before the episode start."""
    offsets = np.arange(-stack + 1, 1)
    index = steps[:, None] + offsets[None, :]
    valid = index >= data.episode_start[steps, envs][:, None]
    frames = data.frames[np.maximum(index, 0), envs[:, None]]
    return frames * valid[:, :, None, None].astype(np.uint8)


def window_targets(data: PlayData, steps: np.ndarray, envs: np.ndarray, horizon: int) -> tuple[np.ndarray, ...]:
    """Targets and loss mask (batch, horizon, 2) of the windows starting at (steps, envs), and their actions.

    Target k (k = 1..horizon) covers steps t..t+k-1: died = any death; score up = no death and
    reward sum > 0. After a death the targets stay (died, not up); after a time-limit end the
    remaining targets are masked out.
    """
    span = steps[:, None] + np.arange(horizon)[None, :]
    died = np.logical_or.accumulate(data.died[span, envs[:, None]], axis=1)
    score_up = (np.cumsum(data.rewards[span, envs[:, None]], axis=1) > 0) & ~died
    truncated = data.truncated[span, envs[:, None]] & ~died
    # A truncation at step t+j ends the data of the window: targets after it are unknown.
    after_truncation = np.concatenate([np.zeros((len(steps), 1), bool), truncated[:, :-1]], axis=1)
    valid = ~np.logical_or.accumulate(after_truncation, axis=1)
    targets = np.stack([score_up, died], axis=-1).astype(np.float32)
    mask = np.repeat(valid[:, :, None], 2, axis=2).astype(np.float32)
    return targets, mask, data.actions[span, envs[:, None]]


def window_starts(num_steps: int, num_envs: int, horizon: int, heldout_fraction: float) -> tuple[np.ndarray, ...]:
    """(train, held-out) window starts as (steps, envs) index arrays; held out: the last fraction of the steps."""
    split = num_steps - int(num_steps * heldout_fraction)
    train_steps = np.arange(0, split - horizon + 1)
    heldout_steps = np.arange(split, num_steps - horizon + 1)
    pairs = []
    for steps in (train_steps, heldout_steps):
        grid_steps, grid_envs = np.meshgrid(steps, np.arange(num_envs), indexing="ij")
        pairs.append((grid_steps.ravel(), grid_envs.ravel()))
    return pairs[0], pairs[1]


def iteration_weights(num_iterations: int, growth: float) -> np.ndarray:
    """Sampling weight of each iteration's data: multiplied by `growth` every three iterations."""
    return growth ** (np.arange(num_iterations) // 3)


def sample_batch(
    datasets: list[PlayData],
    starts: list[tuple[np.ndarray, np.ndarray]],
    weights: np.ndarray,
    batch_size: int,
    horizon: int,
    stack: int,
    rng: np.random.Generator,
) -> dict[str, torch.Tensor]:
    """A training batch: every window is drawn with probability proportional to its iteration's weight."""
    sizes = np.array([len(s[0]) for s in starts], dtype=np.float64)
    iterations = rng.choice(len(datasets), size=batch_size, p=sizes * weights / (sizes * weights).sum())
    parts = []
    for i in np.unique(iterations):
        count = int((iterations == i).sum())
        pick = rng.integers(len(starts[i][0]), size=count)
        parts.append(make_batch(datasets[i], starts[i][0][pick], starts[i][1][pick], horizon, stack))
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


def make_batch(
    data: PlayData, steps: np.ndarray, envs: np.ndarray, horizon: int, stack: int
) -> dict[str, torch.Tensor]:
    targets, mask, actions = window_targets(data, steps, envs, horizon)
    return {
        "frames": torch.as_tensor(frame_stacks(data, steps, envs, stack)),
        "controls": encode_actions(torch.as_tensor(actions)),
        "targets": torch.as_tensor(targets),
        "mask": torch.as_tensor(mask),
    }


def prediction_losses(
    model: PredictiveModel, batch: dict[str, torch.Tensor], device: torch.device
) -> dict[str, torch.Tensor]:
    """Masked binary cross-entropy of each head, averaged over the batch and the horizon."""
    logits = model(batch["frames"].to(device), batch["controls"].to(device))
    mask = batch["mask"].to(device)
    bce = F.binary_cross_entropy_with_logits(logits, batch["targets"].to(device), reduction="none") * mask
    per_head = bce.sum(dim=(0, 1)) / mask.sum(dim=(0, 1)).clamp(min=1.0)
    return {"score_loss": per_head[0], "death_loss": per_head[1], "loss": per_head.sum()}


def train_step(
    model: PredictiveModel,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    grad_clamp: float,
    device: torch.device,
) -> dict[str, float]:
    """One Adam step with element-wise gradient clamping."""
    model.train()
    losses = prediction_losses(model, batch, device)
    optimizer.zero_grad()
    losses["loss"].backward()
    for parameter in model.parameters():
        if parameter.grad is not None:
            parameter.grad.clamp_(-grad_clamp, grad_clamp)
    optimizer.step()
    return {key: value.item() for key, value in losses.items()}


def learning_rate(args: Args, iteration: int, update: int) -> float:
    """The paper's schedule, scaled: lower after each third of the iterations, halved inside each iteration."""
    stage = min(2, (iteration - 1) * 3 // args.num_iterations)
    lr = args.learning_rate * args.lr_stage_factor**stage
    return lr * 0.5 if update >= args.lr_halve_fraction * args.updates_per_iteration else lr


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN when one class is absent."""
    labels = labels.astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average rank of tied scores.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


@torch.no_grad()
def heldout_report(
    model: PredictiveModel,
    data: PlayData,
    starts: tuple[np.ndarray, np.ndarray],
    env_games: np.ndarray,
    game_names: list[str],
    horizon: int,
    stack: int,
    device: torch.device,
    max_windows: int = 4096,
) -> dict[str, dict[str, list[float]]]:
    """Per game and head, at every horizon step: AUC, mean predicted probability and observed frequency."""
    model.eval()
    report = {}
    for game, name in enumerate(game_names):
        keep = env_games[starts[1]] == game
        steps, envs = starts[0][keep], starts[1][keep]
        if len(steps) > max_windows:  # evenly spaced subset: the same windows every time
            pick = np.linspace(0, len(steps) - 1, max_windows).astype(np.int64)
            steps, envs = steps[pick], envs[pick]
        probabilities, targets, masks = [], [], []
        for chunk in range(0, len(steps), 256):
            batch = make_batch(data, steps[chunk : chunk + 256], envs[chunk : chunk + 256], horizon, stack)
            probabilities.append(torch.sigmoid(model(batch["frames"].to(device), batch["controls"].to(device))).cpu())
            targets.append(batch["targets"])
            masks.append(batch["mask"])
        p, y, m = (torch.cat(t).numpy() for t in (probabilities, targets, masks))
        report[name] = {}
        for head, label in enumerate(("score", "death")):
            valid = [m[:, k, head] > 0 for k in range(horizon)]
            report[name][f"{label}_auc"] = [roc_auc(p[v, k, head], y[v, k, head]) for k, v in enumerate(valid)]
            report[name][f"{label}_predicted"] = [float(p[v, k, head].mean()) for k, v in enumerate(valid)]
            report[name][f"{label}_observed"] = [float(y[v, k, head].mean()) for k, v in enumerate(valid)]
    return report


# --- planner ---
def choose_sequences(p_score: torch.Tensor, p_death: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Per env (rows), the candidate to play: among those with P(died) <= threshold the highest P(score
    higher); when none qualifies, the lowest P(died)."""
    feasible = p_death <= thresholds[:, None]
    best_score = torch.where(feasible, p_score, torch.full_like(p_score, -1.0)).argmax(dim=1)
    safest = p_death.argmin(dim=1)
    return torch.where(feasible.any(dim=1), best_score, safest)


class Planner:
    """Random shooting: N uniformly random action sequences of the game's valid actions plus the
    previous step's best (shifted by one step), scored by the model in one batch for all envs."""

    def __init__(
        self,
        action_masks: np.ndarray,
        thresholds: np.ndarray,
        num_sequences: int,
        horizon: int,
        rng: np.random.Generator,
    ):
        self.valid_actions = [np.flatnonzero(mask) for mask in action_masks]
        self.thresholds = torch.as_tensor(thresholds, dtype=torch.float32)
        self.num_sequences, self.horizon, self.rng = num_sequences, horizon, rng
        self.previous_best = self.random_sequences(1)[:, 0]  # (E, K)

    def random_sequences(self, count: int) -> np.ndarray:
        """(E, count, K) uniformly random valid actions of every env's game."""
        return np.stack([
            valid[self.rng.integers(len(valid), size=(count, self.horizon))] for valid in self.valid_actions
        ])  # fmt: skip

    def reset(self, envs: np.ndarray) -> None:
        """New episodes: their previous best is forgotten (replaced by a random sequence)."""
        self.previous_best[envs] = self.random_sequences(1)[envs, 0]

    @torch.no_grad()
    def plan(self, model: PredictiveModel, frames: np.ndarray, device: torch.device) -> tuple[np.ndarray, ...]:
        """Candidates (E, N+1, K), their final-step probabilities (E, N+1, 2) and the chosen index per env."""
        model.eval()
        candidates = np.concatenate([self.random_sequences(self.num_sequences), self.previous_best[:, None]], axis=1)
        num_envs, count, horizon = candidates.shape
        h0 = model.encode(torch.as_tensor(frames, device=device))
        h0 = h0.repeat_interleave(count, dim=0)
        controls = encode_actions(torch.as_tensor(candidates.reshape(-1, horizon), device=device))
        probabilities = torch.sigmoid(model.unroll(h0, controls)[:, -1]).view(num_envs, count, 2).cpu()
        chosen = choose_sequences(probabilities[..., 0], probabilities[..., 1], self.thresholds).numpy()
        return candidates, probabilities.numpy(), chosen

    def act(self, model: PredictiveModel, frames: np.ndarray, device: torch.device) -> np.ndarray:
        """The first action of each env's chosen sequence; the rest becomes next step's previous best."""
        candidates, _, chosen = self.plan(model, frames, device)
        best = candidates[np.arange(len(chosen)), chosen]
        self.previous_best = np.concatenate([best[:, 1:], self.random_sequences(1)[:, 0, -1:]], axis=1)
        return best[:, 0]


def random_actions(action_masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random valid action per env."""
    return np.array([rng.choice(np.flatnonzero(mask)) for mask in action_masks])


def planner_thresholds(args: Args, game_names: list[str], env_games: np.ndarray) -> np.ndarray:
    """Per env death threshold: 0 (always the safest sequence) in the safest-only games."""
    per_game = np.array([0.0 if name in args.safest_only_games else args.death_threshold for name in game_names])
    return per_game[env_games]


# --- rollout ---
@dataclass
class Episode:
    """A finished episode: its env, return, length, human-normalised score and the play step it ended on."""

    env: int
    ret: float
    length: int
    hns: float
    step: int


def play(
    envs,
    num_steps: int,
    seed: int,
    model: PredictiveModel | None,
    planner: Planner | None,
    args: Args,
    device: torch.device,
    label: str,
    record: bool = True,
) -> tuple[PlayData | None, list[Episode]]:
    """Play num_steps steps in every env (uniformly at random when planner is None).

    Returns the play data (None unless record) and the finished episodes. Without record, play
    stops as soon as every env has finished an episode (evaluation).
    """
    base = envs.unwrapped
    num_envs = envs.num_envs
    game_names = list(base.task_names)
    fire_games = np.array([name in args.fire_after_life_loss_games for name in game_names])[base.env_task_ids]
    rng = np.random.default_rng(seed)
    obs, infos = envs.reset(seed=seed)
    height, width = obs.shape[2:]
    rows = num_steps if record else 1  # without recording, one scratch row is overwritten
    data = PlayData(
        frames=np.zeros((rows, num_envs, height, width), np.uint8),
        actions=np.zeros((rows, num_envs), np.int64),
        rewards=np.zeros((rows, num_envs), np.float32),
        died=np.zeros((rows, num_envs), bool),
        truncated=np.zeros((rows, num_envs), bool),
        episode_start=np.zeros((rows, num_envs), np.int64),
    )
    episodes: list[Episode] = []
    lives = infos["lives"].copy()
    needs_fire = fire_games.copy()  # the first step of an episode and the step after a lost life
    episode_start = np.zeros(num_envs, np.int64)
    start_time = last_print = time.time()
    for step in range(num_steps):
        t = step if record else 0
        data.frames[t] = obs[:, -1]
        data.episode_start[t] = episode_start
        actions = random_actions(infos["action_mask"], rng) if planner is None else planner.act(model, obs, device)
        actions = np.where(needs_fire, FIRE, actions)
        obs, rewards, terminations, truncations, infos = envs.step(actions)
        ended = terminations | truncations
        # With same-step autoreset, infos["lives"] of an ended env is already the new episode's.
        life_lost = (infos["lives"] < lives) & ~ended
        data.actions[t], data.rewards[t] = actions, rewards
        data.died[t] = terminations | life_lost | (rewards < 0)
        data.truncated[t] = truncations & ~data.died[t]
        needs_fire = fire_games & (ended | life_lost)
        lives = infos["lives"].copy()
        episode_start[ended] = step + 1
        if planner is not None and ended.any():
            planner.reset(np.flatnonzero(ended))
        if "episode" in infos:
            stats = infos["episode"]
            for i in np.flatnonzero(infos["_episode"]):
                episodes.append(Episode(int(i), float(stats["r"][i]), int(stats["l"][i]), float(stats["hns"][i]), step))
        if time.time() - last_print >= args.progress_interval:
            last_print = time.time()
            sps = int((step + 1) * num_envs / (time.time() - start_time))
            recent = {
                name: [e.ret for e in episodes if game_names[base.env_task_ids[e.env]] == name][-5:]
                for name in game_names
            }
            recent = {name: round(float(np.mean(r)), 1) for name, r in recent.items() if r}
            print(f"{label}: step {step + 1}/{num_steps} per env, SPS {sps}, recent returns {recent}", flush=True)
        if not record and len({e.env for e in episodes}) == num_envs:
            break
    return (data if record else None), episodes


# --- checkpoints ---
def load_checkpoint(path: str, args: Args) -> dict:
    """A checkpoint of this script written by a run with the same arguments; clear errors otherwise."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BadArgument(f"--resume {path}: no such file.") from None
    except Exception as error:  # torch raises many types for corrupt or foreign files
        raise BadArgument(
            f"--resume {path} is not a valid checkpoint of {SCRIPT}.py ({type(error).__name__})."
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("script") != SCRIPT:
        raise BadArgument(f"--resume {path} is not a valid checkpoint of {SCRIPT}.py.")
    saved = checkpoint["args"]
    if saved.get("env_id") != args.env_id:
        raise BadArgument(
            f"--resume {path} is a checkpoint of --env-id {saved.get('env_id')!r}, but this run has "
            f"--env-id {args.env_id!r}; "
            "resume with the arguments of the run that wrote it."
        )
    current = asdict(args)
    differing = [
        f"{key}={saved.get(key)!r} (now {current[key]!r})"
        for key in current
        if key not in RUNTIME_ARGS
        and (list(saved[key]) if isinstance(saved.get(key), (list, tuple)) else saved.get(key))
        != (list(current[key]) if isinstance(current[key], (list, tuple)) else current[key])
    ]
    if differing:
        raise BadArgument(f"--resume {path} was written with different arguments: {', '.join(differing)}.")
    return checkpoint


def main(args: Args) -> None:
    env_kwargs = check_args(args)
    checkpoint = load_checkpoint(args.resume, args) if args.resume else None
    run_name = (
        checkpoint["run_name"] if checkpoint else f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    )

    torch.manual_seed(args.seed)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    if args.cuda and not torch.cuda.is_available():
        print("--cuda: CUDA is not available on this machine; training on the CPU.")
    device = torch.device("cuda" if args.cuda and torch.cuda.is_available() else "cpu")

    envs = make_envs(args, env_kwargs, args.num_envs)
    run_dir = f"runs/{run_name}"
    os.makedirs(run_dir, exist_ok=True)
    base = envs.unwrapped
    game_names = list(base.task_names)
    env_games = np.asarray(base.env_task_ids)
    obs_shape = envs.single_observation_space.shape
    stack = obs_shape[0]
    steps_per_env = args.total_timesteps // args.num_iterations // args.num_envs

    model = PredictiveModel(obs_shape, args.state_size, args.delta_std).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    # Progress: current iteration, whether its play data is saved, updates done in its training phase.
    iteration, collected, update, global_step, total_updates = 1, False, 0, 0, 0
    train_rng_state = None
    if checkpoint:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        iteration, collected, update = checkpoint["iteration"], checkpoint["collected"], checkpoint["update"]
        global_step, total_updates = checkpoint["global_step"], checkpoint["total_updates"]
        train_rng_state = checkpoint["train_rng"]
        print(
            f"Resumed {run_name}: iteration {iteration}, {'training update ' + str(update) if collected else 'play'}."
        )

    if args.track:
        import wandb

        wandb.init(
            project=args.wandb_project_name, entity=args.wandb_entity, sync_tensorboard=True, config=vars(args),
            name=run_name, id=run_name.replace("/", "_"), resume="allow", save_code=True,
            mode="online" if os.environ.get("WANDB_API_KEY") else "offline",
        )  # fmt: skip
    # Env-step metrics on global_step; training curves on the update count, in their own writer.
    writer = SummaryWriter(run_dir, purge_step=global_step + 1 if checkpoint else None)
    update_writer = SummaryWriter(f"{run_dir}/updates", purge_step=total_updates + 1 if checkpoint else None)
    if not checkpoint:
        record = {**vars(args), **run_provenance(envs), "torch_version": torch.__version__}
        table = "\n".join(f"|{key}|{value}|" for key, value in record.items())
        writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")

    def save_checkpoint(rng_state: dict | None) -> None:
        payload = {
            "script": SCRIPT,
            "args": asdict(args) | {"resume": None},
            "run_name": run_name,
            "iteration": iteration,
            "collected": collected,
            "update": update,
            "global_step": global_step,
            "total_updates": total_updates,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "train_rng": rng_state,
        }
        torch.save(payload, f"{run_dir}/checkpoint.pt.tmp")
        os.replace(f"{run_dir}/checkpoint.pt.tmp", f"{run_dir}/checkpoint.pt")  # a kill mid-save keeps the old one

    datasets = [PlayData.load(f"{run_dir}/data_{i}.npz") for i in range(1, iteration + (1 if collected else 0))]
    last_print = time.time()
    while iteration <= args.num_iterations:
        # --- rollout --- (iteration 1: uniformly random play; later: the planner with the current model)
        if not collected:
            planner = None
            if iteration > 1:
                planner = Planner(
                    base.action_masks[env_games],
                    planner_thresholds(args, game_names, env_games),
                    args.num_sequences,
                    args.horizon,
                    np.random.default_rng([args.seed, iteration, 1]),
                )
            start_time = time.time()
            seed = args.seed * 1000 + iteration
            data, episodes = play(
                envs, steps_per_env, seed, model, planner, args, device, f"iteration {iteration} play"
            )
            for episode in episodes:
                name, step = game_names[env_games[episode.env]], global_step + (episode.step + 1) * args.num_envs
                writer.add_scalar("charts/episodic_return", episode.ret, step)
                writer.add_scalar(f"charts/episodic_return/{name}", episode.ret, step)
                writer.add_scalar("charts/episodic_length", episode.length, step)
                if math.isfinite(episode.hns):
                    writer.add_scalar(f"charts/human_normalized_score/{name}", episode.hns, step)
            global_step += steps_per_env * args.num_envs
            writer.add_scalar(
                "charts/SPS", int(steps_per_env * args.num_envs / (time.time() - start_time)), global_step
            )
            means = {}
            for game, name in enumerate(game_names):
                values = [e.ret for e in episodes if env_games[e.env] == game]
                if values:
                    means[name] = round(float(np.mean(values)), 2)
                    writer.add_scalar(f"iteration/episodic_return/{name}", np.mean(values), global_step)
                    writer.add_scalar(f"iteration/episodes/{name}", len(values), global_step)
            print(f"iteration {iteration} play done: step {global_step}, mean returns {means}", flush=True)
            data.save(f"{run_dir}/data_{iteration}.npz")
            datasets.append(data)
            collected, update = True, 0
            save_checkpoint(None)

        # --- loss / update --- (continue the previous model on all data, recent iterations weighted up)
        splits = [window_starts(steps_per_env, args.num_envs, args.horizon, args.heldout_fraction) for _ in datasets]
        train_starts = [s[0] for s in splits]
        weights = iteration_weights(len(datasets), args.weight_growth)
        rng = np.random.default_rng([args.seed, iteration, 2])
        if train_rng_state is not None:
            rng.bit_generator.state = train_rng_state
            train_rng_state = None
        start_time, start_update = time.time(), update
        while update < args.updates_per_iteration:
            lr = learning_rate(args, iteration, update)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = sample_batch(datasets, train_starts, weights, args.batch_size, args.horizon, stack, rng)
            losses = train_step(model, optimizer, batch, args.grad_clamp, device)
            update += 1
            total_updates += 1
            if update % 10 == 0 or update == args.updates_per_iteration:
                for key, value in losses.items():
                    update_writer.add_scalar(f"losses/{key}", value, total_updates)
                update_writer.add_scalar("charts/learning_rate", lr, total_updates)
            if time.time() - last_print >= args.progress_interval:
                last_print = time.time()
                ups = (update - start_update) / (time.time() - start_time)
                print(
                    f"iteration {iteration} train: update {update}/{args.updates_per_iteration}, "
                    f"loss {losses['loss']:.4f}, {ups:.1f} updates/s",
                    flush=True,
                )
            if (
                args.checkpoint_interval
                and update % args.checkpoint_interval == 0
                and update < args.updates_per_iteration
            ):
                save_checkpoint(rng.bit_generator.state)
        writer.add_scalar(
            "charts/updates_per_second", (update - start_update) / max(time.time() - start_time, 1e-9), global_step
        )

        # --- logging --- (held-out AUC of each head, per game, at horizon steps 1, 5, 10, ..., horizon)
        print(f"iteration {iteration}: predicting the held-out windows", flush=True)
        report = heldout_report(model, datasets[-1], splits[-1][1], env_games, game_names, args.horizon, stack, device)
        logged_steps = sorted({1, *range(5, args.horizon + 1, 5), args.horizon})
        for name, heads in report.items():
            for head in ("score", "death"):
                for k in logged_steps:
                    if math.isfinite(heads[f"{head}_auc"][k - 1]):
                        writer.add_scalar(f"auc/{head}/{name}/h{k}", heads[f"{head}_auc"][k - 1], global_step)
        with open(f"{run_dir}/heldout_{iteration}.json", "w") as file:
            json.dump({"iteration": iteration, "games": report}, file, allow_nan=True)
        summary = {n: (round(h["score_auc"][-1], 3), round(h["death_auc"][-1], 3)) for n, h in report.items()}
        print(f"iteration {iteration} trained: held-out AUC (score, death) at h{args.horizon}: {summary}", flush=True)
        iteration, collected, update = iteration + 1, False, 0
        save_checkpoint(None)

    # --- evaluation --- (one planner episode in each of eval_episodes envs per game)
    if args.eval_episodes:
        eval_envs = make_envs(args, env_kwargs, len(game_names) * args.eval_episodes)
        eval_base = eval_envs.unwrapped
        eval_games = np.asarray(eval_base.env_task_ids)
        planner = Planner(
            eval_base.action_masks[eval_games],
            planner_thresholds(args, game_names, eval_games),
            args.num_sequences,
            args.horizon,
            np.random.default_rng([args.seed, 0, 3]),
        )
        start_time = time.time()
        # Every episode ends within the emulator's frame cap, so this many steps always suffice.
        max_steps = int(eval_base.emulator_settings["max_episode_frames"]) + 1
        seed = args.seed * 1000 + 999
        _, episodes = play(eval_envs, max_steps, seed, model, planner, args, device, "evaluation", record=False)
        finished: dict[int, float] = {}
        for episode in episodes:
            finished.setdefault(episode.env, episode.ret)  # the first episode of every env
        eval_envs.close()
        for game, name in enumerate(game_names):
            values = [ret for i, ret in finished.items() if eval_games[i] == game]
            writer.add_scalar(f"eval/episodic_return/{name}", np.mean(values), global_step)
        results = {
            name: [ret for i, ret in sorted(finished.items()) if eval_games[i] == game]
            for game, name in enumerate(game_names)
        }
        with open(f"{run_dir}/eval_returns.json", "w") as file:
            json.dump(results, file)
        print(f"evaluation ({time.time() - start_time:.0f} s): planner returns {results}", flush=True)

    if args.save_model:
        torch.save(model.state_dict(), f"{run_dir}/{args.exp_name}.pt")
    envs.close()
    writer.close()
    update_writer.close()
    print(f"Done: {global_step} env steps, {total_updates} updates; TensorBoard logs in {run_dir}")


if __name__ == "__main__":
    try:
        main(tyro.cli(Args))
    except BadArgument as error:
        print(f"prl.py: error: {error}", file=sys.stderr)
        sys.exit(2)
