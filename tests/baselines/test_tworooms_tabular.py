"""baselines/distral_tabular.py and soft_q_tabular.py: learning, budget, progress, resume, exact return, bad input."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mtenvs.tworooms import build_layout

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("distral_tabular", "soft_q_tabular")
SMALL = {"num_tasks": 2, "room_size": 3, "corridor_length": 2}  # 20 free cells
STEPS_PER_ITERATION = 2 * 4 * 10  # tasks x envs per task x rollout length


def run_script(name: str, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), WANDB_MODE="disabled")
    command = [sys.executable, str(ROOT / "baselines" / f"{name}.py"), "--env-kwargs", json.dumps(SMALL), *args]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def scalar_events(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of a tag over every event file of a run, as TensorBoard shows it (purges applied)."""
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def load_script(name: str):
    """Import a baseline script as a module (its training loop sits under ``__main__`` and does not run)."""
    spec = importlib.util.spec_from_file_location(f"baseline_{name}", ROOT / "baselines" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module of Args through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("name", SCRIPTS)
def test_reaches_near_optimal_return(name, tmp_path):
    budget = 300 * STEPS_PER_ITERATION
    stdout = run_script(name, tmp_path, "--total-timesteps", str(budget), "--eval-interval", "1600", "--save-model")
    (run_dir,) = (tmp_path / "runs").iterdir()
    curve = scalar_events(run_dir, "eval/normalized_return")
    assert curve[0][1] < 0.8, "the first evaluation should still be far from optimal"
    assert curve[-1][1] >= 0.9, f"final normalised return {curve[-1][1]:.3f} < 0.9"
    assert curve[-1][0] == budget  # --total-timesteps counts env steps: 300 iterations x 80 steps
    events = EventAccumulator(str(run_dir))
    events.Reload()
    finals = [events.Scalars(t)[-1].value for t in events.Tags()["scalars"] if t.startswith("eval/episodic_return/")]
    assert len(finals) == 2 and np.mean(finals) >= 0.9
    assert "final normalized return" in stdout.stdout
    tables = np.load(run_dir / f"{name}.npz")
    assert tables["q"].shape == (2, 20 * 5, 4)  # 2 tasks, 20 free cells x 5 previous actions, 4 actions
    np.testing.assert_allclose(tables["curve"][:, 1], [v for _, v in curve], rtol=1e-6)  # TensorBoard: float32
    if name == "distral_tabular":
        np.testing.assert_allclose(np.exp(tables["log_pi0"]).sum(axis=1), 1.0)
        assert scalar_events(run_dir, "losses/kl_to_distilled")
        assert scalar_events(run_dir, "eval/distilled_normalized_return")


@pytest.mark.parametrize("name", SCRIPTS)
def test_budget_and_progress_lines(name, tmp_path):
    """--iterations replaces --total-timesteps; a progress line (step, SPS, recent return) every interval."""
    result = run_script(name, tmp_path, "--iterations", "6", "--total-timesteps", "10", "--progress-interval", "0")
    progress = [line for line in result.stdout.splitlines() if line.startswith("step ")]
    assert len(progress) == 6  # interval 0: one line per iteration
    for iteration, line in enumerate(progress, start=1):
        assert line.startswith(f"step {iteration * STEPS_PER_ITERATION:,}/{6 * STEPS_PER_ITERATION:,}  SPS ")
        assert "recent return" in line
    assert "--iterations replaces --total-timesteps" in result.stdout
    too_small = run_script(name, tmp_path, "--total-timesteps", "79", check=False)
    assert too_small.returncode == 2 and "less than one iteration" in too_small.stderr


@pytest.mark.slow
def test_resume_purges_duplicate_events_and_keeps_the_curve(tmp_path):
    # 40 iterations of 80 env steps, a checkpoint at iteration 25 (step 2000); the run goes on to the end.
    common = ("--iterations", "40", "--eval-interval", "400", "--checkpoint-interval", "2000", "--save-model")
    run_script("distral_tabular", tmp_path, *common)
    (run_dir,) = (tmp_path / "runs").iterdir()
    uninterrupted = scalar_events(run_dir, "eval/normalized_return")
    checkpoint = np.load(run_dir / "checkpoint.npz")
    assert int(checkpoint["iteration"]) == 25 and int(checkpoint["global_step"]) == 2000
    # As if killed after iteration 40 had been logged: resume from the checkpoint of iteration 25.
    result = run_script("distral_tabular", tmp_path, "--resume", str(run_dir / "checkpoint.npz"))
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run_dir.name]  # the same run continues
    assert "continuing" in result.stdout
    resumed = scalar_events(run_dir, "eval/normalized_return")
    steps = [step for step, _ in resumed]
    assert steps == sorted(set(steps)), "events after the checkpoint were written twice"
    assert steps == [step for step, _ in uninterrupted]
    # The curve behind "steps to 0.9 of optimal" survives: evaluations before the checkpoint are kept.
    final = np.load(run_dir / "distral_tabular.npz")
    assert len(final["curve"]) == len(uninterrupted)
    np.testing.assert_array_equal(final["curve"][:5], checkpoint["curve"])
    np.testing.assert_allclose(final["curve"][:5, 1], [v for _, v in uninterrupted[:5]], rtol=1e-6)


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


