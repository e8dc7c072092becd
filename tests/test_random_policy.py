"""scripts/random_policy.py: the random reference of the learning reports."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import mtenvs  # noqa: F401

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "random_policy.py"
spec = importlib.util.spec_from_file_location("random_policy", SCRIPT)
random_policy = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = random_policy
spec.loader.exec_module(random_policy)


def test_random_actions_stay_inside_the_mask_and_cover_it():
    rng = np.random.default_rng(0)
    info = {"action_mask": np.array([1, 0, 1], dtype=np.int8)}
    drawn = {random_policy.random_action(rng, info, 3) for _ in range(200)}
    assert drawn == {0, 2}
    assert {random_policy.random_action(rng, {}, 3) for _ in range(200)} == {0, 1, 2}


def test_episodes_are_whole_and_seeded():
    env = gym.make("MultiControl-v0", tasks=["CartPole"])
    first = random_policy.run_episodes(env, 6, seed=3)
    again = random_policy.run_episodes(env, 6, seed=3)
    assert first == again and list(first) == ["CartPole"] and len(first["CartPole"]) == 6
    # CartPole pays +1 per step: each return equals its episode's length.
    assert all(ret == length for ret, length in first["CartPole"])
    assert "| CartPole | 6 |" in random_policy.markdown(first)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["Nope-v0"], "is not an mtenvs id"),
        (["MultiControl-v0", "--env-kwargs", "[1]"], "--env-kwargs must be a JSON object"),
        (["MultiControl-v0", "--episodes", "0"], "--episodes must be in 1..100000"),
        (["MultiControl-v0", "--seed", "-1"], "--seed must be in 0..2**32-1"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(argv, message, capsys):
    assert random_policy.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
