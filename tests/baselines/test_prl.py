"""Tests of baselines/prl.py (Predictive RL, Mujika 2016): model, data, planner, runs, resume, bad input."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mtenvs.train import checkpoint, progress

BASELINES = Path(__file__).resolve().parents[2] / "baselines"
SCRIPT = BASELINES / "prl.py"
GAMES = ("Breakout", "Pong", "DemonAttack")


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("baseline_prl", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module by name
    spec.loader.exec_module(module)
    return module


prl = load()


def tiny_args(**overrides) -> prl.Args:
    """Two iterations of 40 steps in each of 3 envs (one per game), 25-step episodes, 6 updates each."""
    settings = {
        "total_timesteps": 240,
        "num_iterations": 2,
        "num_envs": 3,
        "horizon": 4,
        "heldout_fraction": 0.25,
        "updates_per_iteration": 6,
        "batch_size": 4,
        "num_sequences": 4,
        "eval_episodes": 1,
        "env_kwargs": '{"max_episode_frames": 100}',
        "checkpoint_interval": 2,
        "save_model": True,
        "cuda": False,
    }
    return prl.Args(**(settings | overrides))


def run_dir(root: Path) -> Path:
    (directory,) = (root / "runs").iterdir()
    return directory


def scalars(directory: Path) -> dict[str, list[float]]:
    events = EventAccumulator(str(directory))
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def run(root: Path, monkeypatch, **overrides) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(root)
    prl.main(tiny_args(**overrides))
    return run_dir(root)


def resume(root: Path, monkeypatch, checkpoint_path: Path, **flags) -> None:
    """Continue a run from its checkpoint with its own arguments (only run-time flags may be given)."""
    monkeypatch.chdir(root)
    prl.main(prl.Args(resume=str(checkpoint_path), cuda=False, **flags))


def flip_bytes_in_largest_tensor(path: Path, count: int = 64) -> None:
    """Damage a torch file as a bad disk would: invert `count` bytes in the middle of its largest tensor."""
    with zipfile.ZipFile(path) as archive:
        record = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with open(path, "r+b") as file:
        file.seek(record.header_offset + 26)
        name_length, extra_length = (int.from_bytes(file.read(2), "little") for _ in range(2))
        start = record.header_offset + 30 + name_length + extra_length + record.file_size // 2
        file.seek(start)
        damaged = bytes(b ^ 0xFF for b in file.read(count))
        file.seek(start)
        file.write(damaged)


def model_state(directory: Path) -> dict[str, torch.Tensor]:
    return torch.load(directory / "prl.pt", weights_only=True)


def assert_same_model(a: Path, b: Path) -> None:
    state_a, state_b = model_state(a), model_state(b)
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """One uninterrupted tiny run (seed 1) shared by the run-level tests."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return run(tmp_path_factory.mktemp("reference"), monkeypatch)


# --- model ---
def test_rrnn_state_stays_bounded_over_a_long_unroll():
    torch.set_num_threads(1)  # as the script runs; more threads only contend on a shared CI machine
    torch.manual_seed(0)
    state_size, delta_std, steps = 100, 0.1, 2000
    prediction = prl.Prediction(state_size, delta_std)
    with torch.no_grad():  # weights far larger than training would give: the bound must not depend on them
        for parameter in prediction.parameters():
            parameter.mul_(50.0)
        h0 = torch.randn(8, state_size)
        actions = torch.randint(0, 18, (8, steps))
        states = prediction(h0, prl.encode_actions(actions))
    increments = torch.diff(torch.cat([h0[:, None], states], dim=1), dim=1).norm(dim=-1)
    step_norm = delta_std * state_size**0.5
    assert torch.isfinite(states).all()
    assert torch.allclose(increments, torch.full_like(increments, step_norm), rtol=1e-3)
    bound = h0.norm(dim=-1, keepdim=True) + step_norm * torch.arange(1, steps + 1)
    assert (states.norm(dim=-1) <= bound + 1e-3).all()


def test_controls_encode_fire_horizontal_vertical():
    # ALE: 1 FIRE, 3 RIGHT, 4 LEFT, 2 UP, 5 DOWN, 17 DOWNLEFTFIRE.
    controls = prl.encode_actions(torch.tensor([0, 1, 3, 4, 2, 5, 17]))
    expected = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1], [1, -1, -1]]
    assert controls.tolist() == expected


