"""``mtenvs throughput MultiAtari-*``: our vector paths beside ale-py's own ``AtariVectorEnv``.

The reference for a mixed batch is what ale-py achieves on the same games: each game's
single-game ``AtariVectorEnv`` is timed with the same total ``num_envs`` and preprocessing, and
their harmonic mean is the throughput of a batch that spends equal shares of its envs on each game
(per-step time adds up over the groups). For a one-game suite this is exactly "a single-game
AtariVectorEnv with the same num_envs".

Three of our paths are timed: grouped assignment on one ale-py vector env per game (``"ale"``),
grouped on worker processes (``"workers"``), and sampled assignment (a game per episode) on worker
processes, its default. The grouped default is compared with the reference, the sampled default
with the grouped default (both targets 0.9), and the two grouped paths with each other (which one
is faster decides the grouped default).

Every contender is timed in its steady state. The grouped paths and the references load their ROMs
when they are built; a sampled sub-env loads a game's ROM at that game's first episode (ALE's
``loadROM``, about 150 ms of CPU here, once per sub-env and game). So before timing, every sampled
sub-env plays a first reset of every game (:func:`load_every_game`); a training run pays these
loads once, in its first episodes.

For suites of several games it also times the same per-game split driven straight through ale-py,
without any mtenvs code: ``ale / pools`` is then the cost of our own layer, and
``pools / reference`` what running one ale-py thread pool per game costs by itself.
"""

from __future__ import annotations

import statistics

import gymnasium as gym
import numpy as np
from ale_py.vector_env import AtariVectorEnv

from mtenvs.atari.env import emulator_settings
from mtenvs.atari.suites import NUM_ACTIONS, resolve_games, rom_id
from mtenvs.atari.vector import DEFAULT_VECTORIZATION, ale_vector_kwargs
from mtenvs.core import grouped_task_ids
from mtenvs.throughput import Measurement, Ratio, ThroughputResult, interleaved, vector_stepper

TARGET_RATIO = 0.9
POOLS = "ale-py AtariVectorEnv per game, driven directly"
GROUPED = {"ale": "mtenvs grouped, ale (AtariVectorEnv per game)", "workers": "mtenvs grouped, workers"}
SAMPLED = "mtenvs sampled, workers"


def measure(env_id: str, num_envs: int | None = None, seconds: float = 10.0) -> ThroughputResult:
    """Steps/s of ``gym.make_vec(env_id, num_envs)`` and of the raw ale-py reference, and their ratio."""
    spec_kwargs = dict(gym.spec(env_id).kwargs)
    games = resolve_games(spec_kwargs.get("games"), spec_kwargs.get("suite"))
    num_envs = num_envs or max(16, 2 * len(games))
    preset = spec_kwargs.get("preset", "machado")
    settings = emulator_settings(preset, None, None)
    ale_kwargs = ale_vector_kwargs(settings, frame_skip=4, screen_size=84, stack_size=4, noop_max=30)
    actions = np.random.default_rng(0).integers(0, NUM_ACTIONS, size=(64, num_envs)).astype(np.int32)

    ours = {label: gym.make_vec(env_id, num_envs=num_envs, vectorization=mode) for mode, label in GROUPED.items()}
    ours[SAMPLED] = gym.make_vec(env_id, num_envs=num_envs, task_assignment="sampled", vectorization="workers")
    contenders = {label: vector_stepper(env, actions) for label, env in ours.items()}
    load_every_game(ours[SAMPLED])
    references = {game: AtariVectorEnv(rom_id(game), num_envs, **ale_kwargs) for game in games}
    for game, env in references.items():
        contenders[f"ale-py AtariVectorEnv {game}"] = vector_stepper(env, actions)
    if len(games) > 1:
        contenders[POOLS], pools = _ale_groups_stepper(games, num_envs, ale_kwargs, actions)
    else:
        pools = []
    rates = interleaved(contenders, seconds)
    for env in [*ours.values(), *references.values(), *pools]:
        env.close()

    ours_rates = {label: rates.pop(label) for label in ours}
    grouped = ours_rates[GROUPED[DEFAULT_VECTORIZATION["grouped"]]]
    pools_rate = rates.pop(POOLS, None)
    reference_rate = statistics.harmonic_mean(list(rates.values()))
    settings = {
        "num_envs": num_envs,
        "games": len(games),
        "preset": preset,
        "workers": ours[SAMPLED].num_workers,
        "parent_slice": ours[SAMPLED].parent_slice,
    }
    result = ThroughputResult(env_id, settings)
    result.measurements += [Measurement(label, rate) for label, rate in ours_rates.items()]
    result.measurements += [Measurement(label, rate) for label, rate in rates.items()]
    if len(games) > 1:
        result.measurements.append(Measurement("ale-py reference (harmonic mean over games)", reference_rate))
        result.measurements.append(Measurement(POOLS, pools_rate))
    result.ratios.append(Ratio("grouped (default) / ale-py reference", grouped / reference_rate, TARGET_RATIO))
    result.ratios.append(Ratio("sampled (default) / grouped (default)", ours_rates[SAMPLED] / grouped, TARGET_RATIO))
    result.ratios.append(
        Ratio("grouped workers / grouped ale", ours_rates[GROUPED["workers"]] / ours_rates[GROUPED["ale"]])
    )
    if len(games) > 1:
        result.ratios.append(
            Ratio("grouped ale / ale-py per-game pools driven directly", ours_rates[GROUPED["ale"]] / pools_rate)
        )
    return result


def load_every_game(envs: gym.vector.VectorEnv) -> None:
    """Make every sub-env of a sampled, seeded vector env load every game's emulator, then start
    sampled episodes again: one unseeded reset per game (a seeded reset would drop the emulators)."""
    for task_id in range(envs.num_tasks):
        envs.reset(options={"task": task_id})
    envs.reset()


def _ale_groups_stepper(games: tuple[str, ...], num_envs: int, ale_kwargs: dict, actions: np.ndarray):
    """The same per-game split as MultiAtariVectorEnv, driven straight through ale-py (no mtenvs code):
    what the orchestration of one ale-py vector env per game costs by itself."""
    groups = []
    task_ids = grouped_task_ids(num_envs, len(games))
    for task_id, game in enumerate(games):
        (members,) = np.nonzero(task_ids == task_id)
        if members.size:
            env = AtariVectorEnv(rom_id(game), int(members.size), **ale_kwargs)
            env.reset(seed=0)
            groups.append((slice(int(members[0]), int(members[-1]) + 1), env))
    position = [0]

    def step() -> None:
        step_actions = actions[position[0] % len(actions)]
        position[0] += 1
        for members, env in groups:
            env.send(step_actions[members])
        for _, env in groups:
            env.recv()

    return (step, num_envs), [env for _, env in groups]
