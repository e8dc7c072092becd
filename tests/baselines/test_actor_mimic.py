"""Actor-Mimic (baselines/actor_mimic.py): the losses, masks, bad experts, learning, resume, transfer format.

Most tests use experts whose policies are known: checkpoints in dqn.py's format whose Q-values are
linear in a hand-picked feature (CartPole: push towards 3 theta + theta_dot, which balances the pole
for the full 500 steps; MountainCar: push along the velocity, about -120). One slow test trains a
tiny expert with dqn.py itself and checks that the two scripts read each other's checkpoints.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mtenvs.train import checkpoint, dqn_family, dqn_format
from mtenvs.train.cli import BadArgument
from mtenvs.train.dqn_family import masked_epsilon_greedy
from mtenvs.train.observations import ObservationLayout

BASELINES = Path(__file__).resolve().parents[2] / "baselines"
TASKS = ["CartPole", "MountainCar"]
ENV_KWARGS = json.dumps({"tasks": TASKS})
OBS_SIZE, NUM_ACTIONS = 4, 3  # CartPole's 4 entries (MountainCar's 2 are zero-padded); MountainCar's 3 actions
RANDOM_RETURN = {"CartPole": 22.0, "MountainCar": -200.0}  # the uniform random policy's mean return


def load(script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"baseline_{script}", BASELINES / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the Args annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def am() -> ModuleType:
    torch.set_num_threads(1)  # tiny networks: more threads only contend on a shared CPU
    return load("actor_mimic")


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def linear_expert(am, path: Path, task: str, direction: list[float], action_values: list[float], **overrides) -> Path:
    """A dqn.py-format expert with Q(s, a) = 10 * action_values[a] * (direction . s), through two ReLU units."""
    network = am.QNetwork("mlp", (OBS_SIZE,), (4, 4), NUM_ACTIONS)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        first, second = network.torso[0], network.torso[2]
        first.weight[0] = torch.tensor(direction)  # unit 0: relu(z), unit 1: relu(-z), z = direction . s
        first.weight[1] = -torch.tensor(direction)
        second.weight[0, 0] = second.weight[1, 1] = 1.0
        network.head.weight[:, 0] = 10.0 * torch.tensor(action_values)
        network.head.weight[:, 1] = -10.0 * torch.tensor(action_values)
    mask = [1, 1, 0] if task == "CartPole" else [1, 1, 1]
    payload = {
        "format": "mtenvs-dqn/1", "env_id": "MultiControl-v0", "env_kwargs": {"tasks": TASKS}, "task": task,
        "task_names": TASKS, "obs_shape": [OBS_SIZE], "num_actions": NUM_ACTIONS, "action_mask": mask,
        "torso_type": "mlp", "hidden_sizes": [4, 4], "q_network": network.state_dict(), "args": {}, "global_step": 0,
    }  # fmt: skip
    payload.update(overrides)
    torch.save(payload, path)
    return path


def untrained_expert(path: Path, task: str, obs_shape: tuple[int, ...], num_actions: int, mask: list[int]) -> str:
    """A dqn.py model file (through dqn_format, as dqn.py writes it) of an untrained network."""
    torso_type = dqn_format.torso_type_of(obs_shape)
    network = dqn_format.QNetwork(torso_type, obs_shape, (4, 4), num_actions)
    checkpoint.save(path, dqn_format.model_payload(
        dqn_format.DQN_FORMAT, network, env_id="MultiControl-v0", env_kwargs={}, task=task, task_names=[task],
        obs_shape=obs_shape, action_mask=mask, torso_type=torso_type, hidden_sizes=(4, 4), args={}, global_step=0,
    ))  # fmt: skip
    return str(path)


@pytest.fixture(scope="module")
def experts(am, tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("experts")
    cartpole = linear_expert(am, folder / "cartpole.pt", "CartPole", [0.0, 0.0, 3.0, 1.0], [-1.0, 1.0, 0.0])
    mountain_car = linear_expert(am, folder / "mountaincar.pt", "MountainCar", [0.0, 100.0, 0.0, 0.0], [-1.0, 0.0, 1.0])
    return [str(cartpole), str(mountain_car)]


def small_args(am, experts, **changes):
    base = dict(
        env_kwargs=ENV_KWARGS, experts=tuple(experts), total_timesteps=2_000, learning_starts=100, eval_interval=0,
        eval_episodes=2, checkpoint_interval=0, cuda=False,
    )  # fmt: skip
    return am.Args(**{**base, **changes})


def test_masks_give_invalid_actions_zero_probability(am):
    torch.manual_seed(0)
    logits = torch.randn(64, 5) * 3
    mask = torch.tensor([1, 0, 1, 1, 0], dtype=torch.bool).expand(64, 5)
    for tau in (0.5, 1.0, 4.0):
        probs = am.masked_log_policy(logits, mask, tau).exp()
        assert torch.all(probs[:, ~mask[0]] == 0.0)
        torch.testing.assert_close(probs.sum(1), torch.ones(64))
        expected = torch.softmax(logits[:, mask[0]] / tau, dim=1)
        torch.testing.assert_close(probs[:, mask[0]], expected)
    network = am.QNetwork("mlp", (3,), (8,), 5)
    logits, _ = network(torch.randn(64, 3))
    for epsilon in (0.0, 0.5, 1.0):  # the AMN acts as DQN does: masked epsilon-greedy on its outputs
        actions = torch.cat([masked_epsilon_greedy(logits, mask, epsilon) for _ in range(20)])
        assert set(actions.tolist()) <= {0, 2, 3}
    assert set(torch.cat([masked_epsilon_greedy(logits, mask, 1.0) for _ in range(20)]).tolist()) == {0, 2, 3}


def test_policy_loss_is_the_cross_entropy_to_the_experts_boltzmann_policy(am):
    torch.manual_seed(0)
    amn = am.ActorMimicNetwork("mlp", (4,), (8,), 3, None)
    experts = [am.QNetwork("mlp", (4,), (6,), 3), am.QNetwork("mlp", (4,), (5,), 3)]
    masks = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    obs = [torch.randn(7, 4), torch.randn(9, 4)]
    tau = 0.7
    losses = am.actor_mimic_losses(amn, experts, obs, masks, tau, feature_regression=False)
    for task in range(2):
        valid = masks[task]
        expert_q, _ = experts[task](obs[task])
        target = torch.softmax(expert_q[:, valid] / tau, dim=1)
        log_amn = torch.log_softmax(amn(obs[task])[0][:, valid], dim=1)
        expected = -(target * log_amn).sum(1).mean()
        torch.testing.assert_close(losses["policy"][task], expected)
    assert torch.all(losses["feature"] == 0.0)
    assert not hasattr(amn, "feature_projections")


@pytest.mark.parametrize("task_input", [True, False])
def test_the_task_input_tells_apart_tasks_whose_observations_coincide(am, task_input):
    """MultiControl's padded states of two tasks can be the same vector (MountainCar's and Car-on-Hill's
    (x, v, 0, 0, 0, 0)); two experts that want opposite actions there can only both be imitated with the task id."""
    torch.manual_seed(0)
    experts = [am.QNetwork("mlp", (4,), (4,), 2), am.QNetwork("mlp", (4,), (4,), 2)]
    with torch.no_grad():
        for task, expert in enumerate(experts):
            expert.head.weight.zero_()
            expert.head.bias.copy_(torch.tensor([5.0, -5.0]) * (1 if task == 0 else -1))
    amn = am.ActorMimicNetwork("mlp", (4,), (16,), 2, None, task_inputs=2 if task_input else 0)
    optimizer = torch.optim.Adam(amn.parameters(), lr=1e-2)
    masks = torch.ones(2, 2, dtype=torch.bool)
    for _ in range(200):
        shared = torch.randn(16, 4)
        losses = am.actor_mimic_losses(amn, experts, [shared, shared], masks, 1.0, feature_regression=False)
        optimizer.zero_grad()
        am.amn_loss(losses, 16, 0.0).backward()
        optimizer.step()
    agreement = losses["agreement"].sum().item()
    assert agreement == 2.0 if task_input else agreement <= 1.0 + 1e-6


def test_task_input_defaults_on_for_vectors_and_is_refused_for_images():
    vector, image = ObservationLayout.of_shape((6,)), ObservationLayout.of_shape((4, 84, 84))
    assert dqn_family.task_input_of(None, vector) and not dqn_family.task_input_of(None, image)
    assert not dqn_family.task_input_of(False, vector)
    with pytest.raises(BadArgument, match="--task-input needs vector observations"):
        dqn_family.task_input_of(True, image)


def test_feature_regression_pulls_the_projected_features_onto_the_experts_last_hidden_layer(am):
    torch.manual_seed(0)
    amn = am.ActorMimicNetwork("mlp", (4,), (16, 16), 3, [6, 5])
    experts = [am.QNetwork("mlp", (4,), (8, 6), 3), am.QNetwork("mlp", (4,), (7, 5), 3)]
    masks = torch.ones(2, 3, dtype=torch.bool)
    obs = [torch.randn(32, 4), torch.randn(32, 4)]

    def measured() -> list[float]:
        """|| f_i(h_AMN(s)) - h_Ei(s) ||^2, computed here from the networks, not by the script."""
        with torch.no_grad():
            return [
                ((amn.feature_projections[i](amn.get_features(obs[i])) - experts[i].get_features(obs[i])) ** 2)
                .sum(1)
                .mean()
                .item()
                for i in range(2)
            ]

    losses = am.actor_mimic_losses(amn, experts, obs, masks, 1.0, feature_regression=True)
    np.testing.assert_allclose(losses["feature"].detach().numpy(), measured(), rtol=1e-5)
    before = measured()
    torso_before = [p.clone() for p in amn.torso.parameters()]
    head_before = [p.clone() for p in amn.head.parameters()]
    optimizer = torch.optim.Adam(amn.parameters(), lr=1e-2)
    for _ in range(150):  # the feature loss alone
        losses = am.actor_mimic_losses(amn, experts, obs, masks, 1.0, feature_regression=True)
        optimizer.zero_grad()
        losses["feature"].sum().backward()
        optimizer.step()
    after = measured()
    assert all(a < 0.05 * b for a, b in zip(after, before, strict=True)), (before, after)
    # The loss reaches the AMN's own features (the torso) and not its policy head.
    assert any(not torch.equal(a, b) for a, b in zip(torso_before, amn.torso.parameters(), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(head_before, amn.head.parameters(), strict=True))


def lua_adam_steps(gradients: list[float], lr: float, beta1: float = 0.95, beta2: float = 0.95, gamma: float = 0.01):
    """The weight after each step of the authors' optimizers/adam.lua, by hand, for a scalar weight starting at 0.
    Their dw is the negative gradient and they add the step; here the gradient is subtracted, the same thing."""
    w, g, g2, weights = 0.0, 0.0, 0.0, []
    for grad in gradients:
        g2 = beta2 * g2 + (1 - beta2) * grad * grad
        g = beta1 * g + (1 - beta1) * grad
        w -= lr * math.sqrt(1 - beta2) / (1 - beta1) * g / math.sqrt(g2 + gamma)
        weights.append(w)
    return weights


@pytest.mark.parametrize("scale", [1.0, 0.1, 0.01, 0.001])
def test_paper_adam_steps_as_the_authors_lua_code(am, scale):
    gradients = [scale * x for x in (1.0, -0.5, 2.0, 0.25, 1.0)]
    parameter = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = am.PaperAdam([parameter], lr=2.5e-4)
    for grad, expected in zip(gradients, lua_adam_steps(gradients, 2.5e-4), strict=True):
        parameter.grad = torch.tensor([grad], dtype=torch.float64)
        optimizer.step()
        assert parameter.item() == pytest.approx(expected, rel=1e-12)


def test_update_descends_the_minibatch_sum_with_half_beta_on_the_features(am):
    """The authors back-propagate, per state, softmax(Q_E / tau) - softmax(logits) and beta (h_E - f(h)), summed over
    the minibatch: amn_loss must give exactly these gradients."""
    torch.manual_seed(0)
    logits = torch.randn(2, 8, 3, requires_grad=True)  # 2 tasks x 8 states x 3 actions
    features, targets = torch.randn(2, 8, 4, requires_grad=True), torch.randn(2, 8, 4)
    expert_policy = torch.softmax(torch.randn(2, 8, 3), -1)
    losses = {
        "policy": -(expert_policy * torch.log_softmax(logits, -1)).sum(-1).mean(1),
        "feature": ((features - targets) ** 2).sum(-1).mean(1),
    }
    am.amn_loss(losses, batch_size=8, feature_regression_scale=0.01).backward()
    torch.testing.assert_close(logits.grad, torch.softmax(logits, -1).detach() - expert_policy)
    torch.testing.assert_close(features.grad, 0.01 * (features.detach() - targets))


def test_bad_experts_are_rejected_before_training(am, experts, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cartpole, mountain_car = experts

    def error(experts_given) -> str:
        with pytest.raises(ValueError) as caught:
            am.main(small_args(am, experts_given))
        return str(caught.value)

    assert "got 1 checkpoints for the 2 tasks" in error([cartpole])
    assert "is an expert for task 'MountainCar', but this slot is task 'CartPole'" in error([mountain_car, cartpole])
    wrong_shape = untrained_expert(tmp_path / "shape.pt", "MountainCar", (6,), NUM_ACTIONS, [1, 1, 1])
    message = error([cartpole, wrong_shape])
    assert "task 'MountainCar'" in message and "(6,)" in message and "(4,)" in message
    wrong_actions = untrained_expert(tmp_path / "act.pt", "MountainCar", (OBS_SIZE,), 2, [1, 1])
    assert "has 2 actions" in error([cartpole, wrong_actions])
    wrong_mask = untrained_expert(tmp_path / "mask.pt", "MountainCar", (OBS_SIZE,), NUM_ACTIONS, [1, 1, 0])
    assert "has valid actions [1, 1, 0], the env's are [1, 1, 1]" in error([cartpole, wrong_mask])
    assert f"--experts {tmp_path / 'missing.pt'}: no such file" in error([cartpole, str(tmp_path / "missing.pt")])
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint" * 10)
    assert "is not a model of dqn.py (format mtenvs-dqn/1)" in error([cartpole, str(tmp_path / "corrupt.pt")])
    truncated = Path(cartpole).read_bytes()[:200]
    (tmp_path / "truncated.pt").write_bytes(truncated)
    assert "is not a model of dqn.py" in error([cartpole, str(tmp_path / "truncated.pt")])
    torch.save([1, 2, 3], tmp_path / "foreign.pt")
    assert "the file holds list, not a dict" in error([cartpole, str(tmp_path / "foreign.pt")])
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ValueError, match="--feature-regression-scale"):
        am.main(small_args(am, experts, feature_regression_scale=float("nan")))
    with pytest.raises(ValueError, match=r"--epsilon must be a number in \[0, 1\]"):
        am.main(small_args(am, experts, epsilon=1.5))


class Payload:
    """Unpickling this runs ``touch <marker>``: what a crafted .pt would do to a loader that unpickles."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("flag", ["experts", "resume"])
