"""The mtenvs command line: list, throughput and render on MultiAtari ids."""

from __future__ import annotations

import re

import imageio.v3 as iio
import pytest

from mtenvs.cli import main
from mtenvs.workers import usable_cores


def test_list_prints_ids_tasks_and_spaces(capsys):
    assert main(["list", "PRL"]) == 0
    out = capsys.readouterr().out
    assert "MultiAtari-PRL-v0" in out and "MultiAtari-v0\n" not in out
    assert "tasks (3): Breakout, Pong, DemonAttack" in out
    assert "Box(0, 255, (4, 84, 84), uint8)" in out and "Discrete(18)" in out


def test_throughput_prints_every_path_the_reference_and_the_ratios(capsys):
    assert main(["throughput", "MultiAtari-PongBreakout-v0", "--num-envs", "4", "--seconds", "0.5"]) == 0
    out = capsys.readouterr().out
    rates = {
        label.strip(): float(rate.replace(",", ""))
        for label, rate in re.findall(r"^  (.+?)\s+([\d,]+) steps/s$", out, flags=re.M)
    }
    assert set(rates) == {
        "mtenvs grouped, ale (AtariVectorEnv per game)",
        "mtenvs grouped, workers",
        "mtenvs sampled, workers",
        "ale-py AtariVectorEnv Pong",
        "ale-py AtariVectorEnv Breakout",
        "ale-py reference (harmonic mean over games)",
        "ale-py AtariVectorEnv per game, driven directly",
    }
    pong, breakout = rates["ale-py AtariVectorEnv Pong"], rates["ale-py AtariVectorEnv Breakout"]
    assert rates["ale-py reference (harmonic mean over games)"] == pytest.approx(
        2 / (1 / pong + 1 / breakout), rel=0.01
    )
    ratios = dict(re.findall(r"ratio (.+?): ([\d.]+)", out))
    grouped, sampled = rates["mtenvs grouped, ale (AtariVectorEnv per game)"], rates["mtenvs sampled, workers"]
    expected = {
        "grouped (default) / ale-py reference": grouped / rates["ale-py reference (harmonic mean over games)"],
        "sampled (default) / grouped (default)": sampled / grouped,
        "grouped workers / grouped ale": rates["mtenvs grouped, workers"] / grouped,
        "grouped ale / ale-py per-game pools driven directly": grouped
        / rates["ale-py AtariVectorEnv per game, driven directly"],
    }
    assert set(ratios) == set(expected)
    for label, value in expected.items():
        assert float(ratios[label]) == pytest.approx(value, rel=0.01)
    assert f"(num_envs=4, games=2, preset=machado, workers={min(usable_cores(), 4) - 1}, parent_slice=True)" in out


def test_render_writes_a_gif_per_task_and_an_overview(tmp_path, capsys):
    assert main(["render", "MultiAtari-PongBreakout-v0", "--out", str(tmp_path), "--steps", "6", "--frames", "3"]) == 0
    overview = iio.imread(tmp_path / "MultiAtari-PongBreakout-v0.png")
    assert overview.shape == (2 * (210 + 4), 3 * (160 + 4), 3)  # a row per game, 3 bordered frames each
    for game in ("Pong", "Breakout"):
        gif = iio.imread(tmp_path / "MultiAtari-PongBreakout-v0" / f"{game}.gif", index=None)
        assert gif.shape[0] == 7 and gif.shape[1:3] == (210, 160)


def test_errors_are_reported_not_raised(capsys):
    assert main(["throughput", "NoSuchEnv-v0"]) == 2
    assert "No benchmark for 'NoSuchEnv-v0'" in capsys.readouterr().err
    assert main(["render", "MultiAtari-v7"]) == 2
    assert "mtenvs render: error:" in capsys.readouterr().err
