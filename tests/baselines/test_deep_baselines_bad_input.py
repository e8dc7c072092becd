"""Bad input to the seven deep Distral / A3C scripts: refused before training, with the argument named."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

BASELINES = Path(__file__).resolve().parents[2] / "baselines"
DISTRAL = ("distral_kl_1col", "distral_kl_2col", "distral_kl_ent_1col", "distral_kl_ent_2col")
A3C = ("a3c_independent", "a3c_2col", "a3c_multitask")
SCRIPTS = DISTRAL + A3C
TINY = {"env_kwargs": json.dumps({"num_tasks": 2}), "num_envs": 4, "num_steps": 5, "cuda": False}


def load(script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bad_input_{script}", BASELINES / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the Args annotations through sys.modules
    spec.loader.exec_module(module)
    return module


COMMON_BAD = [
    ({"max_grad_norm": -1.0}, "--max-grad-norm"),  # torch's clip with a negative norm flips the gradients
    ({"max_grad_norm": float("nan")}, "--max-grad-norm"),
    ({"value_coef": -1.0}, "--value-coef"),
    ({"value_coef": float("inf")}, "--value-coef"),
    ({"gamma": float("nan")}, "--gamma"),
    ({"gamma": 1.5}, "--gamma"),
    ({"gamma": 0.0}, "--gamma"),
    ({"learning_rate": 0.0}, "--learning-rate"),
    ({"learning_rate": float("inf")}, "--learning-rate"),
    ({"rmsprop_alpha": 1.0}, "--rmsprop-alpha"),
    ({"rmsprop_eps": -1e-5}, "--rmsprop-eps"),
    ({"num_envs": 0}, "--num-envs"),
    ({"num_steps": 0}, "--num-steps"),
    ({"hidden_size": 0}, "--hidden-size"),
    ({"total_timesteps": -5}, "--total-timesteps"),
    ({"total_timesteps": 10}, "--total-timesteps"),  # less than one update
    ({"eval_episodes": 0}, "--eval-episodes"),
    ({"eval_interval": -1}, "--eval-interval"),
    ({"checkpoint_interval": -1}, "--checkpoint-interval"),
    ({"torch_threads": -1}, "--torch-threads"),
    ({"progress_interval": 0.0}, "--progress-interval"),
    ({"progress_interval": float("nan")}, "--progress-interval"),
    ({"env_kwargs": "{num_tasks: 2}"}, "--env-kwargs"),  # not JSON
    ({"env_kwargs": "[1, 2]"}, "--env-kwargs"),  # JSON, not an object
    ({"env_kwargs": json.dumps({"num_tasks": 2, "num_envs": 8})}, "--env-kwargs must not set 'num_envs'"),
    ({"env_kwargs": json.dumps({"task_assignment": "sampled"})}, "--env-kwargs must not set 'task_assignment'"),
    ({"env_kwargs": json.dumps({"num_tasks": 0})}, "--env-kwargs"),  # the env refuses it
    ({"env_kwargs": json.dumps({"no_such_option": 1})}, "--env-kwargs"),
    ({"env_id": "NoSuchEnv-v0"}, "--env-id"),
    ({"env_id": "CartPole-v1", "env_kwargs": "{}"}, "--env-id CartPole-v1 has no multi-task contract"),
    ({"num_envs": 3}, "--num-envs 3 must be a multiple"),
    ({"seed": -1}, "--seed"),
    ({"seed": 2**40}, "--seed"),
    ({"exp_name": "a/b"}, "--exp-name"),
    ({"exp_name": "a__b"}, "--exp-name"),  # "__" separates the run name's fields
    ({"exp_name": ""}, "--exp-name"),
]
DISTRAL_BAD = [
    ({"beta": float("inf")}, "--beta"),
    ({"beta": 0.0}, "--beta"),
    ({"beta": -50.0}, "--beta"),
    ({"alpha": float("nan")}, "--alpha"),
    ({"alpha": 1.5}, "--alpha"),
]
A3C_BAD = [({"ent_coef": -0.01}, "--ent-coef"), ({"ent_coef": float("nan")}, "--ent-coef")]
CASES = [(script, *case) for script in SCRIPTS for case in COMMON_BAD + (DISTRAL_BAD if script in DISTRAL else A3C_BAD)]


@pytest.mark.parametrize(("script", "overrides", "message"), CASES)
def test_bad_argument_is_refused_before_training(script, overrides, message, tmp_path, monkeypatch):
    module = load(script)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(module.BadArgument, match=message.replace("[", r"\[")) as error:
        module.main(module.Args(**(TINY | overrides)))
    assert isinstance(error.value, ValueError)
    assert not (tmp_path / "runs").exists()  # nothing was written


def test_command_line_prints_the_message_without_a_traceback(tmp_path):
    env = {"PYTHONPATH": str(BASELINES.parent), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, str(BASELINES / "distral_kl_ent_2col.py"), "--max-grad-norm", "-1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "distral_kl_ent_2col.py: error: --max-grad-norm must be a finite number > 0, got -1.0." in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """A real checkpoint of a3c_independent.py and of distral_kl_ent_2col.py (one tiny run each)."""
    paths = {}
    for script in ("a3c_independent", "distral_kl_ent_2col"):
        module, workdir = load(script), tmp_path_factory.mktemp(script)
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(workdir)
            module.main(module.Args(**TINY, total_timesteps=40, checkpoint_interval=20, eval_interval=0))
        (paths[script],) = workdir.glob("runs/*/checkpoint.pt")
    return paths


def write_foreign_pickle(path: Path) -> None:
    torch.save({"script": "a3c_independent.py", "model": Path("x")}, path)  # an object weights_only refuses


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path, good: path.write_bytes(b"not a checkpoint at all"), "UnpicklingError|RuntimeError"),
        (lambda path, good: path.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2]), "Error"),
        (lambda path, good: path.write_bytes(b""), "Error"),
        (lambda path, good: torch.save({"model": {}}, path), "written by an unknown writer"),
        (lambda path, good: torch.save([1, 2, 3], path), "written by no dict"),
        (lambda path, good: write_foreign_pickle(path), "UnpicklingError"),
    ],
    ids=["garbage", "truncated", "empty", "foreign-dict", "list", "foreign-objects"],
)
def test_invalid_checkpoint_is_refused(make, reason, checkpoints, tmp_path):
    module = load("a3c_independent")
    bad = tmp_path / "checkpoint.pt"
    make(bad, checkpoints["a3c_independent"])
    with pytest.raises(
        module.BadArgument, match=rf"--resume .* is not a valid checkpoint of a3c_independent.py \(.*({reason})"
    ):
        module.main(module.Args(resume=str(bad), cuda=False))


@pytest.mark.parametrize(
    ("script", "writer"), [("a3c_independent", "distral_kl_ent_2col"), ("distral_kl_ent_2col", "a3c_independent")]
)
def test_another_scripts_checkpoint_is_refused(script, writer, checkpoints, tmp_path, monkeypatch):
    module = load(script)
    monkeypatch.chdir(tmp_path)
    message = rf"is not a valid checkpoint of {script}.py \(written by {writer}.py\)"
    with pytest.raises(module.BadArgument, match=message):
        module.main(module.Args(resume=str(checkpoints[writer]), cuda=False))
    assert not (tmp_path / "runs").exists()


def test_own_checkpoint_resumes(checkpoints, tmp_path, monkeypatch, capsys):
    module = load("a3c_independent")
    monkeypatch.chdir(checkpoints["a3c_independent"].parents[2])
    module.main(module.Args(resume=str(checkpoints["a3c_independent"]), cuda=False))
    out = capsys.readouterr().out
    step = torch.load(checkpoints["a3c_independent"], weights_only=True)["global_step"]
    assert f"from step {step}." in out and step >= 40