def test_crafted_pickle_is_refused_and_never_runs(am, experts, tmp_path, monkeypatch, flag):
    monkeypatch.chdir(tmp_path)
    marker, path = tmp_path / "pwned", tmp_path / "crafted.pt"
    torch.save({"format": "mtenvs-dqn/1", "q_network": Payload(marker)}, path)
    args = small_args(am, [experts[0], str(path)]) if flag == "experts" else am.Args(resume=str(path), cuda=False)
    with pytest.raises(ValueError, match=f"--{flag} .*cannot be loaded as data"):
        am.main(args)
    assert not marker.exists() and not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("feature_regression", [False, True])
def test_amn_reaches_ninety_percent_of_its_experts(am, experts, tmp_path, monkeypatch, feature_regression):
    monkeypatch.chdir(tmp_path)
    args = small_args(
        am, experts, total_timesteps=6_000, eval_episodes=5, feature_regression=feature_regression, save_model=True
    )
    am.main(args)
    (run,) = (tmp_path / "runs").iterdir()
    for task in TASKS:
        amn = scalars(run, f"eval/episodic_return/{task}")[-1][1]
        expert = scalars(run, f"eval/expert_return/{task}")[-1][1]
        fraction = (amn - RANDOM_RETURN[task]) / (expert - RANDOM_RETURN[task])
        assert fraction >= 0.9, f"{task}: AMN {amn}, expert {expert}"
    assert scalars(run, "losses/policy_loss")[-1][1] < scalars(run, "losses/policy_loss")[0][1]
    model = torch.load(run / "actor_mimic.pt", weights_only=True)
    assert model["format"] == "mtenvs-amn/1" and model["task_names"] == TASKS and model["obs_shape"] == [OBS_SIZE]
    assert {k.split(".")[0] for k in model["q_network"]} == {"torso", "head"}  # dqn.py's layout: --init-from reads it
    assert ("feature_projections" in model) == feature_regression


