"""What the DQN-family scripts share besides the network (:mod:`~mtenvs.train.dqn_format`) and the replay
(:mod:`~mtenvs.train.replay`): the exploration schedule, masked epsilon-greedy actions, Nature DQN's
optimiser, and for the scripts with one env per task in a grouped vector env (mdqn.py, mcdqn.py,
actor_mimic.py) their flags and rules, the envs, the per-task episode logging and the per-task evaluation.

The loss, the targets and what the network is stay in each script.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from mtenvs.registration import env_family
from mtenvs.train import cli, progress
from mtenvs.train.args import TorchRunArgs
from mtenvs.train.cli import BadArgument, build_env
from mtenvs.train.observations import ObservationLayout
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector

# Keys of --env-kwargs that only the vector entry point takes (the single env that counts the tasks gets the rest).
VECTOR_ONLY_KWARGS = ("vectorization",)
MAX_WIDTH = 4096


def _widths(value: Any) -> bool:
    return (
        isinstance(value, (tuple, list)) and len(value) > 0
        and all(isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= MAX_WIDTH for w in value)
    )  # fmt: skip


HIDDEN_SIZES_RULE = cli.Rule(("hidden_sizes",), _widths, f"one or more integer widths in [1, {MAX_WIDTH}]")


@dataclass
class TaskEnvArgs(TorchRunArgs):
    """The flags of the scripts that train on every task at once, one env per task (mdqn.py, mcdqn.py,
    actor_mimic.py); each script's ``Args`` adds its algorithm's. The defaults left at None come from the
    script's FAMILY_DEFAULTS (printed at start; docs/actor_mimic.md)."""

    checkpoint_interval: int = 20_000
    """save runs/{run_name}/checkpoint.pt every this many env steps (0 disables)"""
    checkpoint_replay: bool = True
    """if toggled, checkpoint.pt also holds the replay memories (GBs for pixels: --no-checkpoint-replay there; a resumed
    run then refills them for `learning_starts` steps before training again)"""
    env_id: str = "MultiControl-v0"
    """the id of a multi-task mtenvs environment (families: atari, miniworld, control, tworooms)"""
    env_kwargs: str = "{}"
    """JSON dict of extra keyword arguments for gym.make_vec (e.g. '{"tasks": ["CartPole", "Acrobot"]}')"""
    total_timesteps: int | None = None
    """total env steps over all tasks (one env per task, so every task gets total_timesteps / num_tasks);
    None: 100k; with --resume, the checkpoint's budget"""
    optimizer: str | None = None
    """the optimiser (default per env family)"""
    learning_rate: float | None = None
    """optimiser step size (default per env family: 2.5e-4 for atari and miniworld; 1e-3 otherwise)"""
    buffer_size: int | None = None
    """replay entries kept per task (default per env family)"""
    batch_size: int | None = None
    """entries drawn from every task's memory per update (default per env family)"""
    learning_starts: int | None = None
    """env steps per task before the first update (default per env family)"""
    train_frequency: int | None = None
    """env steps per task between updates (default per env family: 4 for atari and miniworld; 1 otherwise)"""
    hidden_sizes: tuple[int, ...] = (80, 80, 80)
    """MLP torso widths for vector observations"""
    eval_interval: int = 25_000
    """evaluate every this many env steps (0: only at the end)"""
    eval_episodes: int = 10
    """evaluation episodes per task (0 disables evaluation)"""
    eval_epsilon: float | None = None
    """exploration rate during evaluation (default per env family: 0.05 for atari and miniworld; 0 otherwise)"""


TASK_ENV_RULES = (
    cli.integer(["buffer_size", "batch_size", "train_frequency"], 1),
    cli.integer(["learning_starts", "eval_interval", "eval_episodes"], 0),
    cli.number(["learning_rate"], 0.0, open_low=True),
    cli.number(["eval_epsilon"], 0.0, 1.0),
    HIDDEN_SIZES_RULE,
)
TASK_ENV_RESERVED = {"num_envs": "one env per task, times --eval-episodes to evaluate", "task_assignment": "'grouped'"}


