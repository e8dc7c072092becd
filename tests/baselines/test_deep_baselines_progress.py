"""The deep Distral / A3C scripts' shared conventions: progress lines, env-step counting, family defaults,
and TwoRooms' normalised score (the env's shortest-path info and the scripts' metric)."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import gymnasium as gym
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import mtenvs  # noqa: F401
from mtenvs.train import cli, progress

BASELINES = Path(__file__).resolve().parents[2] / "baselines"
DISTRAL = ("distral_kl_1col", "distral_kl_2col", "distral_kl_ent_1col", "distral_kl_ent_2col")
A3C = ("a3c_independent", "a3c_2col", "a3c_multitask")
TWO_TASKS = json.dumps({"num_tasks": 2})
PROGRESS = re.compile(r"^step (\d+)/(\d+), SPS (\d+), mean return of the last (\d+) episodes (\S+)", re.MULTILINE)


def load(script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"progress_{script}", BASELINES / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the Args annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.mark.parametrize("script", DISTRAL + A3C)
def test_progress_lines_with_eval_off(script, tmp_path, monkeypatch, capsys):
    module = load(script)
    monkeypatch.chdir(tmp_path)
    args = module.Args(env_kwargs=TWO_TASKS, num_envs=4, num_steps=5, total_timesteps=400, cuda=False)
    module.main(dataclasses.replace(args, eval_interval=0, checkpoint_interval=0, progress_interval=1e-9))
    lines = PROGRESS.findall(capsys.readouterr().out)
    steps = [int(line[0]) for line in lines]
    assert len(lines) >= 400 // 20  # one per update (at most 20 agent steps each)
    assert steps == sorted(set(steps)) and steps[-1] >= 400 and all(line[1] == "400" for line in lines)
    assert all(int(line[2]) > 0 for line in lines)
    finished = [line for line in lines if line[4] != "n/a"]
    assert finished and all(0.0 <= float(line[4]) <= 1.0 for line in finished)  # TwoRooms returns are 0 or 1


def test_progress_line_at_least_every_30_seconds_by_default(tmp_path, monkeypatch, capsys):
    module = load("a3c_independent")
    assert module.Args().progress_interval == 30.0

    class Clock:  # every reading of the clock is 31 s later: each update must print
        now = 0.0

        def time(self) -> float:
            self.now += 31.0
            return self.now

    monkeypatch.setattr(progress, "Progress", functools.partial(progress.Progress, clock=Clock().time))
    monkeypatch.chdir(tmp_path)
    module.main(
        module.Args(env_kwargs=TWO_TASKS, num_envs=4, num_steps=5, total_timesteps=200, cuda=False, eval_interval=0)
    )
    lines = PROGRESS.findall(capsys.readouterr().out)
    (run_dir,) = (tmp_path / "runs").iterdir()
    updates = len(scalars(run_dir)["charts/SPS"])  # SPS is logged every 10 updates and at the end
    assert len(lines) >= 10 * (updates - 1)


def test_env_steps_count_agent_steps_not_autoreset_steps(tmp_path, monkeypatch, capsys):
    """With 3-step episodes every fourth env.step is an autoreset step whose action is ignored: not counted."""
    module = load("distral_kl_ent_2col")
    monkeypatch.chdir(tmp_path)
    kwargs = json.dumps({"num_tasks": 2, "max_steps": 3})
    module.main(
        module.Args(env_kwargs=kwargs, num_envs=4, num_steps=5, total_timesteps=240, cuda=False, eval_interval=0)
    )
    done = int(re.search(r"Done: (\d+) steps", capsys.readouterr().out).group(1))
    (run_dir,) = (tmp_path / "runs").iterdir()
    lengths = [value for _, value in scalars(run_dir)["charts/episodic_length"]]
    # Every agent step belongs to a finished episode or to one of the 4 envs' unfinished ones (< 3 steps).
    assert sum(lengths) <= done <= sum(lengths) + 4 * 2
    assert 240 <= done < 240 + 4 * 5


@pytest.mark.parametrize("script", ["distral_kl_ent_2col", "a3c_independent"])
def test_family_defaults_fill_only_unset_fields(script, capsys):
    module = load(script)
    distral = script in DISTRAL
    regulariser = "beta" if distral else "ent_coef"

    def defaults(**fields):
        return cli.apply_family_defaults(module.Args(**fields), module.FAMILY_DEFAULTS, module.SCRIPT)

    two_rooms = defaults(gamma=0.9)
    assert two_rooms.gamma == 0.9 and two_rooms.learning_rate == 8e-4 and two_rooms.hidden_size == 128
    assert getattr(two_rooms, regulariser) == (50.0 if distral else 0.01) and two_rooms.clip_rewards is False
    assert (two_rooms.num_envs, two_rooms.total_timesteps) == (64, 300_000)
    line = capsys.readouterr().out
    assert line.startswith("tworooms defaults applied: learning_rate=0.0008") and "gamma" not in line
    atari = defaults(env_id="MultiAtari-PongBreakout-v0")
    assert (atari.gamma, atari.learning_rate, atari.hidden_size, atari.clip_rewards) == (0.99, 4e-4, 256, True)
    assert getattr(atari, regulariser) == (1e3 if distral else 0.01)
    assert "atari defaults applied: learning_rate=0.0004, gamma=0.99" in capsys.readouterr().out
    maze = defaults(env_id="MultiMaze-v0")
    assert (maze.gamma, maze.clip_rewards) == (0.99, False)
    assert "miniworld defaults applied" in capsys.readouterr().out
    control = defaults(env_id="MultiControl-v0", total_timesteps=5_000)  # the declared family, not a guess
    assert (control.learning_rate, control.gamma, control.hidden_size, control.clip_rewards) == (7e-4, 0.99, 64, False)
    assert (control.num_envs, control.total_timesteps) == (60, 5_000) and getattr(control, regulariser) == (
        50.0 if distral else 0.01
    )
    assert capsys.readouterr().out.startswith("control defaults applied: learning_rate=0.0007")
    if distral:
        assert module.Args().alpha == (0.5 if "ent" in script else 1.0)


@pytest.mark.parametrize("script", DISTRAL + A3C)
def test_every_env_family_has_defaults_for_every_unset_field(script):
    module = load(script)
    unset = {field.name for field in dataclasses.fields(module.Args) if getattr(module.Args(), field.name) is None}
    unset -= {"wandb_entity", "resume"}  # None is their value, not a placeholder
    assert set(module.FAMILY_DEFAULTS) == {"tworooms", "atari", "miniworld", "control"}
    for family, defaults in module.FAMILY_DEFAULTS.items():
        assert set(defaults) == unset, family
        for task_count in (8, 2) if family != "control" else (5, 3):  # TwoRooms: 8 or 2; MultiControl: 5, GymTrio: 3
            assert defaults["num_envs"] % task_count == 0


@pytest.mark.parametrize("script", ["distral_kl_1col", "a3c_multitask"])
def test_multi_control_trains_with_its_declared_defaults(script, tmp_path, monkeypatch, capsys):
    """MultiControl's vector observations go through the MLP column; each of its 5 tasks gets an env group."""
    module = load(script)
    monkeypatch.chdir(tmp_path)
    args = module.Args(env_id="MultiControl-v0", num_envs=10, num_steps=5, total_timesteps=300, cuda=False)
    module.main(dataclasses.replace(args, eval_interval=300, eval_episodes=1, checkpoint_interval=0))
    out = capsys.readouterr().out
    assert "control defaults applied: learning_rate=0.0007, gamma=0.99" in out
    (run_dir,) = (tmp_path / "runs").iterdir()
    logged = scalars(run_dir)
    tasks = ["CartPole", "Acrobot", "MountainCar", "CarOnHill", "InvertedPendulum"]
    assert all(np.isfinite(value) for _, value in logged["losses/value_loss"])
    assert {f"eval/episodic_return/{task}" for task in tasks} <= set(logged)


