"""Multitask Convolutions DQN (MCDQN), the second baseline of Actor-Mimic (Parisotto et al. 2016, appendix C).

DQN trained on all tasks at once with only the lower layers shared: for pixels the Nature-DQN
convolutions are shared and every task has its own 512-unit fully connected layer and head; for
vector observations every MLP layer but the last is shared and every task has its own last hidden
layer and head. The heads span the env's union action space, with each task's invalid actions
masked out (`info["action_mask"]`) when acting and in the max of the target. One env and one replay
memory per task; every update draws a minibatch from every task's memory and takes one Huber-loss
step on all of them together. Nature-DQN settings for pixel envs, the control settings of dqn.py for
vector envs.

Details, defaults and results: docs/actor_mimic.md. Conventions shared by every baseline: docs/baselines.md.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.train import checkpoint, cli, dqn_family, dqn_format, progress, replay, run, writer
from mtenvs.train.observations import task_action_masks

SCRIPT = os.path.basename(__file__)
CHECKPOINT_FORMAT = "mtenvs-mcdqn-train/3"  # /3: the network may read the task id
MODEL_FORMAT = "mtenvs-mcdqn/1"


# The run flags (mtenvs.train.args) and the flags of every one-env-per-task script (dqn_family.TaskEnvArgs).
@dataclass
class Args(dqn_family.TaskEnvArgs):
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    save_model: bool = False
    """if toggled, save the Q-network to runs/{run_name}/{exp_name}.pt (format mtenvs-mcdqn/1)"""
    hidden_sizes: tuple[int, ...] = (80, 80, 80)
    """MLP widths for vector observations: all but the last are shared, each task has its own last layer"""
    gamma: float | None = None
    """discount of every task (default: each task's own, the env's `task_discounts`, where it has them; else 0.99)"""
    target_network_frequency: int | None = None
    """env steps per task between target-network copies (default: 10_000 for atari and miniworld; 100 otherwise)"""
    start_e: float = 1.0
    """exploration rate at the start"""
    end_e: float | None = None
    """final exploration rate (default: 0.1 for atari and miniworld; 0.01 otherwise)"""
    exploration_steps: int | None = None
    """env steps per task over which epsilon decays linearly (default: 1_000_000 for atari and miniworld; 5_000);
    on atari counted from learning_starts (DeepMind's DQN code), elsewhere from step 0"""
    clip_rewards: bool | None = None
    """sign-clip rewards (default: on for atari and miniworld, the Atari convention; off otherwise)"""
    task_input: bool | None = None
    """True: the network also reads the one-hot task id (default: on for vector observations, where tasks can
    look alike, e.g. MultiControl's padded MountainCar and Car-on-Hill; off for pixels, as in the paper)"""


# Nature DQN's settings (Mnih et al. 2015) for the pixel families; dqn.py's control settings for vector observations.
# TwoRooms takes the small-scale settings whichever observation_type it renders.
PIXELS = {"optimizer": "rmsprop", "learning_rate": 2.5e-4, "buffer_size": 100_000, "batch_size": 32,
          "learning_starts": 50_000, "train_frequency": 4, "target_network_frequency": 10_000, "end_e": 0.1,
          "exploration_steps": 1_000_000, "clip_rewards": True, "eval_epsilon": 0.05,
          "total_timesteps": 100_000}  # fmt: skip
VECTORS = {"optimizer": "adam", "learning_rate": 1e-3, "buffer_size": 5_000, "batch_size": 100,
           "learning_starts": 100, "train_frequency": 1, "target_network_frequency": 100, "end_e": 0.01,
           "exploration_steps": 5_000, "clip_rewards": False, "eval_epsilon": 0.0,
           "total_timesteps": 100_000}  # fmt: skip
FAMILY_DEFAULTS = {"atari": PIXELS, "miniworld": PIXELS, "control": VECTORS, "tworooms": VECTORS}
ARG_RULES = (
    *dqn_family.TASK_ENV_RULES,
    cli.integer(["target_network_frequency", "exploration_steps"], 1),
    cli.number(["gamma"], 0.0, 1.0, open_low=True),
    cli.number(["start_e", "end_e"], 0.0, 1.0),
    cli.choice(["optimizer"], ("rmsprop", "adam")),
)
SCHEMA = {
    "format": CHECKPOINT_FORMAT, "args": dict, "run_name": str, "global_step": int, "task_step": int, "updates": int,
    "model": dict, "target_model": dict, "optimizer": dict, "replay": replay.TaskReplay.schema(),
    "rng": checkpoint.RNG_SCHEMA,
}  # fmt: skip


class QNetwork(nn.Module):
    """Shared `torso`; per task a hidden layer (`task_layers[i]`) and a head over the union action space.

    dqn.py's torso (dqn_format.build_torso) but for its last hidden layer, which every task has its own copy of:
    the Nature-DQN convolutions are shared and each task gets 512 units; every MLP layer but the last is shared.
    """

    def __init__(self, torso_type: str, obs_shape: tuple[int, ...], hidden_sizes: tuple[int, ...], num_actions: int,
                 num_tasks: int, task_input: bool = False):  # fmt: skip
        super().__init__()
        self.task_inputs = num_tasks if task_input else 0  # vector observations only (dqn_family.task_input_of)
        torso, task_dim = dqn_format.build_torso(
            torso_type, (obs_shape[0] + self.task_inputs, *obs_shape[1:]), hidden_sizes
        )
        self.torso = torso[:-2]
        first = nn.Sequential(torso[-2], torso[-1])  # task 0's hidden layer: drawn where the DQN draws its last one
        shared_dim = first[0].in_features
        self.task_layers = nn.ModuleList(
            [first] + [nn.Sequential(nn.Linear(shared_dim, task_dim), nn.ReLU()) for _ in range(num_tasks - 1)]
        )
        self.heads = nn.ModuleList(nn.Linear(task_dim, num_actions) for _ in range(num_tasks))

    def get_q_values(self, x: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        """Q(s, .) of every row from the layers of that row's task (``x`` as ObservationLayout.to_tensor gives it)."""
        shared = self.torso(dqn_format.with_task_one_hot(x, task_ids, self.task_inputs))
        q_values = shared.new_zeros(len(x), self.heads[0].out_features)
        for task in torch.unique(task_ids).tolist():
            rows = task_ids == task
            q_values[rows] = self.heads[task](self.task_layers[task](shared[rows]))
        return q_values


def model_file(q_network: QNetwork, args: Args, env_kwargs: dict, task_names, obs_shape, masks, global_step) -> dict:
    """The --save-model file: dqn_format's fields, with this network's layers (torso, task_layers, heads)."""
    return {
        "format": MODEL_FORMAT, "env_id": args.env_id, "env_kwargs": env_kwargs, "task_names": list(task_names),
        "obs_shape": list(obs_shape), "num_actions": q_network.heads[0].out_features,
        "action_masks": masks.int().tolist(), "torso_type": dqn_format.torso_type_of(obs_shape),
        "hidden_sizes": list(args.hidden_sizes) if len(obs_shape) == 1 else [], "q_network": q_network.state_dict(),
        "task_inputs": q_network.task_inputs, "args": asdict(args), "global_step": global_step,
    }  # fmt: skip


def main(args: Args) -> None:
    saved = checkpoint.load(args.resume, "--resume", SCHEMA, f"a checkpoint of {SCRIPT}") if args.resume else None
    if saved:
        args = cli.resume_args(args, saved["args"], saved["global_step"])
    args = cli.apply_family_defaults(args, FAMILY_DEFAULTS, SCRIPT)
    cli.check_rules(args, cli.COMMON_RULES + ARG_RULES)
    env_kwargs = cli.parse_env_kwargs(args.env_kwargs, dqn_family.TASK_ENV_RESERVED)
    run_name = saved["run_name"] if saved else run.new_run_name(args.env_id, args.exp_name, args.seed)

    run.seed_everything(args.seed, args.torch_deterministic)
    device = run.choose_device(args.cuda, args.torch_threads)
    envs, layout = dqn_family.task_envs(args.env_id, env_kwargs, 1, "DQN")
    task_names = tuple(envs.unwrapped.task_names)
    num_tasks, num_actions = len(task_names), int(envs.single_action_space.n)
    obs_space = envs.single_observation_space
    fields = {"obs": (obs_space.shape, obs_space.dtype), "next_obs": (obs_space.shape, obs_space.dtype),
              "actions": ((), np.int64), "rewards": ((), np.float32), "terminations": ((), np.float32)}  # fmt: skip
    what = f"--buffer-size {args.buffer_size} (x {num_tasks} tasks of {obs_space.shape} {obs_space.dtype} transitions)"
    cli.require_memory(replay.nbytes(fields, num_tasks * args.buffer_size), what)
    torso_type = dqn_format.torso_type_of(layout.shape)
    task_input = dqn_family.task_input_of(args.task_input, layout)
    q_network = QNetwork(torso_type, layout.shape, args.hidden_sizes, num_actions, num_tasks, task_input).to(device)
    target_network = QNetwork(torso_type, layout.shape, args.hidden_sizes, num_actions, num_tasks, task_input)
    target_network = target_network.to(device)
    target_network.load_state_dict(q_network.state_dict())
    optimizer = dqn_family.make_optimizer(args.optimizer, q_network.parameters(), args.learning_rate)
    obs, infos = envs.reset(seed=args.seed)
    family = cli.family_of(args.env_id, FAMILY_DEFAULTS, SCRIPT)
    life_loss = dqn_family.life_loss_is_terminal(args.env_id, env_kwargs)  # Nature DQN's rule on the nature preset
    masks = torch.as_tensor(task_action_masks(infos, num_tasks, num_actions), device=device)
    task_ids = torch.arange(num_tasks, device=device)
    discounts = [args.gamma] * num_tasks if args.gamma is not None else getattr(envs.unwrapped, "task_discounts", None)
    gammas = torch.tensor(discounts or [0.99] * num_tasks, dtype=torch.float32, device=device)

    # --- storage --- one replay memory of transitions per task, allocated up front
    memory = replay.TaskReplay(num_tasks, args.buffer_size, fields)

    global_step, task_step, updates = (
        (saved["global_step"], saved["task_step"], saved["updates"]) if saved else (0,) * 3
    )
    refill_from = 0  # a resumed run without its memories refills them before training again
    if saved:
        checkpoint.load_state(q_network, saved["model"], "--resume", args.resume, "model")
        checkpoint.load_state(target_network, saved["target_model"], "--resume", args.resume, "target model")
        checkpoint.load_state(optimizer, saved["optimizer"], "--resume", args.resume, "optimizer")
        if not memory.restore(saved["replay"], "--resume", args.resume):
            refill_from = task_step
        checkpoint.restore_rng(saved["rng"])
    run_path = run.run_dir(run_name)
    tb = writer.open_writer(args, run_name, run_path, envs, global_step if saved else None)

    def save_checkpoint() -> None:
        checkpoint.save(run_path / "checkpoint.pt", {
            "format": CHECKPOINT_FORMAT, "args": asdict(args), "run_name": run_name, "global_step": global_step,
            "task_step": task_step, "updates": updates, "model": q_network.state_dict(),
            "target_model": target_network.state_dict(), "optimizer": optimizer.state_dict(),
            "replay": memory.state(args.checkpoint_replay), "rng": checkpoint.rng_state(),
        })  # fmt: skip

    eval_envs, last_eval_step = None, -1

    def evaluate() -> None:
        nonlocal eval_envs, last_eval_step
        if not args.eval_episodes or last_eval_step == global_step:
            return
        last_eval_step = global_step
        if eval_envs is None:
            eval_envs, _ = dqn_family.task_envs(args.env_id, env_kwargs, args.eval_episodes, "DQN")
        returns = dqn_family.evaluate_tasks(eval_envs, layout, q_network.get_q_values, masks, args.eval_epsilon,
                                            args.seed + 10_000, device)  # fmt: skip
        dqn_family.log_evaluation(tb, task_names, returns, global_step)

    tracker = progress.Progress(args.progress_interval, args.total_timesteps, global_step)
    autoreset = np.zeros(num_tasks, dtype=bool)  # the env ignores its next action and resets
    steps_per_task = args.total_timesteps // num_tasks
    while task_step < steps_per_task:
        # --- rollout --- epsilon-greedy in every task; each transition goes to its task's memory
        epsilon = dqn_family.exploration_epsilon(args.start_e, args.end_e, args.exploration_steps, task_step,
                                                 args.learning_starts, family)  # fmt: skip
        with torch.no_grad():
            q_values = q_network.get_q_values(layout.to_tensor(obs, device), task_ids)
        actions = dqn_family.masked_epsilon_greedy(q_values, masks, epsilon).cpu().numpy()
        lives = infos.get("lives")
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        stored_terminals = dqn_family.training_terminations(terminations, infos.get("lives"), lives, life_loss)
        for task in np.flatnonzero(~autoreset):  # an autoreset step is no transition
            reward = np.sign(rewards[task]) if args.clip_rewards else rewards[task]
            memory.add(task, obs=obs[task], next_obs=next_obs[task], actions=actions[task], rewards=reward,
                       terminations=stored_terminals[task])  # fmt: skip
        obs, autoreset = next_obs, np.logical_or(terminations, truncations)
        global_step += num_tasks
        task_step += 1
        dqn_family.log_task_episodes(tb, infos, task_names, global_step, tracker)

        if task_step >= refill_from + args.learning_starts and task_step % args.train_frequency == 0:
            # --- returns --- one-step targets from the target network, max over each task's valid actions
            batch = {
                key: torch.as_tensor(value, device=device) for key, value in memory.sample(args.batch_size).items()
            }
            batch_tasks = task_ids.repeat_interleave(args.batch_size)
            with torch.no_grad():
                next_q = target_network.get_q_values(layout.to_tensor(batch["next_obs"], device), batch_tasks)
                next_q = next_q.masked_fill(~masks[batch_tasks], float("-inf")).max(1).values
                targets = batch["rewards"] + gammas[batch_tasks] * (1.0 - batch["terminations"]) * next_q
            # --- loss --- Huber on the taken actions of all tasks together
            q_values = q_network.get_q_values(layout.to_tensor(batch["obs"], device), batch_tasks)
            q_taken = q_values.gather(1, batch["actions"].unsqueeze(1))
            loss = F.smooth_l1_loss(q_taken.squeeze(1), targets)
            # --- update ---
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            updates += 1
            # --- logging ---
            if updates == 1 or updates % 100 == 0:
                tb.add_scalar("losses/td_loss", loss.item(), global_step)
                tb.add_scalar("losses/q_values", q_taken.mean().item(), global_step)
                tb.add_scalar("charts/epsilon", epsilon, global_step)
                tb.add_scalar("charts/SPS", tracker.sps(global_step), global_step)
        if task_step % args.target_network_frequency == 0:
            target_network.load_state_dict(q_network.state_dict())

        if tracker.due(task_step == steps_per_task):
            tracker.print(global_step, f", epsilon {epsilon:.3f}")
        if args.eval_interval and global_step % args.eval_interval < num_tasks:
            evaluate()
        if args.checkpoint_interval and global_step % args.checkpoint_interval < num_tasks:
            save_checkpoint()

    evaluate()
    if args.save_model:
        model = model_file(q_network, args, env_kwargs, task_names, obs_space.shape, masks, global_step)
        checkpoint.save(run_path / f"{args.exp_name}.pt", model)
    if args.checkpoint_interval:
        save_checkpoint()
    envs.close()
    if eval_envs is not None:
        eval_envs.close()
    tb.close()
    print(f"Done: {global_step} steps; TensorBoard logs in {run_path}")


if __name__ == "__main__":
    cli.run(main, Args, SCRIPT)
