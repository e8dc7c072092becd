"""Distral KL 2col (Teh et al. 2017): task policies pulled towards a jointly distilled policy pi0.

Every task i has a policy pi_i and the tasks share a distilled policy pi0. The objective, summed
over tasks, is the return of the regularised reward

    R_i(s, a) + (alpha / beta) log pi0(a|s) - (1 / beta) log pi_i(a|s),

i.e. a KL cost c_KL = alpha / beta towards pi0 and an entropy bonus c_ent = (1 - alpha) / beta.
This "KL" variant uses alpha = 1: the KL term only, no extra entropy bonus (c_ent = 0).
Two-column parameterisation (paper eq. 6-8): pi0 = softmax(h)
with h the distilled column's logits, and pi_i = softmax(alpha * h + f_i) with f_i the task column's
logits (the paper writes beta * f_i; beta is absorbed into the column, the same function class).

Loss per update, averaged over the batch of n-step transitions (s_t, a_t) of every task's envs:

    G_t       = n-step return of the regularised reward, bootstrapped with V_i
    reg_t     = (alpha / beta) log pi0(a_t|s_t) - (1 / beta) log pi_i(a_t|s_t)
    A_t       = G_t - reg_t - V_i(s_t)        (the step's own regulariser enters analytically below)
    L_policy  = -A_t log pi_i(a_t|s_t)
    L_reg     = c_KL * KL(pi_i || pi0)(s_t) - c_ent * H(pi_i)(s_t)
    L_value   = 0.5 * (G_t - V_i(s_t))^2
    loss      = L_policy + L_reg + value_coef * L_value

The gradient of c_KL * KL(pi_i || pi0) with respect to h is the distillation gradient
-c_KL * sum_a (pi_i(a|s) - pi0(a|s)) grad h(a|s): pi0 is trained jointly towards the centroid of the
task policies. In the 2col form h also receives the task losses through pi_i's logits.

How this differs from the paper (documented in docs/distral.md):
* Synchronous batches instead of asynchronous Hogwild workers: `num_envs` envs (equal groups per
  task, `gym.make_vec(..., task_assignment="grouped")`) step together, one gradient step per
  `num_steps`-step rollout of all of them (A2C style), so the GPU sees large batches. The paper used
  32 asynchronous A3C workers per task, each applying its own gradients.
* TwoRooms uses an MLP torso; pixel envs use the paper's CNN + LSTM column.
* beta, the learning rate and the MLP width are chosen for TwoRooms on a CPU budget; the paper's
  beta grid {3e3, 1e3, 3e4} and learning rates {2e-4, 4e-4, 8e-4} are unverified (docs/references.md).
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from torch.utils.tensorboard import SummaryWriter

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.provenance import run_provenance
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment"""
    seed: int = 1
    """seed of the experiment"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    cuda: bool = True
    """if toggled, train on CUDA when it is available (the script says when it is not)"""
    torch_threads: int = 1
    """CPU threads for torch (1 is fastest for small networks on a shared CPU; 0 keeps torch's default)"""
    track: bool = False
    """if toggled, track the run with Weights and Biases (offline when WANDB_API_KEY is unset)"""
    wandb_project_name: str = "mtenvs"
    """the wandb project name"""
    wandb_entity: str | None = None
    """the entity (team) of the wandb project"""
    save_model: bool = False
    """if toggled, save the final model to runs/{run_name}/{exp_name}.pt"""
    checkpoint_interval: int = 20_000
    """save runs/{run_name}/checkpoint.pt every this many env steps (0 disables)"""
    resume: str | None = None
    """path of a checkpoint.pt to continue (its run name, args and step count are restored)"""

    env_id: str = "TwoRooms-v0"
    """the id of a multi-task mtenvs environment"""
    env_kwargs: str = "{}"
    """JSON dict of extra keyword arguments for gym.make_vec (e.g. '{"num_tasks": 2}')"""
    total_timesteps: int = 300_000
    """total env steps over all envs"""
    num_envs: int = 64
    """number of parallel envs, split into equal groups per task (must be a multiple of the task count)"""
    num_steps: int = 10
    """n of the n-step returns: steps per env per update"""
    learning_rate: float = 8e-4
    """RMSProp learning rate (paper grid {2e-4, 4e-4, 8e-4}, unverified)"""
    rmsprop_alpha: float = 0.99
    """RMSProp smoothing constant"""
    rmsprop_eps: float = 1e-5
    """RMSProp epsilon"""
    gamma: float = 0.95
    """discount factor"""
    alpha: float = 1.0
    """Distral alpha = c_KL / (c_KL + c_ent) in [0, 1]; 1 is the paper's KL-only setting"""
    beta: float = 50.0
    """Distral beta = 1 / (c_KL + c_ent) > 0 (inverse regularisation strength)"""
    value_coef: float = 0.5
    """coefficient of the value loss"""
    max_grad_norm: float = 0.5
    """maximum norm of the gradient"""
    hidden_size: int = 128
    """width of the MLP torso (vector observations) or of the LSTM (pixel observations)"""
    clip_rewards: bool = False
    """if toggled, sign-clip rewards (the Atari convention); the env never clips"""
    eval_interval: int = 50_000
    """evaluate pi0 and the task policies every this many env steps (0 disables)"""
    eval_episodes: int = 8
    """evaluation episodes per task"""


def check_args(args: Args) -> dict:
    """Reject invalid hyperparameters before anything is built; return the parsed env kwargs."""
    if not 0.0 <= args.alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1] (alpha = c_KL / (c_KL + c_ent)), got {args.alpha}.")
    if not args.beta > 0.0:
        raise ValueError(f"beta must be > 0 (beta = 1 / (c_KL + c_ent)), got {args.beta}.")
    for name in ("total_timesteps", "num_envs", "num_steps", "hidden_size", "eval_episodes"):
        if getattr(args, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(args, name)}.")
    for name in ("checkpoint_interval", "eval_interval", "torch_threads"):
        if getattr(args, name) < 0:
            raise ValueError(f"{name} must be >= 0 (0 disables), got {getattr(args, name)}.")
    if args.total_timesteps < args.num_envs * args.num_steps:
        raise ValueError(
            f"total_timesteps={args.total_timesteps} is less than one update "
            f"(num_envs * num_steps = {args.num_envs * args.num_steps})."
        )
    if not 0.0 < args.gamma <= 1.0:
        raise ValueError(f"gamma must lie in (0, 1], got {args.gamma}.")
    if not args.learning_rate > 0.0:
        raise ValueError(f"learning_rate must be > 0, got {args.learning_rate}.")
    env_kwargs = json.loads(args.env_kwargs)
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"env_kwargs must be a JSON object, got {args.env_kwargs!r}.")
    return env_kwargs