def linear_schedule(start_e: float, end_e: float, duration: int, t: int) -> float:
    """Epsilon falling linearly from ``start_e`` to ``end_e`` over ``duration`` steps, then constant."""
    return max(start_e + (end_e - start_e) * t / duration, end_e)


def task_input_of(requested: bool | None, layout: ObservationLayout) -> bool:
    """Whether a network shared by every task reads the one-hot task id: as ``requested`` (``--task-input``), by
    default for vector observations (MultiControl pads every task's state to one vector, so MountainCar's and
    Car-on-Hill's (x, v, 0, 0, 0, 0) look alike) and never for pixels (the papers' Atari games differ in their
    pixels; the paper's networks read no task id)."""
    if requested is None:
        return not layout.image
    if requested and layout.image:
        raise BadArgument("--task-input needs vector observations; this env gives images, which show their task.")
    return requested


def exploration_epsilon(
    start_e: float, end_e: float, duration: int, step: int, learning_starts: int, family: str
) -> float:
    """The epsilon of ``step``. On Atari it starts falling when learning starts, as in DeepMind's DQN code and
    the Actor-Mimic authors' (docs/references.md); elsewhere at step 0, as CleanRL's and D'Eramo et al.'s."""
    delay = learning_starts if family == "atari" else 0
    return linear_schedule(start_e, end_e, duration, max(step - delay, 0))


def life_loss_is_terminal(env_id: str, env_kwargs: Mapping[str, Any]) -> bool:
    """Whether a lost life ends the *training* episode: MultiAtari with the ``nature`` preset, as Nature DQN's and
    the Actor-Mimic authors' code do (the game goes on; only the stored transition is terminal). Machado et al.'s
    protocol (the ``machado`` preset, MultiAtari's default) ends episodes at game over only."""
    if env_family(env_id) != "atari":
        return False
    from mtenvs.atari.env import MultiAtariEnv  # ale-py only where Atari is used

    default = inspect.signature(MultiAtariEnv).parameters["preset"].default
    return {**gym.spec(env_id).kwargs, **env_kwargs}.get("preset", default) == "nature"


def training_terminations(terminations: Any, lives: Any, previous_lives: Any, life_loss: bool) -> np.ndarray:
    """The terminal flags stored for training: the env's, or'ed, when ``life_loss`` (:func:`life_loss_is_terminal`),
    with a drop of ``info["lives"]`` since the previous step. Scalars for one env, arrays for a vector env; an
    autoreset step (lives back up) is no loss."""
    if not life_loss:
        return np.asarray(terminations, dtype=bool)
    return np.logical_or(terminations, np.asarray(lives) < np.asarray(previous_lives))


def masked_epsilon_greedy(q_values: torch.Tensor, masks: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Per row: with probability ``epsilon`` a uniform valid action, else the valid action of highest value.

    Draws ``torch.rand(masks.shape)`` then ``torch.rand(rows)`` from torch's global RNG, every call."""
    greedy = q_values.masked_fill(~masks, float("-inf")).argmax(1)
    uniform = torch.rand(masks.shape, device=masks.device).masked_fill(~masks, -1.0).argmax(1)
    explore = torch.rand(len(q_values), device=masks.device) < epsilon
    return torch.where(explore, uniform, greedy)


def make_optimizer(name: str, parameters: Iterable[torch.nn.Parameter], learning_rate: float) -> torch.optim.Optimizer:
    """``"adam"`` (torch's) or ``"rmsprop"`` (Nature DQN's: centred, alpha 0.95, eps 0.01)."""
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=learning_rate, alpha=0.95, eps=0.01, centered=True)
    return torch.optim.Adam(parameters, lr=learning_rate)


