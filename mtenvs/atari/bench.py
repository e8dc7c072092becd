"""``mtenvs bench MultiAtari-*``: our grouped vector env beside ale-py's own ``AtariVectorEnv``.

The reference for a mixed batch is what ale-py achieves on the same games: each game's
single-game ``AtariVectorEnv`` is timed with the same total ``num_envs`` and preprocessing, and
their harmonic mean is the throughput of a batch that spends equal shares of its envs on each game
(per-step time adds up over the groups). For a one-game suite this is exactly "a single-game
AtariVectorEnv with the same num_envs".
"""

from __future__ import annotations

import statistics

import gymnasium as gym
import numpy as np
from ale_py.vector_env import AtariVectorEnv

from mtenvs.atari.env import emulator_settings
from mtenvs.atari.games import NUM_ACTIONS, resolve_games, rom_id
from mtenvs.atari.vector import ale_vector_kwargs
from mtenvs.bench import BenchResult, Measurement, Ratio, interleaved

TARGET_RATIO = 0.9


def bench(env_id: str, num_envs: int | None = None, seconds: float = 10.0) -> BenchResult:
    """Steps/s of ``gym.make_vec(env_id, num_envs)`` and of the raw ale-py reference, and their ratio."""
    spec_kwargs = dict(gym.spec(env_id).kwargs)
    games = resolve_games(spec_kwargs.get("games"), spec_kwargs.get("suite"))
    num_envs = num_envs or max(16, 2 * len(games))
    preset = spec_kwargs.get("preset", "machado")
    settings = emulator_settings(preset, None, None)
    ale_kwargs = ale_vector_kwargs(settings, frame_skip=4, screen_size=84, stack_size=4, noop_max=30)
    actions = np.random.default_rng(0).integers(0, NUM_ACTIONS, size=(64, num_envs)).astype(np.int32)

    ours = gym.make_vec(env_id, num_envs=num_envs)
    references = {game: AtariVectorEnv(rom_id(game), num_envs, **ale_kwargs) for game in games}
    contenders = {"mtenvs MultiAtariVectorEnv": _stepper(ours, actions)}
    contenders.update({f"ale-py AtariVectorEnv {game}": _stepper(env, actions) for game, env in references.items()})
    rates = interleaved(contenders, seconds)
    ours.close()
    for env in references.values():
        env.close()

    ours_rate = rates.pop("mtenvs MultiAtariVectorEnv")
    reference_rate = statistics.harmonic_mean(list(rates.values()))
    result = BenchResult(env_id, {"num_envs": num_envs, "games": len(games), "preset": preset})
    result.measurements.append(Measurement("mtenvs MultiAtariVectorEnv", ours_rate))
    result.measurements += [Measurement(label, rate) for label, rate in rates.items()]
    if len(games) > 1:
        result.measurements.append(Measurement("ale-py reference (harmonic mean over games)", reference_rate))
    result.ratios.append(Ratio("mtenvs / ale-py reference", ours_rate / reference_rate, TARGET_RATIO))
    return result


def _stepper(envs, actions: np.ndarray):
    """A step function cycling through pre-drawn actions (no sampling cost inside the timing)."""
    envs.reset(seed=0)
    position = [0]

    def step() -> None:
        envs.step(actions[position[0] % len(actions)])
        position[0] += 1

    return step, envs.num_envs
