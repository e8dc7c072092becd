"""A3C 2col (Distral's baseline, Teh et al. 2017, Table 1): Distral's two columns without the KL.

A shared column h and a column f_i per task, pi_i = softmax(h + f_i), with the usual entropy bonus.

The loss, the defaults per env family and how this differs from the paper: docs/a3c_baselines.md.
Conventions shared by every baseline (run names, metrics, env steps, checkpoints): docs/baselines.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.distributions import Categorical

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.train import actor_critic, checkpoint, cli, networks, progress, run, writer
from mtenvs.train.actor_critic import masked_mean

SCRIPT = os.path.basename(__file__)


@dataclass
class Args(actor_critic.ActorCriticArgs):
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    ent_coef: float | None = None
    """coefficient of the entropy bonus (default per env family)"""


# Defaults of the fields left unset, per env family: the shared ones of every actor-critic baseline (equal settings
# for comparison; values and sources: actor_critic.FAMILY_DEFAULTS) and A3C's entropy cost (Mnih et al. 2016).
FAMILY_DEFAULTS = actor_critic.family_defaults(ent_coef=0.01)

ARG_RULES = (*actor_critic.ARG_RULES, cli.number(["ent_coef"], 0.0))
SCHEMA = actor_critic.checkpoint_schema(SCRIPT)
EVAL_TAGS = ("eval/episodic_return", "eval/normalized_score")


class Agent(nn.Module):
    """A shared column h and a column f_i with value V_i per task: pi_i = softmax(h + f_i).

    Unlike Distral's pi0, h is trained only through the task losses. The envs of task i are fed to column i;
    the recurrent state is [shared column's, task columns']."""

    def __init__(self, obs_shape: tuple[int, ...], image: bool, num_actions: int, num_tasks: int, hidden: int):
        super().__init__()
        self.shared = networks.Column(obs_shape, image, num_actions, hidden, with_value=False)
        self.tasks = networks.TaskColumns(obs_shape, image, num_actions, num_tasks, hidden)

    @staticmethod
    def num_columns(num_tasks: int) -> int:
        """How many columns the memory check counts (actor_critic.require_memory_for)."""
        return num_tasks + 1

    def initial_state(self, num_envs: int, device: torch.device) -> list:
        return [self.shared.initial_state(num_envs, device), self.tasks.initial_state(num_envs, device)]

    def columns(self) -> list[nn.Module]:
        """The parts whose gradients are clipped separately: the shared column and each task column."""
        return [self.shared, *self.tasks]

    def get_value(self, obs, state, episode_start, task_ids) -> torch.Tensor:
        return self.tasks(obs, state[1], episode_start, task_ids)[1]

    def get_action_and_value(self, obs, state, episode_start, task_ids, action_mask, action=None):
        """Sampled (or given) action, its log-probability, the policy entropy, the value and the new state."""
        hidden, shared_state = self.shared.torso(obs, state[0], episode_start)
        f, value, task_state = self.tasks(obs, state[1], episode_start, task_ids)
        # invalid actions (mask False) get a large negative logit, so they are never sampled
        policy = Categorical(logits=(self.shared.policy(hidden) + f).masked_fill(~action_mask, -1e8))
        if action is None:
            action = policy.sample()
        return action, policy.log_prob(action), policy.entropy(), value, [shared_state, task_state]


def evaluation_rule(agent: Agent, task_ids: torch.Tensor) -> actor_critic.Choose:
    """Evaluation samples from the policies, as they act in training."""

    def choose(obs, state, episode_start, mask):
        action, _, _, _, state = agent.get_action_and_value(obs, state, episode_start, task_ids, mask)
        return action, state

    return choose


def main(args: Args) -> None:
    saved = checkpoint.load(args.resume, "--resume", SCHEMA, f"a checkpoint of {SCRIPT}") if args.resume else None
    if saved:
        args = cli.resume_args(args, saved["args"], saved["global_step"])
    args = cli.apply_family_defaults(args, FAMILY_DEFAULTS, SCRIPT)
    cli.check_rules(args, cli.COMMON_RULES + ARG_RULES)
    actor_critic.require_one_update(args.total_timesteps, args.num_envs, args.num_steps)
    env_kwargs = cli.parse_env_kwargs(args.env_kwargs, actor_critic.RESERVED_ENV_KWARGS)
    run_name = saved["run_name"] if saved else run.new_run_name(args.env_id, args.exp_name, args.seed)

    run.seed_everything(args.seed, args.torch_deterministic)
    device = run.choose_device(args.cuda, args.torch_threads)
    envs, layout = actor_critic.make_grouped_envs(args.env_id, args.num_envs, env_kwargs, "A3C")
    eval_envs = None
    task_names, num_actions = envs.unwrapped.task_names, envs.single_action_space.n
    task_ids = torch.as_tensor(envs.unwrapped.env_task_ids, device=device)
    num_columns = Agent.num_columns(len(task_names))
    actor_critic.require_memory_for(num_columns, layout, num_actions, args.hidden_size, args.num_steps, args.num_envs)
    agent = Agent(layout.shape, layout.image, num_actions, len(task_names), args.hidden_size).to(device)
    optimizer = torch.optim.RMSprop(
        agent.parameters(), lr=args.learning_rate, alpha=args.rmsprop_alpha, eps=args.rmsprop_eps
    )

    global_step, update = (saved["global_step"], saved["update"]) if saved else (0, 0)
    if saved:
        actor_critic.restore(saved, agent, optimizer, args.resume)
    run_path = run.run_dir(run_name)
    tb = writer.open_writer(args, run_name, run_path, envs, global_step if saved else None)

    def save_checkpoint() -> None:
        payload = actor_critic.checkpoint_payload(SCRIPT, args, run_name, global_step, update, agent, optimizer)
        checkpoint.save(run_path / "checkpoint.pt", payload)

    # Rollout storage, allocated once (the fields: actor_critic.Rollout)
    rollout = actor_critic.Rollout.allocate(args.num_steps, args.num_envs, layout.shape, num_actions, device)
    stream = actor_critic.EnvStream(envs, layout, device, seed=args.seed + update)
    lstm_state = agent.initial_state(args.num_envs, device)
    tracker = progress.Progress(args.progress_interval, args.total_timesteps, global_step)

    while global_step < args.total_timesteps:
        update += 1
        update_start_step = global_step
        initial_lstm_state = actor_critic.clone_state(lstm_state)

        # --- rollout --- num_steps steps of every env with the current policies
        for step in range(args.num_steps):
            stream.record(rollout, step)
            with torch.no_grad():
                action, _, _, value, lstm_state = agent.get_action_and_value(
                    stream.obs, lstm_state, stream.episode_start, task_ids, stream.mask
                )
            rollout.actions[step], rollout.values[step] = action, value
            global_step += stream.step(action, rollout, step, args.clip_rewards)
            progress.log_finished_episodes(
                tb, stream.infos, stream.terminations, stream.shortest_paths, task_names, global_step, tracker
            )

        # --- returns --- n-step returns of the env reward, bootstrapped with the task's value
        with torch.no_grad():
            next_value = agent.get_value(stream.obs, lstm_state, stream.episode_start, task_ids)
            returns = actor_critic.n_step_returns(rollout.rewards, rollout, next_value, args.gamma)

        # --- loss --- actor-critic loss over the valid (non-autoreset) steps, re-evaluated with gradients
        # (the LSTM unrolls again from the rollout's first state: truncated backpropagation through time)
        _, newlogprob, entropy, newvalue, _ = agent.get_action_and_value(
            rollout.obs.flatten(0, 1),
            initial_lstm_state,
            rollout.episode_starts.flatten(),
            task_ids,
            rollout.action_masks.flatten(0, 1),
            rollout.actions.flatten(),
        )
        valid = (~rollout.autoreset_steps).flatten()
        advantages = returns.flatten() - newvalue.detach()
        policy_loss = masked_mean(-advantages * newlogprob, valid)
        value_loss = masked_mean(0.5 * (returns.flatten() - newvalue) ** 2, valid)
        entropy_loss = masked_mean(entropy, valid)
        loss = policy_loss - args.ent_coef * entropy_loss + args.value_coef * value_loss

        # --- update --- one RMSProp step; each part of agent.columns() is clipped on its own
        actor_critic.anneal_learning_rate(optimizer, args, update_start_step)
        optimizer.zero_grad()
        loss.backward()
        grad_norms = [nn.utils.clip_grad_norm_(column.parameters(), args.max_grad_norm) for column in agent.columns()]
        optimizer.step()

        # --- logging --- losses and SPS, evaluation, progress line, checkpoint
        last_update = global_step >= args.total_timesteps
        if update % 10 == 0 or last_update:
            for tag, value in (
                ("losses/policy_loss", policy_loss.item()), ("losses/value_loss", value_loss.item()),
                ("losses/entropy", entropy_loss.item()), ("losses/grad_norm_max", max(n.item() for n in grad_norms)),
                ("charts/SPS", tracker.sps(global_step)),
            ):  # fmt: skip
                tb.add_scalar(tag, value, global_step)
        if args.eval_interval and (progress.crossed(args.eval_interval, update_start_step, global_step) or last_update):
            if eval_envs is None:
                eval_envs, _ = actor_critic.make_grouped_envs(
                    args.env_id, len(task_names) * args.eval_episodes, env_kwargs, "A3C"
                )
            rule = evaluation_rule(agent, torch.as_tensor(eval_envs.unwrapped.env_task_ids, device=device))
            initial_state = agent.initial_state(eval_envs.num_envs, device)
            act = actor_critic.evaluation_act(eval_envs, layout, device, initial_state, rule)
            actor_critic.evaluate(tb, EVAL_TAGS, eval_envs, act, args.seed + 10_000 + update, task_names, global_step)
        if tracker.due(last_update):
            tracker.print(global_step)
        if args.checkpoint_interval and progress.crossed(args.checkpoint_interval, update_start_step, global_step):
            save_checkpoint()

    if args.save_model:
        checkpoint.save(run_path / f"{args.exp_name}.pt", agent.state_dict())
    if args.checkpoint_interval:
        save_checkpoint()
    envs.close()
    if eval_envs is not None:
        eval_envs.close()
    tb.close()
    print(f"Done: {global_step} steps; TensorBoard logs in {run_path}")


if __name__ == "__main__":
    cli.run(main, Args, SCRIPT)