# --- data ---
def test_deaths_are_lost_lives_or_lost_points_never_a_game_won_or_timed_out():
    # Envs: Breakout losing a life, Breakout losing its last (game over), Pong losing a point, Pong winning its
    # 21st point (game over), Boxing's clock running out (game over, no lives), Breakout's 108k-frame cap.
    terminations = np.array([False, True, False, True, True, False])
    life_lost = np.array([True, False, False, False, False, False])
    rewards = np.array([0.0, 0.0, -1.0, 1.0, 0.0, 0.0])
    has_lives = np.array([True, True, False, False, False, True])
    died = prl.death_labels(terminations, life_lost, rewards, has_lives)
    assert died.tolist() == [True, True, True, False, False, False]


def test_window_targets_follow_the_paper_definitions():
    # One env, 8 steps: reward at step 1, death at step 3, a time-limit end at step 6.
    data = prl.PlayData(
        frames=np.zeros((8, 1, 2, 2), np.uint8),
        actions=np.arange(8)[:, None],
        rewards=np.array([0, 1, 0, 0, 0, 2, 0, 0], np.float32)[:, None],
        died=np.array([0, 0, 0, 1, 0, 0, 0, 0], bool)[:, None],
        truncated=np.array([0, 0, 0, 0, 0, 0, 1, 0], bool)[:, None],
        episode_start=np.array([0, 0, 0, 0, 4, 4, 4, 7])[:, None],
    )
    targets, mask, actions = prl.window_targets(data, np.array([0, 4]), np.array([0, 0]), 4)
    # From step 0: score up after step 1, then the death at step 3 turns it into (not up, died).
    assert targets[0, :, 0].tolist() == [0, 1, 1, 0]
    assert targets[0, :, 1].tolist() == [0, 0, 0, 1]
    assert mask[0].min() == 1
    # From step 4: reward at step 5; the episode is cut at step 6, so step 7's target is unknown.
    assert targets[1, :3, 0].tolist() == [0, 1, 1]
    assert mask[1, :, 0].tolist() == [1, 1, 1, 0]
    assert actions.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_iteration_weights_triple_every_three_iterations():
    assert prl.iteration_weights(8, 3.0).tolist() == [1, 1, 1, 3, 3, 3, 9, 9]


def test_learning_rate_schedule_scales_with_the_budget():
    args = prl.Args(num_iterations=6, updates_per_iteration=100, learning_rate=1e-3)
    assert prl.learning_rate(args, 1, 0) == pytest.approx(1e-3)
    assert prl.learning_rate(args, 1, 50) == pytest.approx(5e-4)  # halved after half of the iteration
    assert prl.learning_rate(args, 3, 0) == pytest.approx(5e-4)  # second third of the iterations
    assert prl.learning_rate(args, 6, 99) == pytest.approx(1.25e-4)


def test_frame_stacks_rebuild_the_env_observations():
    args = prl.Args(num_envs=3)
    envs = prl.make_envs(args, {"max_episode_frames": 200}, 3)  # 50-step episodes: several resets
    seen = []
    step, reset = envs.step, envs.reset
    envs.step = lambda actions: seen.append(step(actions)) or seen[-1]
    envs.reset = lambda **kwargs: seen.append(reset(**kwargs)) or seen[-1]
    meter = progress.Progress(args.progress_interval, 360, 0)
    data, episodes = prl.play(envs, 120, 0, None, None, args, torch.device("cpu"), meter, "test")
    envs.close()
    assert len(episodes) >= 3
    observations = np.stack([result[0] for result in seen[:120]])
    steps, env_ids = (grid.ravel() for grid in np.meshgrid(np.arange(120), np.arange(3), indexing="ij"))
    np.testing.assert_array_equal(prl.frame_stacks(data, steps, env_ids, 4), observations[steps, env_ids])