def task_envs(
    env_id: str, env_kwargs: Mapping[str, Any], envs_per_task: int, algorithm: str
) -> tuple[gym.vector.VectorEnv, ObservationLayout]:
    """A grouped vector env with ``envs_per_task`` envs per task, in task order, with per-task episode statistics,
    and its observation layout; a one-line :class:`BadArgument` (naming ``algorithm``) for an env it cannot use."""
    single = {key: value for key, value in env_kwargs.items() if key not in VECTOR_ONLY_KWARGS}
    probe = build_env(lambda: gym.make(env_id, **single), env_id, env_kwargs)
    num_tasks = probe.unwrapped.num_tasks
    probe.close()
    envs = build_env(
        lambda: gym.make_vec(env_id, num_envs=num_tasks * envs_per_task, task_assignment="grouped", **env_kwargs),
        env_id, env_kwargs,
    )  # fmt: skip
    problem, layout = None, None
    if not isinstance(envs.single_action_space, spaces.Discrete):
        problem = f"has {envs.single_action_space}; {algorithm} needs a Discrete action space"
    else:
        try:
            layout = ObservationLayout.of(envs.single_observation_space)
        except ValueError as error:
            problem = f"gives observations {algorithm} cannot train on: {error}"
    if (
        problem is None
        and AutoresetMode(envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)) != AutoresetMode.NEXT_STEP
    ):
        problem = "does not autoreset on the next step (Gymnasium's default), which this script expects"
    if problem:
        envs.close()
        raise BadArgument(f"--env-id {env_id} {problem}.")
    return RecordTaskEpisodeStatisticsVector(envs), layout


def log_task_episodes(
    writer: Any, infos: dict[str, Any], task_names: Sequence[str], step: int, line: progress.Progress
) -> None:
    """Log the episodes a step of a grouped vector env finished: return overall and per task, length and Atari's
    human-normalised score per task; the returns also go to the progress line."""
    if "episode" not in infos:
        return
    episode = infos["episode"]
    for i in np.flatnonzero(infos["_episode"]):
        name, ret = task_names[episode["task_id"][i]], float(episode["r"][i])
        line.returns.append(ret)
        writer.add_scalar("charts/episodic_return", ret, step)
        writer.add_scalar(f"charts/episodic_return/{name}", ret, step)
        writer.add_scalar(f"charts/episodic_length/{name}", episode["l"][i], step)
        if np.isfinite(episode["hns"][i]):
            writer.add_scalar(f"charts/human_normalized_score/{name}", episode["hns"][i], step)


@torch.no_grad()
def evaluate_tasks(
    envs: gym.vector.VectorEnv, layout: ObservationLayout, q_values: Callable[[torch.Tensor, torch.Tensor], Any],
    masks: torch.Tensor, epsilon: float, seed: int, device: torch.device,
) -> np.ndarray:  # fmt: skip
    """Mean return per task of the first episode of every env of a :func:`task_envs` env, acting masked
    epsilon-greedy on ``q_values(obs, task_ids)`` (the network's outputs for each env's task)."""
    env_task_ids = np.asarray(envs.unwrapped.env_task_ids)
    task_ids = torch.as_tensor(env_task_ids, dtype=torch.long, device=device)

    def act(obs: np.ndarray, infos: dict[str, Any], first: bool) -> np.ndarray:
        outputs = q_values(layout.to_tensor(obs, device), task_ids)
        return masked_epsilon_greedy(outputs, masks[task_ids], epsilon).cpu().numpy()

    returns, _ = progress.evaluate_episodes(envs, act, seed)
    return progress.per_task_means(returns, env_task_ids, len(masks))


def log_evaluation(writer: Any, task_names: Sequence[str], returns: np.ndarray, step: int) -> None:
    """``eval/episodic_return/{task}`` and their mean ``eval/episodic_return``; one line."""
    for name, ret in zip(task_names, returns, strict=True):
        writer.add_scalar(f"eval/episodic_return/{name}", ret, step)
    writer.add_scalar("eval/episodic_return", returns.mean(), step)
    print(f"step {step}: eval return " + ", ".join(f"{n} {r:.1f}" for n, r in zip(task_names, returns, strict=True)))
