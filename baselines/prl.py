"""Predictive Reinforcement Learning (Mujika 2016) on the multi-game Atari envs.

One model, never told which game it plays, learns from play data to predict, for a sequence of
future controls, whether the score will be higher and whether the agent will have died:

    h_0       = Perception(last 4 frames)                      residual CNN -> 100-d state
    h_{k}     = h_{k-1} + Delta_k,  Delta_k = s * LN(f([LN(h_{k-1}), c_k]))   residual recurrent net
    p_k       = sigmoid(Valuation(h_k)) = (P(score higher than at the start), P(died since the start))
    loss      = binary cross-entropy of p_k, k = 1..horizon

c_k = (fire, horizontal, vertical) of the ALE action. Iteration 1 plays uniformly at random; each
later iteration plays with the planner (random shooting over action sequences with the current
model) and adds its data; training always continues the previous model. docs/prl.md gives the choices
where the paper is illegible, and the results.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.tensorboard import SummaryWriter

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.atari.suites import all_game_names
from mtenvs.train import checkpoint, cli, progress, run
from mtenvs.train.metrics import roc_auc
from mtenvs.train.writer import open_writer
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector

SCRIPT = "prl.py"
FIRE = 1  # ALE action id of FIRE
# (fire, horizontal, vertical) of ALE's 18 actions, in ALE order: NOOP, FIRE, UP, RIGHT, LEFT, DOWN,
# UPRIGHT, UPLEFT, DOWNRIGHT, DOWNLEFT, then the same eight moves with FIRE.
CONTROLS = torch.tensor([
    [0, 0, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0], [0, -1, 0], [0, 0, -1], [0, 1, 1], [0, -1, 1], [0, 1, -1], [0, -1, -1],
    [1, 0, 1], [1, 1, 0], [1, -1, 0], [1, 0, -1], [1, 1, 1], [1, -1, 1], [1, 1, -1], [1, -1, -1],
], dtype=torch.float32)  # fmt: skip


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
    """path of a checkpoint.pt to continue with its own arguments (only the run-time flags and the budget may change)"""
    progress_interval: float = 30.0
    """seconds between progress lines"""

    env_id: str = "MultiAtari-PRL-v0"
    """the id of an mtenvs MultiAtari env (one game per task)"""
    preset: str = "nature"
    """emulator protocol: "nature" (no sticky actions, as the paper ran) or "machado" (sticky 0.25)"""
    env_kwargs: str = "{}"
    """JSON dict of extra keyword arguments for gym.make_vec (e.g. '{"max_episode_frames": 18000}')"""
    total_timesteps: int | None = None
    """env steps of all games, split equally over the iterations (None: 60k; with --resume, the checkpoint's)"""
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
    eval_episodes: int = 10
    """planner episodes per game after the last iteration, and as many uniformly random ones on the same seeds, the
    reference (0 disables)"""


FAMILY_DEFAULTS = {"atari": {"total_timesteps": 60_000}}
GAME_LISTS = ("safest_only_games", "fire_after_life_loss_games")
ARG_RULES = (
    cli.integer(["num_iterations", "num_envs", "horizon", "state_size", "updates_per_iteration"], 1),
    cli.integer(["batch_size", "num_sequences"], 1),
    cli.integer(["eval_episodes"], 0),
    cli.number(["heldout_fraction"], 0.0, 0.5, open_low=True),
    cli.number(["learning_rate", "lr_stage_factor", "lr_halve_fraction"], 0.0, 1.0, open_low=True),
    cli.number(["weight_decay", "death_threshold"], 0.0, 1.0),
    cli.number(["delta_std", "grad_clamp"], 0.0, open_low=True),
    cli.number(["weight_growth"], 1.0),
    cli.choice(["preset"], ("nature", "machado")),
    cli.Rule(GAME_LISTS, lambda games: all(g in all_game_names() for g in games), "ALE game names, e.g. 'Breakout'"),
)
# --env-kwargs keys the script sets itself.
RESERVED = {"preset": "--preset", "num_envs": "--num-envs", "task_assignment": "grouped",
            "autoreset_mode": "SameStep", "stack_size": "4 frames"}  # fmt: skip
SCHEMA = {
    "script": SCRIPT, "args": dict, "run_name": str, "iteration": int, "collected": bool, "update": int,
    "global_step": int, "total_updates": int, "model": dict, "optimizer": dict, "train_rng": (dict, type(None)),
}  # fmt: skip


def steps_per_env(args: Args) -> int:
    """Steps of every env in one iteration's play; an error when they cannot hold training and held-out windows."""
    steps = args.total_timesteps // args.num_iterations // args.num_envs
    heldout = int(steps * args.heldout_fraction)
    if heldout < args.horizon or steps - heldout < 2 * args.horizon:
        raise cli.BadArgument(
            f"--total-timesteps={args.total_timesteps} gives {steps} steps per env per iteration ({heldout} held out); "
            f"need >= --horizon ({args.horizon}) held-out and >= 2 * --horizon training steps per env: raise "
            "--total-timesteps or --heldout-fraction, or lower --horizon or --num-envs."
        )
    return steps


def make_envs(args: Args, env_kwargs: dict, num_envs: int) -> gym.vector.VectorEnv:
    """Grouped MultiAtari vector env (one game per sub-env, equal groups) with per-game episode stats."""
    # SameStep autoreset: every step is a real transition; the next obs starts the new episode.
    settings = {"num_envs": num_envs, "task_assignment": "grouped", "preset": args.preset, "autoreset_mode": "SameStep"}
    envs = cli.build_env(lambda: gym.make_vec(args.env_id, **settings, **env_kwargs), args.env_id, env_kwargs)
    games = envs.unwrapped.num_tasks
    if num_envs % games:
        envs.close()
        raise cli.BadArgument(f"--num-envs {num_envs} must be a multiple of the {games} games of {args.env_id}.")
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
            ResidualBlock(64), ResidualBlock(64),
            nn.Conv2d(64, 64, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.Flatten(),
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

    def forward(self, h: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        """States h_1..h_K, shape (batch, K, state), from h_0 (batch, state) and controls (batch, K, 3). Every Delta
        has mean 0 and standard deviation delta_std over the units, whatever f's weights."""
        states = []
        for k in range(controls.shape[1]):
            raw = self.f(torch.cat([self.norm(h), controls[:, k]], dim=-1))
            h = h + self.delta_std * F.layer_norm(raw, raw.shape[-1:])
            states.append(h)
        return torch.stack(states, dim=1)


class PredictiveModel(nn.Module):
    """Perception -> Prediction -> Valuation; logits of (score up, died) at every unrolled step."""

    def __init__(self, obs_shape: tuple[int, int, int], state_size: int, delta_std: float):
        super().__init__()
        self.perception = Perception(obs_shape, state_size)
        self.prediction = Prediction(state_size, delta_std)
        # Valuation: LN -> Linear + ReLU -> Linear, logits of (score higher than at the start, died since the start).
        self.valuation = nn.Sequential(
            nn.LayerNorm(state_size), nn.Linear(state_size, 100), nn.ReLU(), nn.Linear(100, 2)
        )

    def unroll(self, h0: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        """Logits (batch, K, 2) of the valuation heads after each of the K controls."""
        return self.valuation(self.prediction(h0, controls))

    def forward(self, frames: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        return self.unroll(self.perception(frames), controls)


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
    died: np.ndarray  # bool (T, E): step t was a death (death_labels: a lost life, or a lost point without lives)
    truncated: np.ndarray  # bool (T, E): step t ended the episode without a death (frame cap, a game won or timed out)
    episode_start: np.ndarray  # int64 (T, E): index of the first step of t's episode

    @classmethod
    def zeros(cls, steps: int, envs: int, height: int, width: int) -> PlayData:
        frames = np.zeros((steps, envs, height, width), np.uint8)
        return cls(frames, *(np.zeros((steps, envs), dtype) for dtype in (np.int64, np.float32, bool, bool, np.int64)))

    def save(self, path: Path) -> None:
        """A torch file of tensors, written atomically; load reads it back verified."""
        checkpoint.save(path, {"script": SCRIPT} | {key: torch.from_numpy(value) for key, value in vars(self).items()})

    @classmethod
    def load(cls, path: Path, flag: str = "--resume: play data") -> PlayData:
        """The play data in path, after checking its CRCs, its fields and their dtypes and shapes."""
        schema = {"script": SCRIPT} | dict.fromkeys(cls.__dataclass_fields__, checkpoint.TENSOR)
        stored = checkpoint.load(path, flag, schema, f"play data of {SCRIPT}")
        data = cls(**{key: stored[key].numpy() for key in cls.__dataclass_fields__})
        for key, value in vars(data).items():
            expected = getattr(cls.zeros(1, 1, 1, 1), key)
            if value.dtype != expected.dtype or value.ndim != expected.ndim or value.shape[:2] != data.frames.shape[:2]:
                raise cli.BadArgument(f"{flag} {path}: its {key} is {value.dtype} {tuple(value.shape)}, not play data.")
        return data


def frame_stacks(data: PlayData, steps: np.ndarray, envs: np.ndarray, stack: int) -> np.ndarray:
    """The stacked observations at (steps, envs): the last `stack` frames, zeros before the episode start."""
    index = steps[:, None] + np.arange(-stack + 1, 1)[None, :]
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
    pairs = []
    for steps in (np.arange(0, split - horizon + 1), np.arange(split, num_steps - horizon + 1)):
        grid_steps, grid_envs = np.meshgrid(steps, np.arange(num_envs), indexing="ij")
        pairs.append((grid_steps.ravel(), grid_envs.ravel()))
    return pairs[0], pairs[1]


def iteration_weights(num_iterations: int, growth: float) -> np.ndarray:
    """Sampling weight of each iteration's data: multiplied by `growth` every three iterations."""
    return growth ** (np.arange(num_iterations) // 3)


def sample_batch(datasets, starts, weights, batch_size, horizon, stack, rng) -> dict[str, torch.Tensor]:
    """A batch of windows from the train starts of each iteration's data, drawn in proportion to its weight."""
    sizes = np.array([len(s[0]) for s in starts], dtype=np.float64)
    iterations = rng.choice(len(datasets), size=batch_size, p=sizes * weights / (sizes * weights).sum())
    parts = []
    for i in np.unique(iterations):
        count = int((iterations == i).sum())
        pick = rng.integers(len(starts[i][0]), size=count)
        parts.append(make_batch(datasets[i], starts[i][0][pick], starts[i][1][pick], horizon, stack))
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


def make_batch(data: PlayData, steps: np.ndarray, envs: np.ndarray, horizon: int, stack: int) -> dict:
    """The windows starting at (steps, envs) as the model takes them, with their targets and loss mask."""
    targets, mask, actions = window_targets(data, steps, envs, horizon)
    return {
        "frames": torch.as_tensor(frame_stacks(data, steps, envs, stack)),
        "controls": encode_actions(torch.as_tensor(actions)),
        "targets": torch.as_tensor(targets),
        "mask": torch.as_tensor(mask),
    }


def prediction_losses(model: PredictiveModel, batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
    """Masked binary cross-entropy of each head, averaged over the batch and the horizon."""
    logits = model(batch["frames"].to(device), batch["controls"].to(device))
    mask = batch["mask"].to(device)
    bce = F.binary_cross_entropy_with_logits(logits, batch["targets"].to(device), reduction="none") * mask
    per_head = bce.sum(dim=(0, 1)) / mask.sum(dim=(0, 1)).clamp(min=1.0)
    return {"score_loss": per_head[0], "death_loss": per_head[1], "loss": per_head.sum()}


def train_step(model: PredictiveModel, optimizer, batch: dict, grad_clamp: float, device) -> dict[str, float]:
    """One Adam step with element-wise gradient clamping."""
    model.train()
    losses = prediction_losses(model, batch, device)
    optimizer.zero_grad()
    losses["loss"].backward()
    nn.utils.clip_grad_value_(model.parameters(), grad_clamp)
    optimizer.step()
    return {key: value.item() for key, value in losses.items()}


def learning_rate(args: Args, iteration: int, update: int) -> float:
    """The paper's schedule, scaled: lower after each third of the iterations, halved inside each iteration."""
    stage = min(2, (iteration - 1) * 3 // args.num_iterations)
    lr = args.learning_rate * args.lr_stage_factor**stage
    return lr * 0.5 if update >= args.lr_halve_fraction * args.updates_per_iteration else lr


@torch.no_grad()
def heldout_report(model, data, starts, env_games, game_names, horizon, stack, device, max_windows=4096) -> dict:
    """Per game and head, at every horizon step: AUC, mean prediction and observed frequency over the windows."""
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
    return torch.where(feasible.any(dim=1), best_score, p_death.argmin(dim=1))  # else the safest


class Planner:
    """Random shooting: N uniformly random action sequences of the game's valid actions plus the
    previous step's best (shifted by one step), scored by the model in one batch for all envs."""

    def __init__(self, action_masks: np.ndarray, thresholds: np.ndarray, num_sequences: int, horizon: int, rng):
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
        h0 = model.perception(torch.as_tensor(frames, device=device)).repeat_interleave(count, dim=0)
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


def make_planner(args: Args, envs, rng: np.random.Generator) -> Planner:
    """The planner of envs; its death threshold is 0 (always the safest sequence) in the safest-only games."""
    base = envs.unwrapped
    per_game = np.array([0.0 if name in args.safest_only_games else args.death_threshold for name in base.task_names])
    games = np.asarray(base.env_task_ids)
    return Planner(base.action_masks[games], per_game[games], args.num_sequences, args.horizon, rng)


def death_labels(
    terminations: np.ndarray, life_lost: np.ndarray, rewards: np.ndarray, has_lives: np.ndarray
) -> np.ndarray:
    """Which env steps are deaths (the paper: d = 1 "if we die"). In a game with lives (Breakout, DemonAttack) a
    death is a lost life, the last one included (its game over); in a game without (Pong) it is a lost point, a
    negative reward. A game that ends otherwise (Pong's winning 21st point, Boxing's or Tennis' clock running out,
    the frame cap) is no death, nor is a negative reward in a game with lives."""
    return np.where(has_lives, life_lost | terminations, rewards < 0)


# --- rollout ---
def play(envs, num_steps, seed, model, planner, args, device, meter, label, writer=None, first_step=0, record=True):
    """Play num_steps steps in every env (uniformly at random without a planner); return the play data (None unless
    record: evaluation stops when every env has finished an episode) and every finished episode's (env, return).
    With a writer, every finished episode is logged at its env step (first_step + the steps of all envs)."""
    num_envs, game_names = envs.num_envs, list(envs.unwrapped.task_names)
    fire_games = np.array([name in args.fire_after_life_loss_games for name in game_names])[envs.unwrapped.env_task_ids]
    rng = np.random.default_rng(seed)
    obs, infos = envs.reset(seed=seed)
    data = PlayData.zeros(num_steps if record else 1, num_envs, *obs.shape[2:])  # without record: one scratch row
    episodes: list[tuple[int, float]] = []
    lives = infos["lives"].copy()
    has_lives = lives > 0  # each env plays one game (grouped tasks); ALE reports 0 lives for games without
    needs_fire = fire_games.copy()  # the first step of an episode and the step after a lost life
    episode_start = np.zeros(num_envs, np.int64)
    for step in range(num_steps):
        t = step if record else 0
        data.frames[t] = obs[:, -1]
        data.episode_start[t] = episode_start
        if planner is None:  # a uniformly random valid action per env
            actions = np.array([rng.choice(np.flatnonzero(mask)) for mask in infos["action_mask"]])
        else:
            actions = planner.act(model, obs, device)
        actions = np.where(needs_fire, FIRE, actions)
        obs, rewards, terminations, truncations, infos = envs.step(actions)
        ended = terminations | truncations
        # With same-step autoreset, infos["lives"] of an ended env is already the new episode's.
        life_lost = (infos["lives"] < lives) & ~ended
        data.actions[t], data.rewards[t] = actions, rewards
        data.died[t] = death_labels(terminations, life_lost, rewards, has_lives)
        data.truncated[t] = ended & ~data.died[t]  # the window's later targets belong to the next episode
        needs_fire = fire_games & (ended | life_lost)
        lives = infos["lives"].copy()
        episode_start[ended] = step + 1
        if planner is not None and ended.any():
            planner.reset(np.flatnonzero(ended))
        env_step = first_step + (step + 1) * num_envs if record else first_step
        if writer is not None:
            no_paths = np.full(num_envs, np.nan)  # Atari has no TwoRooms-style normalised score
            progress.log_finished_episodes(writer, infos, terminations, no_paths, game_names, env_step, meter)
        if "episode" in infos:
            episodes += [(int(i), float(infos["episode"]["r"][i])) for i in np.flatnonzero(infos["_episode"])]
        if meter.due():
            meter.print(env_step, f" ({label}: step {step + 1}/{num_steps} per env)")
        if not record and len({env for env, _ in episodes}) == num_envs:
            break
    return (data if record else None), episodes


def main(args: Args) -> None:
    saved = checkpoint.load(args.resume, "--resume", SCHEMA, f"a checkpoint of {SCRIPT}") if args.resume else None
    args = cli.resume_args(args, saved["args"], saved["global_step"]) if saved else args
    cli.check_rules(args, cli.COMMON_RULES + ARG_RULES)
    args = cli.apply_family_defaults(args, FAMILY_DEFAULTS, SCRIPT)
    env_kwargs = cli.parse_env_kwargs(args.env_kwargs, RESERVED)
    steps = steps_per_env(args)
    run_name = saved["run_name"] if saved else run.new_run_name(args.env_id, args.exp_name, args.seed)
    # Where the run is: current iteration, whether its play data is saved, updates done in its training phase.
    iteration, collected, update, global_step, total_updates, train_rng_state = 1, False, 0, 0, 0, None
    if saved:
        iteration, collected, update = saved["iteration"], saved["collected"], saved["update"]
        global_step, total_updates, train_rng_state = saved["global_step"], saved["total_updates"], saved["train_rng"]
    played = range(1, iteration + (1 if collected else 0))  # the iterations whose play data is saved: verified first
    datasets = [PlayData.load(run.run_dir(run_name) / f"data_{i}.pt") for i in played]

    run.seed_everything(args.seed, torch_deterministic=False)
    device = run.choose_device(args.cuda, args.torch_threads)
    envs = make_envs(args, env_kwargs, args.num_envs)
    game_names, env_games = list(envs.unwrapped.task_names), np.asarray(envs.unwrapped.env_task_ids)
    obs_shape = envs.single_observation_space.shape
    stack, per_step = obs_shape[0], obs_shape[1] * obs_shape[2] + 22  # frame and other PlayData fields, kept in memory
    cli.require_memory(args.total_timesteps * per_step, f"--total-timesteps (play data, {per_step} bytes per env step)")
    run_path = run.run_dir(run_name)

    model = PredictiveModel(obs_shape, args.state_size, args.delta_std).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    if saved:
        checkpoint.load_state(model, saved["model"], "--resume", args.resume, "model")
        checkpoint.load_state(optimizer, saved["optimizer"], "--resume", args.resume, "optimizer state")
        print(f"Resumed {run_name}: iteration {iteration}, {f'training update {update}' if collected else 'play'}.")

    # Env-step metrics on global_step; training curves on the update count, in their own writer.
    writer = open_writer(args, run_name, run_path, envs, global_step if saved else None)
    update_writer = SummaryWriter(str(run_path / "updates"), purge_step=total_updates + 1 if saved else None)
    meter = progress.Progress(args.progress_interval, args.total_timesteps, global_step)

    def save_checkpoint(rng_state: dict | None) -> None:
        checkpoint.save(run_path / "checkpoint.pt", {
            "script": SCRIPT, "args": vars(args) | {"resume": None}, "run_name": run_name, "iteration": iteration,
            "collected": collected, "update": update, "global_step": global_step, "total_updates": total_updates,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "train_rng": rng_state,
        })  # fmt: skip

    while iteration <= args.num_iterations:
        # --- rollout --- (iteration 1: uniformly random play; later: the planner with the current model)
        if not collected:
            planner_rng = np.random.default_rng([args.seed, iteration, 1])
            planner = make_planner(args, envs, planner_rng) if iteration > 1 else None
            start_time = time.time()
            seed, label = args.seed * 1000 + iteration, f"iteration {iteration} play"
            data, episodes = play(envs, steps, seed, model, planner, args, device, meter, label, writer, global_step)
            global_step += steps * args.num_envs
            writer.add_scalar("charts/SPS", int(steps * args.num_envs / (time.time() - start_time)), global_step)
            means = {}
            for game, name in enumerate(game_names):
                values = [ret for env, ret in episodes if env_games[env] == game]
                if values:
                    means[name] = round(float(np.mean(values)), 2)
                    writer.add_scalar(f"iteration/episodic_return/{name}", np.mean(values), global_step)
                    writer.add_scalar(f"iteration/episodes/{name}", len(values), global_step)
            print(f"iteration {iteration} play done: step {global_step}, mean returns {means}", flush=True)
            data.save(run_path / f"data_{iteration}.pt")
            datasets.append(data)
            collected, update = True, 0
            save_checkpoint(None)

        # --- loss / update --- (continue the previous model on all data, recent iterations weighted up)
        splits = [window_starts(*d.frames.shape[:2], args.horizon, args.heldout_fraction) for d in datasets]
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
            batch = sample_batch(datasets, [s[0] for s in splits], weights, args.batch_size, args.horizon, stack, rng)
            losses = train_step(model, optimizer, batch, args.grad_clamp, device)
            update += 1
            total_updates += 1
            if update % 10 == 0 or update == args.updates_per_iteration:
                for key, value in losses.items():
                    update_writer.add_scalar(f"losses/{key}", value, total_updates)
                update_writer.add_scalar("charts/learning_rate", lr, total_updates)
            if meter.due():
                ups = (update - start_update) / (time.time() - start_time)
                done = f"update {update}/{args.updates_per_iteration}, loss {losses['loss']:.4f}, {ups:.1f} updates/s"
                meter.print(global_step, f" (iteration {iteration} train: {done})")
            at_interval = args.checkpoint_interval and update % args.checkpoint_interval == 0
            if at_interval and update < args.updates_per_iteration:  # the iteration's end saves one anyway
                save_checkpoint(rng.bit_generator.state)
        ups = (update - start_update) / max(time.time() - start_time, 1e-9)
        writer.add_scalar("charts/updates_per_second", ups, global_step)

        # --- logging --- (held-out AUC of each head, per game, at horizon steps 1, 5, 10, ..., horizon)
        report = heldout_report(model, datasets[-1], splits[-1][1], env_games, game_names, args.horizon, stack, device)
        for name, heads in report.items():
            for head in ("score", "death"):
                for k in sorted({1, *range(5, args.horizon + 1, 5), args.horizon}):
                    if np.isfinite(heads[f"{head}_auc"][k - 1]):
                        writer.add_scalar(f"auc/{head}/{name}/h{k}", heads[f"{head}_auc"][k - 1], global_step)
        with open(run_path / f"heldout_{iteration}.json", "w") as file:
            json.dump({"iteration": iteration, "games": report}, file, allow_nan=True)
        summary = {n: (round(h["score_auc"][-1], 3), round(h["death_auc"][-1], 3)) for n, h in report.items()}
        print(f"iteration {iteration} trained: held-out AUC (score, death) at h{args.horizon}: {summary}", flush=True)
        iteration, collected, update = iteration + 1, False, 0
        save_checkpoint(None)

    # --- evaluation --- (one planner episode in each of eval_episodes envs per game, then one random episode in
    # each on the same seeds: the planner is judged against random play over as many episodes)
    if args.eval_episodes:
        eval_envs = make_envs(args, env_kwargs, len(game_names) * args.eval_episodes)
        eval_games = np.asarray(eval_envs.unwrapped.env_task_ids)
        planner = make_planner(args, eval_envs, np.random.default_rng([args.seed, 0, 3]))
        # Every episode ends within the emulator's frame cap, so this many steps always suffice.
        max_steps, seed = int(eval_envs.unwrapped.emulator_settings["max_episode_frames"]) + 1, args.seed * 1000 + 999
        start_time = time.time()
        results = {}
        for policy, acting in (("planner", planner), ("random", None)):
            _, episodes = play(eval_envs, max_steps, seed, model, acting, args, device, meter, "evaluation",
                               first_step=global_step, record=False)  # fmt: skip
            first = dict(reversed(episodes))  # env -> return of its first episode (the first is written last)
            results[policy] = {
                name: [first[i] for i in sorted(first) if eval_games[i] == g] for g, name in enumerate(game_names)
            }
        eval_envs.close()
        for name in game_names:
            writer.add_scalar(f"eval/episodic_return/{name}", np.mean(results["planner"][name]), global_step)
            writer.add_scalar(f"eval/random_return/{name}", np.mean(results["random"][name]), global_step)
        with open(run_path / "eval_returns.json", "w") as file:
            json.dump(results, file)
        print(f"evaluation ({time.time() - start_time:.0f} s): returns {results}", flush=True)

    if args.save_model:
        checkpoint.save(run_path / f"{args.exp_name}.pt", model.state_dict())
    envs.close()
    writer.close()
    update_writer.close()
    print(f"Done: {global_step} env steps, {total_updates} updates; TensorBoard logs in {run_path}")


if __name__ == "__main__":
    cli.run(main, Args, SCRIPT)