def make_envs(env_id: str, num_envs: int, env_kwargs: dict) -> gym.vector.VectorEnv:
    """Grouped multi-task vector env; clear errors for envs outside the multi-task contract."""
    if not str(gym.spec(env_id).entry_point).startswith("mtenvs."):
        raise ValueError(
            f"{env_id} has no multi-task contract (it is not an mtenvs env); use an mtenvs id "
            "such as TwoRooms-v0 or MultiAtari-PongBreakout-v0."
        )
    envs = gym.make_vec(env_id, num_envs=num_envs, task_assignment="grouped", **env_kwargs)
    base = envs.unwrapped
    if not hasattr(base, "task_names") or getattr(base, "env_task_ids", None) is None:
        envs.close()
        raise ValueError(
            f"{env_id} has no multi-task contract (task_names, grouped env_task_ids); use an mtenvs id "
            "such as TwoRooms-v0 or MultiAtari-PongBreakout-v0."
        )
    if num_envs % base.num_tasks:
        envs.close()
        raise ValueError(
            f"num_envs={num_envs} must be a multiple of the {base.num_tasks} tasks of {env_id} "
            "(every task gets an equal group of envs)."
        )
    if not isinstance(envs.single_action_space, spaces.Discrete):
        envs.close()
        raise ValueError(f"Distral needs a Discrete action space, {env_id} has {envs.single_action_space}.")
    obs_space = envs.single_observation_space
    if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) not in (1, 3):
        envs.close()
        raise ValueError(
            f"Observations must be a Box vector (MLP torso) or image (CNN + LSTM torso); {env_id} gives {obs_space}."
        )
    if AutoresetMode(envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)) != AutoresetMode.NEXT_STEP:
        envs.close()
        raise ValueError(f"{env_id}: this script expects next-step autoreset (Gymnasium's default).")
    return RecordTaskEpisodeStatisticsVector(envs)