@pytest.mark.parametrize("name", SCRIPTS)
def test_exact_return_of_shortest_paths_is_optimal(name):
    script = load_script(name)
    layout = build_layout(3, 2, None, None, 2, 0)
    greedy = greedy_policies(layout, 2)
    achieved, optimal = script.exact_returns(greedy, layout, 0.9, 2.0, 100)
    np.testing.assert_allclose(achieved, optimal, rtol=1e-12)
    # gamma^(d-1) scaled by the goal reward, averaged over the starts (every free cell but the goal).
    goal = int(layout.goals[0])
    distance = layout.shortest_path_lengths(goal)[layout.free_cells[layout.free_cells != goal]]
    assert optimal[0] == pytest.approx(2.0 * np.mean(0.9 ** (distance - 1.0)))
    # Truncation: with a horizon of 2 steps only starts within 2 steps of the goal can earn anything.
    short, short_optimal = script.exact_returns(greedy, layout, 0.9, 1.0, 2)
    np.testing.assert_allclose(short, short_optimal, rtol=1e-12)
    assert short_optimal[0] == pytest.approx(np.mean(np.where(distance <= 2, 0.9 ** (distance - 1.0), 0.0)))
    random_walk, _ = script.exact_returns(np.full_like(greedy, 0.25), layout, 0.9, 1.0, 100)
    assert np.all(random_walk < 0.3 * optimal / 2.0)  # measured: 0.15 and 0.19 against optima 0.75 and 0.73


COMMON_BAD = [
    ({"beta": 0.0}, "--beta must be finite and > 0"),
    ({"beta": math.inf}, "--beta must be finite and > 0"),
    ({"beta": math.nan}, "--beta"),
    ({"gamma": 1.0}, r"--gamma must be in \(0, 1\)"),
    ({"gamma": math.nan}, "--gamma"),
    ({"learning_rate": 0.0}, "--learning-rate"),
    ({"learning_rate": -0.1}, "--learning-rate"),
    ({"total_timesteps": 0}, "--total-timesteps must be >= 1"),
    ({"iterations": 0}, "--iterations must be >= 1"),
    ({"envs_per_task": 0}, "--envs-per-task"),
    ({"envs_per_task": 10**6}, r"--envs-per-task must be in \[1, 65536\]"),
    ({"rollout_length": 0}, "--rollout-length"),
    ({"eval_interval": 0}, "--eval-interval"),
    ({"eval_episodes": -1}, "--eval-episodes"),
    ({"checkpoint_interval": -5}, "--checkpoint-interval"),
    ({"seed": -1}, r"--seed must lie in \[0, 2\*\*31\)"),
    ({"progress_interval": -1.0}, "--progress-interval"),
    ({"progress_interval": math.inf}, "--progress-interval"),
    ({"env_kwargs": "{num_tasks: 2}"}, "--env-kwargs must be a JSON object"),
    ({"env_kwargs": "[1, 2]"}, "--env-kwargs must be a JSON object"),
    ({"env_kwargs": '{"observation_type": "image"}'}, r"--env-kwargs may not set \['observation_type'\]"),
    ({"env_kwargs": '{"num_envs": 3}'}, r"--env-kwargs may not set \['num_envs'\]"),
    ({"env_kwargs": '{"device": "cpu"}'}, r"--env-kwargs may not set \['device'\]"),
    ({"env_kwargs": '{"step_reward": -0.01}'}, "step_reward must be 0.*goal-only reward"),
    ({"env_kwargs": '{"goal_reward": 0}'}, "goal_reward must be a number > 0"),
    ({"env_id": "CartPole-v1"}, "not a TwoRooms env"),
    ({"env_id": "NoSuchEnv-v0"}, "--env-id 'NoSuchEnv-v0'"),
]
DISTRAL_BAD = [
    ({"alpha": 1.5}, r"--alpha must be in \[0, 1\]"),
    ({"alpha": math.nan}, "--alpha"),
    ({"distill_decay": 0.0}, r"--distill-decay must be in \(0, 1\]"),
    ({"distill_decay": math.nan}, "--distill-decay"),
]
BAD_ARGUMENTS = [(name, *case) for name in SCRIPTS for case in COMMON_BAD] + [
    ("distral_tabular", *case) for case in DISTRAL_BAD
]


