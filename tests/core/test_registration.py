"""Registration: every mtenvs id declares its family, any other id is refused by name, and an id
defined by its task set refuses any other one."""

from __future__ import annotations

import gymnasium as gym
import pytest

import mtenvs
from mtenvs.registration import FAMILIES, IdEntryPoint, env_family


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


def test_every_id_with_registered_kwargs_is_made_through_an_id_entry_point():
    defined = [env_id for env_id in mtenvs.mtenvs_ids() if gym.spec(env_id).kwargs]
    assert {"MultiAtari-PRL-v0", "MultiControl-GymTrio-v0"} <= set(defined)
    for env_id in defined:
        spec = gym.spec(env_id)
        assert isinstance(spec.entry_point, IdEntryPoint) and isinstance(spec.vector_entry_point, IdEntryPoint)
        # str() stays the family's entry point, which scripts read the family from.
        assert str(spec.entry_point).startswith(f"mtenvs.{env_family(env_id)}:")


OVERRIDES = [  # (id, a kwarg that would replace its task set)
    ("MultiAtari-PRL-v0", {"suite": None}),
    ("MultiAtari-PRL-v0", {"suite": "pong_breakout"}),
    ("MultiAtari-Shooters-v0", {"games": ["Pong"]}),
    ("MultiControl-GymTrio-v0", {"tasks": ["CarOnHill"]}),
    ("MultiControl-GymTrio-v0", {"tasks": None}),
]
MAKERS = {
    "make": gym.make,
    "make_vec": lambda env_id, **kw: gym.make_vec(env_id, num_envs=6, **kw),
    "make_vec-sync": lambda env_id, **kw: gym.make_vec(env_id, num_envs=6, vectorization_mode="sync", **kw),
}


@pytest.mark.parametrize("maker", MAKERS)
@pytest.mark.parametrize(("env_id", "override"), OVERRIDES)
def test_an_id_refuses_kwargs_that_would_replace_its_task_set(env_id, override, maker):
    """Regression: gym.make("MultiAtari-PRL-v0", suite=None) gave the default 8 games, and
    MultiControl-GymTrio-v0 with tasks= gave those tasks, both without a word."""
    (key,) = override
    base = env_id.split("-")[0] + "-v0"
    with pytest.raises(
        ValueError, match=rf"^{env_id} is defined by .*, so it cannot be made with {key}=.*; make {base} with {key}="
    ):
        MAKERS[maker](env_id, **override)


@pytest.mark.parametrize("maker", MAKERS)
def test_an_id_accepts_its_own_task_set_and_is_remade_from_its_spec(maker):
    envs = MAKERS[maker]("MultiControl-GymTrio-v0", tasks=["CartPole", "Acrobot", "MountainCar"])
    # Gymnasium's own SyncVectorEnv has no task attributes: its sub-envs do.
    names = envs.get_attr("task_names")[0] if maker == "make_vec-sync" else envs.unwrapped.task_names
    assert names == ("CartPole", "Acrobot", "MountainCar")
    envs.close()
    env = gym.make("MultiAtari-PRL-v0", games=None)
    assert gym.make(env.spec).unwrapped.task_names == env.unwrapped.task_names == ("Breakout", "Pong", "DemonAttack")