@pytest.mark.slow
def test_valuation_heads_learn_a_synthetic_game():
    """A paddle at x in 0..7 drawn in the frames; LEFT/RIGHT move it, leaving 0..7 is a death, FIRE in
    the right half scores. Both heads must rank held-out windows well above chance."""
    rng = np.random.default_rng(0)
    horizon, actions = 5, np.array([0, 1, 3, 4, 11, 12])

    def windows(count: int) -> dict[str, torch.Tensor]:
        x0 = rng.integers(0, 8, count)
        sequence = actions[rng.integers(len(actions), size=(count, horizon))]
        controls = prl.encode_actions(torch.as_tensor(sequence)).numpy()
        x = x0[:, None] + np.cumsum(controls[..., 1], axis=1)
        died = np.logical_or.accumulate((x < 0) | (x > 7), axis=1)
        points = np.cumsum(controls[..., 0] * (x >= 4), axis=1)
        frames = np.zeros((count, 4, 36, 36), np.uint8)
        for i, position in enumerate(x0):
            frames[i, :, :, position * 4 : position * 4 + 4] = 255
        targets = np.stack([(points > 0) & ~died, died], axis=-1).astype(np.float32)
        return {
            "frames": torch.as_tensor(frames),
            "controls": torch.as_tensor(controls),
            "targets": torch.as_tensor(targets),
            "mask": torch.ones(count, horizon, 2),
        }

    torch.set_num_threads(1)  # as the script runs; more threads only contend on a shared CI machine
    torch.manual_seed(0)
    model = prl.PredictiveModel((4, 36, 36), 32, 0.1)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-5)
    for _ in range(300):
        prl.train_step(model, optimizer, windows(64), 1.0, torch.device("cpu"))
    heldout = windows(1000)
    model.eval()
    with torch.no_grad():
        probabilities = torch.sigmoid(model(heldout["frames"], heldout["controls"])).numpy()
    targets = heldout["targets"].numpy()
    for head in (0, 1):
        assert prl.roc_auc(probabilities[:, -1, head], targets[:, -1, head]) > 0.8, head


# --- planner ---
def test_choose_sequences_takes_the_best_safe_sequence_else_the_safest():
    p_score = torch.tensor([[0.9, 0.6, 0.3], [0.9, 0.6, 0.3]])
    p_death = torch.tensor([[0.5, 0.1, 0.05], [0.5, 0.4, 0.3]])
    chosen = prl.choose_sequences(p_score, p_death, torch.tensor([0.2, 0.2]))
    assert chosen.tolist() == [1, 2]  # env 0: best score among the safe two; env 1: none safe -> safest
    assert prl.choose_sequences(p_score, p_death, torch.tensor([1.0, 0.0])).tolist() == [0, 2]


