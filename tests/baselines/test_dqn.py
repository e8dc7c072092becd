"""dqn.py: learns CartPole, seeded runs repeat, resume continues exactly, --init-from, masks, bad input."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import mtenvs  # noqa: F401
from mtenvs.train import cli, dqn_format

BASELINES = Path(__file__).resolve().parents[2] / "baselines"


def load(script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"baseline_{script}", BASELINES / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the Args annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dqn() -> ModuleType:
    return load("dqn")


def tiny(dqn: ModuleType, **overrides) -> object:
    """A few hundred CartPole steps with learning from step 100: enough to exercise every code path."""
    settings = {"total_timesteps": 400, "learning_starts": 100, "buffer_size": 300, "batch_size": 32,
                "eval_episodes": 1, "checkpoint_interval": 0, "cuda": False}  # fmt: skip
    return dqn.Args(**{**settings, **overrides})


def run_dir(name: str) -> Path:
    (path,) = Path("runs").glob(f"*__{name}__*")
    return path


def model(name: str) -> dict:
    return torch.load(run_dir(name) / f"{name}.pt", map_location="cpu", weights_only=True)


def scalars(path: Path, tag: str) -> list[float]:
    events = EventAccumulator(str(path))
    events.Reload()
    return [e.value for e in events.Scalars(tag)]


def random_cartpole_return(episodes: int = 200) -> float:
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    env.action_space.seed(0)
    total = 0.0
    for _ in range(episodes):
        env.reset()
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += reward
            done = terminated or truncated
    return total / episodes


@pytest.mark.slow
def test_learns_cartpole_above_random(dqn, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dqn.main(dqn.Args(total_timesteps=6_000, eval_episodes=10, checkpoint_interval=0, cuda=False, exp_name="learn"))
    random_return = random_cartpole_return()
    evaluated = scalars(run_dir("learn"), "eval/episodic_return/CartPole")[-1]
    trained = np.mean(scalars(run_dir("learn"), "charts/episodic_return/CartPole")[-10:])
    assert 15 < random_return < 30
    assert evaluated > 2 * random_return and trained > 2 * random_return, (evaluated, trained, random_return)


def test_seeded_runs_repeat_and_seeds_differ(dqn, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        dqn.main(tiny(dqn, exp_name=name, seed=seed, save_model=True))
    a, b, c = model("a")["q_network"], model("b")["q_network"], model("c")["q_network"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_resume_continues_exactly(dqn, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dqn.main(tiny(dqn, exp_name="straight", save_model=True, total_timesteps=500))
    dqn.main(tiny(dqn, exp_name="halves", total_timesteps=250, checkpoint_interval=250))
    checkpoint = run_dir("halves") / "checkpoint.pt"
    assert torch.load(checkpoint, weights_only=True)["env"] is not None  # the env's state travels as data
    # Resume keeps the checkpoint's settings; a --total-timesteps is the new budget (beyond the step reached).
    with pytest.raises(ValueError, match="--total-timesteps 250 is not beyond the checkpoint's step 250"):
        dqn.main(dqn.Args(resume=str(checkpoint), total_timesteps=250, cuda=False))
    with pytest.raises(ValueError, match="--learning-rate cannot be changed"):
        dqn.main(dqn.Args(resume=str(checkpoint), learning_rate=0.1, cuda=False))
    dqn.main(dqn.Args(resume=str(checkpoint), total_timesteps=500, save_model=True, cuda=False))
    straight, resumed = model("straight"), model("halves")
    assert resumed["global_step"] == straight["global_step"] == 500
    assert all(torch.equal(straight["q_network"][k], resumed["q_network"][k]) for k in straight["q_network"])
    # Without --total-timesteps the checkpoint's budget stands: the finished run has nothing left to do.
    dqn.main(dqn.Args(resume=str(checkpoint), cuda=False))
    assert torch.load(checkpoint, weights_only=True)["global_step"] == 500


def test_saved_model_format_and_init_from(dqn, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    dqn.main(tiny(dqn, exp_name="expert", save_model=True))
    expert = model("expert")
    assert expert["format"] == "mtenvs-dqn/1" and expert["task"] == "CartPole" and expert["torso_type"] == "mlp"
    assert expert["obs_shape"] == [6] and expert["num_actions"] == 3 and expert["action_mask"] == [1, 1, 0]
    assert expert["hidden_sizes"] == [80, 80, 80]
    assert {k.split(".")[0] for k in expert["q_network"]} == {"torso", "head"}
    # A new run on another task starts from the expert's torso and a fresh head.
    path = str(run_dir("expert") / "expert.pt")
    network = dqn.QNetwork("mlp", (6,), (80, 80, 80), 3)
    copied = dqn_format.copy_torso(network, expert, "--init-from", path, [6], "mlp", [80, 80, 80])
    assert len(copied) == 6 and all(torch.equal(network.torso.state_dict()[k], expert["q_network"][f"torso.{k}"])
                                    for k in network.torso.state_dict())  # fmt: skip
    # The whole network by default (the Actor-Mimic authors' transfer); --reinit-head keeps the torso only.
    dqn.main(tiny(dqn, exp_name="student", task="Acrobot", init_from=path, total_timesteps=150))
    out = capsys.readouterr().out
    assert "copied torso.0.weight (80, 6)" in out and "head copied (head.weight (3, 80), head.bias (3,))" in out
    dqn.main(tiny(dqn, exp_name="fresh", task="Acrobot", init_from=path, total_timesteps=150, reinit_head=True))
    assert "head re-initialised (--reinit-head)" in capsys.readouterr().out


def test_target_network_is_copied_every_target_network_frequency_env_steps(dqn, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    copies = []

    class CountingQNetwork(dqn.QNetwork):
        def load_state_dict(self, *args, **kwargs):
            copies.append(1)
            return super().load_state_dict(*args, **kwargs)

    monkeypatch.setattr(dqn, "QNetwork", CountingQNetwork)
    # Learning from step 100, an update every 10 steps: env steps 110..200 copy 10 times (after 10 *updates*, once).
    dqn.main(tiny(dqn, total_timesteps=200, train_frequency=10, target_network_frequency=10, eval_episodes=1))
    assert len(copies) == 1 + 10  # the set-up copy, then one every 10 env steps


@pytest.mark.parametrize("preset", ["nature", "machado"])
def test_a_lost_life_is_a_terminal_transition_with_the_nature_preset(dqn, tmp_path, monkeypatch, preset):
    monkeypatch.chdir(tmp_path)
    breakout = json.dumps({"games": ["Breakout"], "preset": preset})
    dqn.main(
        dqn.Args(
            env_id="MultiAtari-v0",
            task="Breakout",
            env_kwargs=breakout,
            total_timesteps=400,
            learning_starts=10_000,
            buffer_size=400,
            checkpoint_interval=400,
            eval_episodes=1,
            cuda=False,
        )
    )
    saved = torch.load(run_dir("dqn") / "checkpoint.pt", weights_only=True)
    terminal = int(saved["replay"]["terminated"].sum())
    # Random Breakout loses a life about every 35 steps and its game (5 lives) lasts about 180.
    assert (terminal >= 5) if preset == "nature" else (terminal <= 3)


def test_init_from_shape_mismatch_names_both_shapes(dqn, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dqn.main(tiny(dqn, exp_name="expert", save_model=True))
    path = str(run_dir("expert") / "expert.pt")
    two_tasks = json.dumps({"tasks": ["CartPole", "CarOnHill"]})  # observations of size 4, not 6
    with pytest.raises(ValueError, match=r"observation shape \[6\] does not fit this env's \[4\]"):
        dqn.main(tiny(dqn, env_kwargs=two_tasks, init_from=path))
    with pytest.raises(ValueError, match=r"its --hidden-sizes \[80, 80, 80\] differ from this run's \[64, 64\]"):
        dqn.main(tiny(dqn, init_from=path, hidden_sizes=(64, 64)))
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((run_dir("expert") / "expert.pt").read_bytes()[:100])
    for bad in (foreign, truncated):
        with pytest.raises(ValueError, match=r"--init-from .* is not a model of dqn\.py or actor_mimic\.py"):
            dqn.main(tiny(dqn, init_from=str(bad)))
    with pytest.raises(ValueError, match=r"--resume .* is not a checkpoint of dqn\.py"):
        dqn.main(tiny(dqn, resume=str(foreign)))


class Payload:
    """Unpickling this runs ``touch <marker>``: what a crafted .pt would do to a loader that unpickles."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def crafted_file(tmp_path: Path) -> tuple[Path, Path]:
    marker, path = tmp_path / "pwned", tmp_path / "crafted.pt"
    torch.save({"format": "mtenvs-dqn-resume/2", "args": {}, "payload": Payload(marker)}, path)
    return path, marker