def test_seeded_runs_repeat_and_a_resumed_run_continues(am, experts, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    finals = []
    for repeat in range(2):
        am.main(small_args(am, experts, total_timesteps=600, exp_name=f"repeat{repeat}", checkpoint_interval=300))
        (checkpoint,) = (tmp_path / "runs").glob(f"*__repeat{repeat}__*/checkpoint.pt")
        finals.append(torch.load(checkpoint, weights_only=True))
    for key, value in finals[0]["model"].items():
        assert torch.equal(value, finals[1]["model"][key]), key
    assert torch.equal(finals[0]["replay"]["data"]["obs"], finals[1]["replay"]["data"]["obs"])

    # Resume: the first run's checkpoint, given a longer budget, continues in the same run directory.
    saved = finals[0]
    assert saved["global_step"] == 600
    assert all(250 < n <= 300 for n in saved["replay"]["size"].tolist())  # 300 steps per task, less autoreset steps
    (checkpoint,) = (tmp_path / "runs").glob("*__repeat0__*/checkpoint.pt")
    am.main(dataclasses.replace(am.Args(), resume=str(checkpoint), total_timesteps=1_000, cuda=False))
    resumed = torch.load(checkpoint, weights_only=True)
    assert resumed["global_step"] == 1_000 and resumed["updates"] == saved["updates"] + 200
    sizes = zip(resumed["replay"]["size"], saved["replay"]["size"], strict=True)
    assert all(150 < n - m <= 200 for n, m in sizes)
    assert len(list((tmp_path / "runs").glob("*__repeat0__*"))) == 1
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"--resume .* is not a checkpoint of actor_mimic\.py"):
        am.main(dataclasses.replace(am.Args(), resume=str(tmp_path / "bad.pt")))


