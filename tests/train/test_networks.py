"""mtenvs.train.networks: the actor-critic column (MLP or CNN + LSTM) and the per-task columns."""

from __future__ import annotations

import pytest
import torch

from mtenvs.train.networks import Column, TaskColumns, column_nbytes, layer_init

CPU = torch.device("cpu")


def test_layer_init_is_orthogonal_with_the_gain_and_a_constant_bias():
    torch.manual_seed(0)
    layer = layer_init(torch.nn.Linear(8, 3), std=2.0, bias=0.5)
    weight = layer.weight.detach()
    assert torch.allclose(weight @ weight.T, 4.0 * torch.eye(3), atol=1e-5)  # rows orthogonal, norm = gain
    assert torch.all(layer.bias == 0.5)


def test_mlp_column_shapes_and_no_state():
    column = Column((5,), image=False, num_actions=3, hidden=16, with_value=True)
    assert column.initial_state(4, CPU) is None
    features, state = column.torso(torch.randn(2 * 4, 5), None, torch.zeros(2 * 4))
    assert features.shape == (8, 16) and state is None
    assert column.policy(features).shape == (8, 3) and column.value(features).shape == (8, 1)
    assert Column((5,), False, 3, 16, with_value=False).value is None


def test_image_column_unrolls_its_lstm_over_time_and_resets_at_episode_starts():
    torch.manual_seed(0)
    column = Column((3, 36, 36), image=True, num_actions=4, hidden=8, with_value=False)
    num_envs, steps = 2, 3
    obs = torch.rand(steps * num_envs, 3, 36, 36)
    starts = torch.zeros(steps * num_envs)
    state = (torch.randn(num_envs, 8), torch.randn(num_envs, 8))
    features, final = column.torso(obs, state, starts)
    assert features.shape == (steps * num_envs, 8) and final[0].shape == (num_envs, 8)
    # The same as stepping one time step at a time, carrying the state.
    step_state, rows = state, []
    for t in range(steps):
        out, step_state = column.torso(obs[t * num_envs : (t + 1) * num_envs], step_state, starts[:num_envs])
        rows.append(out)
    assert torch.allclose(torch.cat(rows), features) and torch.allclose(step_state[0], final[0])
    # An episode start forgets the state it is given: the output equals that of a zero state.
    reset = torch.ones(num_envs)
    from_random, _ = column.torso(obs[:num_envs], state, reset)
    from_zero, _ = column.torso(obs[:num_envs], column.initial_state(num_envs, CPU), reset)
    assert torch.equal(from_random, from_zero)
    without_reset, _ = column.torso(obs[:num_envs], state, torch.zeros(num_envs))
    assert not torch.allclose(without_reset, from_zero)


@pytest.mark.parametrize("image", [False, True])
def test_task_columns_feed_each_env_to_its_tasks_column(image):
    torch.manual_seed(0)
    obs_shape = (3, 36, 36) if image else (6,)
    columns = TaskColumns(obs_shape, image, num_actions=3, num_tasks=2, hidden=8)
    task_ids = torch.tensor([0, 0, 1, 1])
    steps = 2
    obs = torch.rand((steps * 4, *obs_shape))
    starts = torch.zeros(steps * 4)
    state = columns.initial_state(4, CPU)
    logits, values, new_state = columns(obs, state, starts, task_ids)
    assert logits.shape == (8, 3) and values.shape == (8,)
    for task in (0, 1):
        envs = task_ids == task
        rows = envs.repeat(steps)
        own_state = None if state is None else (state[0][envs], state[1][envs])
        hidden, own_final = columns[task].torso(obs[rows], own_state, starts[rows])
        assert torch.allclose(logits[rows], columns[task].policy(hidden))
        assert torch.allclose(values[rows], columns[task].value(hidden).squeeze(1))
        if image:
            assert torch.allclose(new_state[0][envs], own_final[0]) and torch.allclose(new_state[1][envs], own_final[1])
    assert (new_state is None) == (not image)


def test_parameters_are_created_in_a_fixed_order_from_the_seed():
    def build() -> list[torch.Tensor]:
        torch.manual_seed(7)
        return [p.detach().clone() for p in Column((4, 84, 84), True, 18, 32, with_value=True).parameters()]

    first, second = build(), build()
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    names = [name for name, _ in Column((4, 84, 84), True, 18, 32, with_value=True).named_parameters()]
    assert names[0] == "encoder.0.weight" and names[-2:] == ["value.weight", "value.bias"]
    assert names.index("lstm.weight_ih") < names.index("policy.weight")


@pytest.mark.parametrize(
    ("obs_shape", "image", "num_actions", "hidden"),
    [((6,), False, 3, 16), ((2,), False, 5, 128), ((4, 84, 84), True, 18, 32), ((3, 60, 80), True, 3, 256)],
)
def test_column_nbytes_is_the_size_of_a_columns_parameters(obs_shape, image, num_actions, hidden):
    column = Column(obs_shape, image, num_actions, hidden, with_value=True)
    assert column_nbytes(obs_shape, image, num_actions, hidden) == 4 * sum(p.numel() for p in column.parameters())
