"""MA3C-1 and MA3C-2: what each shares, action masks, bad input, MultiAtari, reproducibility, resume after SIGKILL."""

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

from mtenvs.train import checkpoint
from mtenvs.train.observations import ObservationLayout

BASELINES = Path(__file__).resolve().parents[2] / "baselines"
MA3C = ("ma3c_1", "ma3c_2")
PIXELS = {"observation_type": "pixels", "num_tasks": 2, "room_size": 3, "corridor_length": 1, "max_steps": 12}
TINY = {"env_id": "TwoRooms-v0", "env_kwargs": json.dumps(PIXELS), "num_envs": 4, "num_steps": 5, "cuda": False}


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


PER_TASK_MODULES = {"lstms", "policy_heads", "value_heads"}


def _modules_reached_by(agent: torch.nn.Module, loss: torch.Tensor) -> set[str]:
    """The modules ("encoder", "lstm", or a per-task one like "lstms.1") whose parameters get a gradient from `loss`."""
    agent.zero_grad()
    loss.backward(retain_graph=True)
    reached = set()
    for name, parameter in agent.named_parameters():
        if parameter.grad is not None and parameter.grad.abs().sum() > 0:
            parts = name.split(".")
            reached.add(".".join(parts[:2]) if parts[0] in PER_TASK_MODULES else parts[0])
    return reached


@pytest.mark.parametrize(
    ("script", "task_0_reaches"),
    [
        ("ma3c_1", {"encoder", "lstms.0", "policy_heads.0", "value_heads.0"}),
        ("ma3c_2", {"encoder", "lstm", "policy_heads.0", "value_heads.0"}),
    ],
)
def test_what_is_shared_and_what_is_per_task(script, task_0_reaches):
    """A loss on task 0's envs trains the shared layers and task 0's own layers, never task 1's."""
    module = load(script)
    torch.manual_seed(0)
    num_envs, steps = 4, 3  # envs 0-1 run task 0, envs 2-3 task 1
    agent = module.Agent((1, 84, 84), 4, 2, 16)
    task_ids = torch.tensor([0, 0, 1, 1])
    obs = torch.rand(steps * num_envs, 1, 84, 84)
    mask = torch.ones(steps * num_envs, 4, dtype=torch.bool)
    starts = torch.zeros(steps * num_envs)
    _, log_prob, _, value, _ = agent.get_action_and_value(
        obs, agent.initial_state(num_envs, "cpu"), starts, task_ids, mask
    )
    rows_of_task = task_ids.repeat(steps)
    assert _modules_reached_by(agent, (log_prob + value)[rows_of_task == 0].sum()) == task_0_reaches
    task_1_reaches = {name.replace(".0", ".1") for name in task_0_reaches}
    assert _modules_reached_by(agent, (log_prob + value)[rows_of_task == 1].sum()) == task_1_reaches


@pytest.mark.parametrize("script", MA3C)
def test_lstm_state_is_reset_at_episode_starts_and_carried_otherwise(script):
    module = load(script)
    torch.manual_seed(0)
    agent = module.Agent((1, 84, 84), 4, 2, 16)
    obs = torch.rand(2, 1, 84, 84)
    task_ids = torch.tensor([0, 1])
    fresh = agent.initial_state(2, "cpu")
    carried = (torch.randn(2, 16), torch.randn(2, 16))
    at_start = agent.get_value(obs, carried, torch.ones(2), task_ids)
    torch.testing.assert_close(at_start, agent.get_value(obs, fresh, torch.zeros(2), task_ids))
    assert not torch.allclose(at_start, agent.get_value(obs, carried, torch.zeros(2), task_ids))


