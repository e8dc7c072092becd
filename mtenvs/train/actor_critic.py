"""The synchronous n-step actor-critic plumbing of the Distral and A3C scripts.

All envs step together (A2C style) in a grouped multi-task vector env (task i's envs form one
contiguous, equal group); one update uses a rollout of ``num_steps`` steps of every env. The env side
of the rollout (stepping, Gymnasium's next-step autoreset, action masks, reward clipping) and the
n-step return live here; the network, the loss and the evaluation action rule stay in each script.

Gymnasium's next-step autoreset: the step after an episode ends only resets the env and ignores the
action. Such a step is recorded as an *autoreset step*: it gets no loss, is not counted as an env
step, and its value bootstraps the step before it (a truncated episode's final observation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from mtenvs.train import checkpoint
from mtenvs.train.args import TorchRunArgs
from mtenvs.train.cli import BadArgument, build_env, integer, number, require_memory
from mtenvs.train.networks import column_nbytes
from mtenvs.train.observations import ObservationLayout, action_mask_of
from mtenvs.train.progress import evaluate_episodes, log_evaluation, per_task_means, update_shortest_paths
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector


@dataclass
class ActorCriticArgs(TorchRunArgs):
    """The flags of the synchronous n-step actor-critic scripts: the env, the rollout, RMSProp, the network's width,
    evaluation. A script's ``Args`` subclasses this and adds its algorithm's own (Distral's alpha and beta, A3C's
    entropy cost); the fields left at ``None`` are filled by the script's defaults per env family."""

    checkpoint_interval: int = 20_000
    env_id: str = "TwoRooms-v0"
    """the id of a multi-task mtenvs environment (families: tworooms, atari, miniworld, control)"""
    env_kwargs: str = "{}"
    """JSON object of extra keyword arguments for gym.make_vec (e.g. '{"num_tasks": 2}')"""
    total_timesteps: int | None = None
    """total env steps, summed over all envs and tasks (None: the default per env family; with --resume, the
    checkpoint's budget)"""
    num_envs: int | None = None
    """number of parallel envs, split into equal groups per task (a multiple of the task count; default per env
    family)"""
    num_steps: int = 10
    """n of the n-step returns: steps per env per update"""
    learning_rate: float | None = None
    """RMSProp learning rate (default per env family)"""
    rmsprop_alpha: float = 0.99
    """RMSProp smoothing constant"""
    rmsprop_eps: float = 1e-5
    """RMSProp epsilon"""
    gamma: float | None = None
    """discount factor (default per env family)"""
    value_coef: float = 0.5
    """coefficient of the value loss"""
    max_grad_norm: float = 0.5
    """maximum gradient norm, clipped for each part of the network on its own (each column: tasks stay
    independent)"""
    hidden_size: int | None = None
    """width of the MLP torso (vector observations) or of the LSTM (pixel observations); default per env family"""
    clip_rewards: bool | None = None
    """sign-clip rewards (the Atari convention; default per env family); the env never clips"""
    anneal_lr: bool = False
    """if toggled, the learning rate falls linearly from --learning-rate to 0 over the budget (Mnih et al.'s A3C);
    off: constant (A2C's)"""
    eval_interval: int = 50_000
    """evaluate the policies every this many env steps (0 disables)"""
    eval_episodes: int = 8
    """evaluation episodes per task"""


# The rules of ActorCriticArgs' fields (a script adds its own fields' rules).
ARG_RULES = (
    integer(["num_steps", "hidden_size"], 1),
    integer(["num_envs"], 1, 2**16, " (the envs are built before the memory check)"),
    integer(["eval_episodes"], 1, 2**12, " (num_tasks * eval_episodes envs are built)"),
    integer(["eval_interval"], 0, note=" (0 disables)"),
    number(["learning_rate", "rmsprop_eps", "max_grad_norm"], 0.0, open_low=True),
    number(["value_coef"], 0.0),
    number(["gamma"], 0.0, 1.0, open_low=True),
    number(["rmsprop_alpha"], 0.0, 1.0, open_high=True),
)
# The env_kwargs keys the scripts set themselves.
RESERVED_ENV_KWARGS = {"num_envs": "--num-envs", "task_assignment": "grouped, always"}

