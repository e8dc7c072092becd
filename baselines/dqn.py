"""DQN (Mnih et al. 2015) on one task of any mtenvs env: the single-task baseline of D'Eramo et al.'s
shared MT-DQN and the expert trainer of Actor-Mimic. How to run it and what it reaches: docs/dqn.md.
Conventions shared by every baseline: docs/baselines.md.

An MLP torso for vector observations, the Nature-DQN CNN for pixels (channel-first or channel-last);
epsilon-greedy over the task's valid actions (``info["action_mask"]``), which also restrict the max of
the targets; Huber loss; a target network; replay as tensors allocated up front. Hyperparameters
default per env family (printed at start): D'Eramo et al.'s for MultiControl, Nature DQN's for
MultiAtari, CleanRL's ``dqn.py`` otherwise.

``--save-model`` writes ``runs/{run_name}/{exp_name}.pt`` in the ``mtenvs-dqn/1`` format of
:mod:`mtenvs.train.dqn_format` (tensors and plain values; read back verified, never unpickled).
``--init-from PATH`` accepts it and Actor-Mimic's ``mtenvs-amn/1`` (same layout): it copies the whole network,
torso and head, as the Actor-Mimic authors' transfer does (the head only where the action spaces match; with
``--reinit-head`` never).

On MultiAtari with the ``nature`` preset a lost life is a terminal transition in the replay (the game goes
on), as in Nature DQN's and the Actor-Mimic authors' code; on Atari epsilon starts falling when learning
starts, as there. The target network is copied every ``--target-network-frequency`` env steps.
"""

from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.train import checkpoint, cli, dqn_family, dqn_format, progress, replay, run, writer
from mtenvs.train.args import TorchRunArgs
from mtenvs.train.cli import BadArgument
from mtenvs.train.dqn_format import QNetwork
from mtenvs.train.observations import ObservationLayout
from mtenvs.wrappers import RecordTaskEpisodeStatistics

SCRIPT = os.path.basename(__file__)
TRANSFER_FORMATS = (dqn_format.DQN_FORMAT, dqn_format.AMN_FORMAT)
RESUME_FORMAT = "mtenvs-dqn-resume/3"  # /3: the target copy counts env steps, not updates


# The run flags (seed, --track, --save-model, --resume, --progress-interval, --cuda, ...): mtenvs.train.args.
@dataclass
class Args(TorchRunArgs):
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    save_model: bool = False
    """if toggled, save the trained network to runs/{run_name}/{exp_name}.pt (format mtenvs-dqn/1: dqn_format)"""
    checkpoint_interval: int = 10_000
    """save runs/{run_name}/checkpoint.pt (network, optimizer, replay, RNGs, env) every this many steps (0 disables)"""
    init_from: str | None = None
    """start from this dqn.py / actor_mimic.py model (.pt): its torso, and its head where the action spaces match"""
    reinit_head: bool = False
    """if toggled, --init-from copies the torso only and the head starts freshly initialised"""

    env_id: str = "MultiControl-v0"
    """the id of an mtenvs environment (families: control, atari, tworooms, miniworld)"""
    task: str = "CartPole"
    """the task (name) to train on; the env runs it with task_schedule="fixed\""""
    env_kwargs: str = "{}"
    """JSON dict of extra keyword arguments for gym.make (e.g. '{"preset": "nature"}')"""
    total_timesteps: int | None = None
    """env steps (None: the family default, 50k control, 10M Atari, 500k otherwise; with --resume, the
    checkpoint's budget)"""
    learning_rate: float | None = None
    """learning rate (family default: 1e-3 control, 2.5e-4 Atari and otherwise)"""
    optimizer: str | None = None
    """adam | rmsprop (centered, alpha 0.95, eps 0.01 as Nature DQN); family default: rmsprop Atari, adam otherwise"""
    buffer_size: int | None = None
    """replay capacity in transitions (family default: 5000 control, 100k Atari, 10k otherwise)"""
    gamma: float | None = None
    """discount (default: the task's own where the env gives one, e.g. 0.95 Car-on-Hill; else 0.99)"""
    target_network_frequency: int | None = None
    """copy the Q-network to the target network every this many env steps once learning (family default: 100
    control, 10k Atari as the DQN authors' target_q, 500 otherwise as CleanRL's)"""
    batch_size: int | None = None
    """minibatch size (family default: 100 control, 32 Atari, 128 otherwise)"""
    start_e: float = 1.0
    """starting epsilon of the epsilon-greedy exploration"""
    end_e: float | None = None
    """final epsilon (family default: 0.01 control, 0.1 Atari, 0.05 otherwise)"""
    exploration_steps: int | None = None
    """env steps over which epsilon falls linearly to end_e (5000 control, 1M Atari, half the budget otherwise); on
    Atari counted from learning_starts (DeepMind's DQN code), elsewhere from step 0"""
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


