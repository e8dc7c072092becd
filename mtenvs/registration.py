"""Registers every mtenvs id with Gymnasium (run on ``import mtenvs``).

Entry points name their function as a string, so a family's dependencies (ale-py, MiniWorld) load
only when one of its ids is made. An id defined by its task set (a MultiAtari suite,
``MultiControl-GymTrio-v0``) gets an :class:`IdEntryPoint` that refuses any other task set.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gymnasium.envs.registration import load_env_creator, register, registry

# MultiAtari suites: registered id suffix -> suite name in mtenvs.atari.suites.SUITES.
ATARI_SUITE_IDS = {
    "PRL": "prl",
    "PongBreakout": "pong_breakout",
    "SpaceInvadersPhoenix": "space_invaders_phoenix",
    "PongSpaceInvaders": "pong_space_invaders",
    "ActorMimic8": "actor_mimic_8",
    "ActorMimicSources": "actor_mimic_sources",
    "ActorMimicTargets": "actor_mimic_targets",
    "Shooters": "shooters",
    "Paddles": "paddles",
    "Mazes": "mazes",
}


# The family of every registered id: which simulator it runs, and so which defaults a baseline applies.
FAMILIES = ("atari", "tworooms", "miniworld", "control")
ENV_FAMILIES: dict[str, str] = {}
# The constructor arguments that choose a family's task set: an id that sets one of them is defined
# by it, so it refuses any other value for all of them (None, the default, included).
TASK_SET_KWARGS = {"atari": ("games", "suite"), "control": ("tasks",)}


@dataclass(frozen=True, eq=False)
class IdEntryPoint:
    """The ``gym.make`` / ``gym.make_vec`` entry point of an id defined by its task set.

    Gymnasium lets ``make`` kwargs replace an id's registered kwargs, so ``gym.make("MultiAtari-PRL-v0",
    suite=None)`` would silently be the default suite. This refuses, naming the id and the argument,
    any value of ``task_set_kwargs`` other than the registered one (``None`` where the id sets none),
    then calls the family's entry point. ``str()`` is that entry point, as it is for every other id.
    """

    env_id: str
    base_id: str
    """the family's id that takes any task set"""
    target: str
    """the family's entry point, ``"module:function"``"""
    registered: Mapping[str, Any]
    task_set_kwargs: tuple[str, ...]

    def __call__(self, **kwargs: Any) -> Any:
        for key in self.task_set_kwargs:
            expected = self.registered.get(key)
            if key in kwargs and kwargs[key] != expected:
                defined = ", ".join(f"{k}={v!r}" for k, v in self.registered.items())
                raise ValueError(
                    f"{self.env_id} is defined by {defined}, so it cannot be made with {key}={kwargs[key]!r}; "
                    f"make {self.base_id} with {key}= for another task set."
                )
        return load_env_creator(self.target)(**kwargs)

    def __str__(self) -> str:
        return self.target


def _register(
    env_id: str, family: str, entry_point: str, vector_entry_point: str, base_id: str = "", **kwargs: object
) -> None:
    """Register ``env_id``; with ``kwargs`` (its task set, which ``base_id`` leaves free), via :class:`IdEntryPoint`."""
    ENV_FAMILIES[env_id] = family
    if env_id in registry:
        return  # importing mtenvs twice (e.g. via "mtenvs:Id") must not warn about re-registration
    if kwargs:
        reserved = TASK_SET_KWARGS[family]
        # Copies, not the spec's kwargs dict: gym.make_vec updates a copy of the spec in place, and an
        # entry point sharing that dict would see the overrides it must refuse as its own values.
        entry_point, vector_entry_point = (
            IdEntryPoint(env_id, base_id, target, copy.deepcopy(kwargs), reserved)
            for target in (entry_point, vector_entry_point)
        )
    register(id=env_id, entry_point=entry_point, vector_entry_point=vector_entry_point, kwargs=kwargs)


def register_all() -> None:
    """Register the ids of every family."""
    atari = ("mtenvs.atari:make_multi_atari", "mtenvs.atari:make_multi_atari_vec")
    _register("MultiAtari-v0", "atari", *atari)
    for suffix, suite in ATARI_SUITE_IDS.items():
        _register(f"MultiAtari-{suffix}-v0", "atari", *atari, base_id="MultiAtari-v0", suite=suite)
    _register("TwoRooms-v0", "tworooms", "mtenvs.tworooms:make_two_rooms", "mtenvs.tworooms:make_two_rooms_vec")
    _register("MultiMaze-v0", "miniworld", "mtenvs.miniworld:make_multi_maze", "mtenvs.miniworld:make_multi_maze_vec")
    _register("MultiNav-v0", "miniworld", "mtenvs.miniworld:make_multi_nav", "mtenvs.miniworld:make_multi_nav_vec")
    laser_tag = ("mtenvs.miniworld.lasertag:make_multi_laser_tag", "mtenvs.miniworld.lasertag:make_multi_laser_tag_vec")
    _register("MultiLaserTag-v0", "miniworld", *laser_tag)
    control = ("mtenvs.control:make_multi_control", "mtenvs.control:make_multi_control_vec")
    _register("MultiControl-v0", "control", *control)
    trio = ["CartPole", "Acrobot", "MountainCar"]
    _register("MultiControl-GymTrio-v0", "control", *control, base_id="MultiControl-v0", tasks=trio)


def mtenvs_ids() -> list[str]:
    """Every registered mtenvs id, in registration order."""
    return [env_id for env_id, spec in registry.items() if str(spec.entry_point).startswith("mtenvs.")]


def env_family(env_id: str) -> str:
    """The family (one of ``FAMILIES``) declared for a registered mtenvs id; ``ValueError`` for any other id."""
    if not isinstance(env_id, str):
        raise TypeError(f"env id must be a string, got {env_id!r} ({type(env_id).__name__}).")
    if env_id not in ENV_FAMILIES:
        known = "registered by another package" if env_id in registry else "not registered"
        raise ValueError(
            f"{env_id!r} is not an mtenvs id ({known}); the mtenvs ids: {', '.join(ENV_FAMILIES)} (see `mtenvs list`)."
        )
    return ENV_FAMILIES[env_id]