# The defaults per env family that Distral's four scripts, the three A3C baselines and MA3C share, declared once:
# the algorithms are compared at equal settings (the paper's protocol), so only each algorithm's own coefficient
# (Distral's beta, A3C's entropy cost) is the script's. TwoRooms: tuned for a CPU budget. Pixel envs: Distral's
# settings (Teh et al. 2017: RMSProp, lr from {2e-4, 4e-4, 8e-4}, gamma 0.99, LSTM columns) with Atari's reward
# clipping. MultiControl (5 tasks with rewards in [-1, 1] per step and episodes of up to 500 steps): 60 envs (12 per
# task of its 5, 20 per task of GymTrio's 3), gamma 0.99 (the source discount of CartPole, Acrobot and MountainCar),
# A2C's learning rate 7e-4 and 64-unit tanh MLP (Stable-Baselines3's A2C defaults, which use these scripts' RMSProp
# constants), no clipping (the rewards are already in [-1, 1]) and 1M steps (200k per task).
FAMILY_DEFAULTS = {
    "tworooms": {"learning_rate": 8e-4, "gamma": 0.95, "hidden_size": 128, "clip_rewards": False, "num_envs": 64,
                 "total_timesteps": 300_000},
    "atari": {"learning_rate": 4e-4, "gamma": 0.99, "hidden_size": 256, "clip_rewards": True, "num_envs": 64,
              "total_timesteps": 300_000},
    "miniworld": {"learning_rate": 4e-4, "gamma": 0.99, "hidden_size": 256, "clip_rewards": False, "num_envs": 64,
                  "total_timesteps": 300_000},
    "control": {"learning_rate": 7e-4, "gamma": 0.99, "hidden_size": 64, "clip_rewards": False, "num_envs": 60,
                "total_timesteps": 1_000_000},
}  # fmt: skip


def family_defaults(families: Sequence[str] = tuple(FAMILY_DEFAULTS), **own: Any) -> dict[str, dict[str, Any]]:
    """A script's ``FAMILY_DEFAULTS``: the shared :data:`FAMILY_DEFAULTS` of ``families`` with the script's own
    defaults added (after the shared ones, or in place of one). Each keyword is a field's default: one value for
    every family, or a dict with one value per family (exactly ``families``)."""
    defaults = {}
    for family in families:
        defaults[family] = dict(FAMILY_DEFAULTS[family])
        for name, value in own.items():
            if isinstance(value, Mapping):
                if set(value) != set(families):
                    raise ValueError(f"{name}: one default per family of {list(families)}, got {sorted(value)}")
                value = value[family]
            defaults[family][name] = value
    return defaults


def anneal_learning_rate(optimizer: torch.optim.Optimizer, args: ActorCriticArgs, step: int) -> None:
    """With ``--anneal-lr``, set the rate of the update whose rollout began at env step ``step``: ``learning_rate *
    (1 - step / total_timesteps)``, Mnih et al.'s linear annealing to 0 (the first update at the full rate)."""
    if args.anneal_lr:
        for group in optimizer.param_groups:
            group["lr"] = args.learning_rate * max(0.0, 1.0 - step / args.total_timesteps)


def require_one_update(total_timesteps: int, num_envs: int, num_steps: int) -> None:
    """:class:`BadArgument` when the budget is less than one update (``num_envs * num_steps`` env steps)."""
    if total_timesteps < num_envs * num_steps:
        raise BadArgument(
            f"--total-timesteps {total_timesteps} is less than one update "
            f"(--num-envs * --num-steps = {num_envs * num_steps})."
        )


