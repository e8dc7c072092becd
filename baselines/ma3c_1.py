"""MA3C-1 (Wang & Yang, "Multi-task Asynchronous Deep Reinforcement Learning"): the conv and FC layers are
shared by all tasks; each task has its own LSTM and its own policy and value output layers.

The architecture, the loss, how this differs from the paper and results: docs/ma3c.md.
Conventions shared by every baseline (run names, metrics, env steps, checkpoints): docs/baselines.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import gymnasium as gym
import torch
import torch.nn as nn
from torch.distributions import Categorical

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.train import actor_critic, checkpoint, cli, progress, run, writer
from mtenvs.train.actor_critic import masked_mean
from mtenvs.train.networks import IMAGE_FEATURES, layer_init
from mtenvs.train.observations import ObservationLayout

SCRIPT = os.path.basename(__file__)
MIN_IMAGE_SIZE = 20  # the smallest image side the CNN reduces to a feature map of at least one cell
PIXELS_HINT = """for TwoRooms pass --env-kwargs '{"observation_type": "pixels"}'"""


@dataclass
class Args(actor_critic.ActorCriticArgs):
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    env_id: str = "MultiAtari-PongBreakout-v0"
    """the id of a multi-task mtenvs environment with image observations and at least two tasks"""
    max_grad_norm: float = 0.5
    """maximum norm of the whole gradient (shared and task layers together)"""
    ent_coef: float | None = None
    """coefficient of the entropy bonus (default per env family)"""


# Defaults of the fields left unset, per env family: the shared ones of every actor-critic baseline with A3C's entropy
# cost, as a3c_independent.py's, so that the two compare at equal settings (the paper's protocol; values and sources:
# actor_critic.FAMILY_DEFAULTS), but the paper's 16 envs (its 16 threads) and 10M steps. Image families only.
FAMILY_DEFAULTS = actor_critic.family_defaults(
    ("tworooms", "atari", "miniworld"), ent_coef=0.01, num_envs=16, total_timesteps=10_000_000
)
ARG_RULES = (*actor_critic.ARG_RULES, cli.number(["ent_coef"], 0.0))
SCHEMA = actor_critic.checkpoint_schema(SCRIPT)
EVAL_TAGS = ("eval/episodic_return", "eval/normalized_score")


def require_image_tasks(envs: gym.vector.VectorEnv, layout: ObservationLayout, env_id: str) -> None:
    """What MA3C needs beyond actor_critic.make_grouped_envs: several tasks and images its CNN takes; otherwise a
    clear error (and ``envs`` closed)."""
    problem, num_tasks = None, envs.unwrapped.num_tasks
    if num_tasks < 2:
        problem = (
            f"has {num_tasks} task; MA3C shares layers between tasks and needs an env with several "
            "(for a single task, train baselines/a3c_independent.py)"
        )
    elif not layout.image:
        problem = f"gives {envs.single_observation_space}; MA3C's CNN needs image observations ({PIXELS_HINT})"
    elif min(layout.shape[1:]) < MIN_IMAGE_SIZE:
        problem = (
            f"gives {envs.single_observation_space.shape} images; the CNN (8x8 stride 4, then 4x4 stride 2) needs "
            f"at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} pixels ({PIXELS_HINT})"
        )
    if problem:
        envs.close()
        raise cli.BadArgument(f"{env_id} {problem}.")


def conv_encoder(obs_shape: tuple[int, ...]) -> nn.Sequential:
    """The A3C CNN (Mnih et al. 2016): two conv layers and a fully connected layer of IMAGE_FEATURES units."""
    encoder = nn.Sequential(
        layer_init(nn.Conv2d(obs_shape[0], 16, 8, stride=4)),
        nn.ReLU(),
        layer_init(nn.Conv2d(16, 32, 4, stride=2)),
        nn.ReLU(),
        nn.Flatten(),
    )
    with torch.no_grad():
        flat = encoder(torch.zeros(1, *obs_shape)).shape[1]
    encoder.append(layer_init(nn.Linear(flat, IMAGE_FEATURES)))
    encoder.append(nn.ReLU())
    return encoder


class Agent(nn.Module):
    """MA3C-1: the conv + FC encoder is shared; each task has its own LSTM and policy / value output layers.

    The envs come as equal contiguous groups, one per task (grouped assignment with --num-envs a multiple
    of the task count): group k runs task k and goes through task k's LSTM and output layers.
    """

    def __init__(self, obs_shape: tuple[int, ...], num_actions: int, num_tasks: int, hidden: int):
        super().__init__()
        self.num_tasks = num_tasks
        self.encoder = conv_encoder(obs_shape)
        self.lstms = nn.ModuleList(nn.LSTMCell(IMAGE_FEATURES, hidden) for _ in range(num_tasks))
        self.policy_heads = nn.ModuleList(
            layer_init(nn.Linear(hidden, num_actions), std=0.01) for _ in range(num_tasks)
        )
        self.value_heads = nn.ModuleList(layer_init(nn.Linear(hidden, 1), std=1.0) for _ in range(num_tasks))

    @staticmethod
    def num_columns(num_tasks: int) -> int:
        """How many columns the memory check counts (actor_critic.require_memory_for): an upper bound, the shared
        layers counted once per task."""
        return num_tasks

    def initial_state(self, num_envs: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(num_envs, self.lstms[0].hidden_size, device=device)
        return zeros, zeros.clone()

    def lstm_step(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """One LSTM step of every env: task k's group of envs through task k's LSTM."""
        groups = zip(self.lstms, x.chunk(self.num_tasks), *(s.chunk(self.num_tasks) for s in state), strict=True)
        steps = [lstm(x_k, (h_k, c_k)) for lstm, x_k, h_k, c_k in groups]
        return torch.cat([h for h, _ in steps]), torch.cat([c for _, c in steps])

    def torso(self, obs: torch.Tensor, state, episode_start: torch.Tensor):
        """LSTM features of T * num_envs rows (time-major) and the LSTM state after the last time step."""
        x = self.encoder(obs)
        num_envs = state[0].shape[0]
        outputs = []
        for x_t, start_t in zip(x.reshape(-1, num_envs, x.shape[1]), episode_start.reshape(-1, num_envs), strict=True):
            keep = (1.0 - start_t).unsqueeze(1)  # a new episode starts from a zero LSTM state
            state = self.lstm_step(x_t, (state[0] * keep, state[1] * keep))
            outputs.append(state[0])
        return torch.cat(outputs), state

    def heads(self, hidden: torch.Tensor, task_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and value of every row from its own task's output layers."""
        row_tasks = task_ids.repeat(hidden.shape[0] // task_ids.shape[0])
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        logits = torch.stack([head(hidden) for head in self.policy_heads], dim=1)[rows, row_tasks]
        values = torch.cat([head(hidden) for head in self.value_heads], dim=1)[rows, row_tasks]
        return logits, values

    def get_value(self, obs, state, episode_start, task_ids) -> torch.Tensor:
        return self.heads(self.torso(obs, state, episode_start)[0], task_ids)[1]

    def get_action_and_value(self, obs, state, episode_start, task_ids, action_mask, action=None):
        hidden, state = self.torso(obs, state, episode_start)
        logits, value = self.heads(hidden, task_ids)
        # invalid actions (mask False) get a large negative logit, so they are never sampled
        policy = Categorical(logits=logits.masked_fill(~action_mask, -1e8))
        if action is None:
            action = policy.sample()
        return action, policy.log_prob(action), policy.entropy(), value, state


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
    envs, layout = actor_critic.make_grouped_envs(args.env_id, args.num_envs, env_kwargs, "MA3C")
    eval_envs = None
    task_names, num_actions = envs.unwrapped.task_names, envs.single_action_space.n
    task_ids = torch.as_tensor(envs.unwrapped.env_task_ids, device=device)
    require_image_tasks(envs, layout, args.env_id)
    num_columns = Agent.num_columns(len(task_names))
    actor_critic.require_memory_for(num_columns, layout, num_actions, args.hidden_size, args.num_steps, args.num_envs)
    agent = Agent(layout.shape, num_actions, len(task_names), args.hidden_size).to(device)
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

        # --- update --- one RMSProp step on the shared and the task layers together (the tasks' losses
        # meet in the shared layers, so the gradient is clipped as a whole)
        actor_critic.anneal_learning_rate(optimizer, args, update_start_step)
        optimizer.zero_grad()
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
        optimizer.step()

        # --- logging --- losses and SPS, evaluation, progress line, checkpoint
        last_update = global_step >= args.total_timesteps
        if update % 10 == 0 or last_update:
            for tag, value in (
                ("losses/policy_loss", policy_loss.item()), ("losses/value_loss", value_loss.item()),
                ("losses/entropy", entropy_loss.item()), ("losses/grad_norm", grad_norm.item()),
                ("charts/SPS", tracker.sps(global_step)),
            ):  # fmt: skip
                tb.add_scalar(tag, value, global_step)
        if args.eval_interval and (progress.crossed(args.eval_interval, update_start_step, global_step) or last_update):
            if eval_envs is None:
                eval_envs, _ = actor_critic.make_grouped_envs(
                    args.env_id, len(task_names) * args.eval_episodes, env_kwargs, "MA3C"
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
