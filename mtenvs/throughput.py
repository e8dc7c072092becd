"""Throughput measurement shared by every family's ``mtenvs throughput`` (steps/s side by side, as ratios).

The machines are shared and noisy, so a family's benchmark measures our env and its reference in
the same run, interleaved over several rounds, and reports the ratio of their medians.
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtenvs.validation import check_int, check_number
from mtenvs.vector import MAX_NUM_ENVS


@dataclass
class Measurement:
    """Steps per second of one contender (env steps summed over sub-envs)."""

    label: str
    steps_per_second: float


@dataclass
class Ratio:
    """``numerator / denominator`` steps/s, with the target it must reach (if any)."""

    label: str
    value: float
    target: float | None = None

    @property
    def meets_target(self) -> bool | None:
        return None if self.target is None else self.value >= self.target


@dataclass
class ThroughputResult:
    """What ``mtenvs throughput`` prints for one env id."""

    env_id: str
    settings: dict[str, object]
    measurements: list[Measurement] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)

    def format(self) -> str:
        lines = [f"mtenvs throughput {self.env_id}  ({', '.join(f'{k}={v}' for k, v in self.settings.items())})"]
        width = max(len(m.label) for m in self.measurements)
        lines += [f"  {m.label:<{width}}  {m.steps_per_second:>12,.0f} steps/s" for m in self.measurements]
        for ratio in self.ratios:
            verdict = ""
            if ratio.target is not None:
                verdict = f"  (target >= {ratio.target:g}: {'met' if ratio.meets_target else 'NOT met'})"
            lines.append(f"  ratio {ratio.label}: {ratio.value:.3f}{verdict}")
        return "\n".join(lines)


def steps_per_second(step: Callable[[], None], steps_per_call: int, seconds: float) -> float:
    """Call ``step`` (which advances ``steps_per_call`` env steps) for about ``seconds``; return steps/s."""
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        step()
        calls += 1
        now = time.perf_counter()
        if now >= deadline:
            return calls * steps_per_call / (now - start)


def vector_stepper(envs: Any, actions: np.ndarray) -> tuple[Callable[[], None], int]:
    """Reset ``envs`` and return a step function cycling through pre-drawn ``actions`` (one row per
    step), so no action sampling happens inside the timing, with the env steps each call advances."""
    envs.reset(seed=0)
    position = [0]

    def step() -> None:
        envs.step(actions[position[0] % len(actions)])
        position[0] += 1

    return step, envs.num_envs


def single_stepper(env: Any, actions: np.ndarray) -> tuple[Callable[[], None], int]:
    """Reset a single ``env`` and return a step function cycling through pre-drawn ``actions`` that
    resets the env whenever an episode ends (one env step per call)."""
    env.reset(seed=0)
    position = [0]

    def step() -> None:
        _, _, terminated, truncated, _ = env.step(int(actions[position[0] % len(actions)]))
        position[0] += 1
        if terminated or truncated:
            env.reset()

    return step, 1


def interleaved(
    contenders: dict[str, tuple[Callable[[], None], int]], seconds: float, rounds: int = 5
) -> dict[str, float]:
    """Median steps/s of each contender, timed in alternating rounds so load drifts hit all alike.

    ``seconds`` is each contender's total timing budget, split evenly over the rounds.
    """
    samples: dict[str, list[float]] = {label: [] for label in contenders}
    for _ in range(rounds):
        for label, (step, steps_per_call) in contenders.items():
            samples[label].append(steps_per_second(step, steps_per_call, seconds / rounds))
    return {label: statistics.median(values) for label, values in samples.items()}


# env id prefix -> module with ``measure(env_id, num_envs, seconds) -> ThroughputResult``.
THROUGHPUT_MODULES = {
    "MultiAtari": "mtenvs.atari.throughput",
    "TwoRooms": "mtenvs.tworooms.throughput",
    "MultiMaze": "mtenvs.miniworld.throughput",
    "MultiNav": "mtenvs.miniworld.throughput",
    "MultiLaserTag": "mtenvs.miniworld.throughput",
    "MultiControl": "mtenvs.control.throughput",
}


# Bounds of ``measure``'s arguments (a run is several contenders x ``seconds``; batched TwoRooms'
# sub-envs are array rows, so it allows far more of them than process- or emulator-backed envs).
MAX_SECONDS = 3600.0
MAX_NUM_ENVS_BY_FAMILY = {"TwoRooms": 2**20}


def measure(env_id: str, num_envs: int | None = None, seconds: float = 10.0) -> ThroughputResult:
    """Run the benchmark of the family that ``env_id`` belongs to.

    ``num_envs`` is None (the family's default) or an int in 1..``MAX_NUM_ENVS`` (2**20 for
    TwoRooms); ``seconds`` is each contender's timing budget, a finite number in (0, 3600].
    """
    family = env_id.split("-")[0] if isinstance(env_id, str) else None
    if family not in THROUGHPUT_MODULES:
        raise ValueError(f"No benchmark for {env_id!r}; families with one: {', '.join(THROUGHPUT_MODULES)}.")
    if num_envs is not None:
        check_int("num_envs", num_envs, 1, MAX_NUM_ENVS_BY_FAMILY.get(family, MAX_NUM_ENVS))
    if not 0.0 < check_number("seconds", seconds) <= MAX_SECONDS:
        raise ValueError(f"seconds must be a finite number in (0, {MAX_SECONDS:g}], got {seconds}.")
    module = importlib.import_module(THROUGHPUT_MODULES[family])
    return module.measure(env_id, num_envs=num_envs, seconds=seconds)
