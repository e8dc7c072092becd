"""Bad input to the seven deep Distral / A3C scripts: refused before training, with the argument named."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
import torch

from mtenvs.train.cli import BadArgument

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
    ({"env_id": "CartPole-v1", "env_kwargs": "{}"}, "--env-id 'CartPole-v1' is not an mtenvs id"),
    ({"hidden_size": 2**24}, "--hidden-size 16777216 with --num-envs 4 and --num-steps 5 needs"),  # memory
    ({"num_envs": 2**40}, "--num-envs"),  # the rollout storage alone needs more memory than any machine has
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
    with pytest.raises(BadArgument, match=message.replace("[", r"\[")) as error:
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
    assert "distral_kl_ent_2col.py: error: --max-grad-norm must be a number in (0, 1e+09], got -1.0." in result.stderr
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
        (lambda path, good: path.write_bytes(b"not a checkpoint at all"), "not a readable torch file"),
        (
            lambda path, good: path.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2]),
            "not a readable torch file",
        ),
        (lambda path, good: path.write_bytes(b""), "not a readable torch file"),
        (lambda path, good: torch.save({"model": {}}, path), r"it lacks \['script', 'args'"),
        (lambda path, good: torch.save([1, 2, 3], path), "the file holds list, not a dict"),
        (lambda path, good: write_foreign_pickle(path), "it cannot be loaded as data"),
        (lambda path, good: flip_a_weight_byte(path, good), "is damaged: record .* fails its CRC check"),
    ],
    ids=["garbage", "truncated", "empty", "foreign-dict", "list", "foreign-objects", "flipped-byte"],
)
def test_invalid_checkpoint_is_refused(make, reason, checkpoints, tmp_path):
    module = load("a3c_independent")
    bad = tmp_path / "checkpoint.pt"
    make(bad, checkpoints["a3c_independent"])
    with pytest.raises(BadArgument, match=rf"--resume {bad}( is not a checkpoint of a3c_independent.py: | ){reason}"):
        module.main(module.Args(resume=str(bad), cuda=False))


def flip_a_weight_byte(path: Path, good: Path) -> None:
    """The good checkpoint with one byte of its largest stored record changed (a bit rot, not a truncation)."""
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        record = max(archive.infolist(), key=lambda info: info.file_size)
        start = record.header_offset + 30 + len(record.filename.encode()) + len(record.extra)
    data[start + record.file_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("script", "writer"), [("a3c_independent", "distral_kl_ent_2col"), ("distral_kl_ent_2col", "a3c_independent")]
)
def test_another_scripts_checkpoint_is_refused(script, writer, checkpoints, tmp_path, monkeypatch):
    module = load(script)
    monkeypatch.chdir(tmp_path)
    message = rf"is not a checkpoint of {script}.py: 'script' is '{writer}.py', expected '{script}.py'"
    with pytest.raises(BadArgument, match=message):
        module.main(module.Args(resume=str(checkpoints[writer]), cuda=False))
    assert not (tmp_path / "runs").exists()


def test_resume_keeps_the_checkpoints_arguments(checkpoints, tmp_path, monkeypatch):
    module = load("distral_kl_ent_2col")
    monkeypatch.chdir(checkpoints["distral_kl_ent_2col"].parents[2])
    with pytest.raises(BadArgument, match="--resume continues the checkpoint's run with its own arguments; --gamma"):
        module.main(module.Args(resume=str(checkpoints["distral_kl_ent_2col"]), gamma=0.5, cuda=False))
    with pytest.raises(BadArgument, match="--total-timesteps 20 is not beyond the checkpoint's step"):
        module.main(module.Args(resume=str(checkpoints["distral_kl_ent_2col"]), total_timesteps=20, cuda=False))


def test_own_checkpoint_resumes(checkpoints, tmp_path, monkeypatch, capsys):
    module = load("a3c_independent")
    monkeypatch.chdir(checkpoints["a3c_independent"].parents[2])
    module.main(module.Args(resume=str(checkpoints["a3c_independent"]), cuda=False))
    out = capsys.readouterr().out
    step = torch.load(checkpoints["a3c_independent"], weights_only=True)["global_step"]
    assert f"continuing from step {step} with" in out and step >= 40