@pytest.mark.parametrize("script", MA3C)
def test_masked_actions_are_never_chosen_on_multi_atari(script, tmp_path, monkeypatch):
    """Pong and Breakout share the 18-action union space; each task's policy covers only its own actions."""
    module = load(script)
    envs = gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=2, task_assignment="grouped")
    obs, infos = envs.reset(seed=0)
    envs.close()
    layout = ObservationLayout.of(envs.single_observation_space)
    assert layout.shape == (4, 84, 84) and layout.image and not layout.channel_last
    agent = module.Agent(layout.shape, 18, 2, 16)
    mask = torch.as_tensor(infos["action_mask"]).bool()
    assert mask.sum(1).tolist() == [6, 4]  # Pong's and Breakout's minimal action sets
    x = layout.to_tensor(obs, torch.device("cpu")).repeat(64, 1, 1, 1)
    state = agent.initial_state(128, "cpu")
    actions, _, entropy, _, _ = agent.get_action_and_value(
        x, state, torch.ones(128), torch.tensor([0, 1]).repeat(64), mask.repeat(64, 1)
    )
    assert mask.repeat(64, 1)[torch.arange(128), actions].all()
    assert (entropy[0::2] <= np.log(6) + 1e-5).all() and (entropy[1::2] <= np.log(4) + 1e-5).all()

    monkeypatch.chdir(tmp_path)
    args = module.Args(
        env_id="MultiAtari-PongBreakout-v0",
        num_envs=2,
        num_steps=5,
        total_timesteps=100,
        hidden_size=16,
        eval_interval=0,
        checkpoint_interval=0,
        cuda=False,
    )
    module.main(args)
    (run_dir,) = (tmp_path / "runs").iterdir()
    for loss in ("policy_loss", "value_loss", "entropy", "grad_norm"):
        values = [v for _, v in scalars(run_dir, f"losses/{loss}")]
        assert values and all(np.isfinite(values))


@pytest.mark.parametrize(
    ("script", "overrides", "message"),
    [
        ("ma3c_1", {"env_kwargs": json.dumps(dict(PIXELS, num_tasks=1))}, "has 1 task; MA3C shares layers"),
        ("ma3c_2", {"env_kwargs": json.dumps(dict(PIXELS, observation_type="onehot"))}, "needs image observations"),
        ("ma3c_1", {"env_kwargs": json.dumps(dict(PIXELS, observation_type="image"))}, "needs at least 20x20"),
        ("ma3c_2", {"num_envs": 5}, "--num-envs 5 must be a multiple of it"),
        ("ma3c_1", {"env_id": "CartPole-v1", "env_kwargs": "{}"}, "--env-id 'CartPole-v1' is not an mtenvs id"),
        ("ma3c_2", {"env_id": "MultiControl-v0"}, "is a control env; ma3c_2.py supports tworooms, atari, miniworld"),
        ("ma3c_2", {"learning_rate": float("nan")}, r"--learning-rate must be a number in \(0, "),
        ("ma3c_1", {"gamma": 0.0}, r"--gamma must be a number in \(0, 1\]"),
        ("ma3c_2", {"rmsprop_alpha": 1.0}, r"--rmsprop-alpha must be a number in \[0, 1\)"),
        ("ma3c_1", {"total_timesteps": 10}, "less than one update"),
        ("ma3c_1", {"exp_name": "../x"}, "--exp-name must be a plain name"),
        ("ma3c_2", {"exp_name": "a/b"}, "--exp-name must be a plain name"),
        ("ma3c_1", {"env_kwargs": '{"num_envs": 2}'}, "--env-kwargs must not set 'num_envs'"),
        ("ma3c_2", {"env_kwargs": json.dumps(dict(PIXELS, bogus=1))}, "--env-kwargs .* for TwoRooms-v0: .*bogus"),
        ("ma3c_1", {"hidden_size": 10**6}, "--hidden-size 1000000 with --num-envs 4 and --num-steps 5 needs .* GiB"),
    ],
)
def test_bad_input_fails_before_training(script, overrides, message, tmp_path, monkeypatch):
    module = load(script)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message):
        module.main(module.Args(**(TINY | {"total_timesteps": 80} | overrides)))
    assert not (tmp_path / "runs").exists()


