"""mtenvs.train.run and mtenvs.train.writer: seeding, device, run names that stay in runs/, the purge step."""

from __future__ import annotations

import random
from argparse import Namespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import mtenvs  # noqa: F401
from mtenvs.train import run, writer
from mtenvs.train.cli import BadArgument


def test_seed_everything_repeats_every_global_rng():
    draws = []
    for _ in range(2):
        run.seed_everything(5, torch_deterministic=True)
        draws.append((random.random(), np.random.rand(), torch.rand(1).item()))
    assert draws[0] == draws[1] and torch.backends.cudnn.deterministic


def test_cpu_when_cuda_is_missing_and_said(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert run.choose_device(cuda=True, torch_threads=0) == torch.device("cpu")
    assert "CUDA is not available" in capsys.readouterr().out
    assert run.choose_device(cuda=False, torch_threads=0) == torch.device("cpu") and capsys.readouterr().out == ""


def test_run_names_and_folders_stay_inside_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = run.new_run_name("TwoRooms-v0", "demo", 3)
    assert name.startswith("TwoRooms-v0__demo__3__") and run.run_dir(name) == (tmp_path / "runs" / name).resolve()
    for env_id, exp_name in (("../x", "demo"), ("TwoRooms-v0", "../../x"), ("TwoRooms-v0", "a/b")):
        with pytest.raises(BadArgument, match="must be a plain name"):
            run.new_run_name(env_id, exp_name, 1)
    with pytest.raises(BadArgument, match="the run name must be a plain name"):
        run.run_dir("../../escaped")  # a run name read back from a crafted checkpoint
    assert not (tmp_path.parent / "escaped").exists()


def scalars(path) -> list[tuple[int, float]]:
    events = EventAccumulator(str(path))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars("x")]


def test_writer_records_provenance_and_purges_what_a_killed_run_logged_after_its_checkpoint(tmp_path):
    args = Namespace(track=False, seed=1)
    env = gym.make("TwoRooms-v0")
    first = writer.open_writer(args, "r", tmp_path, env, resumed_step=None, extra={"gamma_used": 0.9})
    for step in range(1, 8):
        first.add_scalar("x", step, step)
    first.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert "hyperparameters/text_summary" in events.Tags()["tensors"]
    resumed = writer.open_writer(args, "r", tmp_path, env, resumed_step=4)  # checkpoint written after step 4's logs
    for step in range(5, 9):
        resumed.add_scalar("x", 10 * step, step)
    resumed.close()
    assert scalars(tmp_path) == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 50), (6, 60), (7, 70), (8, 80)]