class StubModel:
    """Known valuations: P(score) rises with the summed horizontal control, P(died) with the summed fire."""

    def eval(self) -> StubModel:
        return self

    def perception(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.zeros(frames.shape[0], 1)

    def unroll(self, h0: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        score = torch.cumsum(controls[..., 1], dim=1)
        death = torch.cumsum(controls[..., 0], dim=1) - 2.0
        return torch.stack([score, death], dim=-1)


def test_planner_plays_the_sequence_the_heads_rank_best():
    masks = np.zeros((2, 18), np.int8)
    masks[:, [0, 1, 3, 4, 11, 12]] = 1  # Pong's actions: NOOP, FIRE, RIGHT, LEFT and with FIRE
    planner = prl.Planner(masks, np.array([0.3, 0.3]), 64, 6, np.random.default_rng(0))
    frames = np.zeros((2, 4, 84, 84), np.uint8)
    candidates, probabilities, chosen = planner.plan(StubModel(), frames, torch.device("cpu"))
    assert candidates.shape == (2, 65, 6)
    controls = prl.encode_actions(torch.as_tensor(candidates)).numpy()
    expected_score = 1 / (1 + np.exp(-controls[..., 1].sum(-1)))
    expected_death = 1 / (1 + np.exp(-(controls[..., 0].sum(-1) - 2.0)))
    np.testing.assert_allclose(probabilities[..., 0], expected_score, rtol=1e-5)
    np.testing.assert_allclose(probabilities[..., 1], expected_death, rtol=1e-5)
    for env in range(2):
        safe = expected_death[env] <= 0.3
        assert safe[chosen[env]]
        assert expected_score[env, chosen[env]] == expected_score[env, safe].max()
    # Playing takes the chosen first action and keeps the rest as next step's extra candidate.
    planner.rng = np.random.default_rng(1)
    _, _, chosen = planner.plan(StubModel(), frames, torch.device("cpu"))
    planner.rng = np.random.default_rng(1)
    actions = planner.act(StubModel(), frames, torch.device("cpu"))
    planner.rng = np.random.default_rng(1)
    best = planner.plan(StubModel(), frames, torch.device("cpu"))[0][np.arange(2), chosen]
    assert actions.tolist() == best[:, 0].tolist()
    np.testing.assert_array_equal(planner.previous_best[:, :-1], best[:, 1:])
    assert np.isin(planner.previous_best, np.flatnonzero(masks[0])).all()


# --- runs ---
@pytest.mark.slow
def test_two_iterations_run_end_to_end_and_log_the_metrics(reference_run):
    metrics = scalars(reference_run)
    training = scalars(reference_run / "updates")
    for game in GAMES:
        assert len(metrics[f"iteration/episodic_return/{game}"]) == 2  # random play, then the planner
        for head in ("score", "death"):
            for value in metrics.get(f"auc/{head}/{game}/h1", []) + metrics.get(f"auc/{head}/{game}/h4", []):
                assert 0.0 <= value <= 1.0
        for tag in ("eval/episodic_return", "eval/random_return"):  # the planner, then random play, same seeds
            (eval_return,) = metrics[f"{tag}/{game}"]
            assert (-21 <= eval_return <= 21) if game == "Pong" else eval_return >= 0
    evaluation = json.loads((reference_run / "eval_returns.json").read_text())
    assert set(evaluation) == {"planner", "random"}
    assert all(len(evaluation[policy][game]) == 1 for policy in evaluation for game in GAMES)  # eval_episodes 1
    assert len(metrics["charts/SPS"]) == 2 and min(metrics["charts/SPS"]) > 0
    for key in ("score_loss", "death_loss", "loss"):
        values = training[f"losses/{key}"]
        assert len(values) == 2 and all(np.isfinite(values)) and min(values) >= 0  # logged at updates 6 and 12
    assert training["charts/learning_rate"] == pytest.approx([2.5e-4, 1.25e-4])  # halved at mid-iteration
    report = json.loads((reference_run / "heldout_2.json").read_text())
    assert set(report["games"]) == set(GAMES)
    for heads in report["games"].values():
        for key in ("score_predicted", "death_predicted", "score_observed", "death_observed"):
            assert len(heads[key]) == 4 and all(0.0 <= p <= 1.0 for p in heads[key])
        for key in ("score_auc", "death_auc"):  # NaN where the tiny held-out set has one class only
            assert len(heads[key]) == 4 and all(np.isnan(a) or 0.0 <= a <= 1.0 for a in heads[key])
    data = prl.PlayData.load(reference_run / "data_2.pt")
    assert data.frames.shape == (40, 3, 84, 84)
    assert np.isin(data.actions[:, 0], [0, 1, 3, 4]).all()  # Breakout's valid actions only
    assert data.actions[0, 0] == prl.FIRE  # Breakout presses FIRE to start its episode


@pytest.mark.slow
@pytest.mark.parametrize("interrupt", ["training", "planner play"])
def test_interrupted_run_resumes_to_the_uninterrupted_result(interrupt, reference_run, tmp_path, monkeypatch):
    calls = {"count": 0}

    def interrupt_on_call(original, when: int):
        def wrapper(*args, **kwargs):
            calls["count"] += 1
            if calls["count"] == when:
                raise KeyboardInterrupt
            return original(*args, **kwargs)

        return wrapper

    if interrupt == "training":  # update 9 = iteration 2, after its checkpoint at update 2
        monkeypatch.setattr(prl, "train_step", interrupt_on_call(prl.train_step, 9))
    else:  # the 5th planner step of iteration 2's play
        monkeypatch.setattr(prl.Planner, "act", interrupt_on_call(prl.Planner.act, 5))
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, monkeypatch)
    monkeypatch.undo()
    directory = run_dir(tmp_path)
    saved = torch.load(directory / "checkpoint.pt", weights_only=True)
    assert saved["iteration"] == 2 and saved["collected"] == (interrupt == "training")
    resume(tmp_path, monkeypatch, directory / "checkpoint.pt")  # the checkpoint's own arguments come back
    assert_same_model(directory, reference_run)
    assert (directory / "eval_returns.json").read_text() == (reference_run / "eval_returns.json").read_text()
    assert len(scalars(directory / "updates")["losses/loss"]) == 2  # no duplicate points after the resume


@pytest.mark.slow
def test_resume_with_a_larger_budget_sizes_the_iterations_still_to_play(tmp_path, monkeypatch):
    monkeypatch.setattr(prl.Planner, "act", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):  # stops at iteration 2's first planner step, after 120 env steps
        run(tmp_path, monkeypatch, eval_episodes=0)
    monkeypatch.undo()
    path = run_dir(tmp_path) / "checkpoint.pt"
    with pytest.raises(ValueError, match="--total-timesteps 120 is not beyond the checkpoint's step 120"):
        resume(tmp_path, monkeypatch, path, total_timesteps=120)
    with pytest.raises(ValueError, match="--horizon cannot be changed"):
        resume(tmp_path, monkeypatch, path, horizon=5)
    resume(tmp_path, monkeypatch, path, total_timesteps=480)  # iteration 2 now plays 480 / 2 / 3 = 80 steps per env
    saved = torch.load(path, weights_only=True)
    assert saved["iteration"] == 3 and saved["global_step"] == 120 + 80 * 3
    assert saved["args"]["total_timesteps"] == 480 and saved["args"]["horizon"] == 4
    assert [prl.PlayData.load(path.parent / f"data_{i}.pt").frames.shape[0] for i in (1, 2)] == [40, 80]


@pytest.mark.slow
def test_seeded_runs_repeat_exactly(reference_run, tmp_path, monkeypatch):
    again = run(tmp_path / "again", monkeypatch)
    assert_same_model(again, reference_run)
    for name in ("data_1.pt", "data_2.pt"):
        first, second = (prl.PlayData.load(d / name) for d in (reference_run, again))
        for field in dataclasses.fields(prl.PlayData):
            np.testing.assert_array_equal(getattr(first, field.name), getattr(second, field.name))
    other = run(tmp_path / "other", monkeypatch, seed=2)
    assert not np.array_equal(
        prl.PlayData.load(other / "data_1.pt").actions, prl.PlayData.load(reference_run / "data_1.pt").actions
    )


# --- bad input ---
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"env_id": "TwoRooms-v0"}, "--env-id TwoRooms-v0 is a tworooms env; prl.py supports atari envs"),
        ({"env_id": "NoSuchEnv-v0"}, "--env-id 'NoSuchEnv-v0' is not an mtenvs id"),
        ({"horizon": 0}, "--horizon must be an integer >= 1"),
        ({"num_sequences": 0}, "--num-sequences must be an integer >= 1"),
        ({"learning_rate": float("nan")}, "--learning-rate must be a number in (0, 1]"),
        ({"death_threshold": 1.5}, "--death-threshold must be a number in [0, 1]"),
        ({"heldout_fraction": 0.0}, "--heldout-fraction must be a number in (0, 0.5]"),
        ({"grad_clamp": -1.0}, "--grad-clamp must be a number in (0,"),
        ({"weight_growth": 0.5}, "--weight-growth must be a number in [1,"),
        ({"batch_size": 0}, "--batch-size must be an integer >= 1"),
        ({"eval_episodes": -1}, "--eval-episodes must be an integer >= 0"),
        ({"progress_interval": 0.0}, "--progress-interval must be a number in (0,"),
        ({"total_timesteps": 60}, "--total-timesteps=60 gives 10 steps per env"),
        ({"total_timesteps": 10**14}, "--total-timesteps (play data, 7078 bytes per env step) needs"),
        ({"env_kwargs": "[1]"}, "--env-kwargs must be a JSON object"),
        ({"env_kwargs": '{"no_such_option": 1}'}, '--env-kwargs {"no_such_option": 1} for MultiAtari-PRL-v0:'),
        ({"preset": "sticky"}, "--preset must be one of 'nature', 'machado'"),
        ({"num_envs": 4}, "--num-envs 4 must be a multiple of the 3 games"),
        ({"safest_only_games": ("Pongg",)}, "--safest-only-games must be ALE game names"),
        ({"fire_after_life_loss_games": ("breakout",)}, "--fire-after-life-loss-games must be ALE game names"),
    ],
)
def test_bad_input_fails_before_anything_runs(overrides, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as error:
        prl.main(tiny_args(**overrides))
    assert message in str(error.value)
    assert not (tmp_path / "runs").exists()


def test_resume_refuses_changed_arguments_and_foreign_or_corrupt_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = dataclasses.asdict(tiny_args(total_timesteps=240))
    position = {"iteration": 2, "collected": False, "update": 0, "global_step": 120, "total_updates": 6}
    payload = {"script": "prl.py", "args": args, "run_name": "a__prl__1__1", **position, "model": {}, "optimizer": {}}
    checkpoint.save(tmp_path / "checkpoint.pt", payload | {"train_rng": None})
    for flags, message in [
        ({"env_id": "MultiAtari-PongBreakout-v0"}, "--env-id cannot be changed"),
        ({"horizon": 5}, "--horizon cannot be changed"),
        ({"total_timesteps": 100}, "--total-timesteps 100 is not beyond the checkpoint's step 120"),
    ]:
        with pytest.raises(ValueError, match=message):
            prl.main(prl.Args(resume=str(tmp_path / "checkpoint.pt"), **flags))
    checkpoint.save(tmp_path / "foreign.pt", {"script": "prl.py", "args": args})
    with pytest.raises(ValueError, match=r"foreign\.pt is not a checkpoint of prl\.py: it lacks \['run_name'"):
        prl.main(prl.Args(resume=str(tmp_path / "foreign.pt")))
    checkpoint.save(tmp_path / "other.pt", payload | {"script": "dqn.py", "train_rng": None})
    with pytest.raises(ValueError, match=r"other\.pt is not a checkpoint of prl\.py: 'script' is 'dqn\.py'"):
        prl.main(prl.Args(resume=str(tmp_path / "other.pt")))
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match=r"corrupt\.pt is not a checkpoint of prl\.py: not a readable torch file"):
        prl.main(prl.Args(resume=str(tmp_path / "corrupt.pt")))
    with pytest.raises(ValueError, match="no such file"):
        prl.main(prl.Args(resume=str(tmp_path / "missing.pt")))
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("damaged", ["checkpoint.pt", "data_1.pt"])
def test_damaged_checkpoint_or_play_data_is_refused_in_one_line(damaged, reference_run, tmp_path):
    """64 bytes flipped inside the file's largest tensor (a weight matrix; the frames): the CRC check refuses it."""
    copy = tmp_path / "runs" / reference_run.name
    shutil.copytree(reference_run, copy)
    flip_bytes_in_largest_tensor(copy / damaged)
    env = {"PYTHONPATH": str(BASELINES.parent), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--resume", f"runs/{copy.name}/checkpoint.pt", "--no-cuda"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("prl.py: error: --resume"), result.stderr
    assert f"runs/{copy.name}/{damaged} is damaged: record " in result.stderr
    assert "fails its CRC check" in result.stderr


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--seed", "-1"], "--seed"),
        (["--resume", "/nonexistent.pt"], "--resume /nonexistent.pt: no such file"),
        (["--env-kwargs", '{"num_envs": 3}'], "--env-kwargs must not set 'num_envs'"),
        (["--env-kwargs", '{"task_assignment": "grouped"}'], "--env-kwargs must not set 'task_assignment'"),
        (["--learning-rate=-1"], "--learning-rate"),
        (["--env-kwargs", '{"preset": "machado"}'], "--env-kwargs must not set 'preset'"),
    ],
)
def test_command_line_refuses_bad_input_in_one_line(tmp_path, argv, flag):
    """The script exits with status 2 and a one-line `<script>.py: error: --flag ...` message, before any run."""
    env = {"PYTHONPATH": str(BASELINES.parent), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, str(BASELINES / "prl.py"), *argv],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"prl.py: error: {flag}")
    assert not (tmp_path / "runs").exists()