@pytest.mark.slow
def test_pixel_smoke_run_on_multi_atari(am, tmp_path, monkeypatch):
    """Two Nature-CNN experts (untrained, in dqn.py's format) guide an AMN on Pong and Breakout; masks hold."""
    import gymnasium as gym

    import mtenvs  # noqa: F401

    monkeypatch.chdir(tmp_path)
    envs = gym.make_vec("MultiAtari-PongBreakout-v0", num_envs=2)
    _, infos = envs.reset(seed=0)
    masks, names, shape = infos["action_mask"], envs.unwrapped.task_names, envs.single_observation_space.shape
    envs.close()
    paths = []
    for task, (name, mask) in enumerate(zip(names, masks, strict=True)):
        torch.manual_seed(task)
        paths.append(untrained_expert(tmp_path / f"{name}.pt", name, shape, 18, mask.tolist()))
    args = am.Args(
        env_id="MultiAtari-PongBreakout-v0", env_kwargs=json.dumps({"masked_action": "raise"}), experts=tuple(paths),
        total_timesteps=160, learning_starts=40, train_frequency=4, buffer_size=100, eval_episodes=0,
        checkpoint_interval=0, cuda=False, feature_regression=True, save_model=True,
    )  # fmt: skip
    am.main(args)  # masked_action="raise": an invalid action would stop the run
    (run,) = (tmp_path / "runs").iterdir()
    model = torch.load(run / "actor_mimic.pt", weights_only=True)
    assert model["torso_type"] == "nature_cnn" and model["q_network"]["torso.7.weight"].shape == (512, 3136)
    assert model["global_step"] == 160
    for name in names:
        assert np.isfinite(scalars(run, f"losses/policy_loss/{name}")[0][1])
        assert scalars(run, f"losses/feature_loss/{name}")[0][1] > 0.0


