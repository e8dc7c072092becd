"""Distral KL 1col (Teh et al. 2017): task policies regularised towards a jointly distilled policy pi0.

One column each: pi0 = softmax(h) and pi_i = softmax(f_i), separate networks; the KL cost only (alpha = 1).
The loss, the defaults per env family and how this differs from the paper: docs/distral.md.
Conventions shared by every baseline (run names, metrics, env steps, checkpoints): docs/baselines.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.distributions import Categorical

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.train import actor_critic, checkpoint, cli, progress, run, writer
from mtenvs.train.actor_critic import masked_mean
from mtenvs.train.networks import Column, TaskColumns

SCRIPT = os.path.basename(__file__)
TWO_COLUMNS = False  # Table 1: 2col, pi_i = softmax(alpha h + f_i); 1col (False), separate networks: softmax(f_i)


@dataclass
class Args(actor_critic.ActorCriticArgs):
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    alpha: float = 1.0
    """Distral alpha = c_KL / (c_KL + c_ent) in [0, 1]; the default is this variant's (KL: 1, KL+ent: 0.5)"""
    beta: float | None = None
    """Distral beta = 1 / (c_KL + c_ent) > 0, the inverse regularisation strength (default per env family)"""


# Defaults of the fields left unset, per env family: the shared ones of every actor-critic baseline (equal settings
# for comparison; values and sources: actor_critic.FAMILY_DEFAULTS) and Distral's beta. Pixel envs: from the paper's
# {1e3, 3e3, 3e4} (Teh et al. 2017); TwoRooms and MultiControl: 50 (c_ent = 0.01 at alpha 0.5, A3C's entropy cost).
FAMILY_DEFAULTS = actor_critic.family_defaults(beta={"tworooms": 50.0, "atari": 1e3, "miniworld": 1e3, "control": 50.0})

ARG_RULES = (
    *actor_critic.ARG_RULES,
    cli.number(["beta"], 0.0, open_low=True),
    cli.number(["alpha"], 0.0, 1.0, note=" (alpha = c_KL / (c_KL + c_ent))"),
)
SCHEMA = actor_critic.checkpoint_schema(SCRIPT)
# Evaluation tags (return, normalised score) of the task policies and of pi0 acting alone (the paper's panel B1).
EVAL_TAGS = {False: ("eval/episodic_return", "eval/normalized_score")}
EVAL_TAGS[True] = ("eval/distilled_return", "eval/distilled_normalized_score")


class Agent(nn.Module):
    """The distilled column h (pi0 = softmax(h)) and a column f_i with value V_i per task (env group i is fed to
    column i). Two columns: pi_i = softmax(alpha h + f_i); one column: separate networks, pi_i = softmax(f_i),
    interacting only through the KL. The recurrent state is [distilled column's, task columns']."""

    def __init__(
        self, obs_shape: tuple[int, ...], image: bool, num_actions: int, num_tasks: int, hidden: int, alpha: float,
        two_columns: bool,
    ):  # fmt: skip
        super().__init__()
        self.alpha, self.two_columns = alpha, two_columns
        self.distilled = Column(obs_shape, image, num_actions, hidden, with_value=False)
        self.tasks = TaskColumns(obs_shape, image, num_actions, num_tasks, hidden)

    def initial_state(self, num_envs: int, device: torch.device) -> list:
        return [self.distilled.initial_state(num_envs, device), self.tasks.initial_state(num_envs, device)]

    def get_value(self, obs, state, episode_start, task_ids) -> torch.Tensor:
        return self.tasks(obs, state[1], episode_start, task_ids)[1]

    def get_policies(self, obs, state, episode_start, task_ids, action_mask):
        """The task policies pi_i and the distilled policy pi0 (distributions), the values and the new state."""
        hidden, distilled_state = self.distilled.torso(obs, state[0], episode_start)
        h = self.distilled.policy(hidden)
        f, value, task_state = self.tasks(obs, state[1], episode_start, task_ids)
        # invalid actions (mask False) get a large negative logit, so they are never sampled
        policy = Categorical(logits=(self.alpha * h + f if self.two_columns else f).masked_fill(~action_mask, -1e8))
        distilled = Categorical(logits=h.masked_fill(~action_mask, -1e8))
        return policy, distilled, value, [distilled_state, task_state]