# --- TwoRooms' normalised score ---------------------------------------------------------------------


def walk_greedily(env: gym.Env, distances: np.ndarray) -> int:
    """Steps a policy descending the distance-to-goal field takes to the goal."""
    layout, steps, terminated = env.unwrapped.layout, 0, False
    while not terminated:
        here = layout.width * env.unwrapped.position[0] + env.unwrapped.position[1]
        action = int(
            np.argmin(
                [distances[here + offset] if distances[here + offset] >= 0 else 10**9 for offset in layout.move_offsets]
            )
        )
        _, _, terminated, truncated, _ = env.step(action)
        steps += 1
        assert not truncated
    return steps


def test_shortest_path_length_is_what_an_optimal_walk_takes():
    env = gym.make("TwoRooms-v0", max_steps=200)
    for seed in range(20):
        _, info = env.reset(seed=seed)
        goal = env.unwrapped.layout.goals[info["task_id"]]
        distances = env.unwrapped.layout.shortest_path_lengths(goal)
        assert info["shortest_path_length"] >= 1
        assert walk_greedily(env, distances) == info["shortest_path_length"]


def test_vector_env_reports_shortest_path_for_every_new_episode():
    num_envs = 8  # grouped: at least one env per task (8 tasks)
    vector = gym.make_vec("TwoRooms-v0", num_envs=num_envs, max_steps=5)
    _, infos = vector.reset(seed=3)
    singles = [gym.make("TwoRooms-v0", max_steps=5, task_schedule="fixed", task=int(t)) for t in infos["task_id"]]
    expected = [single.reset(seed=3 + i)[1]["shortest_path_length"] for i, single in enumerate(singles)]
    assert infos["_shortest_path_length"].all() and infos["shortest_path_length"].tolist() == expected
    rng = np.random.default_rng(0)
    ended = np.zeros(num_envs, dtype=bool)
    for _ in range(40):
        actions = rng.integers(4, size=num_envs)
        _, _, terminated, truncated, infos = vector.step(actions)
        assert infos["_shortest_path_length"].tolist() == ended.tolist()  # exactly the autoreset sub-envs
        for i, single in enumerate(singles):  # sub-env i runs the episodes of a single env seeded 3 + i
            if ended[i]:
                _, single_info = single.reset()
                assert infos["shortest_path_length"][i] == single_info["shortest_path_length"]
            else:
                single.step(int(actions[i]))
        ended = terminated | truncated


