"""mtenvs.train.dqn_family (epsilon schedule, masked epsilon-greedy, optimiser, grouped per-task envs, per-task
logging and evaluation), and the channel-last model files of dqn_format.load_model."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import pytest
import torch

import mtenvs  # noqa: F401
from mtenvs.train import checkpoint, cli, dqn_family, dqn_format, progress
from mtenvs.train.cli import BadArgument

CPU = torch.device("cpu")
TWO_TASKS = {"tasks": ["CartPole", "CarOnHill"]}


class Recorder:
    def __init__(self):
        self.scalars: dict[str, list[tuple[float, int]]] = {}

    def add_scalar(self, tag, value, step):
        self.scalars.setdefault(tag, []).append((float(value), step))


def test_linear_schedule_falls_then_stays():
    values = [dqn_family.linear_schedule(1.0, 0.1, 10, t) for t in (0, 5, 10, 50)]
    np.testing.assert_allclose(values, [1.0, 0.55, 0.1, 0.1])


def test_epsilon_starts_falling_when_learning_starts_on_atari_only():
    assert dqn_family.exploration_epsilon(1.0, 0.1, 100, 50, 50, "atari") == 1.0
    assert dqn_family.exploration_epsilon(1.0, 0.1, 100, 100, 50, "atari") == pytest.approx(0.55)
    assert dqn_family.exploration_epsilon(1.0, 0.1, 100, 150, 50, "atari") == pytest.approx(0.1)
    assert dqn_family.exploration_epsilon(1.0, 0.1, 100, 50, 50, "control") == pytest.approx(0.55)


def test_a_lost_life_is_terminal_with_the_nature_preset_only():
    assert dqn_family.life_loss_is_terminal("MultiAtari-v0", {"preset": "nature"})
    assert not dqn_family.life_loss_is_terminal("MultiAtari-v0", {})  # machado, the default: game over only
    assert not dqn_family.life_loss_is_terminal("MultiAtari-v0", {"preset": "machado"})
    assert not dqn_family.life_loss_is_terminal("MultiControl-v0", {})
    terminations = np.array([False, False, True, False])
    lives = np.array([4, 5, 0, 5])
    before = np.array([5, 5, 1, 0])  # a loss, none, game over, an autoreset (lives back up)
    stored = dqn_family.training_terminations(terminations, lives, before, life_loss=True)
    np.testing.assert_array_equal(stored, [True, False, True, False])
    np.testing.assert_array_equal(dqn_family.training_terminations(terminations, lives, before, False), terminations)
    assert dqn_family.training_terminations(False, 2, 3, life_loss=True)  # one env's scalars


def test_masked_epsilon_greedy_never_takes_a_masked_action():
    q_values = torch.tensor([[1.0, 2.0, 9.0]]).repeat(300, 1)
    masks = torch.tensor([[True, True, False], [True, True, True]]).repeat(150, 1)
    assert dqn_family.masked_epsilon_greedy(q_values, masks, 0.0).tolist() == [1, 2] * 150
    torch.manual_seed(0)
    explored = dqn_family.masked_epsilon_greedy(q_values, masks, 1.0)
    assert set(explored[0::2].tolist()) == {0, 1} and set(explored[1::2].tolist()) == {0, 1, 2}
    # Two draws per call, always: the run's torch RNG advances the same whatever epsilon is.
    torch.manual_seed(0)
    dqn_family.masked_epsilon_greedy(q_values, masks, 0.0)
    after = torch.rand(1)
    torch.manual_seed(0)
    torch.rand(masks.shape), torch.rand(300)
    assert torch.equal(after, torch.rand(1))


def test_optimizers():
    parameters = [torch.nn.Parameter(torch.zeros(2))]
    rmsprop = dqn_family.make_optimizer("rmsprop", parameters, 1e-3)
    assert isinstance(rmsprop, torch.optim.RMSprop)
    assert rmsprop.defaults["alpha"] == 0.95 and rmsprop.defaults["eps"] == 0.01 and rmsprop.defaults["centered"]
    assert isinstance(dqn_family.make_optimizer("adam", parameters, 1e-3), torch.optim.Adam)


@dataclass
class Sizes:
    hidden_sizes: tuple


@pytest.mark.parametrize("bad", [(), (0,), (8, 5000), (8, True), ("8",)])
def test_hidden_sizes_rule(bad):
    cli.check_rules(Sizes((80, 80)), [dqn_family.HIDDEN_SIZES_RULE])
    with pytest.raises(BadArgument, match=r"--hidden-sizes must be one or more integer widths in \[1, 4096\]"):
        cli.check_rules(Sizes(bad), [dqn_family.HIDDEN_SIZES_RULE])


def test_task_envs_are_grouped_per_task_and_refuse_bad_kwargs():
    envs, layout = dqn_family.task_envs("MultiControl-v0", TWO_TASKS, 2, "DQN")
    assert envs.num_envs == 4 and list(envs.unwrapped.env_task_ids) == [0, 0, 1, 1]
    assert layout.shape == (4,) and not layout.image
    envs.close()
    with pytest.raises(BadArgument, match=r"--env-kwargs .* for MultiControl-v0: .*Pong"):
        dqn_family.task_envs("MultiControl-v0", {"tasks": ["Pong"]}, 1, "DQN")


def test_finished_episodes_are_logged_per_task():
    writer, line = Recorder(), progress.Progress(30.0, 100, 0)
    episode = {"r": np.array([1.0, 2.0]), "l": np.array([5, 6]), "hns": np.array([np.nan, 0.5]),
               "task_id": np.array([0, 1])}  # fmt: skip
    infos = {"episode": episode, "_episode": np.array([False, True])}
    dqn_family.log_task_episodes(writer, infos, ["A", "B"], 10, line)
    assert writer.scalars == {
        "charts/episodic_return": [(2.0, 10)], "charts/episodic_return/B": [(2.0, 10)],
        "charts/episodic_length/B": [(6.0, 10)], "charts/human_normalized_score/B": [(0.5, 10)],
    }  # fmt: skip
    assert list(line.returns) == [2.0]


def test_evaluation_gives_one_mean_per_task_and_logs_them(capsys):
    envs, layout = dqn_family.task_envs("MultiControl-v0", TWO_TASKS, 2, "DQN")
    masks = torch.tensor([[True, True, False], [True, True, True]])
    calls = []

    def q_values(x, task_ids):
        calls.append(task_ids.tolist())
        return torch.zeros(len(x), 3)

    returns = dqn_family.evaluate_tasks(envs, layout, q_values, masks, 0.0, 5, CPU)
    envs.close()
    assert returns.shape == (2,) and np.isfinite(returns).all() and calls[0] == [0, 0, 1, 1]
    writer = Recorder()
    dqn_family.log_evaluation(writer, ["CartPole", "CarOnHill"], returns, 7)
    assert writer.scalars["eval/episodic_return"] == [(float(returns.mean()), 7)]
    assert "step 7: eval return CartPole" in capsys.readouterr().out


def test_channel_last_model_files_load_and_oversized_declarations_are_refused(tmp_path):
    network = dqn_format.QNetwork("nature_cnn", (3, 60, 80), (), 4)  # what a MiniWorld run trains

    def write(path, **changes):
        payload = dqn_format.model_payload(
            dqn_format.DQN_FORMAT, network, env_id="MultiNav-v0", env_kwargs={}, task="a", task_names=["a"],
            obs_shape=(60, 80, 3), action_mask=[1] * 4, torso_type="nature_cnn", hidden_sizes=(), args={},
            global_step=1,
        )  # fmt: skip
        checkpoint.save(path, {**payload, **changes})

    write(tmp_path / "m.pt")
    model, loaded = dqn_format.load_model(tmp_path / "m.pt", "--init-from")
    x = torch.rand(2, 3, 60, 80)
    assert model["obs_shape"] == [60, 80, 3] and torch.equal(loaded.get_q_values(x), network.get_q_values(x))
    write(tmp_path / "big.pt", torso_type="mlp", obs_shape=[6], hidden_sizes=[4096, 4096, 4096])
    with pytest.raises(BadArgument, match=r"its shapes do not build a network \(they declare \d+ parameters"):
        dqn_format.load_model(tmp_path / "big.pt", "--init-from")
    write(tmp_path / "flat.pt", obs_shape=[6, 6])
    with pytest.raises(BadArgument, match=r"vectors \(1-D\) or images \(3-D\)"):
        dqn_format.load_model(tmp_path / "flat.pt", "--init-from")


def test_task_env_rules_cover_every_number_of_task_env_args():
    ruled = {name for rule in cli.COMMON_RULES + dqn_family.TASK_ENV_RULES for name in rule.names}
    numbers = {f.name for f in fields(dqn_family.TaskEnvArgs) if f.type.startswith(("int", "float", "tuple"))}
    assert numbers <= ruled, numbers - ruled
    args = dqn_family.TaskEnvArgs()
    cli.check_rules(args, cli.COMMON_RULES + dqn_family.TASK_ENV_RULES)  # the defaults pass
    for name, bad in [("buffer_size", 0), ("learning_starts", -1), ("learning_rate", 0.0), ("eval_epsilon", 1.5)]:
        with pytest.raises(BadArgument, match=f"^{cli.flag(name)} must be"):
            cli.check_rules(replace(args, **{name: bad}), dqn_family.TASK_ENV_RULES)
