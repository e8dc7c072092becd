"""baselines/distral_tabular.py and soft_q_tabular.py learn TwoRooms to near-optimal return on a tiny budget."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[2]
SMALL_TASKS = json.dumps({"num_tasks": 2, "room_size": 3, "corridor_length": 2})


def run_script(name: str, tmp_path: Path, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT), WANDB_MODE="disabled")
    result = subprocess.run(
        [sys.executable, str(ROOT / "baselines" / f"{name}.py"), "--env-kwargs", SMALL_TASKS, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def scalars(run_dir: Path) -> dict[str, list[float]]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["distral_tabular", "soft_q_tabular"])
def test_reaches_near_optimal_return(name, tmp_path):
    stdout = run_script(name, tmp_path, "--iterations", "300", "--eval-interval", "20", "--save-model")
    (run_dir,) = (tmp_path / "runs").iterdir()
    logged = scalars(run_dir)
    curve = logged["eval/normalized_return"]
    assert curve[0] < 0.8, "the first evaluation should still be far from optimal"
    assert curve[-1] >= 0.9, f"final normalised return {curve[-1]:.3f} < 0.9"
    for tag in ("charts/episodic_return", "charts/SPS", "losses/td_error"):
        assert tag in logged
    assert any(tag.startswith("eval/episodic_return/goal_") for tag in logged)
    assert np.mean([logged[t][-1] for t in logged if t.startswith("eval/episodic_return/")]) >= 0.9
    assert "final normalized return" in stdout
    tables = np.load(run_dir / f"{name}.npz")
    assert tables["q"].shape == (2, 20 * 5, 4)  # 2 tasks, 20 free cells x 5 previous actions, 4 actions
    if name == "distral_tabular":
        pi0 = np.exp(tables["log_pi0"])
        np.testing.assert_allclose(pi0.sum(axis=1), 1.0)
        assert "losses/kl_to_distilled" in logged and "eval/distilled_normalized_return" in logged


@pytest.mark.slow
def test_resume_continues_a_killed_run(tmp_path):
    run_script("distral_tabular", tmp_path, "--iterations", "20", "--checkpoint-interval", "20")
    (run_dir,) = (tmp_path / "runs").iterdir()
    # Make it the checkpoint of a 40-iteration run killed at iteration 20.
    saved = dict(np.load(run_dir / "checkpoint.npz"))
    args = json.loads(str(saved["args"]))
    args["iterations"] = 40
    saved["args"] = np.array(json.dumps(args))
    np.savez(run_dir / "checkpoint.npz", **saved)
    run_script("distral_tabular", tmp_path, "--resume", str(run_dir / "checkpoint.npz"))
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run_dir.name]  # same run continues
    resumed = np.load(run_dir / "checkpoint.npz")
    assert int(resumed["iteration"]) == 40
    assert int(resumed["global_step"]) > int(saved["global_step"])
    assert np.abs(resumed["q"] - saved["q"]).max() > 0
    assert max(scalars(run_dir)["eval/steps_per_task"]) > int(saved["global_step"]) // 2


def load_script(name: str):
    """Import a baseline script as a module (its training loop sits under ``__main__`` and does not run)."""
    spec = importlib.util.spec_from_file_location(f"baseline_{name}", ROOT / "baselines" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module of Args through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"beta": 0.0}, "beta must be > 0"),
        ({"alpha": 1.5}, r"alpha must lie in \[0, 1\]"),
        ({"gamma": 1.0}, "gamma"),
        ({"iterations": 0}, "iterations must be >= 1"),
        ({"env_kwargs": '{"observation_type": "image"}'}, "observation_type"),
        ({"env_kwargs": "[1, 2]"}, "JSON object"),
    ],
)
def test_bad_arguments_are_rejected(changes, message):
    script = load_script("distral_tabular")
    with pytest.raises(ValueError, match=message):
        script.check_args(script.Args(**changes))
