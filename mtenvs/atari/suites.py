"""Atari game names, the seed papers' game suites, presets and human/random reference scores."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

NUM_ACTIONS = 18  # ALE's full action set: the union action space of every MultiAtari env.

# Random-agent and human-tester scores, (random, human), with 1-30 no-op starts and a 108k-frame
# cap: the standard table of Mnih et al. 2015 / van Hasselt et al. 2016 as used by DQN Zoo and
# Agent57. Keyed by ALE ROM id. Games absent here (e.g. air_raid) get no human-normalized score.
REFERENCE_SCORES: dict[str, tuple[float, float]] = {
    "alien": (227.8, 7127.7), "amidar": (5.8, 1719.5), "assault": (222.4, 742.0),
    "asterix": (210.0, 8503.3), "asteroids": (719.1, 47388.7), "atlantis": (12850.0, 29028.1),
    "bank_heist": (14.2, 753.1), "battle_zone": (2360.0, 37187.5), "beam_rider": (363.9, 16926.5),
    "berzerk": (123.7, 2630.4), "bowling": (23.1, 160.7), "boxing": (0.1, 12.1),
    "breakout": (1.7, 30.5), "centipede": (2090.9, 12017.0), "chopper_command": (811.0, 7387.8),
    "crazy_climber": (10780.5, 35829.4), "defender": (2874.5, 18688.9),
    "demon_attack": (152.1, 1971.0), "double_dunk": (-18.6, -16.4), "enduro": (0.0, 860.5),
    "fishing_derby": (-91.7, -38.7), "freeway": (0.0, 29.6), "frostbite": (65.2, 4334.7),
    "gopher": (257.6, 2412.5), "gravitar": (173.0, 3351.4), "hero": (1027.0, 30826.4),
    "ice_hockey": (-11.2, 0.9), "jamesbond": (29.0, 302.8), "kangaroo": (52.0, 3035.0),
    "krull": (1598.0, 2665.5), "kung_fu_master": (258.5, 22736.3),
    "montezuma_revenge": (0.0, 4753.3), "ms_pacman": (307.3, 6951.6),
    "name_this_game": (2292.3, 8049.0), "phoenix": (761.4, 7242.6), "pitfall": (-229.4, 6463.7),
    "pong": (-20.7, 14.6), "private_eye": (24.9, 69571.3), "qbert": (163.9, 13455.0),
    "riverraid": (1338.5, 17118.0), "road_runner": (11.5, 7845.0), "robotank": (2.2, 11.9),
    "seaquest": (68.4, 42054.7), "skiing": (-17098.1, -4336.9), "solaris": (1236.3, 12326.7),
    "space_invaders": (148.0, 1668.7), "star_gunner": (664.0, 10250.0),
    "surround": (-10.0, 6.5), "tennis": (-23.8, -8.3), "time_pilot": (3568.0, 5229.2),
    "tutankham": (11.4, 167.6), "up_n_down": (533.4, 11693.2), "venture": (0.0, 1187.5),
    "video_pinball": (16256.9, 17667.9), "wizard_of_wor": (563.5, 4756.5),
    "yars_revenge": (3092.9, 54576.9), "zaxxon": (32.5, 9173.3),
}  # fmt: skip

# The seed papers' game suites (docs/references.md), each also a registered id MultiAtari-<Id>-v0.
SUITES: dict[str, tuple[str, ...]] = {
    # Predictive RL (Mujika 2016).
    "prl": ("Breakout", "Pong", "DemonAttack"),
    # Multi-task A3C (Wang & Yang): the three game pairs.
    "pong_breakout": ("Pong", "Breakout"),
    "space_invaders_phoenix": ("SpaceInvaders", "Phoenix"),
    "pong_space_invaders": ("Pong", "SpaceInvaders"),
    # Actor-Mimic (Parisotto et al. 2016): the 8 multitask games, 13 transfer sources, 7 targets.
    "actor_mimic_8": (
        "Atlantis", "Boxing", "Breakout", "CrazyClimber", "Enduro", "Pong", "Seaquest", "SpaceInvaders",
    ),
    "actor_mimic_sources": (
        "Assault", "Atlantis", "BeamRider", "Boxing", "CrazyClimber", "DemonAttack", "Enduro",
        "FishingDerby", "Kangaroo", "NameThisGame", "Pong", "Seaquest", "SpaceInvaders",
    ),
    "actor_mimic_targets": (
        "Breakout", "Gopher", "Krull", "RoadRunner", "Robotank", "StarGunner", "VideoPinball",
    ),
    # The shared-features review (Reid 2020): shooters, paddle games and mazes.
    "shooters": ("AirRaid", "Assault", "Atlantis", "DemonAttack", "SpaceInvaders", "Centipede"),
    "paddles": ("Pong", "Breakout", "Tennis", "VideoPinball"),
    "mazes": ("MsPacman", "Berzerk", "BankHeist", "Alien"),
}  # fmt: skip

DEFAULT_SUITE = "actor_mimic_8"

# Emulator protocols. "machado": Machado et al. 2018's recommendation (ALE v5 default).
# "nature": Mnih et al. 2015 as the seed papers ran it (no sticky actions).
PRESETS: dict[str, dict[str, float | int]] = {
    "machado": {"repeat_action_probability": 0.25, "max_episode_frames": 108_000},
    "nature": {"repeat_action_probability": 0.0, "max_episode_frames": 108_000},
}


def _camel(rom_id: str) -> str:
    return "".join(part.capitalize() for part in rom_id.split("_"))


@functools.cache
def _rom_ids_by_name() -> dict[str, str]:
    """Every ALE ROM, keyed by its CamelCase name (``SpaceInvaders`` -> ``space_invaders``)."""
    from ale_py import roms

    return {_camel(rom_id): rom_id for rom_id in roms.get_all_rom_ids()}


def all_game_names() -> tuple[str, ...]:
    """CamelCase names of every game ale-py ships."""
    return tuple(sorted(_rom_ids_by_name()))


def rom_id(game: str) -> str:
    """ALE ROM id of a game given as ``SpaceInvaders`` or ``space_invaders``; ``ValueError`` if unknown."""
    by_name = _rom_ids_by_name()
    if not isinstance(game, str):
        raise TypeError(f"A game name is a str, got {game!r} ({type(game).__name__}).")
    if game in by_name:
        return by_name[game]
    if game in by_name.values():
        return game
    raise ValueError(f"Unknown Atari game {game!r}; valid games: {', '.join(all_game_names())}.")


def resolve_games(games: Sequence[str] | None, suite: str | None) -> tuple[str, ...]:
    """The CamelCase game list from ``games=`` or ``suite=`` (default suite when both are None)."""
    if games is not None and suite is not None:
        raise ValueError(f"games={games!r} and suite={suite!r} were both given; they pick the same thing, so give one.")
    if games is None:
        suite = DEFAULT_SUITE if suite is None else suite
        if not isinstance(suite, str) or suite not in SUITES:
            raise ValueError(f"Unknown suite {suite!r}; valid suites: {', '.join(SUITES)}.")
        games = SUITES[suite]
    if isinstance(games, str) or not isinstance(games, Sequence) or len(games) == 0:
        raise ValueError(f"games= must be a non-empty list of game names, got {games!r}.")
    names = tuple(_camel(rom_id(game)) for game in games)
    if len(set(names)) != len(names):
        raise ValueError(f"games= lists a game twice: {list(games)}.")
    return names


def resolve_preset(preset: str) -> dict[str, float | int]:
    """Emulator settings of a named preset; ``ValueError`` naming the valid presets otherwise."""
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}.")
    return dict(PRESETS[preset])


def describe_protocol(preset: str, settings: dict[str, float | int], frame_skip: int, noop_max: int) -> str:
    """One line naming the emulator protocol, for run records and reports (scores only compare within one)."""
    starts = f"1-{noop_max} no-op starts" if noop_max else "no no-op starts"
    return (
        f"ALE {preset}: sticky actions {settings['repeat_action_probability']:g}, "
        f"{settings['max_episode_frames']}-frame cap, frame skip {frame_skip} with max-pool, "
        f"{starts}, game over ends episodes (not life loss)"
    )


@functools.cache
def minimal_action_mask(game: str) -> np.ndarray:
    """int8 mask over the 18 full actions, 1 for the game's minimal action set (read from ALE)."""
    import ale_py

    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.loadROM(ale_py.roms.get_rom_path(rom_id(game)))
    mask = np.zeros(NUM_ACTIONS, dtype=np.int8)
    mask[[action.value for action in ale.getMinimalActionSet()]] = 1
    return mask


def score_reference(game: str) -> tuple[float, float] | None:
    """(random, human) reference scores of a game, or None where no standard reference exists."""
    return REFERENCE_SCORES.get(rom_id(game))