@pytest.mark.parametrize(("name", "changes", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_rejected(name, changes, message):
    script = load_script(name)
    with pytest.raises(ValueError, match=message):
        script.check_args(script.Args(**changes))


def write_checkpoint(path: Path, script: str, **changes) -> None:
    arrays = {
        "script": script, "args": json.dumps({"env_kwargs": json.dumps(SMALL)}), "run_name": "r",
        "iteration": 1, "global_step": 80, "curve": np.zeros((0, 2)), "q": np.zeros((2, 100, 4)),
        "log_pi0": np.zeros((100, 4)), "visits": np.zeros((2, 100)), "action_mass": np.zeros((100, 4)),
    }  # fmt: skip
    arrays.update(changes)
    np.savez(path, **arrays)


@pytest.mark.parametrize("name", SCRIPTS)
def test_invalid_checkpoints_are_named(name, tmp_path):
    script = load_script(name)
    own = f"{name}.py"
    valid = tmp_path / "valid.npz"
    write_checkpoint(valid, own)
    assert script.load_checkpoint(str(valid))["args"].env_kwargs == json.dumps(SMALL)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(valid.read_bytes()[: valid.stat().st_size // 2])
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x80\x04 not a checkpoint at all" * 10)
    array = tmp_path / "array.npy"
    np.save(array, np.zeros(3))
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, q=np.array([{"a": 1}], dtype=object))
    foreign = tmp_path / "foreign.npz"
    write_checkpoint(foreign, "distral_tabular.py" if name == "soft_q_tabular" else "soft_q_tabular.py")
    bad_args = tmp_path / "bad_args.npz"
    write_checkpoint(bad_args, own, args="{not json")
    unknown = tmp_path / "unknown.npz"
    np.savez(unknown, weights=np.zeros(3))
    for path, reason in (
        (truncated, "cannot be read as a .npz archive"),
        (garbage, "cannot be read as a .npz archive"),
        (array, "single NumPy array"),
        (pickled, "cannot be read as a .npz archive"),
        (foreign, "it was written by"),
        (bad_args, "saved arguments cannot be read"),
        (unknown, "it lacks"),
    ):
        with pytest.raises(ValueError, match=f"not a valid checkpoint of {own}: .*{reason}") as error:
            script.load_checkpoint(str(path))
        assert "allow_pickle" not in str(error.value)
    with pytest.raises(ValueError, match="no such file"):
        script.load_checkpoint(str(tmp_path / "missing.npz"))


def test_command_line_errors_exit_cleanly(tmp_path):
    garbage = tmp_path / "checkpoint.npz"
    garbage.write_bytes(b"PK\x03\x04 truncated")
    result = run_script("distral_tabular", tmp_path, "--resume", str(garbage), check=False)
    assert result.returncode == 2
    assert "not a valid checkpoint of distral_tabular.py" in result.stderr
    assert "Traceback" not in result.stderr and "allow_pickle" not in result.stderr
    result = run_script("soft_q_tabular", tmp_path, "--env-kwargs", '{"step_reward": -1}', check=False)
    assert result.returncode == 2 and "step_reward must be 0" in result.stderr and "Traceback" not in result.stderr
    result = run_script("soft_q_tabular", tmp_path, "--env-kwargs", '{"room_size": -3}', check=False)
    assert result.returncode == 2 and "room_size" in result.stderr and "Traceback" not in result.stderr