# The "tworooms" and "miniworld" columns are CleanRL's dqn.py; their epsilon falls over half the budget.
OTHER = dict(
    total_timesteps=500_000, learning_rate=2.5e-4, optimizer="adam", buffer_size=10_000, target_network_frequency=500,
    batch_size=128, end_e=0.05, learning_starts=10_000, train_frequency=10, hidden_sizes=(120, 84), clip_rewards=False,
    eval_epsilon=0.0,
)  # fmt: skip
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
    "tworooms": OTHER,
    "miniworld": OTHER,
}  # fmt: skip

ARG_RULES = (
    cli.integer(["buffer_size", "batch_size", "target_network_frequency", "exploration_steps"], 1),
    cli.integer(["train_frequency", "eval_episodes"], 1),
    cli.integer(["learning_starts", "eval_interval"], 0),
    cli.number(["learning_rate"], 0.0, open_low=True),
    cli.number(["gamma"], 0.0, 1.0, open_low=True),
    cli.number(["start_e", "end_e", "eval_epsilon"], 0.0, 1.0),
    cli.choice(["optimizer"], ("adam", "rmsprop")),
    dqn_family.HIDDEN_SIZES_RULE,
)
RESERVED = {"task": "--task", "task_schedule": "'fixed', for --task", "task_obs": "--task", "num_envs": "one env",
            "task_assignment": "one env, pinned by --task"}  # fmt: skip
SCHEMA = {
    "format": RESUME_FORMAT, "args": dict, "run_name": str, "global_step": int, "updates": int, "q_network": dict,
    "target_network": dict, "optimizer": dict, "replay": replay.TRANSITIONS_SCHEMA,
    "rng": checkpoint.RNG_SCHEMA, "env": (dict, type(None)), "obs": (torch.Tensor, type(None)),
    "lives": (int, type(None)),
}  # fmt: skip


def make_env(env_id: str, task: str, env_kwargs: dict) -> tuple[gym.Env, ObservationLayout]:
    """The env pinned to ``task``, with per-task episode statistics, and its observation layout; clear errors for
    what DQN cannot use."""
    probe = cli.build_env(lambda: gym.make(env_id, **env_kwargs), env_id, env_kwargs)
    task_names = probe.unwrapped.task_names
    obs_space, action_space = probe.observation_space, probe.action_space
    probe.close()
    if task not in task_names:
        raise BadArgument(f"--task {task!r} is not a task of {env_id}; its tasks: {', '.join(task_names)}.")
    if not isinstance(action_space, spaces.Discrete):
        raise BadArgument(f"DQN needs a Discrete action space, {env_id} has {action_space}.")
    try:
        layout = ObservationLayout.of(obs_space)
    except ValueError as error:
        raise BadArgument(f"--env-id {env_id}: {error}.") from None
    env = cli.build_env(lambda: gym.make(env_id, task_schedule="fixed", task=task, **env_kwargs), env_id, env_kwargs)
    return RecordTaskEpisodeStatistics(env), layout


