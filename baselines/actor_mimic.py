"""Actor-Mimic (Parisotto, Ba & Salakhutdinov 2016): one network that imitates a DQN expert per task.

The Actor-Mimic Network (AMN) has the DQN layout (a torso and one head over the env's union action
space). On states from task i it is trained towards expert E_i (a `dqn.py --save-model` checkpoint):

    policy regression   L_policy^i  = -sum_a pi_Ei(a|s) log pi_AMN(a|s),  pi_Ei = softmax(Q_Ei(s, .) / tau)
    feature regression  L_feature^i = || f_i(h_AMN(s)) - h_Ei(s) ||^2    (f_i: a linear map per task)
    loss                = sum_i sum_(s in minibatch_i)  L_policy^i + beta/2 * L_feature^i

For vector observations the AMN also reads the one-hot task id (`--task-input`, on by default there:
MultiControl pads every task's state to one vector, and some tasks' states coincide); for pixels it does not,
as in the paper. Both softmaxes run over task i's valid actions only (`info["action_mask"]`). The AMN itself collects
the data, acting epsilon-greedy (epsilon = 0.1) on every task; each task has its own replay memory of
visited states, and every update draws a minibatch from every task. `--save-model` writes an
"mtenvs-amn/1" checkpoint whose torso `dqn.py --init-from` copies (the transfer step).

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
from mtenvs.train.cli import BadArgument
from mtenvs.train.dqn_format import AMN_FORMAT, QNetwork
from mtenvs.train.observations import task_action_masks

SCRIPT = os.path.basename(__file__)
CHECKPOINT_FORMAT = "mtenvs-amn-train/3"  # /3: adam.lua's PaperAdam (gamma, not eps); the task input


# The run flags (mtenvs.train.args) and the flags of every one-env-per-task script (dqn_family.TaskEnvArgs).
@dataclass
class Args(dqn_family.TaskEnvArgs):
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    save_model: bool = False
    """if toggled, save the AMN to runs/{run_name}/{exp_name}.pt (format "mtenvs-amn/1", for dqn.py --init-from)"""
    optimizer: str | None = None
    """"paper_adam" (the authors' adam.lua: PaperAdam) or "adam" (torch's)
    (default: paper_adam for atari and miniworld; adam otherwise, where it distils faster: docs/actor_mimic.md)"""
    hidden_sizes: tuple[int, ...] = (80, 80, 80)
    """MLP torso widths for vector observations (match the experts' to transfer with dqn.py --init-from)"""
    experts: tuple[str, ...] = ()
    """expert checkpoints written by `dqn.py --save-model`, one per task, in the env's task order"""
    tau: float = 1.0
    """temperature of the experts' Boltzmann policies softmax(Q / tau) (paper: 1)"""
    epsilon: float = 0.1
    """constant exploration rate of the AMN while it collects data (paper: 0.1)"""
    feature_regression: bool = False
    """if toggled, add the feature-regression loss (the paper's AMN-feature)"""
    feature_regression_scale: float = 0.01
    """beta, the weight of the feature-regression loss (paper: 0.01)"""
    task_input: bool | None = None
    """True: the AMN also reads the one-hot task id (default: on for vector observations, where tasks can
    look alike, e.g. MultiControl's padded MountainCar and Car-on-Hill; off for pixels, as in the paper)"""


# The paper's Atari settings for the pixel families; control scale for vector observations (TwoRooms takes these
# whichever observation_type it renders).
PIXELS = {"optimizer": "paper_adam", "learning_rate": 2.5e-4, "buffer_size": 100_000, "batch_size": 8,
          "learning_starts": 10_000, "train_frequency": 4, "eval_epsilon": 0.05,
          "total_timesteps": 100_000}  # fmt: skip
VECTORS = {"optimizer": "adam", "learning_rate": 1e-3, "buffer_size": 10_000, "batch_size": 32,
           "learning_starts": 500, "train_frequency": 1, "eval_epsilon": 0.0, "total_timesteps": 100_000}  # fmt: skip
FAMILY_DEFAULTS = {"atari": PIXELS, "miniworld": PIXELS, "control": VECTORS, "tworooms": VECTORS}

ARG_RULES = (
    *dqn_family.TASK_ENV_RULES,
    cli.number(["tau"], 0.0, open_low=True),
    cli.number(["epsilon"], 0.0, 1.0),
    cli.number(["feature_regression_scale"], 0.0),
    cli.choice(["optimizer"], ("paper_adam", "adam")),
)
SCHEMA = {
    "format": CHECKPOINT_FORMAT, "args": dict, "run_name": str, "global_step": int, "task_step": int, "updates": int,
    "model": dict, "optimizer": dict, "replay": replay.TaskReplay.schema(), "rng": checkpoint.RNG_SCHEMA,
}  # fmt: skip


class ActorMimicNetwork(QNetwork):
    """The AMN: a QNetwork whose outputs are policy logits, plus a linear map f_i per task onto expert i's features."""

    def __init__(
        self, torso_type, obs_shape, hidden_sizes, num_actions, expert_feature_dims: list[int] | None,
        task_inputs: int = 0,
    ):  # fmt: skip
        super().__init__(torso_type, obs_shape, hidden_sizes, num_actions, task_inputs)
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
    sizes = [len(obs) for obs in obs_per_task]
    task_ids = torch.repeat_interleave(
        torch.arange(len(sizes), device=masks.device), torch.tensor(sizes).to(masks.device)
    )
    logits, features = amn(torch.cat(obs_per_task), task_ids)
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
    """The authors' Adam, as their ``optimizers/adam.lua`` runs it (docs/references.md cites the lines):

        m = beta1 m + (1 - beta1) g        v = beta2 v + (1 - beta2) g^2
        step = lr * sqrt(1 - beta2) / (1 - beta1) * m / sqrt(v + gamma)

    with a constant correction factor instead of Adam's bias correction, and gamma inside the square root.
    Because gamma is not negligible, the step depends on the gradient's scale: the script feeds it the
    gradient of the loss summed over the whole minibatch, as the authors' code does (``amn_loss``)."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.95, 0.95), gamma: float = 0.01):
        super().__init__(params, {"lr": lr, "betas": betas, "gamma": gamma})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            factor = group["lr"] * (1.0 - beta2) ** 0.5 / (1.0 - beta1)
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                state["exp_avg"].mul_(beta1).add_(param.grad, alpha=1.0 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(param.grad, param.grad, value=1.0 - beta2)
                param.addcdiv_(state["exp_avg"], state["exp_avg_sq"].add(group["gamma"]).sqrt_(), value=-factor)


def amn_loss(losses: dict[str, torch.Tensor], batch_size: int, feature_regression_scale: float) -> torch.Tensor:
    """The loss the update descends, the authors' way: summed over every state of the minibatch (``batch_size``
    per task; their Lua code back-propagates each state's gradient without averaging) and with the feature term
    beta/2 ||f_i(h) - h_Ei||^2, whose gradient beta (f_i(h) - h_Ei) is the one their code uses."""
    per_task = losses["policy"] + 0.5 * feature_regression_scale * losses["feature"]
    return batch_size * per_task.sum()


def load_experts(
    paths: tuple[str, ...], task_names: tuple[str, ...], obs_shape: tuple[int, ...], num_actions: int, masks
) -> list[QNetwork]:
    """One frozen expert per task (dqn.py's model files, verified); a clear error if one was made for another task
    or shape."""
    if not paths or len(paths) != len(task_names):
        raise BadArgument(
            f"--experts: got {len(paths)} checkpoints for the {len(task_names)} tasks {list(task_names)}; "
            "give one dqn.py model per task, in task order (--experts A.pt B.pt)."
        )
    experts = []
    for path, task, mask in zip(paths, task_names, masks, strict=True):
        model, expert = dqn_format.load_model(path, "--experts")
        prefix = f"--experts: {path} (task {task!r})"
        if model["task"] != task:
            raise BadArgument(
                f"--experts: {path} is an expert for task {model['task']!r}, but this slot is task {task!r}."
            )
        if tuple(model["obs_shape"]) != tuple(obs_shape):
            raise BadArgument(f"{prefix} was trained on observations of shape {tuple(model['obs_shape'])}, "
                              f"the env gives {tuple(obs_shape)}.")  # fmt: skip
        if model["num_actions"] != num_actions:
            raise BadArgument(f"{prefix} has {model['num_actions']} actions, the env's action space has {num_actions}.")
        if "action_mask" in model and not np.array_equal(np.asarray(model["action_mask"], dtype=bool), mask):
            raise BadArgument(f"{prefix} has valid actions {model['action_mask']}, "
                              f"the env's are {mask.astype(int).tolist()}.")  # fmt: skip
        experts.append(expert.eval().requires_grad_(False))
    return experts


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
    envs, layout = dqn_family.task_envs(args.env_id, env_kwargs, 1, "Actor-Mimic")
    task_names = tuple(envs.unwrapped.task_names)
    num_tasks, num_actions = len(task_names), int(envs.single_action_space.n)
    obs_space = envs.single_observation_space
    fields = {"obs": (obs_space.shape, obs_space.dtype)}
    cli.require_memory(replay.nbytes(fields, num_tasks * args.buffer_size), f"--buffer-size {args.buffer_size} "
                       f"(x {num_tasks} tasks of {obs_space.shape} {obs_space.dtype} states)")  # fmt: skip
    obs, infos = envs.reset(seed=args.seed)
    masks_np = task_action_masks(infos, num_tasks, num_actions)
    masks = torch.as_tensor(masks_np, device=device)
    experts = [e.to(device) for e in load_experts(args.experts, task_names, obs_space.shape, num_actions, masks_np)]
    torso_type = dqn_format.torso_type_of(layout.shape)
    task_inputs = num_tasks if dqn_family.task_input_of(args.task_input, layout) else 0
    amn = ActorMimicNetwork(
        torso_type, layout.shape, args.hidden_sizes, num_actions,
        [e.feature_dim for e in experts] if args.feature_regression else None, task_inputs,
    ).to(device)  # fmt: skip
    task_ids = torch.arange(num_tasks, device=device)  # the rollout env of task i is env i
    if args.optimizer == "paper_adam":
        optimizer = PaperAdam(amn.parameters(), lr=args.learning_rate)
    else:
        optimizer = torch.optim.Adam(amn.parameters(), lr=args.learning_rate)

    # --- storage --- the states each task's env visited, one ring per task (the targets come from the experts)
    memory = replay.TaskReplay(num_tasks, args.buffer_size, fields)

    global_step, task_step, updates = (
        (saved["global_step"], saved["task_step"], saved["updates"]) if saved else (0, 0, 0)
    )
    refill_from = 0  # a resumed run without its memories refills them before training again
    if saved:
        checkpoint.load_state(amn, saved["model"], "--resume", args.resume, "model")
        checkpoint.load_state(optimizer, saved["optimizer"], "--resume", args.resume, "optimizer")
        if not memory.restore(saved["replay"], "--resume", args.resume):
            refill_from = task_step
        checkpoint.restore_rng(saved["rng"])
    run_path = run.run_dir(run_name)
    tb = writer.open_writer(args, run_name, run_path, envs, global_step if saved else None)

    def save_checkpoint() -> None:
        checkpoint.save(run_path / "checkpoint.pt", {
            "format": CHECKPOINT_FORMAT, "args": asdict(args), "run_name": run_name, "global_step": global_step,
            "task_step": task_step, "updates": updates, "model": amn.state_dict(), "optimizer": optimizer.state_dict(),
            "replay": memory.state(args.checkpoint_replay), "rng": checkpoint.rng_state(),
        })  # fmt: skip

    eval_envs, expert_returns, last_eval_step = None, None, -1

    def evaluate() -> None:
        nonlocal eval_envs, expert_returns, last_eval_step
        if not args.eval_episodes or last_eval_step == global_step:
            return
        last_eval_step = global_step
        if eval_envs is None:
            eval_envs, _ = dqn_family.task_envs(args.env_id, env_kwargs, args.eval_episodes, "Actor-Mimic")
        seed = args.seed + 10_000
        amn_returns = dqn_family.evaluate_tasks(eval_envs, layout, lambda x, ids: amn(x, ids)[0], masks,
                                                args.eval_epsilon, seed, device)  # fmt: skip
        if expert_returns is None:  # the experts are fixed: evaluated once (each on every task), logged every time
            expert_returns = [
                dqn_family.evaluate_tasks(eval_envs, layout, lambda x, _, e=expert: e(x)[0], masks, args.eval_epsilon,
                                          seed, device)[task]
                for task, expert in enumerate(experts)
            ]  # fmt: skip
        for name, ret in zip(task_names, expert_returns, strict=True):
            tb.add_scalar(f"eval/expert_return/{name}", ret, global_step)
        dqn_family.log_evaluation(tb, task_names, amn_returns, global_step)

    tracker = progress.Progress(args.progress_interval, args.total_timesteps, global_step)
    autoreset = np.zeros(num_tasks, dtype=bool)  # the env ignores its next action and resets
    steps_per_task = args.total_timesteps // num_tasks
    while task_step < steps_per_task:
        # --- rollout --- the AMN acts epsilon-greedy in every task; visited states go to that task's memory
        with torch.no_grad():
            logits, _ = amn(layout.to_tensor(obs, device), task_ids)
        actions = dqn_family.masked_epsilon_greedy(logits, masks, args.epsilon)
        for task in np.flatnonzero(~autoreset):
            memory.add(task, obs=obs[task])
        obs, _, terminations, truncations, infos = envs.step(actions.cpu().numpy())
        autoreset = np.logical_or(terminations, truncations)
        global_step += num_tasks
        task_step += 1
        dqn_family.log_task_episodes(tb, infos, task_names, global_step, tracker)

        if task_step >= refill_from + args.learning_starts and task_step % args.train_frequency == 0:
            # --- loss --- a minibatch from every task's memory, each against its own expert
            batch = layout.to_tensor(memory.sample(args.batch_size)["obs"], device)
            losses = actor_mimic_losses(amn, experts, list(batch.split(args.batch_size)), masks, args.tau,
                                        args.feature_regression)  # fmt: skip
            loss = amn_loss(losses, args.batch_size, args.feature_regression_scale)
            # --- update ---
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            updates += 1
            # --- logging ---
            if updates == 1 or updates % 100 == 0:
                for task, name in enumerate(task_names):
                    tb.add_scalar(f"losses/policy_loss/{name}", losses["policy"][task].item(), global_step)
                    tb.add_scalar(f"losses/feature_loss/{name}", losses["feature"][task].item(), global_step)
                    tb.add_scalar(f"charts/expert_agreement/{name}", losses["agreement"][task].item(), global_step)
                tb.add_scalar("losses/policy_loss", losses["policy"].sum().item(), global_step)
                tb.add_scalar("losses/feature_loss", losses["feature"].sum().item(), global_step)
                tb.add_scalar("charts/SPS", tracker.sps(global_step), global_step)

        if tracker.due(task_step == steps_per_task):
            tracker.print(global_step)
        if args.eval_interval and global_step % args.eval_interval < num_tasks:
            evaluate()
        if args.checkpoint_interval and global_step % args.checkpoint_interval < num_tasks:
            save_checkpoint()

    evaluate()
    if args.save_model:  # dqn.py's layout (torso, head) for --init-from; the maps f_i apart
        payload = dqn_format.model_payload(
            AMN_FORMAT, amn, env_id=args.env_id, env_kwargs=env_kwargs, task=None, task_names=task_names,
            obs_shape=obs_space.shape, action_mask=masks_np.any(0), torso_type=torso_type,
            hidden_sizes=args.hidden_sizes, args=asdict(args), global_step=global_step,
        )  # fmt: skip
        payload["q_network"] = {k: v for k, v in payload["q_network"].items() if k.startswith(("torso.", "head."))}
        payload["action_masks"] = masks_np.astype(int).tolist()
        if args.feature_regression:
            payload["feature_projections"] = amn.feature_projections.state_dict()
        checkpoint.save(run_path / f"{args.exp_name}.pt", payload)
    if args.checkpoint_interval:
        save_checkpoint()
    envs.close()
    if eval_envs is not None:
        eval_envs.close()
    tb.close()
    print(f"Done: {global_step} steps; TensorBoard logs in {run_path}")


if __name__ == "__main__":
    cli.run(main, Args, SCRIPT)
