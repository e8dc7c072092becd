"""mtenvs.train.dqn_format: the mtenvs-dqn/1 network and file, shared by dqn, actor_mimic, mdqn and mcdqn."""

from __future__ import annotations

import pytest
import torch

from mtenvs.train import checkpoint, dqn_format
from mtenvs.train.cli import BadArgument


def write(path, network, torso_type="mlp", obs_shape=(6,), hidden=(8, 8), file_format=dqn_format.DQN_FORMAT):
    payload = dqn_format.model_payload(
        file_format, network, env_id="MultiControl-v0", env_kwargs={}, task="CartPole", task_names=["CartPole"],
        obs_shape=obs_shape, action_mask=[1, 1, 0], torso_type=torso_type, hidden_sizes=hidden, args={"h": (8, 8)},
        global_step=10,
    )  # fmt: skip
    checkpoint.save(path, payload)
    return payload


@pytest.mark.parametrize(("torso_type", "obs_shape", "features"), [("mlp", (6,), 8), ("nature_cnn", (4, 84, 84), 512)])
def test_network_layout_and_round_trip(tmp_path, torso_type, obs_shape, features):
    torch.manual_seed(0)
    network = dqn_format.QNetwork(torso_type, obs_shape, (8, 8), 3)
    assert dqn_format.torso_type_of(obs_shape) == torso_type and network.feature_dim == features
    assert {k.split(".")[0] for k in network.state_dict()} == {"torso", "head"}
    write(tmp_path / "m.pt", network, torso_type, obs_shape)
    model, loaded = dqn_format.load_model(tmp_path / "m.pt", "--init-from")
    x = torch.rand(2, *obs_shape)
    assert model["args"] == {"h": [8, 8]} and torch.equal(loaded.get_q_values(x), network.get_q_values(x))
    outputs, hidden = network(x)
    assert outputs.shape == (2, 3) and hidden.shape == (2, features)


def test_wrong_format_and_tampered_weights_are_refused(tmp_path):
    network = dqn_format.QNetwork("mlp", (6,), (8, 8), 3)
    write(tmp_path / "amn.pt", network, file_format=dqn_format.AMN_FORMAT)
    with pytest.raises(BadArgument, match=r"is not a model of dqn\.py \(format mtenvs-dqn/1\): its format is"):
        dqn_format.load_model(tmp_path / "amn.pt", "--experts")
    assert dqn_format.load_model(tmp_path / "amn.pt", "--init-from", (dqn_format.DQN_FORMAT, dqn_format.AMN_FORMAT))
    payload = write(tmp_path / "m.pt", network)
    payload["q_network"]["head.weight"] = torch.zeros(5, 8)
    checkpoint.save(tmp_path / "m.pt", payload)
    with pytest.raises(BadArgument, match=r"its q_network does not fit this run's \(.*size mismatch for head.weight"):
        dqn_format.load_model(tmp_path / "m.pt", "--init-from")


def test_copy_torso_checks_the_fit_and_keeps_the_head(tmp_path):
    source = dqn_format.QNetwork("mlp", (6,), (8, 8), 3)
    model = write(tmp_path / "m.pt", source)
    target = dqn_format.QNetwork("mlp", (6,), (8, 8), 3)
    head = target.head.weight.clone()
    copied = dqn_format.copy_torso(target, model, "--init-from", "m.pt", [6], "mlp", [8, 8])
    assert copied == ["torso.0.weight (8, 6)", "torso.0.bias (8,)", "torso.2.weight (8, 8)", "torso.2.bias (8,)"]
    assert torch.equal(target.torso[0].weight, source.torso[0].weight) and torch.equal(target.head.weight, head)
    with pytest.raises(BadArgument, match=r"observation shape \[6\] does not fit this env's \[4\]"):
        dqn_format.copy_torso(target, model, "--init-from", "m.pt", [4], "mlp", [8, 8])
    with pytest.raises(BadArgument, match=r"its --hidden-sizes \[8, 8\] differ from this run's \[4\]"):
        dqn_format.copy_torso(target, model, "--init-from", "m.pt", [6], "mlp", [4])


def test_copy_head_copies_a_head_over_the_same_actions_only(tmp_path):
    source = dqn_format.QNetwork("mlp", (6,), (8, 8), 3)
    model = write(tmp_path / "m.pt", source)
    target = dqn_format.QNetwork("mlp", (6,), (8, 8), 3)
    assert dqn_format.copy_head(target, model, "--init-from", "m.pt") == "copied (head.weight (3, 8), head.bias (3,))"
    assert torch.equal(target.head.weight, source.head.weight) and torch.equal(target.head.bias, source.head.bias)
    other = dqn_format.QNetwork("mlp", (6,), (8, 8), 4)
    fresh = other.head.weight.clone()
    assert dqn_format.copy_head(other, model, "--init-from", "m.pt") == (
        "re-initialised (the model has 3 actions, this env 4)"
    )
    assert torch.equal(other.head.weight, fresh)