def observation_layout(obs_space: spaces.Box) -> tuple[tuple[int, ...], bool, bool]:
    """(channel-first shape, is an image, is channel-last) of an observation space."""
    shape = obs_space.shape
    if len(shape) == 1:
        return shape, False, False
    channel_last = shape[-1] <= 4 < shape[0]
    return ((shape[2], shape[0], shape[1]) if channel_last else shape), True, channel_last


def to_tensor(obs: np.ndarray, layout: tuple, device: torch.device) -> torch.Tensor:
    """Float batch for the torso: images channel-first and scaled to [0, 1] when stored as uint8."""
    _, image, channel_last = layout
    x = torch.as_tensor(obs, device=device)
    if image:
        x = x.permute(0, 3, 1, 2) if channel_last else x
        return x.float() / 255.0 if obs.dtype == np.uint8 else x.float()
    return x.float()


def layer_init(layer: nn.Module, std: float = np.sqrt(2), bias: float = 0.0) -> nn.Module:
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias)
    return layer


class Column(nn.Module):
    """One column: MLP torso for vectors, CNN + LSTM for pixels; policy logits and optionally a value."""

    def __init__(self, obs_shape: tuple[int, ...], image: bool, num_actions: int, hidden: int, with_value: bool):
        super().__init__()
        self.image = image
        if image:
            self.encoder = nn.Sequential(
                layer_init(nn.Conv2d(obs_shape[0], 16, 8, stride=4)),
                nn.ReLU(),
                layer_init(nn.Conv2d(16, 32, 4, stride=2)),
                nn.ReLU(),
                nn.Flatten(),
            )
            with torch.no_grad():
                flat = self.encoder(torch.zeros(1, *obs_shape)).shape[1]
            self.encoder.append(layer_init(nn.Linear(flat, 256)))
            self.encoder.append(nn.ReLU())
            self.lstm = nn.LSTMCell(256, hidden)
        else:
            self.encoder = nn.Sequential(
                layer_init(nn.Linear(obs_shape[0], hidden)),
                nn.Tanh(),
                layer_init(nn.Linear(hidden, hidden)),
                nn.Tanh(),
            )
        self.policy = layer_init(nn.Linear(hidden, num_actions), std=0.01)
        self.value = layer_init(nn.Linear(hidden, 1), std=1.0) if with_value else None

    def initial_state(self, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not self.image:
            return None
        zeros = torch.zeros(batch, self.lstm.hidden_size, device=device)
        return zeros, zeros.clone()

    def forward(self, obs: torch.Tensor, state, episode_start: torch.Tensor):
        x = self.encoder(obs)
        if self.image:
            keep = (1.0 - episode_start).unsqueeze(1)
            hx, cx = self.lstm(x, (state[0] * keep, state[1] * keep))
            x, state = hx, (hx, cx)
        value = self.value(x).squeeze(1) if self.value is not None else None
        return self.policy(x), value, state


def task_groups(num_envs: int, num_tasks: int) -> list[slice]:
    """Env slice of every task: grouped assignment gives each task an equal, contiguous group."""
    size = num_envs // num_tasks
    return [slice(t * size, (t + 1) * size) for t in range(num_tasks)]


def slice_state(state, members: slice):
    return None if state is None else (state[0][members], state[1][members])


def cat_states(states: list):
    return None if states[0] is None else tuple(torch.cat(parts) for parts in zip(*states, strict=True))


def detach_state(state):
    return [None if s is None else (s[0].detach(), s[1].detach()) for s in state]


class Agent(nn.Module):
    """Two columns: distilled logits h (pi0) and per-task columns f_i; pi_i = softmax(alpha * h + f_i)."""

    def __init__(self, obs_shape, image, num_actions, num_tasks, hidden, alpha):
        super().__init__()
        self.alpha = alpha
        self.distilled = Column(obs_shape, image, num_actions, hidden, with_value=False)
        self.tasks = nn.ModuleList(
            Column(obs_shape, image, num_actions, hidden, with_value=True) for _ in range(num_tasks)
        )

    def initial_state(self, batch: int, device: torch.device) -> list:
        return [self.distilled.initial_state(batch, device), self.tasks[0].initial_state(batch, device)]

    def forward(self, obs: torch.Tensor, state: list, episode_start: torch.Tensor):
        """Task logits, distilled logits, task values and the new recurrent state of every env."""
        h, _, distilled_state = self.distilled(obs, state[0], episode_start)
        outputs = [
            column(obs[members], slice_state(state[1], members), episode_start[members])
            for column, members in zip(self.tasks, task_groups(obs.shape[0], len(self.tasks)), strict=True)
        ]
        f = torch.cat([out[0] for out in outputs])
        values = torch.cat([out[1] for out in outputs])
        task_state = cat_states([out[2] for out in outputs])
        return self.alpha * h + f, h, values, [distilled_state, task_state]


def masked(logits: torch.Tensor, action_mask: torch.Tensor | None) -> torch.Tensor:
    """Invalid actions (mask 0) get a large negative logit, so they are never sampled."""
    return logits if action_mask is None else logits.masked_fill(action_mask == 0, -1e8)


@torch.no_grad()
def evaluate(agent: Agent, envs, layout, device: torch.device, seed: int, use_distilled: bool) -> np.ndarray:
    """Mean return per task of one episode per eval env, acting with pi0 or with the task policies."""
    num_envs, num_tasks = envs.num_envs, envs.unwrapped.num_tasks
    obs, infos = envs.reset(seed=seed)
    state = agent.initial_state(num_envs, device)
    episode_start = torch.ones(num_envs, device=device)
    returns = np.full(num_envs, np.nan)
    while np.isnan(returns).any():
        task_logits, h, _, state = agent(to_tensor(obs, layout, device), state, episode_start)
        mask = infos.get("action_mask")
        mask = None if mask is None else torch.as_tensor(mask, device=device)
        logits = masked(h if use_distilled else task_logits, mask)
        actions = torch.distributions.Categorical(logits=logits).sample()
        obs, _, _, _, infos = envs.step(actions.cpu().numpy())
        episode_start = torch.zeros(num_envs, device=device)
        if "episode" in infos:
            finished = infos["_episode"] & np.isnan(returns)
            returns[finished] = infos["episode"]["r"][finished]
    task_ids = envs.unwrapped.env_task_ids
    return np.array([returns[task_ids == task].mean() for task in range(num_tasks)])


def main(args: Args) -> None:
    checkpoint = None
    if args.resume:
        checkpoint = torch.load(args.resume, map_location="cpu", weights_only=False)
        args = Args(**dict(checkpoint["args"], resume=args.resume, cuda=args.cuda))
    env_kwargs = check_args(args)
    run_name = (
        checkpoint["run_name"] if checkpoint else f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    )

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    if args.cuda and not torch.cuda.is_available():
        print("--cuda: CUDA is not available on this machine; training on the CPU.")
    device = torch.device("cuda" if args.cuda and torch.cuda.is_available() else "cpu")

    envs = make_envs(args.env_id, args.num_envs, env_kwargs)
    eval_envs = None
    task_names = envs.unwrapped.task_names
    num_tasks = len(task_names)
    layout = observation_layout(envs.single_observation_space)
    agent = Agent(layout[0], layout[1], envs.single_action_space.n, num_tasks, args.hidden_size, args.alpha)
    agent = agent.to(device)
    optimizer = torch.optim.RMSprop(
        agent.parameters(), lr=args.learning_rate, alpha=args.rmsprop_alpha, eps=args.rmsprop_eps
    )
    c_kl, c_ent = args.alpha / args.beta, (1.0 - args.alpha) / args.beta

    global_step, update = 0, 0
    if checkpoint:
        agent.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        global_step, update = checkpoint["global_step"], checkpoint["update"]
        random.setstate(checkpoint["rng"]["python"])
        np.random.set_state(checkpoint["rng"]["numpy"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        if checkpoint["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(checkpoint["rng"]["cuda"])
        print(f"Resumed {run_name} from step {global_step}.")

    if args.track:
        import wandb

        wandb.init(
            project=args.wandb_project_name,
            entity=args.wandb_entity,
            sync_tensorboard=True,
            config=vars(args),
            name=run_name,
            id=run_name.replace("/", "_"),
            resume="allow",
            save_code=True,
            mode="online" if os.environ.get("WANDB_API_KEY") else "offline",
        )
    writer = SummaryWriter(f"runs/{run_name}", purge_step=global_step if checkpoint else None)
    if not checkpoint:
        # Versions and emulator protocol go with the hyperparameters: scores only compare within one protocol.
        record = {**vars(args), **run_provenance(envs), "torch_version": torch.__version__}
        table = "\n".join(f"|{key}|{value}|" for key, value in record.items())
        writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")

    def save_checkpoint() -> None:
        path = f"runs/{run_name}/checkpoint.pt"
        rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
        rng["cuda"] = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        payload = {
            "args": asdict(args) | {"resume": None},
            "run_name": run_name,
            "global_step": global_step,
            "update": update,
            "model": agent.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rng,
        }
        torch.save(payload, path + ".tmp")
        os.replace(path + ".tmp", path)  # atomic: a kill mid-save keeps the previous checkpoint

    obs, infos = envs.reset(seed=args.seed + update)
    next_obs = to_tensor(obs, layout, device)
    next_mask = infos.get("action_mask")
    state = agent.initial_state(args.num_envs, device)
    episode_start = torch.ones(args.num_envs, device=device)
    autoreset = np.zeros(args.num_envs, dtype=bool)  # the env ignores its next action and resets
    batch = args.num_envs * args.num_steps
    num_updates = args.total_timesteps // batch
    start_time, start_step = time.time(), global_step

    while update < num_updates:
        update += 1
        state = detach_state(state)
        records = []
        for _ in range(args.num_steps):
            mask = None if next_mask is None else torch.as_tensor(next_mask, device=device)
            task_logits, h, value, state = agent(next_obs, state, episode_start)
            log_pi = F.log_softmax(masked(task_logits, mask), dim=1)
            log_pi0 = F.log_softmax(masked(h, mask), dim=1)
            action = torch.distributions.Categorical(logits=log_pi).sample()
            obs, reward, terminations, truncations, infos = envs.step(action.cpu().numpy())
            global_step += args.num_envs
            reward = np.sign(reward) if args.clip_rewards else reward
            records.append((log_pi, log_pi0, action, value, reward, terminations, autoreset.copy()))
            episode_start = torch.as_tensor(autoreset, dtype=torch.float32, device=device)
            autoreset = np.logical_or(terminations, truncations)
            next_obs, next_mask = to_tensor(obs, layout, device), infos.get("action_mask")
            if "episode" in infos:
                for i in np.flatnonzero(infos["_episode"]):
                    task, ret = task_names[infos["episode"]["task_id"][i]], infos["episode"]["r"][i]
                    writer.add_scalar("charts/episodic_return", ret, global_step)
                    writer.add_scalar(f"charts/episodic_return/{task}", ret, global_step)
                    writer.add_scalar("charts/episodic_length", infos["episode"]["l"][i], global_step)
                    if np.isfinite(infos["episode"]["hns"][i]):
                        writer.add_scalar(
                            f"charts/human_normalized_score/{task}", infos["episode"]["hns"][i], global_step
                        )

        with torch.no_grad():
            _, _, bootstrap, _ = agent(next_obs, state, episode_start)
        # n-step returns of the regularised reward, backwards. A step taken right after an episode
        # ended is an autoreset step: its action was ignored, it has no loss, and its value
        # V(final observation) bootstraps a truncated episode.
        returns = bootstrap
        step_losses, valids = [], []
        for log_pi, log_pi0, action, value, reward, terminated, was_autoreset in reversed(records):
            taken = action.unsqueeze(1)
            reg = (c_kl * log_pi0.gather(1, taken) - log_pi.gather(1, taken) / args.beta).squeeze(1).detach()
            reward = torch.as_tensor(reward, dtype=torch.float32, device=device)
            not_terminal = torch.as_tensor(~terminated, dtype=torch.float32, device=device)
            valid = torch.as_tensor(~was_autoreset, dtype=torch.float32, device=device)
            returns = torch.where(valid.bool(), reward + reg + args.gamma * not_terminal * returns, value.detach())
            pi = log_pi.exp()
            kl = (pi * (log_pi - log_pi0)).sum(1)
            entropy = -(pi * log_pi).sum(1)
            advantage = (returns - reg - value).detach()
            step_losses.append(
                {
                    "policy_loss": -(advantage * log_pi.gather(1, taken).squeeze(1)),
                    "reg_loss": c_kl * kl - c_ent * entropy,
                    "value_loss": 0.5 * (returns - value) ** 2,
                    "kl_to_distilled": kl.detach(),
                    "distill_loss": -(pi.detach() * log_pi0).sum(1).detach(),
                    "entropy": entropy.detach(),
                }
            )
            valids.append(valid)
        valid = torch.stack(valids)
        count = valid.sum().clamp(min=1.0)
        losses = {key: (torch.stack([s[key] for s in step_losses]) * valid).sum() / count for key in step_losses[0]}
        loss = losses["policy_loss"] + losses["reg_loss"] + args.value_coef * losses["value_loss"]
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
        optimizer.step()

        sps = int((global_step - start_step) / (time.time() - start_time))
        if update % 10 == 0 or update == num_updates:
            for key in ("policy_loss", "value_loss", "kl_to_distilled", "distill_loss", "entropy"):
                writer.add_scalar(f"losses/{key}", losses[key].item(), global_step)
            writer.add_scalar("charts/SPS", sps, global_step)
        crossed_eval = global_step // max(args.eval_interval, 1) != (global_step - batch) // max(args.eval_interval, 1)
        if args.eval_interval and (crossed_eval or update == num_updates):
            if eval_envs is None:
                eval_envs = make_envs(args.env_id, num_tasks * args.eval_episodes, env_kwargs)
            for use_distilled, tag in ((True, "eval/distilled_return"), (False, "eval/episodic_return")):
                per_task = evaluate(agent, eval_envs, layout, device, args.seed + 10_000 + update, use_distilled)
                for task, ret in zip(task_names, per_task, strict=True):
                    writer.add_scalar(f"{tag}/{task}", ret, global_step)
                writer.add_scalar(tag, per_task.mean(), global_step)
            print(f"step {global_step}: eval return {per_task.mean():.3f}, SPS {sps}")
        if args.checkpoint_interval and (
            global_step // args.checkpoint_interval != (global_step - batch) // args.checkpoint_interval
        ):
            save_checkpoint()

    if args.save_model:
        torch.save(agent.state_dict(), f"runs/{run_name}/{args.exp_name}.pt")
    if args.checkpoint_interval:
        save_checkpoint()
    envs.close()
    if eval_envs is not None:
        eval_envs.close()
    writer.close()
    print(f"Done: {global_step} steps; TensorBoard logs in runs/{run_name}")


if __name__ == "__main__":
    main(tyro.cli(Args))