def evaluation_rule(agent: Agent, task_ids: torch.Tensor, use_distilled: bool) -> actor_critic.Choose:
    """Evaluation samples from the task policies (or from pi0 alone), as they act in training."""

    def choose(obs, state, episode_start, mask):
        policy, distilled, _, state = agent.get_policies(obs, state, episode_start, task_ids, mask)
        return (distilled if use_distilled else policy).sample(), state

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
    envs, layout = actor_critic.make_grouped_envs(args.env_id, args.num_envs, env_kwargs, "Distral")
    eval_envs = None
    task_names, num_actions = envs.unwrapped.task_names, envs.single_action_space.n
    task_ids = torch.as_tensor(envs.unwrapped.env_task_ids, device=device)
    num_columns = len(task_names) + 1
    actor_critic.require_memory_for(num_columns, layout, num_actions, args.hidden_size, args.num_steps, args.num_envs)
    agent = Agent(layout.shape, layout.image, num_actions, len(task_names), args.hidden_size, args.alpha, TWO_COLUMNS)
    agent = agent.to(device)
    optimizer = torch.optim.RMSprop(
        agent.parameters(), lr=args.learning_rate, alpha=args.rmsprop_alpha, eps=args.rmsprop_eps
    )
    c_kl, c_ent = args.alpha / args.beta, (1.0 - args.alpha) / args.beta

    global_step, update = (saved["global_step"], saved["update"]) if saved else (0, 0)
    if saved:
        actor_critic.restore(saved, agent, optimizer, args.resume)
    run_path = run.run_dir(run_name)
    tb = writer.open_writer(args, run_name, run_path, envs, global_step if saved else None)

    def save_checkpoint() -> None:
        payload = actor_critic.checkpoint_payload(SCRIPT, args, run_name, global_step, update, agent, optimizer)
        checkpoint.save(run_path / "checkpoint.pt", payload)

    # Rollout storage, allocated once: the shared fields (actor_critic.Rollout) and Distral's own
    rollout = actor_critic.Rollout.allocate(args.num_steps, args.num_envs, layout.shape, num_actions, device)
    logprobs = torch.zeros((args.num_steps, args.num_envs), device=device)  # log pi_i(a|s)
    distilled_logprobs = torch.zeros((args.num_steps, args.num_envs), device=device)  # log pi0(a|s)
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
                policy, distilled, value, lstm_state = agent.get_policies(
                    stream.obs, lstm_state, stream.episode_start, task_ids, stream.mask
                )
                action = policy.sample()
            rollout.actions[step], rollout.values[step] = action, value
            logprobs[step], distilled_logprobs[step] = policy.log_prob(action), distilled.log_prob(action)
            global_step += stream.step(action, rollout, step, args.clip_rewards)
            progress.log_finished_episodes(
                tb, stream.infos, stream.terminations, stream.shortest_paths, task_names, global_step, tracker
            )

        # --- returns --- n-step returns of the regularised reward r + (alpha/beta) log pi0 - (1/beta) log pi_i
        with torch.no_grad():
            regularisers = c_kl * distilled_logprobs - logprobs / args.beta
            next_value = agent.get_value(stream.obs, lstm_state, stream.episode_start, task_ids)
            returns = actor_critic.n_step_returns(rollout.rewards + regularisers, rollout, next_value, args.gamma)

        # --- loss --- policy gradient (the step's own regulariser enters analytically as c_KL KL - c_ent H) and
        # value loss over the valid (non-autoreset) steps, re-evaluated with gradients (the LSTM unrolls again
        # from the rollout's first state); the KL's gradient through h distils the task policies into pi0
        policy, distilled, newvalue, _ = agent.get_policies(
            rollout.obs.flatten(0, 1),
            initial_lstm_state,
            rollout.episode_starts.flatten(),
            task_ids,
            rollout.action_masks.flatten(0, 1),
        )
        valid = (~rollout.autoreset_steps).flatten()
        kl = torch.distributions.kl_divergence(policy, distilled)
        entropy = policy.entropy()
        advantages = (returns - regularisers).flatten() - newvalue.detach()
        policy_loss = masked_mean(-advantages * policy.log_prob(rollout.actions.flatten()), valid)
        value_loss = masked_mean(0.5 * (returns.flatten() - newvalue) ** 2, valid)
        kl_loss, entropy_loss = masked_mean(kl, valid), masked_mean(entropy, valid)
        loss = policy_loss + c_kl * kl_loss - c_ent * entropy_loss + args.value_coef * value_loss

        # --- update --- one RMSProp step; every column (pi0's and each task's) is clipped on its own
        actor_critic.anneal_learning_rate(optimizer, args, update_start_step)
        optimizer.zero_grad()
        loss.backward()
        columns = [agent.distilled, *agent.tasks]
        grad_norms = [nn.utils.clip_grad_norm_(column.parameters(), args.max_grad_norm) for column in columns]
        optimizer.step()

        # --- logging --- losses and SPS, evaluation of pi_i and pi0, progress line, checkpoint
        last_update = global_step >= args.total_timesteps
        if update % 10 == 0 or last_update:
            cross_entropy = -(policy.probs.detach() * distilled.logits).sum(1)  # of pi0 against pi_i
            for tag, value in (
                ("losses/policy_loss", policy_loss.item()), ("losses/value_loss", value_loss.item()),
                ("losses/entropy", entropy_loss.item()), ("losses/kl_to_distilled", kl_loss.item()),
                ("losses/distill_loss", masked_mean(cross_entropy, valid).item()),
                ("losses/grad_norm_max", max(norm.item() for norm in grad_norms)),
                ("charts/SPS", tracker.sps(global_step)),
            ):  # fmt: skip
                tb.add_scalar(tag, value, global_step)
        if args.eval_interval and (progress.crossed(args.eval_interval, update_start_step, global_step) or last_update):
            if eval_envs is None:
                eval_envs, _ = actor_critic.make_grouped_envs(
                    args.env_id, len(task_names) * args.eval_episodes, env_kwargs, "Distral"
                )
            eval_task_ids = torch.as_tensor(eval_envs.unwrapped.env_task_ids, device=device)
            for use_distilled, tags in EVAL_TAGS.items():
                rule = evaluation_rule(agent, eval_task_ids, use_distilled)
                initial_state = agent.initial_state(eval_envs.num_envs, device)
                act = actor_critic.evaluation_act(eval_envs, layout, device, initial_state, rule)
                actor_critic.evaluate(tb, tags, eval_envs, act, args.seed + 10_000 + update, task_names, global_step)
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