@pytest.mark.parametrize("flag", ["resume", "init_from"])
def test_crafted_pickle_is_refused_and_never_runs(dqn, tmp_path, monkeypatch, flag):
    monkeypatch.chdir(tmp_path)
    path, marker = crafted_file(tmp_path)
    with pytest.raises(ValueError, match="cannot be loaded as data"):
        dqn.main(tiny(dqn, **{flag: str(path)}))
    assert not marker.exists() and not Path("runs").exists()


def test_crafted_pickle_on_the_command_line_is_one_line_exit_2(tmp_path):
    path, marker = crafted_file(tmp_path)
    env = {"PYTHONPATH": str(BASELINES.parent), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, str(BASELINES / "dqn.py"), "--resume", str(path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"dqn.py: error: --resume {path} is not a checkpoint of dqn.py")
    assert not marker.exists()


def test_masked_actions_are_never_taken(dqn, tmp_path, monkeypatch):
    # With masked_action="raise" the env fails on any action outside CartPole's two.
    monkeypatch.chdir(tmp_path)
    dqn.main(tiny(dqn, env_kwargs=json.dumps({"masked_action": "raise"}), exp_name="masked"))
    q_values = torch.tensor([[1.0, 2.0, 9.0]])
    valid = torch.tensor([True, True, False])
    assert dqn.masked_greedy(q_values, valid).item() == 1


def test_nature_cnn_layout():
    dqn = load("dqn")
    network = dqn.QNetwork("nature_cnn", (4, 84, 84), (), 18)
    assert network.get_features(torch.zeros(2, 4, 84, 84)).shape == (2, 512)
    assert network.torso[7].in_features == 3136 and network.head.in_features == 512
    assert network.get_q_values(torch.zeros(1, 4, 84, 84)).shape == (1, 18)


def test_family_defaults():
    dqn = load("dqn")
    control = cli.apply_family_defaults(dqn.Args(), dqn.FAMILY_DEFAULTS, "dqn.py")
    assert (control.learning_rate, control.batch_size, control.buffer_size, control.target_network_frequency) == (
        1e-3, 100, 5000, 100)  # fmt: skip
    assert (control.end_e, control.exploration_steps, control.total_timesteps) == (0.01, 5000, 50_000)
    atari = cli.apply_family_defaults(dqn.Args(env_id="MultiAtari-v0", task="Pong"), dqn.FAMILY_DEFAULTS, "dqn.py")
    assert (atari.optimizer, atari.learning_rate, atari.batch_size, atari.train_frequency) == ("rmsprop", 2.5e-4, 32, 4)
    assert atari.clip_rewards and atari.exploration_steps == 1_000_000 and atari.eval_epsilon == 0.05


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"task": "Pong"}, "--task 'Pong' is not a task of MultiControl-v0; its tasks: CartPole, Acrobot"),
        ({"env_kwargs": json.dumps({"tasks": ["CartPole", "Pong"]})}, "Unknown task 'Pong'"),
        ({"learning_rate": float("nan")}, r"--learning-rate must be a number in \(0, 1e\+09\], got nan"),
        ({"learning_rate": -1.0}, r"--learning-rate must be a number in \(0, 1e\+09\], got -1.0"),
        ({"gamma": 1.5}, r"--gamma must be a number in \(0, 1\]"),
        ({"end_e": 2.0}, r"--end-e must be a number in \[0, 1\]"),
        ({"batch_size": 500}, "exceeds --buffer-size"),
        ({"total_timesteps": 0}, "--total-timesteps must be an integer >= 1"),
        ({"hidden_sizes": ()}, r"--hidden-sizes must be one or more integer widths in \[1, 4096\]"),
        ({"progress_interval": 0.0}, r"--progress-interval must be a number in \(0, 86400\]"),
        ({"optimizer": "sgd"}, "--optimizer must be one of 'adam', 'rmsprop'"),
        ({"env_kwargs": "[1]"}, "--env-kwargs must be a JSON object"),
        ({"env_kwargs": json.dumps({"task": "Acrobot"})}, "--env-kwargs must not set 'task'"),
        ({"env_id": "CartPole-v1"}, "--env-id 'CartPole-v1' is not an mtenvs id"),
        (
            {"env_id": "TwoRooms-v0", "task": "goal_1_1", "env_kwargs": json.dumps({"task_obs": True})},
            "--env-kwargs must not set",
        ),
    ],
)
def test_bad_input_fails_before_training(dqn, tmp_path, monkeypatch, overrides, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message):
        dqn.main(dataclasses.replace(tiny(dqn), **overrides))
    assert not Path("runs").exists()


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--seed", "-1"], "--seed"),
        (["--resume", "/nonexistent.pt"], "--resume /nonexistent.pt: no such file"),
        (["--env-kwargs", '{"num_envs": 3}'], "--env-kwargs must not set 'num_envs'"),
        (["--env-kwargs", '{"task_assignment": "grouped"}'], "--env-kwargs must not set 'task_assignment'"),
        (["--learning-rate=-1"], "--learning-rate"),
        (["--env-kwargs", '{"task": "Acrobot"}'], "--env-kwargs must not set 'task'"),
        (["--env-kwargs", '{"task_schedule": "fixed"}'], "--env-kwargs must not set 'task_schedule'"),
    ],
)
def test_command_line_refuses_bad_input_in_one_line(tmp_path, argv, flag):
    """The script exits with status 2 and a one-line `<script>.py: error: --flag ...` message, before any run."""
    env = {"PYTHONPATH": str(BASELINES.parent), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, str(BASELINES / "dqn.py"), *argv],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"dqn.py: error: {flag}")
    assert not (tmp_path / "runs").exists()