def test_normalized_score_definition():
    assert progress.normalized_score(True, 7, 7) == 1.0
    assert progress.normalized_score(True, 5, 20) == 0.25
    assert progress.normalized_score(False, 5, 100) == 0.0


@pytest.mark.parametrize("script", ["distral_kl_1col", "a3c_2col"])
def test_scripts_log_the_normalised_score(script, tmp_path, monkeypatch):
    module = load(script)
    monkeypatch.chdir(tmp_path)
    module.main(
        module.Args(
            env_kwargs=TWO_TASKS, num_envs=8, total_timesteps=2_000, eval_interval=1_000, eval_episodes=4, cuda=False
        )
    )
    (run_dir,) = (tmp_path / "runs").iterdir()
    logged = scalars(run_dir)
    tags = ["charts/normalized_score/goal_5_2", "eval/normalized_score/goal_5_2", "eval/normalized_score"]
    tags += ["eval/distilled_normalized_score/goal_5_2", "eval/distilled_normalized_score"] if script in DISTRAL else []
    for tag in tags:
        values = [value for _, value in logged[tag]]
        assert values and all(0.0 <= value <= 1.0 for value in values), tag  # never better than optimal
    # A failed episode scores 0 and a successful one > 0: the score is 0 exactly when the return is 0.
    scores, returns = logged["charts/normalized_score/goal_5_2"], logged["charts/episodic_return/goal_5_2"]
    assert [s > 0 for _, s in scores] == [r > 0 for _, r in returns]
