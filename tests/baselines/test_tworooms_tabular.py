"""baselines/distral_tabular.py and soft_q_tabular.py: learning, budget, progress, resume, exact return, bad input."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("distral_tabular", "soft_q_tabular")
SMALL = {"num_tasks": 2, "room_size": 3, "corridor_length": 2}  # 20 free cells
STEPS_PER_ITERATION = 2 * 4 * 10  # tasks x envs per task x rollout length


def run_script(name: str, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a script on the SMALL map (a resumed run takes its map from the checkpoint)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), WANDB_MODE="disabled")
    map_args = () if "--resume" in args else ("--env-kwargs", json.dumps(SMALL))
    command = [sys.executable, str(ROOT / "baselines" / f"{name}.py"), *map_args, *args]
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
    tables = torch.load(run_dir / f"{name}.pt", weights_only=True)
    assert tables["script"] == f"{name}.py" and len(tables["task_names"]) == 2
    assert tables["q"].shape == (2, 20 * 5, 4)  # 2 tasks, 20 free cells x 5 previous actions, 4 actions
    np.testing.assert_allclose(tables["curve"][:, 1], [v for _, v in curve], rtol=1e-6)  # TensorBoard: float32
    if name == "distral_tabular":
        np.testing.assert_allclose(np.exp(tables["log_pi0"].numpy()).sum(axis=1), 1.0)
        assert scalar_events(run_dir, "losses/kl_to_distilled")
        assert scalar_events(run_dir, "eval/distilled_normalized_return")


@pytest.mark.parametrize("name", SCRIPTS)
def test_budget_and_progress_lines(name, tmp_path):
    """--iterations replaces --total-timesteps; a progress line (step, SPS, recent and exact return) every interval."""
    result = run_script(name, tmp_path, "--iterations", "6", "--total-timesteps", "10", "--progress-interval", "1e-9")
    progress = [line for line in result.stdout.splitlines() if line.startswith("step ")]
    assert len(progress) == 6  # a tiny interval: one line per iteration
    for iteration, line in enumerate(progress, start=1):
        assert line.startswith(f"step {iteration * STEPS_PER_ITERATION}/{6 * STEPS_PER_ITERATION}, SPS ")
        assert "mean return of the last" in line and "exact normalised return" in line
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
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert checkpoint["iteration"] == 25 and checkpoint["global_step"] == 2000
    # As if killed after iteration 40 had been logged: resume from the checkpoint of iteration 25.
    resume = ("--resume", str(run_dir / "checkpoint.pt"))
    changed = run_script("distral_tabular", tmp_path, *resume, "--beta", "5", check=False)
    assert changed.returncode == 2 and "--beta cannot be changed (allowed with --resume: --track," in changed.stderr
    assert "--cuda" not in changed.stderr  # the tabular scripts have no --cuda
    result = run_script("distral_tabular", tmp_path, *resume)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run_dir.name]  # the same run continues
    assert "continuing" in result.stdout
    resumed = scalar_events(run_dir, "eval/normalized_return")
    steps = [step for step, _ in resumed]
    assert steps == sorted(set(steps)), "events after the checkpoint were written twice"
    assert steps == [step for step, _ in uninterrupted]
    # The curve behind "steps to 0.9 of optimal" survives: evaluations before the checkpoint are kept.
    final = torch.load(run_dir / "distral_tabular.pt", weights_only=True)
    assert len(final["curve"]) == len(uninterrupted)
    torch.testing.assert_close(final["curve"][:5], checkpoint["curve"], rtol=0, atol=0)
    np.testing.assert_allclose(final["curve"][:5, 1], [v for _, v in uninterrupted[:5]], rtol=1e-6)


COMMON_BAD = [
    ({"beta": 0.0}, r"--beta must be a number in \(0, "),
    ({"beta": math.inf}, "--beta must be a number"),
    ({"beta": math.nan}, "--beta"),
    ({"gamma": 1.0}, r"--gamma must be a number in \(0, 1\)"),
    ({"gamma": math.nan}, "--gamma"),
    ({"learning_rate": 0.0}, "--learning-rate"),
    ({"learning_rate": -0.1}, "--learning-rate"),
    ({"total_timesteps": 0}, "--total-timesteps must be an integer >= 1"),
    ({"iterations": 0}, "--iterations must be an integer >= 1"),
    ({"envs_per_task": 0}, "--envs-per-task"),
    ({"envs_per_task": 10**6}, r"--envs-per-task must be an integer in \[1, 65536\]"),
    ({"rollout_length": 0}, "--rollout-length"),
    ({"eval_interval": 0}, "--eval-interval"),
    ({"eval_episodes": -1}, "--eval-episodes"),
    ({"checkpoint_interval": -5}, "--checkpoint-interval"),
    ({"seed": -1}, r"--seed must be an integer in \[0, 1073741824\]"),
    ({"progress_interval": 0.0}, "--progress-interval"),
    ({"progress_interval": math.inf}, "--progress-interval"),
    ({"exp_name": "../x"}, "--exp-name must be a plain name"),
    ({"env_kwargs": "{num_tasks: 2}"}, "--env-kwargs must be a JSON object"),
    ({"env_kwargs": "[1, 2]"}, "--env-kwargs must be a JSON object"),
    ({"env_kwargs": '{"observation_type": "image"}'}, "--env-kwargs must not set 'observation_type'"),
    ({"env_kwargs": '{"num_envs": 3}'}, "--env-kwargs must not set 'num_envs'"),
    ({"env_kwargs": '{"device": "cpu"}'}, r"--env-kwargs may not set \['device'\]"),
    ({"env_kwargs": '{"step_reward": -0.01}'}, "step_reward must be 0.*goal-only reward"),
    ({"env_kwargs": '{"goal_reward": 0}'}, "goal_reward must be a number > 0"),
    ({"env_kwargs": '{"room_size": -3}'}, "--env-kwargs .* for TwoRooms-v0: .*room_size"),
    ({"env_id": "CartPole-v1"}, "--env-id 'CartPole-v1' is not an mtenvs id"),
    ({"env_id": "NoSuchEnv-v0"}, "--env-id 'NoSuchEnv-v0' is not an mtenvs id"),
    ({"env_id": "MultiControl-v0"}, r"--env-id MultiControl-v0 is a control env; \w+_tabular.py supports tworooms"),
]
DISTRAL_BAD = [
    ({"alpha": 1.5}, r"--alpha must be a number in \[0, 1\]"),
    ({"alpha": math.nan}, "--alpha"),
    ({"distill_decay": 0.0}, r"--distill-decay must be a number in \(0, 1\]"),
    ({"distill_decay": math.nan}, "--distill-decay"),
]
BAD_ARGUMENTS = [(name, *case) for name in SCRIPTS for case in COMMON_BAD] + [
    ("distral_tabular", *case) for case in DISTRAL_BAD
]


@pytest.mark.parametrize(("name", "changes", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_rejected_before_anything_is_written(name, changes, message, tmp_path, monkeypatch):
    script = load_script(name)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message):
        script.main(script.Args(**{"env_kwargs": json.dumps(SMALL), **changes}))
    assert not (tmp_path / "runs").exists()


def write_checkpoint(path: Path, module, **changes) -> None:
    """A checkpoint of a script ``module`` at iteration 1 of 2 on the SMALL map, with ``changes``."""
    args = module.Args(env_kwargs=json.dumps(SMALL), iterations=2, checkpoint_interval=0, eval_interval=80)
    payload = {
        "script": f"{module.__name__.removeprefix('baseline_')}.py", "args": dataclasses.asdict(args),
        "run_name": "TwoRooms-v0__crafted__1__0", "iteration": 1, "global_step": 80,
        "curve": torch.zeros(1, 2, dtype=torch.float64), "q": torch.zeros(2, 100, 4, dtype=torch.float64),
        "log_pi0": torch.full((100, 4), -math.log(4.0), dtype=torch.float64),
        "visits": torch.zeros(2, 100, dtype=torch.float64), "action_mass": torch.zeros(100, 4, dtype=torch.float64),
    }  # fmt: skip
    payload.update(changes)
    torch.save(payload, path)


class Foreign:
    """An object that is not data: a file holding one is refused by weights_only loading."""


@pytest.mark.parametrize("name", SCRIPTS)
def test_invalid_checkpoints_are_named(name, tmp_path, monkeypatch):
    script = load_script(name)
    own = f"{name}.py"
    monkeypatch.chdir(tmp_path)
    valid = tmp_path / "valid.pt"
    write_checkpoint(valid, script)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(valid.read_bytes()[: valid.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x80\x04 not a checkpoint at all" * 10)
    old_npz = tmp_path / "old.npz"
    np.savez(old_npz, script=own, q=np.zeros((2, 100, 4)))
    pickled = tmp_path / "pickled.pt"
    write_checkpoint(pickled, script, q=Foreign())
    foreign = tmp_path / "foreign.pt"
    write_checkpoint(foreign, script, script="distral_tabular.py" if name == "soft_q_tabular" else "soft_q_tabular.py")
    bad_args = tmp_path / "bad_args.pt"
    write_checkpoint(bad_args, script, args="{not a dict")
    unknown = tmp_path / "unknown.pt"
    torch.save({"weights": torch.zeros(3)}, unknown)
    other_map = tmp_path / "other_map.pt"
    write_checkpoint(other_map, script, q=torch.zeros(2, 50, 4, dtype=torch.float64))
    single = tmp_path / "single.pt"
    write_checkpoint(single, script, visits=torch.zeros(2, 100))
    for path, reason in (
        (truncated, "is not a checkpoint of .*: not a readable torch file"),
        (garbage, "is not a checkpoint of .*: not a readable torch file"),
        (old_npz, "is not a checkpoint of .*: it cannot be loaded as data"),
        (pickled, "is not a checkpoint of .*: it cannot be loaded as data"),
        (foreign, f"is not a checkpoint of {own}: 'script' is '\\w+_tabular.py', expected '{own}'"),
        (bad_args, f"is not a checkpoint of {own}: 'args' is str, expected dict"),
        (unknown, f"is not a checkpoint of {own}: it lacks"),
        (other_map, r"its q table is float64 \(2, 50, 4\), this run's is float64 \(2, 100, 4\)"),
        (single, r"its visits table is float32 \(2, 100\), this run's is float64"),
        (tmp_path / "missing.pt", "no such file"),
    ):
        with pytest.raises(ValueError, match=f"^--resume {path}.*{reason}"):
            script.main(script.Args(resume=str(path)))
    assert not (tmp_path / "runs").exists()
    script.main(script.Args(resume=str(valid)))  # the crafted checkpoint itself resumes: iteration 2 of 2
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name == "TwoRooms-v0__crafted__1__0"
    assert [step for step, _ in scalar_events(run_dir, "eval/normalized_return")] == [160]


def test_command_line_errors_exit_cleanly(tmp_path):
    garbage = tmp_path / "checkpoint.pt"
    garbage.write_bytes(b"PK\x03\x04 truncated")
    result = run_script("distral_tabular", tmp_path, "--resume", str(garbage), check=False)
    assert result.returncode == 2
    assert "is not a checkpoint of distral_tabular.py" in result.stderr
    assert "Traceback" not in result.stderr and "allow_pickle" not in result.stderr
    result = run_script("soft_q_tabular", tmp_path, "--env-kwargs", '{"step_reward": -1}', check=False)
    assert result.returncode == 2 and "step_reward must be 0" in result.stderr and "Traceback" not in result.stderr
    result = run_script("soft_q_tabular", tmp_path, "--env-kwargs", '{"room_size": -3}', check=False)
    assert result.returncode == 2 and "room_size" in result.stderr and "Traceback" not in result.stderr
