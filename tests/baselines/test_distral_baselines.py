"""Distral deep baselines and their A3C baselines: learning on TwoRooms, bad input, resume, pixels."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import mtenvs
from mtenvs.report.runs import load_tensorboard_runs
from mtenvs.train.observations import ObservationLayout
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector

BASELINES = Path(__file__).resolve().parents[2] / "baselines"
DISTRAL = ("distral_kl_1col", "distral_kl_2col", "distral_kl_ent_1col", "distral_kl_ent_2col")
A3C = ("a3c_independent", "a3c_2col", "a3c_multitask")
TWO_TASKS = json.dumps({"num_tasks": 2})


def load(script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"baseline_{script}", BASELINES / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the Args annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def random_policy_return(num_tasks: int = 2, episodes_per_task: int = 64) -> float:
    """Mean return of the uniform random policy on the same TwoRooms task set."""
    envs = RecordTaskEpisodeStatisticsVector(
        gym.make_vec("TwoRooms-v0", num_envs=num_tasks * episodes_per_task, num_tasks=num_tasks)
    )
    envs.reset(seed=123)
    envs.action_space.seed(123)
    returns = np.full(envs.num_envs, np.nan)
    while np.isnan(returns).any():
        _, _, _, _, infos = envs.step(envs.action_space.sample())
        if "episode" in infos:
            finished = infos["_episode"] & np.isnan(returns)
            returns[finished] = infos["episode"]["r"][finished]
    envs.close()
    return float(returns.mean())


@pytest.fixture(scope="module")
def random_return() -> float:
    return random_policy_return()


@pytest.mark.slow
@pytest.mark.parametrize("script", DISTRAL + A3C)
def test_learns_on_two_rooms(script, tmp_path, monkeypatch, random_return):
    module = load(script)
    monkeypatch.chdir(tmp_path)
    steps = 24_000
    args = module.Args(
        env_kwargs=TWO_TASKS,
        num_envs=32,
        total_timesteps=steps,
        eval_interval=steps,
        eval_episodes=32,
        checkpoint_interval=0,
        cuda=False,
    )
    module.main(args)
    (run_dir,) = (tmp_path / "runs").iterdir()
    final_return = scalars(run_dir, "eval/episodic_return")[-1][1]
    assert random_return < 0.6
    assert final_return > random_return + 0.3, (final_return, random_return)
    for loss in ("policy_loss", "value_loss", "entropy"):
        assert all(np.isfinite(v) for _, v in scalars(run_dir, f"losses/{loss}"))
    assert len(scalars(run_dir, "charts/episodic_return/goal_5_2")) > 0  # per-task returns are logged
    # The report reads the run's versions and protocol back from its hyperparameters.
    (run,), _ = load_tensorboard_runs(tmp_path / "runs")
    assert run.hyperparameters["protocol"] == "n/a" and run.hyperparameters["mtenvs_version"] == mtenvs.__version__
    assert run.hyperparameters["torch_version"] == torch.__version__
    if script in DISTRAL:
        # The distilled policy pi0 itself is evaluated (the paper's panel B1) and learns too.
        distilled_return = scalars(run_dir, "eval/distilled_return")[-1][1]
        assert distilled_return > random_return + 0.2, (distilled_return, random_return)
        kl = [v for _, v in scalars(run_dir, "losses/kl_to_distilled")]
        assert all(np.isfinite(kl)) and min(kl) >= 0.0


@pytest.mark.parametrize(
    ("script", "overrides", "message"),
    [
        ("distral_kl_ent_2col", {"alpha": 1.5}, r"--alpha must be a number in \[0, 1\]"),
        ("distral_kl_1col", {"alpha": -0.1}, r"--alpha must be a number in \[0, 1\]"),
        ("distral_kl_ent_1col", {"beta": 0.0}, r"--beta must be a number in \(0, 1e\+09\]"),
        ("distral_kl_2col", {"num_envs": 3}, "must be a multiple"),
        ("a3c_independent", {"num_envs": 5}, "must be a multiple"),
        ("a3c_2col", {"ent_coef": -1.0}, r"--ent-coef must be a number in \[0, 1e\+09\]"),
        ("a3c_multitask", {"env_id": "CartPole-v1", "env_kwargs": "{}"}, "'CartPole-v1' is not an mtenvs id"),
        (
            "distral_kl_ent_2col",
            {"env_kwargs": json.dumps({"num_tasks": 2, "task_obs": True})},
            "observations must be a Box",
        ),
        ("distral_kl_ent_2col", {"env_kwargs": "[1, 2]"}, "--env-kwargs must be a JSON object"),
        ("a3c_multitask", {"total_timesteps": 10}, "less than one update"),
    ],
)
def test_bad_input_fails_before_training(script, overrides, message, tmp_path, monkeypatch):
    module = load(script)
    monkeypatch.chdir(tmp_path)
    args = module.Args(**{"env_kwargs": TWO_TASKS, "num_envs": 4, "total_timesteps": 80, "cuda": False} | overrides)
    with pytest.raises(ValueError, match=message):
        module.main(args)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    script = str(BASELINES / "distral_kl_ent_2col.py")
    interval, total, batch = 1_600, 16_000, 16 * 10
    command = [sys.executable, script, "--env-kwargs", TWO_TASKS, "--num-envs", "16", "--num-steps", "10"]
    command += ["--total-timesteps", str(total), "--checkpoint-interval", str(interval), "--eval-interval", "0"]
    env = dict(os.environ, PYTHONPATH=str(BASELINES.parent))
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    checkpoint = None
    while time.time() < deadline and first.poll() is None:
        found = list((tmp_path / "runs").glob("*/checkpoint.pt")) if (tmp_path / "runs").exists() else []
        if found and torch.load(found[0], weights_only=True)["global_step"] >= 2 * interval:
            checkpoint = found[0]
            break
        time.sleep(0.2)
    assert first.poll() is None, "the run finished before it could be killed; raise total"
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert checkpoint is not None
    saved_step = torch.load(checkpoint, weights_only=True)["global_step"]
    assert interval <= saved_step < total

    resumed = subprocess.run(
        [sys.executable, script, "--resume", str(checkpoint)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert f"continuing from step {saved_step} with" in resumed.stdout
    assert len(list((tmp_path / "runs").iterdir())) == 1  # logging continued in the same run dir
    final = torch.load(checkpoint, weights_only=True)
    assert total <= final["global_step"] < total + batch  # agent steps; the last update may pass the budget
    # The resumed run logs on from the checkpoint's step to the end in the same TensorBoard run.
    sps_steps = [step for step, _ in scalars(checkpoint.parent, "charts/SPS")]
    assert sps_steps[-1] == final["global_step"]
    assert any(saved_step < step <= saved_step + interval for step in sps_steps)


@pytest.mark.slow
def test_pixel_torso_runs_on_multi_atari_with_action_masks(tmp_path, monkeypatch):
    module = load("distral_kl_ent_2col")
    envs = gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=2)
    _, infos = envs.reset(seed=0)
    mask = torch.as_tensor(infos["action_mask"])
    layout = ObservationLayout.of(envs.single_observation_space)
    assert (layout.shape, layout.image, layout.channel_last) == ((4, 84, 84), True, False)
    agent = module.Agent(layout.shape, layout.image, 18, 2, 32, 0.5, module.TWO_COLUMNS)
    obs, _ = envs.reset(seed=0)
    task_ids = torch.as_tensor(envs.unwrapped.env_task_ids)
    policy, distilled, values, state = agent.get_policies(
        layout.to_tensor(obs, torch.device("cpu")),
        agent.initial_state(2, torch.device("cpu")),
        torch.ones(2),
        task_ids,
        mask.bool(),
    )
    envs.close()
    assert policy.probs.shape == distilled.probs.shape == (2, 18) and values.shape == (2,)
    assert state[0][0].shape == state[1][0].shape == (2, 32)  # LSTM state of pi0's and the task columns
    for probs in (policy.probs, distilled.probs):  # invalid actions have probability 0 under pi_i and pi0
        assert torch.all(probs[mask == 0] == 0.0) and torch.allclose(probs.sum(1), torch.ones(2))

    monkeypatch.chdir(tmp_path)
    args = module.Args(
        env_id="MultiAtari-PongBreakout-v0",
        env_kwargs="{}",
        num_envs=2,
        num_steps=5,
        total_timesteps=100,
        hidden_size=32,
        clip_rewards=True,
        eval_interval=0,
        checkpoint_interval=0,
        cuda=False,
    )
    module.main(args)
    (run_dir,) = (tmp_path / "runs").iterdir()
    for loss in ("policy_loss", "value_loss", "kl_to_distilled", "distill_loss", "entropy"):
        values = [v for _, v in scalars(run_dir, f"losses/{loss}")]
        assert values and all(np.isfinite(values))


@pytest.mark.parametrize("script", ["distral_kl_ent_2col", "a3c_2col"])
def test_seeded_runs_are_reproducible(script, tmp_path, monkeypatch):
    module = load(script)
    curves = []
    for attempt in range(2):
        (tmp_path / str(attempt)).mkdir()
        monkeypatch.chdir(tmp_path / str(attempt))
        args = module.Args(env_kwargs=TWO_TASKS, num_envs=8, num_steps=5, total_timesteps=800, cuda=False)
        module.main(dataclasses.replace(args, eval_interval=400, eval_episodes=2, checkpoint_interval=0))
        (run_dir,) = Path("runs").iterdir()
        tags = ("losses/policy_loss", "losses/value_loss", "eval/episodic_return")
        curves.append([scalars(run_dir, tag) for tag in tags])
    assert curves[0] == curves[1]
