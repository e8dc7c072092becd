#!/usr/bin/env python
"""Training SPS of every deep baseline script on every env family it supports, beside the env-only SPS.

    nice -n 10 python scripts/training_sps.py              # every (script, family) pair: ~20 min on 2 CPU cores
    python scripts/training_sps.py --only dqn mdqn --window 30

Each pair runs the script as a subprocess (in a temporary directory, on the CPU: ``--no-cuda --torch-threads 1
--checkpoint-interval 0``, evaluation off where the script allows it, ``--progress-interval 5``, a budget far
beyond the window) and stops it once ``--window`` seconds have passed since its first progress line past the
warm-up (or after ``--max-wall`` seconds). Training SPS = (steps of the last progress line - steps of that first
one) / (seconds between the two lines' arrival): the warm-up (imports, env construction, the first updates,
replay scripts' ``learning_starts``) is left out. Replay scripts run with ``--learning-starts`` at most 1000 (and a
10k buffer on pixel envs) so that they train inside the window; a progress line counts only once the step count
has passed ``learning_starts * num_tasks``. The env-only SPS steps the same env configuration (id, kwargs, number
of envs, vectorization) with uniformly random valid actions (``info["action_mask"]``) for ``--env-seconds``
seconds after a 1 s warm-up. Prints a Markdown table, then the exact command of every row.

Run it at low priority on a shared machine (``nice -n 10``); one pair at a time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np

import mtenvs  # noqa: F401  (registers the mtenvs ids)

ROOT = Path(__file__).resolve().parents[1]
BUDGET = 10_000_000  # --total-timesteps: never reached inside the window
MAX_LEARNING_STARTS = 1000
PIXEL_BUFFER = 10_000

# The env families and the configuration used for each (pixel ones kept small enough for a CPU).
FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "tworooms-vector": ("TwoRooms-v0", {}),
    "tworooms-pixels": ("TwoRooms-v0", {"observation_type": "pixels", "num_tasks": 2}),
    "atari": ("MultiAtari-PongBreakout-v0", {}),
    "miniworld": ("MultiMaze-v0", {"maze_size": 3}),
    # The same envs stepped in the script's own process: what a 2-core machine can run (see SKIPPED below).
    "miniworld-sync": ("MultiMaze-v0", {"maze_size": 3, "vectorization": "sync"}),
    "control": ("MultiControl-v0", {}),
}
PIXEL_FAMILIES = ("tworooms-pixels", "atari", "miniworld", "miniworld-sync")
ALL = tuple(FAMILIES)

_AC = {"families": ALL, "envs": "grouped", "flags": ["--eval-interval", "0", "--eval-episodes", "1"]}
_DQN_FAMILY = {"families": ALL, "envs": "per-task", "replay": True, "flags": ["--eval-interval", "0",
                                                                           "--eval-episodes", "0"]}  # fmt: skip

# Per script: the families it is measured on, how it builds its envs, whether it learns from a replay buffer, and
# the flags that turn evaluation off (every script also gets the COMMON flags and the family's env).
SCRIPTS: dict[str, dict[str, Any]] = {
    "a3c_2col": _AC,
    "a3c_independent": _AC,
    "a3c_multitask": _AC,
    "distral_kl_1col": _AC,
    "distral_kl_2col": _AC,
    "distral_kl_ent_1col": _AC,
    "distral_kl_ent_2col": _AC,
    "ma3c_1": {**_AC, "families": PIXEL_FAMILIES},  # image families only
    "ma3c_2": {**_AC, "families": PIXEL_FAMILIES},
    "dqn": {"families": ALL, "envs": "single", "replay": True, "flags": _AC["flags"]},  # its eval needs >= 1 episode
    "mdqn": _DQN_FAMILY,
    "mcdqn": _DQN_FAMILY,
    # Experts (one dqn.py model per task) are trained first, tiny; only where the env has few tasks.
    "actor_mimic": {**_DQN_FAMILY, "families": ("tworooms-pixels", "control")},
    "mt_dqn_shared": {
        "families": ("tworooms-vector", "tworooms-pixels", "control"),
        "envs": "list",
        "replay": True,
        "flags": ["--eval-interval", "0"],
    },
    "prl": {"families": ("atari",), "envs": "prl", "flags": ["--eval-episodes", "0"]},
}
SKIPPED = {
    ("actor_mimic", "tworooms-vector"): "not measured: needs 8 dqn.py experts (one per task)",
    ("actor_mimic", "miniworld"): "not measured: needs 8 dqn.py experts (one per task)",
    ("actor_mimic", "atari"): "not measured: a dqn.py expert's final evaluation episode on Atari can run for minutes",
}
# When docs/baselines.md's table was measured, MultiMaze's vector env defaulted to async: one spawned process per
# sub-env (OpenGL each). On the 2-core machine of the first run, a3c_2col's 64 (the actor-critic family default) gave
# no progress line in 60 s and drove the load average to 39; so the vector scripts are measured on "miniworld-sync"
# (the same envs, sync vectorization) instead, and dqn.py (one env, in the script's own process) on "miniworld".
# (The default is now "workers", a process per core; the table keeps the sync rows it was measured with.)
for _script, _spec in SCRIPTS.items():
    if "miniworld" in _spec["families"] and _spec["envs"] != "single":
        SKIPPED[_script, "miniworld"] = "not measured: measured on miniworld-sync (see notes)"
    elif "miniworld-sync" in _spec["families"]:
        SKIPPED[_script, "miniworld-sync"] = "not measured: one env, no vectorization (see the miniworld row)"
SKIPPED["actor_mimic", "miniworld-sync"] = "not measured: needs 8 dqn.py experts (one per task)"
COMMON = ["--no-cuda", "--torch-threads", "1", "--checkpoint-interval", "0", "--progress-interval", "5"]
EXPERT_FLAGS = ["--total-timesteps", "200", "--learning-starts", "50", "--buffer-size", "300", "--batch-size", "16",
                "--eval-episodes", "1", "--save-model", "--checkpoint-interval", "0", "--no-cuda"]  # fmt: skip

_LOADED: dict[str, ModuleType] = {}


def load_script(name: str) -> ModuleType:
    """The baseline script as a module (its ``main`` is not run), to read its ``FAMILY_DEFAULTS``."""
    if name not in _LOADED:
        spec = importlib.util.spec_from_file_location(f"baseline_{name}", ROOT / "baselines" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        _LOADED[name] = module
    return _LOADED[name]


@dataclass
class Row:
    script: str
    family: str
    num_envs: int
    command: list[str]
    learning_starts: int | None = None
    train_sps: float | None = None
    env_sps: float | None = None
    note: str = ""
    load: float | None = None  # one-minute load average at the end of the training run
    lines: list[tuple[float, int, int]] = field(default_factory=list)  # (arrival time, step, SPS since start)


def task_names(family: str) -> tuple[str, ...]:
    env_id, kwargs = FAMILIES[family]
    env = gym.make(env_id, **{k: v for k, v in kwargs.items() if k != "vectorization"})  # a vector-only kwarg
    names = tuple(env.unwrapped.task_names)
    env.close()
    return names


def plan(script: str, family: str, experts: list[str]) -> Row:
    """The command line of one pair and the number of envs it steps."""
    spec, defaults = SCRIPTS[script], load_script(script).FAMILY_DEFAULTS.get(family.split("-")[0], {})
    env_id, kwargs = FAMILIES[family]
    names = task_names(family)
    argv = ["--env-id", env_id, "--env-kwargs", json.dumps(kwargs), *COMMON, *spec["flags"]]
    if script != "prl":
        argv += ["--total-timesteps", str(BUDGET)]
    learning_starts = None
    if spec.get("replay"):
        learning_starts = min(defaults.get("learning_starts", load_script(script).Args.learning_starts),
                              MAX_LEARNING_STARTS)  # fmt: skip
        argv += ["--learning-starts", str(learning_starts)]
        if family in PIXEL_FAMILIES and script != "mt_dqn_shared":
            argv += ["--buffer-size", str(PIXEL_BUFFER)]
    if script == "dqn":
        argv += ["--task", names[0]]
    if script == "actor_mimic":
        argv += ["--experts", *experts]
    kind = spec["envs"]
    if kind == "grouped":
        num_envs = defaults["num_envs"]
    elif kind == "prl":
        num_envs = load_script(script).Args.num_envs
    else:
        num_envs = 1 if kind == "single" else len(names)
    command = ["python", f"baselines/{script}.py", *argv]
    return Row(script, family, num_envs, command, learning_starts)


def _reader(stream: Any, row: Row, tail: list[str]) -> None:
    for line in stream:
        tail[:] = [*tail[-5:], line.rstrip()]
        if line.startswith("step ") and ", SPS " in line:
            step = int(line.split("/")[0].split()[1])
            sps = int(line.split(", SPS ")[1].split(",")[0])
            row.lines.append((time.monotonic(), step, sps))


def measure_training(row: Row, workdir: Path, window: float, max_wall: float) -> None:
    """Run the row's command until ``window`` s after its first progress line past the warm-up; set train_sps."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, str(ROOT / row.command[1]), *row.command[2:]]
    warmup = (row.learning_starts or 0) * (1 if row.script == "dqn" else len(task_names(row.family)))
    start, tail = time.monotonic(), []
    proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    reader = threading.Thread(target=_reader, args=(proc.stdout, row, tail), daemon=True)
    reader.start()
    while proc.poll() is None and time.monotonic() - start < max_wall:
        past = [t for t, step, _ in row.lines if step > warmup]
        if past and time.monotonic() - past[0] >= window:
            break
        time.sleep(0.2)
    exited, row.load = proc.poll(), os.getloadavg()[0]
    if exited is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(5)
    past = [(t, step) for t, step, _ in row.lines if step > warmup]
    if len(past) >= 2:
        (t0, s0), (t1, s1) = past[0], past[-1]
        row.train_sps = (s1 - s0) / (t1 - t0)
    elif exited not in (None, 0):
        row.note = f"exited with {exited}: {tail[-1] if tail else ''}"[:200]
    elif row.lines:
        row.note = (f"fewer than 2 progress lines past the warm-up ({warmup} steps) in {max_wall:.0f} s; last line: "
                    f"step {row.lines[-1][1]}, SPS since start {row.lines[-1][2]}")  # fmt: skip
    else:
        row.note = f"no progress line in {max_wall:.0f} s"


