"""The mtenvs command line: list, throughput and render on MultiAtari ids."""

from __future__ import annotations

import re

import imageio.v3 as iio
import pytest

from mtenvs.cli import main


def test_list_prints_ids_tasks_and_spaces(capsys):
    assert main(["list", "PRL"]) == 0
    out = capsys.readouterr().out
    assert "MultiAtari-PRL-v0" in out and "MultiAtari-v0\n" not in out
    assert "tasks (3): Breakout, Pong, DemonAttack" in out
    assert "Box(0, 255, (4, 84, 84), uint8)" in out and "Discrete(18)" in out


def test_throughput_prints_both_rates_and_their_ratio(capsys):
    assert main(["throughput", "MultiAtari-PongBreakout-v0", "--num-envs", "4", "--seconds", "0.5"]) == 0
    out = capsys.readouterr().out
    rates = {
        label.strip(): float(rate.replace(",", ""))
        for label, rate in re.findall(r"^  (.+?)\s+([\d,]+) steps/s$", out, flags=re.M)
    }
    assert set(rates) == {
        "mtenvs MultiAtariVectorEnv",
        "ale-py AtariVectorEnv Pong",
        "ale-py AtariVectorEnv Breakout",
        "ale-py reference (harmonic mean over games)",
        "ale-py AtariVectorEnv per game, driven directly",
    }
    pong, breakout = rates["ale-py AtariVectorEnv Pong"], rates["ale-py AtariVectorEnv Breakout"]
    assert rates["ale-py reference (harmonic mean over games)"] == pytest.approx(
        2 / (1 / pong + 1 / breakout), rel=0.01
    )
    ratio = float(re.search(r"ratio mtenvs / ale-py reference: ([\d.]+)", out).group(1))
    assert ratio == pytest.approx(
        rates["mtenvs MultiAtariVectorEnv"] / rates["ale-py reference (harmonic mean over games)"], rel=0.01
    )


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
