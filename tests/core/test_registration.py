"""Registration: every mtenvs id declares its family, and any other id is refused by name."""

from __future__ import annotations

import gymnasium as gym
import pytest

import mtenvs
from mtenvs.registration import FAMILIES, env_family


def test_every_registered_id_declares_a_known_family():
    ids = mtenvs.mtenvs_ids()
    assert ids and all(env_family(env_id) in FAMILIES for env_id in ids)
    assert env_family("MultiControl-v0") == "control" and env_family("MultiLaserTag-v0") == "miniworld"
    assert {env_family(env_id) for env_id in ids if env_id.startswith("MultiAtari")} == {"atari"}


@pytest.mark.parametrize(
    ("env_id", "why"), [("CartPole-v1", "registered by another package"), ("Nope-v0", "not registered")]
)
def test_other_ids_are_refused_by_name(env_id, why):
    assert (env_id in gym.registry) == (why != "not registered")
    with pytest.raises(ValueError, match=f"'{env_id}' is not an mtenvs id \\({why}\\).*TwoRooms-v0"):
        env_family(env_id)