def _actions(rng: np.random.Generator, masks: np.ndarray | None, n: int, num_actions: int) -> np.ndarray:
    if masks is None:
        return rng.integers(num_actions, size=n)
    return np.argmax(rng.random((n, num_actions)) * masks, axis=1)


def _steps_per_second(step: Callable[[], int], seconds: float) -> float:
    """Steps/s of repeated ``step()`` calls (each returns the env steps it took), timed for ``seconds`` after a 1 s
    warm-up."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.0:
        step()
    steps, begin = 0, time.monotonic()
    while time.monotonic() - begin < seconds:
        steps += step()
    return steps / (time.monotonic() - begin)


def measure_env(script: str, family: str, num_envs: int, seconds: float) -> float:
    """Steps/s of the row's env configuration under uniformly random valid actions (1 s warm-up left out)."""
    env_id, kwargs = FAMILIES[family]
    kind = SCRIPTS[script]["envs"]
    rng = np.random.default_rng(0)
    if kind in ("grouped", "per-task", "prl"):
        extra = {"preset": "nature", "autoreset_mode": "SameStep"} if kind == "prl" else {}
        envs = gym.make_vec(env_id, num_envs=num_envs, task_assignment="grouped", **extra, **kwargs)
        n = envs.single_action_space.n
        infos = envs.reset(seed=0)[1]

        def vector_step() -> int:
            nonlocal infos
            infos = envs.step(_actions(rng, infos.get("action_mask"), num_envs, n))[4]
            return num_envs

        sps = _steps_per_second(vector_step, seconds)
        envs.close()
        return sps
    # "single" (dqn.py: one env on one task) and "list" (mt_dqn_shared.py: one env per task, stepped in turn)
    names = task_names(family)[: 1 if kind == "single" else None]
    singles = [gym.make(env_id, task_schedule="fixed", task=name, **kwargs) for name in names]
    n = singles[0].action_space.n
    single_infos = [env.reset(seed=0)[1] for env in singles]

    def step_each() -> int:
        for i, env in enumerate(singles):
            mask = single_infos[i].get("action_mask")
            action = int(_actions(rng, None if mask is None else mask[None], 1, n)[0])
            _, _, terminated, truncated, single_infos[i] = env.step(action)
            if terminated or truncated:
                single_infos[i] = env.reset()[1]
        return len(singles)

    sps = _steps_per_second(step_each, seconds)
    for env in singles:
        env.close()
    return sps