def test_bad_input_on_the_command_line_is_one_error_line(tmp_path):
    command = [sys.executable, str(BASELINES / "ma3c_2.py"), "--env-id", "TwoRooms-v0", "--num-envs", "4"]
    command += ["--env-kwargs", json.dumps(dict(PIXELS, num_tasks=1)), "--no-cuda"]
    env = dict(os.environ, PYTHONPATH=str(BASELINES.parent))
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "ma3c_2.py: error: TwoRooms-v0 has 1 task; MA3C shares layers between tasks" in done.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("script", MA3C)
def test_seeded_runs_are_reproducible(script, tmp_path, monkeypatch):
    module = load(script)
    curves = []
    for attempt in range(2):
        (tmp_path / str(attempt)).mkdir()
        monkeypatch.chdir(tmp_path / str(attempt))
        args = module.Args(**TINY, total_timesteps=200, hidden_size=16)
        module.main(dataclasses.replace(args, eval_interval=100, eval_episodes=2, checkpoint_interval=0))
        (run_dir,) = Path("runs").iterdir()
        tags = ("losses/policy_loss", "losses/value_loss", "eval/episodic_return")
        curves.append([scalars(run_dir, tag) for tag in tags])
    assert curves[0] == curves[1]


def test_a_foreign_checkpoint_is_refused(tmp_path):
    module = load("ma3c_1")
    path = tmp_path / "checkpoint.pt"
    torch.save({"script": "ma3c_2.py", "args": {}, "run_name": "r", "global_step": 0, "update": 0, "model": {},
                "optimizer": {}, "rng": checkpoint.rng_state()}, path)  # fmt: skip
    with pytest.raises(ValueError, match=r"is not a checkpoint of ma3c_1\.py: 'script' is 'ma3c_2\.py'"):
        module.main(module.Args(resume=str(path)))
    path.write_bytes(b"truncated")
    with pytest.raises(ValueError, match=r"is not a checkpoint of ma3c_1\.py: not a readable torch file"):
        module.main(module.Args(resume=str(path)))


def test_resume_rule_and_a_checkpoint_that_does_not_fit(tmp_path, monkeypatch):
    """--resume brings the checkpoint's arguments back: a changed flag is refused, a larger budget continues the
    run; a model that does not fit is a one-line error."""
    module = load("ma3c_2")
    monkeypatch.chdir(tmp_path)
    args = module.Args(**TINY, total_timesteps=20, hidden_size=8, eval_interval=0, checkpoint_interval=20)
    module.main(args)
    (path,) = Path("runs").glob("*/checkpoint.pt")
    assert torch.load(path, weights_only=True)["global_step"] == 20
    with pytest.raises(ValueError, match=r"--resume continues the checkpoint's run .*; --learning-rate cannot be"):
        module.main(module.Args(resume=str(path), learning_rate=0.1))
    with pytest.raises(ValueError, match="--total-timesteps 20 is not beyond the checkpoint's step 20"):
        module.main(module.Args(resume=str(path), total_timesteps=20))
    module.main(module.Args(resume=str(path), cuda=False, total_timesteps=40))
    assert torch.load(path, weights_only=True)["global_step"] == 40
    saved = torch.load(path, weights_only=True)
    del saved["model"]["lstm.weight_hh"]
    crafted = tmp_path / "crafted.pt"
    torch.save(saved, crafted)
    with pytest.raises(ValueError, match=f"^--resume {crafted}: its model does not fit this run's"):
        module.main(module.Args(resume=str(crafted), total_timesteps=60))
    assert len(list(Path("runs").iterdir())) == 1


@pytest.mark.slow
@pytest.mark.parametrize("script", MA3C)
def test_killed_run_resumes_from_its_last_checkpoint(script, tmp_path):
    script_path = str(BASELINES / f"{script}.py")
    interval, total, batch = 400, 4_000, 4 * 5
    command = [sys.executable, script_path, "--env-id", "TwoRooms-v0", "--env-kwargs", TINY["env_kwargs"]]
    command += ["--num-envs", "4", "--num-steps", "5", "--hidden-size", "16", "--no-cuda"]
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
        [sys.executable, script_path, "--resume", str(checkpoint), "--no-cuda"],
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
    sps_steps = [step for step, _ in scalars(checkpoint.parent, "charts/SPS")]
    assert sps_steps[-1] == final["global_step"]
    assert any(saved_step < step <= saved_step + interval for step in sps_steps)