@pytest.mark.slow
def test_dqn_experts_load_and_dqn_init_from_takes_the_amn(am, tmp_path):
    """The agreed checkpoint interface, both ways: dqn.py expert -> actor_mimic.py -> dqn.py --init-from."""
    env = {"PYTHONPATH": str(BASELINES.parent), "PATH": "/usr/bin:/bin"}
    one_task = json.dumps({"tasks": ["CartPole"]})
    common = ["--env-id", "MultiControl-v0", "--env-kwargs", one_task, "--no-cuda", "--checkpoint-interval", "0"]
    dqn = [sys.executable, str(BASELINES / "dqn.py"), *common, "--task", "CartPole", "--eval-episodes", "1"]
    subprocess.run([*dqn, "--total-timesteps", "300", "--save-model", "--exp-name", "expert"],
                   cwd=tmp_path, env=env, check=True, capture_output=True)  # fmt: skip
    (expert,) = (tmp_path / "runs").glob("*/expert.pt")
    amn_run = [sys.executable, str(BASELINES / "actor_mimic.py"), *common, "--experts", str(expert)]
    subprocess.run([*amn_run, "--total-timesteps", "300", "--learning-starts", "50", "--save-model", "--eval-episodes",
                    "1", "--exp-name", "amn"], cwd=tmp_path, env=env, check=True, capture_output=True)  # fmt: skip
    (amn,) = (tmp_path / "runs").glob("*/amn.pt")
    transfer = subprocess.run([*dqn, "--total-timesteps", "200", "--init-from", str(amn), "--exp-name", "transfer"],
                              cwd=tmp_path, env=env, check=True, capture_output=True, text=True)  # fmt: skip
    # The whole AMN (the authors' transfer); its task input, constant for one task, becomes part of a bias.
    assert "torso.0.weight (80, 5)" in transfer.stdout and "head copied" in transfer.stdout  # CartPole: 4 + 1
    assert "the one-hot of 'CartPole' folded into torso.0.bias" in transfer.stdout


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--seed", "-1"], "--seed"),
        (["--resume", "/nonexistent.pt"], "--resume /nonexistent.pt: no such file"),
        (["--env-kwargs", '{"num_envs": 3}'], "--env-kwargs must not set 'num_envs'"),
        (["--env-kwargs", '{"task_assignment": "grouped"}'], "--env-kwargs must not set 'task_assignment'"),
        (["--learning-rate=-1"], "--learning-rate"),
    ],
)
def test_command_line_refuses_bad_input_in_one_line(tmp_path, argv, flag):
    """The script exits with status 2 and a one-line `<script>.py: error: --flag ...` message, before any run."""
    for name in ("a.pt", "b.pt"):  # only checked to exist before --env-kwargs and the rest
        (tmp_path / name).write_bytes(b"")
    env = {"PYTHONPATH": str(BASELINES.parent), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, str(BASELINES / "actor_mimic.py"), *argv, "--experts", "a.pt", "b.pt"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"actor_mimic.py: error: {flag}")
    assert not (tmp_path / "runs").exists()