def make_grouped_envs(
    env_id: str, num_envs: int, env_kwargs: Mapping[str, Any], algorithm: str
) -> tuple[gym.vector.VectorEnv, ObservationLayout]:
    """``gym.make_vec(env_id, num_envs, task_assignment="grouped", **env_kwargs)`` with per-task episode statistics,
    and its observation layout; a clear :class:`BadArgument` (naming ``algorithm``) for envs it cannot train on."""
    envs = build_env(
        lambda: gym.make_vec(env_id, num_envs=num_envs, task_assignment="grouped", **env_kwargs), env_id, env_kwargs
    )
    base, problem, layout = envs.unwrapped, None, None
    if not hasattr(base, "task_names") or getattr(base, "env_task_ids", None) is None:
        problem = "has no multi-task contract (task_names, grouped env_task_ids)"
    elif num_envs % base.num_tasks:
        problem = f"has {base.num_tasks} tasks: --num-envs {num_envs} must be a multiple of it (equal groups)"
    elif not isinstance(envs.single_action_space, spaces.Discrete):
        problem = f"has {envs.single_action_space}; {algorithm} needs a Discrete action space"
    else:
        try:
            layout = ObservationLayout.of(envs.single_observation_space)
        except ValueError as error:
            problem = f"gives observations it cannot train on: {error}"
    autoreset = AutoresetMode(envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
    if problem is None and autoreset != AutoresetMode.NEXT_STEP:
        problem = "does not autoreset on the next step (Gymnasium's default), which this script expects"
    if problem:
        envs.close()
        raise BadArgument(f"{env_id} {problem}.")
    return RecordTaskEpisodeStatisticsVector(envs), layout


@dataclass
class Rollout:
    """One update's transitions, allocated once: entry [t, e] is step t of env e."""

    obs: torch.Tensor
    """(T, N, *obs_shape) the observation the agent acted on"""
    action_masks: torch.Tensor
    """(T, N, num_actions) bool: the actions valid in it (all where the env gives no mask)"""
    actions: torch.Tensor
    """(T, N) long: the action taken"""
    rewards: torch.Tensor
    """(T, N) the step's reward (sign-clipped when asked)"""
    dones: torch.Tensor
    """(T, N) 1.0 where the step terminated the episode (a truncation is not a termination)"""
    values: torch.Tensor
    """(T, N) the value of the observation, from the acting pass"""
    episode_starts: torch.Tensor
    """(T, N) 1.0 where the observation starts an episode (the LSTM state is reset)"""
    autoreset_steps: torch.Tensor
    """(T, N) bool: the step was an autoreset step (action ignored: no loss, not an env step)"""

    @classmethod
    def allocate(
        cls, num_steps: int, num_envs: int, obs_shape: tuple[int, ...], num_actions: int, device: torch.device
    ) -> Rollout:
        steps, long, flags = (num_steps, num_envs), torch.long, torch.bool
        return cls(
            obs=torch.zeros(steps + tuple(obs_shape), device=device),
            action_masks=torch.ones((*steps, num_actions), dtype=flags, device=device),
            actions=torch.zeros(steps, dtype=long, device=device),
            rewards=torch.zeros(steps, device=device),
            dones=torch.zeros(steps, device=device),
            values=torch.zeros(steps, device=device),
            episode_starts=torch.zeros(steps, device=device),
            autoreset_steps=torch.zeros(steps, dtype=flags, device=device),
        )

    @staticmethod
    def nbytes(num_steps: int, num_envs: int, obs_shape: tuple[int, ...], num_actions: int) -> int:
        """Bytes :meth:`allocate` takes (float32 observations, the rest per step and env)."""
        return num_steps * num_envs * (4 * int(np.prod(obs_shape)) + num_actions + 8 + 4 * 4 + 1)


def require_memory_for(
    num_columns: int, layout: ObservationLayout, num_actions: int, hidden: int, num_steps: int, num_envs: int
) -> None:
    """:class:`BadArgument` unless ``num_columns`` columns (parameters, gradients, RMSProp's state) and the
    rollout storage fit in the memory available, before either is allocated."""
    network = 3 * num_columns * column_nbytes(layout.shape, layout.image, num_actions, hidden)
    storage = Rollout.nbytes(num_steps, num_envs, layout.shape, num_actions)
    require_memory(network + storage, f"--hidden-size {hidden} with --num-envs {num_envs} and --num-steps {num_steps}")


class EnvStream:
    """The grouped envs as the rollout sees them: the next observation (a tensor), its action mask, whether it
    starts an episode and whether the next step is an autoreset step; the infos of the last step, its terminations
    and each env's shortest path (TwoRooms' normalised score).

    Made with ``envs.reset(seed=seed)``; :meth:`record` writes the next step's inputs into a :class:`Rollout`,
    :meth:`step` steps the envs and writes the step's reward and termination.
    """

    def __init__(self, envs: gym.vector.VectorEnv, layout: ObservationLayout, device: torch.device, seed: int):
        self.envs, self.layout, self.device = envs, layout, device
        self.num_envs, self.num_actions = envs.num_envs, envs.single_action_space.n
        obs, self.infos = envs.reset(seed=seed)
        self.obs = layout.to_tensor(obs, device)
        self.mask = action_mask_of(self.infos, self.num_envs, self.num_actions, device)
        self.episode_start = torch.ones(self.num_envs, device=device)
        self.autoreset = torch.zeros(self.num_envs, dtype=torch.bool, device=device)
        self.terminations = np.zeros(self.num_envs, dtype=bool)
        self.shortest_paths = np.full(self.num_envs, np.nan)  # optimal length of each env's episode (TwoRooms)
        update_shortest_paths(self.shortest_paths, self.infos)

    def record(self, rollout: Rollout, step: int) -> None:
        """Store the observation about to be acted on, its mask and flags as step ``step`` of ``rollout``."""
        rollout.obs[step], rollout.action_masks[step] = self.obs, self.mask
        rollout.episode_starts[step], rollout.autoreset_steps[step] = self.episode_start, self.autoreset

    def step(self, actions: torch.Tensor, rollout: Rollout, step: int, clip_rewards: bool) -> int:
        """Step every env; store the reward (sign-clipped with ``clip_rewards``) and termination as step ``step``;
        return the agent steps taken (the envs whose step was not an autoreset step)."""
        obs, reward, terminations, truncations, self.infos = self.envs.step(actions.cpu().numpy())
        agent_steps = int((~rollout.autoreset_steps[step]).sum())
        rollout.rewards[step] = torch.as_tensor(np.sign(reward) if clip_rewards else reward, device=self.device)
        rollout.dones[step] = torch.as_tensor(terminations, dtype=torch.float32, device=self.device)
        self.obs = self.layout.to_tensor(obs, self.device)
        self.mask = action_mask_of(self.infos, self.num_envs, self.num_actions, self.device)
        self.episode_start = self.autoreset.float()
        self.autoreset = torch.as_tensor(np.logical_or(terminations, truncations), device=self.device)
        self.terminations = terminations
        update_shortest_paths(self.shortest_paths, self.infos)
        return agent_steps


def n_step_returns(rewards: torch.Tensor, rollout: Rollout, next_value: torch.Tensor, gamma: float) -> torch.Tensor:
    """n-step returns of ``rewards`` (T, N), backwards from ``next_value`` (the value after the last step).

    A termination cuts the bootstrap; an autoreset step's return is its own value V(final observation),
    which bootstraps the step before it when that episode was truncated.
    """
    returns = torch.zeros_like(rewards)
    next_return = next_value
    for t in reversed(range(rewards.shape[0])):
        bootstrapped = rewards[t] + gamma * (1.0 - rollout.dones[t]) * next_return
        next_return = torch.where(rollout.autoreset_steps[t], rollout.values[t], bootstrapped)
        returns[t] = next_return
    return returns


def masked_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the valid entries (0 when there are none)."""
    return (x * valid).sum() / valid.sum().clamp(min=1)


def clone_state(state: Any) -> Any:
    """A copy of a recurrent state: ``None``, an (h, c) pair, or a list of those (one per network part)."""
    if isinstance(state, list):
        return [clone_state(part) for part in state]
    return None if state is None else (state[0].clone(), state[1].clone())


Choose = Callable[[torch.Tensor, Any, torch.Tensor, torch.Tensor], tuple[torch.Tensor, Any]]


def evaluation_act(
    envs: gym.vector.VectorEnv, layout: ObservationLayout, device: torch.device, initial_state: Any, choose: Choose
) -> Callable[[np.ndarray, dict[str, Any], bool], np.ndarray]:
    """The ``act`` of :func:`mtenvs.train.progress.evaluate_episodes` for a recurrent policy.

    ``choose(obs, state, episode_start, action_mask)`` is the script's evaluation action rule and returns
    the actions and the new state; the episodes start from ``initial_state``.
    """
    num_envs, num_actions = envs.num_envs, envs.single_action_space.n
    state = initial_state

    @torch.no_grad()
    def act(obs: np.ndarray, infos: dict[str, Any], first: bool) -> np.ndarray:
        nonlocal state
        if first:
            state = initial_state
        episode_start = (torch.ones if first else torch.zeros)(num_envs, device=device)
        mask = action_mask_of(infos, num_envs, num_actions, device)
        actions, state = choose(layout.to_tensor(obs, device), state, episode_start, mask)
        return actions.cpu().numpy()

    return act


def evaluate(
    writer: Any, tags: tuple[str, str], envs: gym.vector.VectorEnv, act: Callable, seed: int,
    task_names: Sequence[str], step: int,
) -> None:  # fmt: skip
    """One episode per env of ``envs`` with ``act`` (:func:`evaluation_act`), seeded with ``seed``; logs the mean
    return and normalised score per task and over the tasks under ``tags`` at ``step``, and prints them."""
    returns, scores = evaluate_episodes(envs, act, seed)
    task_ids, num_tasks = envs.unwrapped.env_task_ids, len(task_names)
    per_task = per_task_means(returns, task_ids, num_tasks), per_task_means(scores, task_ids, num_tasks)
    log_evaluation(writer, tags, task_names, *per_task, step)


# --- checkpoints -------------------------------------------------------------------------------------
# A checkpoint of these scripts holds the arguments, the run name, the step and update counts, the model and
# optimizer states and the global RNG states. The envs are not saved: a resumed run resets them with a new seed
# (seed + update), so the episodes in progress restart.


def checkpoint_schema(script: str) -> dict[str, Any]:
    """The structure :func:`mtenvs.train.checkpoint.load` checks a checkpoint of ``script`` against."""
    return {
        "script": script, "args": dict, "run_name": str, "global_step": int, "update": int, "model": dict,
        "optimizer": dict, "rng": checkpoint.RNG_SCHEMA,
    }  # fmt: skip


def checkpoint_payload(
    script: str, args: Any, run_name: str, global_step: int, update: int, model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
) -> dict[str, Any]:  # fmt: skip
    """What :func:`mtenvs.train.checkpoint.save` writes (``args`` with ``resume`` cleared)."""
    return {
        "script": script, "args": asdict(args) | {"resume": None}, "run_name": run_name, "global_step": global_step,
        "update": update, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "rng": checkpoint.rng_state(),
    }  # fmt: skip


def restore(saved: Mapping[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer, path: str) -> None:
    """Load a checkpoint's model and optimizer states (one-line errors naming ``--resume path``) and its RNG states,
    and say where the run resumes."""
    checkpoint.load_state(model, saved["model"], "--resume", path, "model")
    checkpoint.load_state(optimizer, saved["optimizer"], "--resume", path, "optimizer")
    checkpoint.restore_rng(saved["rng"])
    print("The episodes in progress restart: the actor-critics reseed their envs from --seed and the update.")
