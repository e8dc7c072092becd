"""Every script in baselines/, loaded once, with the tiny configuration the shared suite drives it with.

A new script is picked up by ``test_every_script.py`` as soon as it has an entry in ``TINY`` (its
command-line arguments for a run of a few seconds) and, where it reads files, in ``FILE_FLAGS``;
``test_every_script_is_covered`` fails until it has.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import tyro

BASELINES = Path(__file__).resolve().parents[2] / "baselines"
SCRIPTS = tuple(sorted(path.stem for path in BASELINES.glob("*.py")))

_TWO_ROOMS = ["--env-id", "TwoRooms-v0", "--env-kwargs", json.dumps({"num_tasks": 2}), "--num-envs", "4"]
_PIXELS = json.dumps({"observation_type": "pixels", "num_tasks": 2, "room_size": 3, "corridor_length": 1,
                      "max_steps": 12})  # fmt: skip
_TABULAR = ["--env-kwargs", json.dumps({"num_tasks": 2, "room_size": 3, "corridor_length": 2}),
            "--eval-interval", "800", "--eval-episodes", "4"]  # fmt: skip
_ACTOR_CRITIC = [*_TWO_ROOMS, "--num-steps", "5", "--eval-episodes", "1", "--eval-interval", "0"]
_MA3C = ["--env-id", "TwoRooms-v0", "--env-kwargs", _PIXELS, "--num-envs", "4", "--num-steps", "5",
         "--hidden-size", "16", "--eval-episodes", "1", "--eval-interval", "0"]  # fmt: skip
_CONTROL2 = ["--env-id", "MultiControl-v0", "--env-kwargs", json.dumps({"tasks": ["CartPole", "Acrobot"]})]
_DQN = ["--learning-starts", "50", "--buffer-size", "300", "--batch-size", "16", "--eval-episodes", "1"]

# (arguments of a tiny run, its budget in --total-timesteps): each run takes a few seconds.
TINY: dict[str, tuple[list[str], int]] = {
    **{name: (_ACTOR_CRITIC, 400) for name in SCRIPTS if name.startswith(("distral_kl", "a3c_"))},
    "ma3c_1": (_MA3C, 200),
    "ma3c_2": (_MA3C, 200),
    "distral_tabular": (_TABULAR, 1600),
    "soft_q_tabular": (_TABULAR, 1600),
    "dqn": ([*_CONTROL2, "--task", "CartPole", *_DQN], 300),
    "mdqn": ([*_CONTROL2, *_DQN], 400),
    "mcdqn": ([*_CONTROL2, *_DQN], 400),
    "mt_dqn_shared": (
        [*_CONTROL2, "--learning-starts", "20", "--buffer-size", "80", "--batch-size", "16", "--eval-episodes", "1"],
        300,
    ),
    "actor_mimic": ([*_CONTROL2, "--learning-starts", "50", "--eval-episodes", "1"], 300),  # + --experts
    "prl": (
        [
            "--env-kwargs",
            json.dumps({"max_episode_frames": 100}),
            "--num-iterations",
            "2",
            "--num-envs",
            "3",
            "--horizon",
            "4",
            "--heldout-fraction",
            "0.25",
            "--updates-per-iteration",
            "4",
            "--batch-size",
            "4",
            "--num-sequences",
            "4",
            "--eval-episodes",
            "1",
        ],
        240,
    ),
}

# The flags through which each script reads a file (every one must refuse a crafted or damaged file).
FILE_FLAGS: dict[str, tuple[str, ...]] = {name: ("--resume",) for name in SCRIPTS}
FILE_FLAGS["dqn"] = ("--resume", "--init-from")
FILE_FLAGS["actor_mimic"] = ("--resume", "--experts")

_LOADED: dict[str, ModuleType] = {}


def load_script(name: str) -> ModuleType:
    """The script as a module (loaded once per test process; ``main`` is not run)."""
    if name not in _LOADED:
        spec = importlib.util.spec_from_file_location(f"baseline_{name}", BASELINES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses resolve the Args annotations through sys.modules
        spec.loader.exec_module(module)
        _LOADED[name] = module
    return _LOADED[name]


def tiny_argv(name: str, experts: list[str], *extra: str) -> list[str]:
    """Command-line arguments of the script's tiny run (no CUDA, no evaluation unless asked), then ``extra``."""
    argv, budget = TINY[name]
    argv = [*argv, "--total-timesteps", str(budget), "--exp-name", "tiny"]
    if name == "actor_mimic":
        argv += ["--experts", *experts]
    if "--cuda" in _flags(name):
        argv.append("--no-cuda")
    return [*argv, *extra]


def _flags(name: str) -> set[str]:
    return {"--" + field.replace("_", "-") for field in load_script(name).Args.__dataclass_fields__}


def parse(name: str, argv: list[str]):
    """The script's ``Args`` from ``argv``, as its command line would give them."""
    return tyro.cli(load_script(name).Args, args=argv)
