"""mtenvs.train.tabular: table indices, sampling, the averaged TD step, rollouts, the exact return, the tables' file;
and the toolkit's rules and resume rule on arguments without --cuda and --torch-threads (the tabular scripts')."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.train import checkpoint, cli, tabular
from mtenvs.train.progress import Progress
from mtenvs.tworooms import build_layout

SMALL = {"num_tasks": 2, "room_size": 3, "corridor_length": 2}  # 20 free cells


@dataclasses.dataclass
class Args(tabular.TabularArgs):
    beta: float = 1.0


class Recorder:
    """A SummaryWriter stand-in that keeps (tag, value, step)."""

    def __init__(self):
        self.scalars: list[tuple[str, float, int]] = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, float(value), step))


def greedy_policies(layout, tasks: int) -> np.ndarray:
    """Deterministic shortest-path policies over the (free cell, previous action) states of every task."""
    policies = np.zeros((tasks, layout.free_cells.size * 5, 4))
    for task, goal in enumerate(layout.goals.tolist()):
        distance = layout.shortest_path_lengths(goal)
        for index, cell in enumerate(layout.free_cells.tolist()):
            targets = cell + layout.move_offsets
            moves = np.where(layout.walls.ravel()[targets], cell, targets)
            policies[task, index * 5 : index * 5 + 5, int(np.argmin(distance[moves]))] = 1.0
    return policies


def test_exact_return_of_shortest_paths_is_optimal():
    layout = build_layout(3, 2, None, None, 2, 0)
    greedy = greedy_policies(layout, 2)
    achieved, optimal = tabular.exact_returns(greedy, layout, 0.9, 2.0, 100)
    np.testing.assert_allclose(achieved, optimal, rtol=1e-12)
    # gamma^(d-1) scaled by the goal reward, averaged over the starts (every free cell but the goal).
    goal = int(layout.goals[0])
    distance = layout.shortest_path_lengths(goal)[layout.free_cells[layout.free_cells != goal]]
    assert optimal[0] == pytest.approx(2.0 * np.mean(0.9 ** (distance - 1.0)))
    # Truncation: with a horizon of 2 steps only starts within 2 steps of the goal can earn anything.
    short, short_optimal = tabular.exact_returns(greedy, layout, 0.9, 1.0, 2)
    np.testing.assert_allclose(short, short_optimal, rtol=1e-12)
    assert short_optimal[0] == pytest.approx(np.mean(np.where(distance <= 2, 0.9 ** (distance - 1.0), 0.0)))
    random_walk, _ = tabular.exact_returns(np.full_like(greedy, 0.25), layout, 0.9, 1.0, 100)
    assert np.all(random_walk < 0.3 * optimal / 2.0)  # measured: 0.15 and 0.19 against optima 0.75 and 0.73


def test_state_index_is_free_cell_times_previous_actions_plus_previous_action():
    layout = build_layout(3, 2, None, None, 2, 0)
    cell = int(layout.free_cells[7])
    obs = np.array([[cell // layout.width, cell % layout.width, 2], [cell // layout.width, cell % layout.width, 4]])
    assert tabular.state_index(obs, layout).tolist() == [7 * 5 + 2, 7 * 5 + 4]


def test_sample_actions_follows_the_probabilities():
    probs = np.tile([0.1, 0.0, 0.6, 0.3], (20_000, 1))
    actions = tabular.sample_actions(probs, np.random.default_rng(0))
    frequencies = np.bincount(actions, minlength=4) / actions.size
    np.testing.assert_allclose(frequencies, [0.1, 0.0, 0.6, 0.3], atol=0.01)
    certain = tabular.sample_actions(np.eye(4)[[3, 0, 2]], np.random.default_rng(1))
    assert certain.tolist() == [3, 0, 2]


def test_log_softmax_is_normalised_and_shift_invariant():
    logits = np.array([[1000.0, 1001.0, 999.0, -5.0]])
    log_p = tabular.log_softmax(logits)
    np.testing.assert_allclose(np.exp(log_p).sum(), 1.0)
    np.testing.assert_allclose(log_p, tabular.log_softmax(logits - 1000.0))


def test_td_update_averages_duplicate_entries():
    q = np.zeros((2, 3, 4))
    tasks, s, a = np.array([0, 0, 1, 0]), np.array([1, 1, 2, 0]), np.array([3, 3, 0, 2])
    errors = tabular.td_update(q, tasks, s, a, np.array([1.0, 3.0, -2.0, 0.5]), lr=0.5)
    np.testing.assert_array_equal(errors, [1.0, 3.0, -2.0, 0.5])  # against the table before the step
    assert q[0, 1, 3] == 0.5 * (1.0 + 3.0) / 2  # one step towards the mean target, not two
    assert q[1, 2, 0] == -1.0 and q[0, 0, 2] == 0.25
    assert np.count_nonzero(q) == 3


def test_rollout_marks_autoreset_steps_invalid_and_logs_episodes():
    envs = tabular.make_envs("TwoRooms-v0", dict(SMALL, max_steps=3), envs_per_task=2)
    num_states = envs.unwrapped.layout.free_cells.size * tabular.PREVIOUS_ACTIONS
    rollout = tabular.Rollout.allocate(8, envs.num_envs)
    obs, _ = envs.reset(seed=0)
    uniform = np.full((2, num_states, 4), 0.25)
    recorder, tracker = Recorder(), Progress(30.0, 100, 0)
    obs, step = rollout.collect(envs, obs, uniform, np.random.default_rng(0), recorder, 0, tracker)
    assert step == 8 * envs.num_envs
    np.testing.assert_array_equal(rollout.next_states[:-1], rollout.states[1:])  # the observations chain
    assert rollout.valid[0].all()
    # The step after an episode's end only resets the env: one invalid step per finished episode, and with
    # max_steps 3 no env acts more than 3 steps in a row.
    assert (~rollout.valid[1:]).sum() + rollout.restarting.sum() == len(tracker.returns) > 0
    for column in rollout.valid.T:
        runs = np.diff(np.flatnonzero(np.concatenate([[True], ~column, [True]])))
        assert runs.max() <= 4, column
    tags = {tag for tag, _, _ in recorder.scalars}
    per_task = {f"charts/episodic_return/{name}" for name in envs.unwrapped.task_names}
    assert (
        {"charts/episodic_return", "charts/episodic_length"}
        <= tags
        <= {"charts/episodic_return", "charts/episodic_length"} | per_task
    )
    assert tags & per_task
    envs.close()


def test_make_envs_refuses_too_many_envs_and_reports_the_envs_own_refusal():
    with pytest.raises(cli.BadArgument, match="2 tasks x --envs-per-task 40000 is more than 65536 envs"):
        tabular.make_envs("TwoRooms-v0", SMALL, 40_000)
    with pytest.raises(cli.BadArgument, match=r"^--env-kwargs .* for TwoRooms-v0: .*room_size"):
        tabular.make_envs("TwoRooms-v0", dict(SMALL, room_size=-3), 1)


def test_env_kwargs_the_tables_cannot_learn_are_refused():
    tabular.check_env_kwargs(dict(SMALL, goal_reward=2, max_steps=50))
    for kwargs, message in (
        ({"observation_type": "pixels"}, r"may not set \['observation_type'\]"),
        ({"step_reward": -0.1}, "step_reward must be 0"),
        ({"goal_reward": True}, "goal_reward must be a number > 0"),
    ):
        with pytest.raises(cli.BadArgument, match=message):
            tabular.check_env_kwargs(kwargs)


def test_plan_counts_whole_iterations_and_refuses_a_finished_run(capsys):
    envs = tabular.make_envs("TwoRooms-v0", SMALL, 4)  # 8 envs x 10 steps = 80 env steps per iteration
    assert tabular.plan(Args(total_timesteps=799), envs, 100, 0, "r", "beta=1") == 9
    assert "9 iterations x 80 = 720 env steps; beta=1" in capsys.readouterr().out
    assert tabular.plan(Args(total_timesteps=10, iterations=3), envs, 100, 0, "r", "") == 3
    assert "(--iterations replaces --total-timesteps)" in capsys.readouterr().out
    with pytest.raises(cli.BadArgument, match="--total-timesteps 79 is less than one iteration"):
        tabular.plan(Args(total_timesteps=79), envs, 100, 0, "r", "")
    with pytest.raises(cli.BadArgument, match=r"--resume c\.pt is already at iteration 3 of 3"):
        tabular.plan(Args(iterations=3, resume="c.pt"), envs, 100, 3, "r", "")
    envs.close()


def test_tables_file_round_trips_exactly_and_checks_shapes(tmp_path):
    envs = tabular.make_envs("TwoRooms-v0", SMALL, 1)
    rng = np.random.default_rng(0)
    q, visits, curve = rng.normal(size=(2, 100, 4)), rng.integers(0, 9, (2, 100)).astype(float), rng.random((3, 2))
    args = Args(env_kwargs=json.dumps(SMALL), total_timesteps=800)
    path = tmp_path / "checkpoint.pt"
    checkpoint.save(path, tabular.payload("x.py", args, "run", 4, 320, curve, {"q": q, "visits": visits}, envs))
    saved = checkpoint.load(path, "--resume", tabular.schema("x.py", ("q", "visits")), "a checkpoint of x.py")
    assert saved["args"] == dataclasses.asdict(args) and saved["task_names"] == list(envs.unwrapped.task_names)
    assert saved["iteration"] == 4 and saved["global_step"] == 320 and saved["run_name"] == "run"
    layout = envs.unwrapped.layout
    np.testing.assert_array_equal(saved["walls"].numpy(), layout.walls)
    np.testing.assert_array_equal(saved["goals"].numpy(), layout.goals)
    restored = tabular.restore_tables(saved, ("q", "visits"), (np.zeros_like(q), np.zeros_like(visits)), str(path))
    for before, after in zip((q, visits, curve), restored, strict=True):
        assert after.dtype == np.float64 and np.array_equal(before, after)  # bit for bit
    with pytest.raises(cli.BadArgument, match=r"its q table is float64 \(2, 100, 4\), this run's is float64 \(3,"):
        tabular.restore_tables(saved, ("q", "visits"), (np.zeros((3, 100, 4)), visits), str(path))
    with pytest.raises(cli.BadArgument, match=r"is not a checkpoint of y\.py: 'script' is 'x\.py', expected 'y\.py'"):
        checkpoint.load(path, "--resume", tabular.schema("y.py", ("q",)), "a checkpoint of y.py")
    envs.close()


# --- the toolkit's rules on arguments without --cuda / --torch-threads ----------------------------------


def test_common_rules_skip_the_fields_a_script_lacks_but_not_its_own():
    assert not hasattr(Args(), "torch_threads") and not hasattr(Args(), "cuda")
    cli.check_rules(Args(), cli.COMMON_RULES + tabular.ARG_RULES)
    with pytest.raises(cli.BadArgument, match="--exp-name must be a plain name"):
        cli.check_rules(Args(exp_name="../x"), cli.COMMON_RULES)
    with pytest.raises(AttributeError, match="no_such_field"):
        cli.check_rules(Args(), [cli.integer(["no_such_field"], 1)])


def test_resume_rule_without_cuda_or_torch_threads(capsys):
    saved = {"args": dataclasses.asdict(Args(total_timesteps=800, iterations=10)), "global_step": 400}
    saved["run_name"] = "run"
    resumed = tabular.resume_args(Args(resume="c.pt", progress_interval=2.0), saved)
    assert (resumed.iterations, resumed.total_timesteps, resumed.resume) == (10, 800, "c.pt")
    assert resumed.progress_interval == 2.0 and "c.pt: continuing from step 400" in capsys.readouterr().out
    longer = tabular.resume_args(Args(resume="c.pt", total_timesteps=2000), saved)
    assert longer.total_timesteps == 2000 and longer.iterations is None  # a new budget replaces --iterations
    with pytest.raises(cli.BadArgument, match="--beta cannot be changed"):
        tabular.resume_args(Args(resume="c.pt", beta=2.0), saved)