def masked_greedy(q_values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """argmax over the valid actions only."""
    return q_values.masked_fill(~valid, -torch.inf).argmax(dim=-1)


@torch.no_grad()
def evaluate(q_network: QNetwork, args: Args, env_kwargs: dict, valid: torch.Tensor, layout: ObservationLayout,
             device: torch.device, seed: int) -> list[float]:  # fmt: skip
    """Returns of ``eval_episodes`` episodes, epsilon-greedy with ``eval_epsilon`` (own RNG: training is unaffected)."""
    env, _ = make_env(args.env_id, args.task, env_kwargs)
    rng = np.random.default_rng(seed)
    valid_actions = torch.nonzero(valid).flatten().tolist()
    returns = []
    obs, _ = env.reset(seed=seed)
    while len(returns) < args.eval_episodes:
        if rng.random() < args.eval_epsilon:
            action = int(rng.choice(valid_actions))
        else:
            action = int(masked_greedy(q_network.get_q_values(layout.to_tensor(obs[None], device)), valid)[0])
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            returns.append(info["episode"]["r"])
            obs, _ = env.reset()
    env.close()
    return returns


def main(args: Args) -> None:
    saved = checkpoint.load(args.resume, "--resume", SCHEMA, f"a checkpoint of {SCRIPT}") if args.resume else None
    if saved:
        args = cli.resume_args(args, saved["args"], saved["global_step"])
    args = cli.apply_family_defaults(args, FAMILY_DEFAULTS, SCRIPT)
    if args.exploration_steps is None:  # CleanRL's exploration_fraction 0.5
        args = dataclasses.replace(args, exploration_steps=max(args.total_timesteps // 2, 1))
    cli.check_rules(args, cli.COMMON_RULES + ARG_RULES)
    if args.batch_size > args.buffer_size:
        raise BadArgument(f"--batch-size={args.batch_size} exceeds --buffer-size={args.buffer_size}.")
    env_kwargs = cli.parse_env_kwargs(args.env_kwargs, RESERVED)
    run_name = saved["run_name"] if saved else run.new_run_name(args.env_id, args.exp_name, args.seed)

    run.seed_everything(args.seed, args.torch_deterministic)
    device = run.choose_device(args.cuda, args.torch_threads)
    env, layout = make_env(args.env_id, args.task, env_kwargs)
    base = env.unwrapped
    task_id = base.task_index(args.task)
    gamma = args.gamma if args.gamma is not None else getattr(base, "task_discounts", (0.99,) * base.num_tasks)[task_id]
    obs_space = env.observation_space
    num_actions = int(env.action_space.n)
    torso_type = dqn_format.torso_type_of(layout.shape)
    masks = getattr(base, "action_masks", None)
    valid_mask = np.ones(num_actions, dtype=np.int8) if masks is None else np.asarray(masks[task_id], dtype=np.int8)
    valid = torch.as_tensor(valid_mask, dtype=torch.bool, device=device)
    valid_actions = np.flatnonzero(valid_mask)
    family = cli.family_of(args.env_id, FAMILY_DEFAULTS, SCRIPT)
    life_loss = dqn_family.life_loss_is_terminal(args.env_id, env_kwargs)
    terminal = ", a lost life is terminal" if life_loss else ""
    print(f"dqn.py on {args.env_id} task {args.task}, gamma {gamma}{terminal}:")
    print("  " + ", ".join(f"{k}={v}" for k, v in asdict(args).items()))
    obs_dtype = torch.uint8 if obs_space.dtype == np.uint8 else torch.float32  # uint8 observations stay uint8
    fields = replay.transitions(obs_space.shape, obs_dtype)
    what = f"--buffer-size {args.buffer_size} (replay of {obs_space.shape} {obs_dtype} transitions)"
    cli.require_memory(replay.nbytes(fields, args.buffer_size), what)

    q_network = QNetwork(torso_type, layout.shape, args.hidden_sizes, num_actions).to(device)
    if args.init_from and not saved:
        with torch.random.fork_rng(devices=[]):  # reading the file draws nothing from the run's RNG
            source, _ = dqn_format.load_model(args.init_from, "--init-from", TRANSFER_FORMATS)
        hidden = list(args.hidden_sizes) if torso_type == "mlp" else None
        copied = dqn_format.copy_torso(q_network, source, "--init-from", args.init_from, list(obs_space.shape),
                                       torso_type, hidden, args.task)  # fmt: skip
        head = "re-initialised (--reinit-head)"
        if not args.reinit_head:
            head = dqn_format.copy_head(q_network, source, "--init-from", args.init_from)
        print(f"--init-from {args.init_from} ({source['format']}): copied {', '.join(copied)}; head {head}.")
    target_network = QNetwork(torso_type, layout.shape, args.hidden_sizes, num_actions).to(device)
    target_network.load_state_dict(q_network.state_dict())
    optimizer = dqn_family.make_optimizer(args.optimizer, q_network.parameters(), args.learning_rate)

    # --- storage --- the replay, five tensors allocated up front
    memory = replay.Replay(args.buffer_size, fields, device)

    global_step, updates = (saved["global_step"], saved["updates"]) if saved else (0, 0)
    tracker = progress.Progress(args.progress_interval, args.total_timesteps, global_step)
    obs, info = env.reset(seed=args.seed + global_step)
    if saved:
        checkpoint.load_state(q_network, saved["q_network"], "--resume", args.resume, "q_network")
        checkpoint.load_state(target_network, saved["target_network"], "--resume", args.resume, "target network")
        checkpoint.load_state(optimizer, saved["optimizer"], "--resume", args.resume, "optimizer")
        memory.restore(saved["replay"], "--resume", args.resume)
        checkpoint.restore_rng(saved["rng"])
        if saved["env"] is not None:
            checkpoint.restore_env_state(env, saved["env"], "--resume", args.resume)
            obs, info = saved["obs"].numpy(), {"lives": saved["lives"]}
        else:
            print("The checkpoint holds no env state (this env's is not plain data): the episode in progress restarts.")
    run_path = run.run_dir(run_name)
    tb = writer.open_writer(args, run_name, run_path, env, global_step if saved else None, {"gamma_used": gamma})

    def save_checkpoint() -> None:
        env_state = checkpoint.env_state(env)
        checkpoint.save(run_path / "checkpoint.pt", {
            "format": RESUME_FORMAT, "args": asdict(args) | {"resume": None, "init_from": None}, "run_name": run_name,
            "global_step": global_step, "updates": updates, "q_network": q_network.state_dict(),
            "target_network": target_network.state_dict(), "optimizer": optimizer.state_dict(),
            "replay": memory.state(), "rng": checkpoint.rng_state(), "env": env_state,
            "obs": torch.as_tensor(obs).clone() if env_state is not None else None,
            "lives": None if info.get("lives") is None else int(info["lives"]),
        })  # fmt: skip

    while global_step < args.total_timesteps:
        # --- rollout --- epsilon-greedy over the task's valid actions
        epsilon = dqn_family.exploration_epsilon(args.start_e, args.end_e, args.exploration_steps, global_step,
                                                 args.learning_starts, family)  # fmt: skip
        if random.random() < epsilon:
            action = int(np.random.choice(valid_actions))
        else:
            with torch.no_grad():
                q_values = q_network.get_q_values(layout.to_tensor(obs[None], device))
            action = int(masked_greedy(q_values, valid)[0])
        lives = info.get("lives")
        next_obs, reward, terminated, truncated, info = env.step(action)
        global_step += 1

        # --- logging --- per-task returns as they finish
        if "episode" in info:
            episode_return = info["episode"]["r"]
            tracker.returns.append(float(episode_return))
            tb.add_scalar("charts/episodic_return", episode_return, global_step)
            tb.add_scalar(f"charts/episodic_return/{args.task}", episode_return, global_step)
            tb.add_scalar("charts/episodic_length", info["episode"]["l"], global_step)
            if np.isfinite(info["episode"]["hns"]):
                tb.add_scalar(f"charts/human_normalized_score/{args.task}", info["episode"]["hns"], global_step)
            tb.add_scalar("charts/epsilon", epsilon, global_step)

        # --- replay --- a truncated episode's last transition keeps its real next observation
        reward = float(np.sign(reward)) if args.clip_rewards else float(reward)
        stored_terminal = dqn_family.training_terminations(terminated, info.get("lives"), lives, life_loss)
        memory.write(obs=obs, next_obs=next_obs, actions=action, rewards=reward, terminated=float(stored_terminal))
        memory.advance()
        obs = next_obs
        if terminated or truncated:
            obs, info = env.reset()

        # --- loss --- Huber TD error against the target network's best valid next action
        learning = global_step > args.learning_starts and memory.size >= args.batch_size
        if learning and global_step % args.train_frequency == 0:
            batch = memory.sample(args.batch_size)
            with torch.no_grad():
                next_q = target_network.get_q_values(layout.to_tensor(batch["next_obs"], device))
                next_max = next_q.masked_fill(~valid, -torch.inf).max(dim=1).values
                td_target = batch["rewards"] + gamma * next_max * (1.0 - batch["terminated"])
            q_taken = q_network.get_q_values(layout.to_tensor(batch["obs"], device))
            q_taken = q_taken.gather(1, batch["actions"].unsqueeze(1)).squeeze(1)
            loss = F.smooth_l1_loss(q_taken, td_target)

            # --- update --- one gradient step
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            updates += 1
            if updates % 100 == 0:
                tb.add_scalar("losses/td_loss", loss.item(), global_step)
                tb.add_scalar("losses/q_values", q_taken.mean().item(), global_step)
        # the target network follows every target_network_frequency env steps (the authors' target_q counts steps)
        if learning and global_step % args.target_network_frequency == 0:
            target_network.load_state_dict(q_network.state_dict())

        if tracker.due(global_step == args.total_timesteps):
            tb.add_scalar("charts/SPS", tracker.sps(global_step), global_step)
            tracker.print(global_step, f", epsilon {epsilon:.3f}")
        if (args.eval_interval and global_step % args.eval_interval == 0) or global_step == args.total_timesteps:
            returns = evaluate(q_network, args, env_kwargs, valid, layout, device, args.seed + 10_000)
            tb.add_scalar(f"eval/episodic_return/{args.task}", np.mean(returns), global_step)
            tb.add_scalar("eval/episodic_return", np.mean(returns), global_step)
            print(f"step {global_step}: eval return {np.mean(returns):.2f} over {len(returns)} episodes")
        if args.checkpoint_interval and (
            global_step % args.checkpoint_interval == 0 or global_step == args.total_timesteps
        ):
            save_checkpoint()

    if args.save_model:
        path = run_path / f"{args.exp_name}.pt"
        checkpoint.save(path, dqn_format.model_payload(
            dqn_format.DQN_FORMAT, q_network, env_id=args.env_id, env_kwargs=env_kwargs, task=args.task,
            task_names=base.task_names, obs_shape=obs_space.shape, action_mask=valid_mask, torso_type=torso_type,
            hidden_sizes=args.hidden_sizes, args=asdict(args), global_step=global_step,
        ))  # fmt: skip
        print(f"Model saved to {path}")
    env.close()
    tb.close()
    print(f"Done: {global_step} steps; TensorBoard logs in {run_path}")


if __name__ == "__main__":
    cli.run(main, Args, SCRIPT)