def train_experts(family: str, workdir: Path) -> list[str]:
    """Tiny dqn.py runs, one per task of the family's env, saved as actor_mimic.py's --experts."""
    env_id, kwargs = FAMILIES[family]
    paths = []
    for task in task_names(family):
        name = f"expert-{family}-{task}"
        argv = [sys.executable, str(ROOT / "baselines/dqn.py"), "--env-id", env_id, "--env-kwargs", json.dumps(kwargs),
                "--task", task, "--exp-name", name, *EXPERT_FLAGS]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run(argv, cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL, timeout=300)
        (path,) = workdir.glob(f"runs/*__{name}__*/{name}.pt")
        paths.append(str(path))
    return paths


def markdown(rows: list[Row]) -> str:
    lines = ["| script | family (env id, kwargs) | num envs | training SPS | env-only SPS | train / env | load avg |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        env_id, kwargs = FAMILIES[row.family]
        family = f"{row.family} (`{env_id}` `{json.dumps(kwargs)}`)" if kwargs else f"{row.family} (`{env_id}`)"
        train = f"{row.train_sps:.0f}" if row.train_sps is not None else row.note or "n/a"
        env_sps = f"{row.env_sps:.0f}" if row.env_sps is not None else "n/a"
        ratio = f"{row.train_sps / row.env_sps:.3f}" if row.train_sps and row.env_sps else "n/a"
        load = f"{row.load:.1f}" if row.load is not None else ""
        num_envs = row.num_envs or ""
        lines.append(f"| {row.script} | {family} | {num_envs} | {train} | {env_sps} | {ratio} | {load} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure every selected pair and print the Markdown table and the commands."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="scripts to measure (default: all)")
    parser.add_argument("--families", nargs="*", default=None, help=f"families to measure (default: {list(ALL)})")
    parser.add_argument("--skip", nargs="*", default=None, help="SCRIPT/FAMILY pairs to leave out")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured after the warm-up")
    parser.add_argument("--max-wall", type=float, default=45.0, help="seconds a training run may take in all")
    parser.add_argument("--env-seconds", type=float, default=5.0, help="seconds of the env-only measurement")
    args = parser.parse_args(argv)
    rows, env_cache, begin = [], {}, time.monotonic()
    with tempfile.TemporaryDirectory(prefix="training_sps_") as tmp:
        workdir, workdir_name = Path(tmp), tmp
        for script in args.only or SCRIPTS:
            for family in SCRIPTS[script]["families"]:
                if args.families and family not in args.families:
                    continue
                if args.skip and f"{script}/{family}" in args.skip:
                    continue
                if (script, family) in SKIPPED:
                    rows.append(Row(script, family, 0, [], note=SKIPPED[script, family]))
                    continue
                experts = train_experts(family, workdir) if script == "actor_mimic" else []
                row = plan(script, family, experts)
                measure_training(row, workdir, args.window, args.max_wall)
                key = (SCRIPTS[script]["envs"], family, row.num_envs)
                if key not in env_cache:
                    try:
                        env_cache[key] = measure_env(script, family, row.num_envs, args.env_seconds)
                    except Exception as error:  # reported in the table; the other rows go on
                        env_cache[key] = None
                        print(f"env-only {key}: {error}", file=sys.stderr)
                row.env_sps = env_cache[key]
                rows.append(row)
                print(f"[{time.monotonic() - begin:5.0f} s] {script} {family}: train {row.train_sps}, "
                      f"env {row.env_sps} {row.note}", file=sys.stderr, flush=True)  # fmt: skip
    print(markdown(rows))
    print("\nCommands (run from the repository root with PYTHONPATH=.; actor_mimic's --experts are dqn.py models "
          f"made with `{shlex.join(EXPERT_FLAGS)}` per task):\n")  # fmt: skip
    for row in rows:
        if row.command:
            command = shlex.join(row.command).replace(workdir_name, "EXPERTS")
            print(f"- {row.script} / {row.family}: `{command}`")
    print(f"\nWindow {args.window:g} s after the warm-up, progress lines every 5 s, env-only {args.env_seconds:g} s; "
          f"total wall time {time.monotonic() - begin:.0f} s; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"{os.cpu_count()} CPU cores, torch on the CPU with 1 thread.")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
