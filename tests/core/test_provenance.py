"""Run provenance: the versions and emulator protocol every baseline records with its hyperparameters."""

from __future__ import annotations

import importlib.metadata

import gymnasium as gym

import mtenvs
from mtenvs.provenance import run_provenance


def test_atari_protocol_names_preset_and_settings():
    machado = run_provenance(gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=2))["protocol"]
    assert machado.startswith("ALE machado: sticky actions 0.25, 108000-frame cap, frame skip 4")
    assert "1-30 no-op starts" in machado
    nature = gym.make("MultiAtari-PRL-v0", preset="nature", max_episode_frames=18_000, noop_max=0)
    assert run_provenance(nature)["protocol"].startswith("ALE nature: sticky actions 0, 18000-frame cap")
    assert "no no-op starts" in run_provenance(nature)["protocol"]
    sampled = gym.make_vec(
        "MultiAtari-PongBreakout-v0", num_envs=2, task_assignment="sampled", vectorization="sync", preset="nature"
    )
    assert run_provenance(sampled)["protocol"].startswith("ALE nature: sticky actions 0,")


def test_versions_and_no_protocol_for_non_emulator_envs():
    facts = run_provenance(gym.make_vec("TwoRooms-v0", num_envs=8))
    assert facts["protocol"] == "n/a"
    assert facts["mtenvs_version"] == mtenvs.__version__
    assert facts["gymnasium_version"] == gym.__version__
    assert facts["ale_py_version"] == importlib.metadata.version("ale-py")
