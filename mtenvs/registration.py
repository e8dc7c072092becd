"""Registers every mtenvs id with Gymnasium (run on ``import mtenvs``).

Entry points are strings, so a family's dependencies (ale-py, MiniWorld) load only when one of its
ids is made.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

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


def _register(env_id: str, family: str, entry_point: str, vector_entry_point: str | None, **kwargs: object) -> None:
    ENV_FAMILIES[env_id] = family
    if env_id in registry:
        return  # importing mtenvs twice (e.g. via "mtenvs:Id") must not warn about re-registration
    register(id=env_id, entry_point=entry_point, vector_entry_point=vector_entry_point, kwargs=kwargs)


def register_all() -> None:
    """Register the ids of every family."""
    atari = ("mtenvs.atari:make_multi_atari", "mtenvs.atari:make_multi_atari_vec")
    _register("MultiAtari-v0", "atari", *atari)
    for suffix, suite in ATARI_SUITE_IDS.items():
        _register(f"MultiAtari-{suffix}-v0", "atari", *atari, suite=suite)
    _register("TwoRooms-v0", "tworooms", "mtenvs.tworooms:make_two_rooms", "mtenvs.tworooms:make_two_rooms_vec")
    _register("MultiMaze-v0", "miniworld", "mtenvs.miniworld:make_multi_maze", "mtenvs.miniworld:make_multi_maze_vec")
    _register("MultiNav-v0", "miniworld", "mtenvs.miniworld:make_multi_nav", "mtenvs.miniworld:make_multi_nav_vec")
    laser_tag = ("mtenvs.miniworld.lasertag:make_multi_laser_tag", "mtenvs.miniworld.lasertag:make_multi_laser_tag_vec")
    _register("MultiLaserTag-v0", "miniworld", *laser_tag)
    control = ("mtenvs.control:make_multi_control", "mtenvs.control:make_multi_control_vec")
    _register("MultiControl-v0", "control", *control)
    _register("MultiControl-GymTrio-v0", "control", *control, tasks=["CartPole", "Acrobot", "MountainCar"])


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
