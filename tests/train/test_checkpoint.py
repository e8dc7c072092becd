"""mtenvs.train.checkpoint: files are data, verified (CRC, structure) before use; RNG and env state as data."""

from __future__ import annotations

import os
import random
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch

import mtenvs  # noqa: F401
from mtenvs.train import checkpoint
from mtenvs.train.cli import BadArgument
from mtenvs.wrappers import RecordTaskEpisodeStatistics

SCHEMA = {"format": "demo/1", "step": int, "model": dict, "rng": {"torch": torch.Tensor}}


def payload() -> dict:
    model = torch.nn.Linear(64, 64).state_dict()
    return {"format": "demo/1", "step": 7, "model": model, "rng": {"torch": torch.get_rng_state()}, "note": "x"}


def test_save_then_load_gives_the_payload_back(tmp_path):
    path = tmp_path / "c.pt"
    checkpoint.save(path, payload())
    loaded = checkpoint.load(path, "--resume", SCHEMA, "a demo checkpoint")
    assert loaded["step"] == 7 and torch.equal(loaded["model"]["weight"], payload()["model"]["weight"]) is False
    assert not (tmp_path / "c.pt.tmp").exists()


def flip_inside_largest_record(path) -> None:
    with zipfile.ZipFile(path) as archive:
        largest = max(archive.infolist(), key=lambda info: info.file_size)
        offset = largest.header_offset + 30 + len(largest.filename.encode()) + len(largest.extra)
    data = bytearray(path.read_bytes())
    start = offset + largest.compress_size // 2
    data[start : start + 64] = bytes(b ^ 0xFF for b in data[start : start + 64])
    path.write_bytes(bytes(data))


def test_a_damaged_file_is_refused_by_name(tmp_path):
    path = tmp_path / "c.pt"
    checkpoint.save(path, payload())
    torch.load(path, weights_only=True)  # torch itself reads the damaged file without complaint ...
    flip_inside_largest_record(path)
    torch.load(path, weights_only=True)
    with pytest.raises(BadArgument, match=rf"^--resume {path} is damaged: record .* fails its CRC check"):
        checkpoint.load(path, "--resume", SCHEMA, "a demo checkpoint")  # ... the toolkit does not


class Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "crafted.pt"
    torch.save(payload() | {"step": Exploit(str(marker))}, path)
    with pytest.raises(BadArgument, match="is not a demo checkpoint: it cannot be loaded as data"):
        checkpoint.load(path, "--resume", SCHEMA, "a demo checkpoint")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other/1"}, r"'format' is 'other/1', expected 'demo/1'"),
        ({"step": "7"}, "'step' is str, expected int"),
        ({"rng": {}}, r"'rng' lacks \['torch'\]"),
        ({"rng": {"torch": [1]}}, r"'rng'\['torch'\] is list, expected Tensor"),
    ],
)
def test_right_tag_wrong_content_is_a_one_line_error(tmp_path, change, message):
    path = tmp_path / "c.pt"
    checkpoint.save(path, payload() | change)
    with pytest.raises(BadArgument, match=message):
        checkpoint.load(path, "--resume", SCHEMA, "a demo checkpoint")


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04truncated"])
def test_missing_and_foreign_files(tmp_path, content):
    with pytest.raises(BadArgument, match=r"^--init-from .*nope.pt: no such file\.$"):
        checkpoint.load(tmp_path / "nope.pt", "--init-from", SCHEMA, "a demo checkpoint")
    path = tmp_path / "foreign.pt"
    path.write_bytes(content)
    with pytest.raises(BadArgument, match="is not a demo checkpoint: not a readable torch file"):
        checkpoint.load(path, "--init-from", SCHEMA, "a demo checkpoint")
    torch.save([1, 2], path)
    with pytest.raises(BadArgument, match="the file holds list, not a dict"):
        checkpoint.load(path, "--init-from", SCHEMA, "a demo checkpoint")


def test_tampered_weights_are_one_line(tmp_path):
    network = torch.nn.Linear(3, 2)
    with pytest.raises(BadArgument, match=r"^--resume c.pt: its model does not fit this run's \(.*size mismatch"):
        checkpoint.load_state(network, torch.nn.Linear(4, 2).state_dict(), "--resume", "c.pt", "model")


def test_rng_state_round_trips_through_a_data_only_file(tmp_path):
    random.seed(3), np.random.seed(3), torch.manual_seed(3)
    checkpoint.save(tmp_path / "c.pt", {"rng": checkpoint.rng_state()})
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    checkpoint.restore_rng(checkpoint.load(tmp_path / "c.pt", "--resume", {"rng": checkpoint.RNG_SCHEMA}, "x")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def control(task: str) -> gym.Env:
    return RecordTaskEpisodeStatistics(gym.make("MultiControl-v0", task_schedule="fixed", task=task))


def rollout(envs: list[gym.Env], steps: int, action: int) -> list:
    trace = []
    for _ in range(steps):
        for env in envs:
            obs, reward, terminated, truncated, info = env.step(action)
            trace.append((obs.tolist(), reward, terminated, truncated, info.get("episode", {}).get("r")))
            if terminated or truncated:
                env.reset()
    return trace


@pytest.mark.parametrize("make", [lambda: [control("Acrobot")], lambda: [control("CartPole"), control("CarOnHill")],
                                  lambda: [RecordTaskEpisodeStatistics(gym.make("TwoRooms-v0"))]])  # fmt: skip
def test_env_state_restores_an_env_exactly_from_data(tmp_path, make):
    envs = make()
    for i, env in enumerate(envs):
        env.reset(seed=4 + i)
    rollout(envs, 37, 1)
    checkpoint.save(tmp_path / "c.pt", {"env": checkpoint.env_state(envs)})
    expected = rollout(envs, 60, 0)
    fresh = make()
    for env in fresh:
        env.reset(seed=99)
    state = checkpoint.load(tmp_path / "c.pt", "--resume", {"env": dict}, "x")["env"]
    checkpoint.restore_env_state(fresh, state, "--resume", "c.pt")
    assert rollout(fresh, 60, 0) == expected


def test_env_state_of_another_env_does_not_fit(tmp_path):
    state = checkpoint.env_state([control("CartPole")])
    with pytest.raises(BadArgument, match="its env state does not fit this env"):
        checkpoint.restore_env_state([RecordTaskEpisodeStatistics(gym.make("TwoRooms-v0"))], state, "--resume", "c")


def test_an_emulator_has_no_data_state():
    env = gym.make("MultiAtari-PongBreakout-v0")
    env.reset(seed=0)
    assert checkpoint.env_state(env) is None
    env.close()
