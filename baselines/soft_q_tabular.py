"""Independent soft Q learning per task on TwoRooms: the baseline of Distral's grid-world experiment.

Teh et al. 2017, section 4.1 compare tabular Distral (baselines/distral_tabular.py) with "one which soft
Q learns a separate policy for each task". This is that learner: the Distral script's data collection,
soft Q learning, hyperparameters and evaluation with the prior held uniform instead of distilled
(pi_i = exp(beta (Q_i - V_i)) / |A|, the Distral equations of docs/references.md with pi0 uniform and
alpha = 1), so the two differ only in what the tasks share: here nothing. Settings, the exact learning
curve and the results: docs/tworooms.md.

No `--cuda`: the learner is a few NumPy tables stepped by the batched NumPy env, so nothing would run
on a GPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.train import checkpoint, cli, progress, run, tabular, writer
from mtenvs.tworooms.layout import NUM_ACTIONS

SCRIPT = os.path.basename(__file__)
TABLES = ("q", "visits")
SCHEMA = tabular.schema(SCRIPT, TABLES)


# The run, env and budget arguments of both tabular scripts: tabular.TabularArgs; these are soft Q's own.
@dataclass
class Args(tabular.TabularArgs):
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment"""
    beta: float = 100.0
    """inverse temperature of the soft Q learning, > 0 (paper: 5, unverified; docs/tworooms.md says why 100)"""
    gamma: float = 0.95
    """discount factor in (0, 1) (docs/references.md, unverified)"""
    learning_rate: float = 0.1
    """soft Q learning rate in (0, 1] (docs/references.md, unverified)"""


FAMILY_DEFAULTS = tabular.FAMILY_DEFAULTS  # TwoRooms only: the tables index its grid
ARG_RULES = (
    *tabular.ARG_RULES,
    cli.number(["beta"], 0.0, open_low=True),
    cli.number(["gamma"], 0.0, 1.0, open_low=True, open_high=True),
    cli.number(["learning_rate"], 0.0, 1.0, open_low=True),
)


def soft_values(q: np.ndarray, beta: float) -> np.ndarray:
    """V_i(s) = (1/beta) log (1/|A|) sum_a exp(beta Q_i(s,a)) for q of shape (..., A)."""
    logits = beta * q
    top = logits.max(axis=-1)
    return (top + np.log(np.exp(logits - top[..., None]).mean(axis=-1))) / beta


def task_log_policies(q: np.ndarray, beta: float) -> np.ndarray:
    """log pi_i(a|s), pi_i proportional to exp(beta Q_i(s,a)); shape (tasks, states, actions)."""
    return tabular.log_softmax(beta * q)


def main(args: Args) -> None:
    saved = None
    if args.resume:
        saved = checkpoint.load(args.resume, "--resume", SCHEMA, f"a checkpoint of {SCRIPT}")
        args = tabular.resume_args(args, saved)
    args = cli.apply_family_defaults(args, FAMILY_DEFAULTS, SCRIPT)
    cli.check_rules(args, cli.COMMON_RULES + ARG_RULES)
    env_kwargs = cli.parse_env_kwargs(args.env_kwargs, tabular.RESERVED)
    tabular.check_env_kwargs(env_kwargs)
    run_name = saved["run_name"] if saved else run.new_run_name(args.env_id, args.exp_name, args.seed)

    run.seed_everything(args.seed, torch_deterministic=False)  # torch only writes the TensorBoard events
    start_iteration = saved["iteration"] if saved else 0
    rng = np.random.default_rng([args.seed, start_iteration])

    envs = tabular.make_envs(args.env_id, env_kwargs, args.envs_per_task)
    base = envs.unwrapped
    layout, num_tasks, env_tasks = base.layout, base.num_tasks, base.env_task_ids
    num_states = layout.free_cells.size * tabular.PREVIOUS_ACTIONS
    steps_per_iteration = envs.num_envs * args.rollout_length
    settings = f"beta={args.beta} gamma={args.gamma} lr={args.learning_rate}"
    num_iterations = tabular.plan(args, envs, num_states, start_iteration, run_name, settings)

    # The tables: soft Q values of every task (nothing is shared between tasks) and visit counts.
    q = np.zeros((num_tasks, num_states, NUM_ACTIONS))
    visits = np.zeros((num_tasks, num_states))
    curve = np.zeros((0, 2))  # (steps per task, exact normalised return) at every evaluation
    global_step = 0
    if saved:
        q, visits, curve = tabular.restore_tables(saved, TABLES, (q, visits), args.resume)
        global_step = saved["global_step"]

    run_path = run.run_dir(run_name)
    tb = writer.open_writer(args, run_name, run_path, envs, global_step if saved else None)

    def save(path: os.PathLike, iteration: int) -> None:
        tables = dict(zip(TABLES, (q, visits), strict=True))
        checkpoint.save(path, tabular.payload(SCRIPT, args, run_name, iteration, global_step, curve, tables, envs))

    rollout = tabular.Rollout.allocate(args.rollout_length, envs.num_envs)
    obs, _ = envs.reset(seed=args.seed + start_iteration * envs.num_envs)
    tracker = progress.Progress(args.progress_interval, num_iterations * steps_per_iteration, global_step)
    for iteration in range(start_iteration + 1, num_iterations + 1):
        # --- rollout --- every env acts for rollout_length steps with its task's pi_i
        log_policies = task_log_policies(q, args.beta)
        policies = np.exp(log_policies)
        obs, global_step = rollout.collect(envs, obs, policies, rng, tb, global_step, tracker)

        # --- soft Q learning --- TD updates with a uniform prior, step by step over the rollout
        td_errors = []
        for step in range(args.rollout_length):
            live = rollout.valid[step]
            tasks, s, a = env_tasks[live], rollout.states[step, live], rollout.actions[step, live]
            next_values = soft_values(q[tasks, rollout.next_states[step, live]], args.beta)
            ends = rollout.terminations[step, live]
            targets = rollout.rewards[step, live] + args.gamma * np.where(ends, 0.0, next_values)
            errors = tabular.td_update(q, tasks, s, a, targets, args.learning_rate)
            np.add.at(visits, (tasks, s), 1.0)
            td_errors.append(np.abs(errors).mean() if errors.size else 0.0)

        # --- logging --- exact normalised return of the task policies, losses, progress
        last = iteration == num_iterations
        if progress.crossed(args.eval_interval, global_step - steps_per_iteration, global_step) or last:
            log_policies = task_log_policies(q, args.beta)
            policies = np.exp(log_policies)
            normalized, _ = tabular.log_exact_returns(tb, policies, envs, args.gamma, env_kwargs, global_step)
            curve = np.concatenate([curve, [[global_step // num_tasks, normalized]]])
            entropy = -(policies * log_policies).sum(axis=2)
            tb.add_scalar("losses/td_error", float(np.mean(td_errors)), global_step)
            tb.add_scalar("losses/entropy", float((entropy * visits).sum() / visits.sum()), global_step)
            tb.add_scalar("charts/SPS", tracker.sps(global_step), global_step)
        if tracker.due(final=last):
            tracker.print(global_step, f", exact normalised return {f'{curve[-1, 1]:.3f}' if len(curve) else 'n/a'}")
        if args.checkpoint_interval and progress.crossed(
            args.checkpoint_interval, global_step - steps_per_iteration, global_step
        ):
            save(run_path / "checkpoint.pt", iteration)

    if args.save_model:
        save(run_path / f"{args.exp_name}.pt", num_iterations)
        print(f"tables saved to runs/{run_name}/{args.exp_name}.pt")

    # Sampled evaluation: `eval_episodes` episodes per task with the final task policies.
    policies = np.exp(task_log_policies(q, args.beta))
    episode_returns = tabular.sampled_returns(args, env_kwargs, policies, layout, rng, tb, global_step)
    tabular.print_summary(curve, f"final normalized return {curve[-1, 1]:.3f}", episode_returns, tracker.start)
    print(f"TensorBoard logs: runs/{run_name}")
    envs.close()
    tb.close()


if __name__ == "__main__":
    cli.run(main, Args, SCRIPT)
