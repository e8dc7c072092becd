"""TwoRooms' "pixels" observation: the frame, what it shows, single == batched == torch, bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from mtenvs.tworooms import TwoRoomsEnv, TwoRoomsVectorEnv
from mtenvs.tworooms.layout import PIXEL_FRAME_SIZE, PIXEL_LEVELS

UP, RIGHT, DOWN, LEFT = range(4)
SMALL = {"room_size": 3, "corridor_length": 2, "num_tasks": 3, "max_steps": 12, "observation_type": "pixels"}


def _agent_box(frame: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the agent's bright square in a (1, 84, 84) frame."""
    rows, cols = np.nonzero(frame[0] == PIXEL_LEVELS["agent"])
    return int(rows.min()), int(cols.min()), int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_check_env_passes_and_space_is_an_84x84_grayscale_image():
    env = gym.make("TwoRooms-v0", observation_type="pixels", render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    space = env.observation_space
    assert space.shape == (1, PIXEL_FRAME_SIZE, PIXEL_FRAME_SIZE) and space.dtype == np.uint8
    assert (space.low == 0).all() and (space.high == 255).all()
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.uint8 and space.contains(obs)


def test_frame_draws_the_map_in_square_cells_centred_and_the_agent_at_its_cell():
    env = TwoRoomsEnv(observation_type="pixels", task_schedule="fixed", task=0)  # default 7x17 map
    size = PIXEL_FRAME_SIZE // 17  # 4 px per cell
    top, left = (PIXEL_FRAME_SIZE - 7 * size) // 2, (PIXEL_FRAME_SIZE - 17 * size) // 2
    obs, _ = env.reset(seed=0)
    frame = obs[0]
    # Floor pixels: one size x size square per free cell, the agent's square excepted.
    free = env.unwrapped.layout.free_cells.size
    assert (frame == PIXEL_LEVELS["floor"]).sum() == (free - 1) * size * size
    assert (frame == PIXEL_LEVELS["agent"]).sum() == size * size
    assert (frame == PIXEL_LEVELS["wall"]).sum() == frame.size - free * size * size
    # The margin above and below the centred map is dark.
    assert (frame[:top] == PIXEL_LEVELS["wall"]).all() and (frame[top + 7 * size :] == PIXEL_LEVELS["wall"]).all()
    row, col = env.position
    assert _agent_box(obs) == (top + row * size, left + col * size, size, size)
    # A move that is not blocked shifts the square by exactly one cell.
    for action, (dr, dc) in ((UP, (-1, 0)), (RIGHT, (0, 1)), (DOWN, (1, 0)), (LEFT, (0, -1))):
        before = env.position
        obs, *_ = env.step(action)
        after = env.position
        if after != before:
            assert after == (before[0] + dr, before[1] + dc)
        box = _agent_box(obs)
        assert box == (top + after[0] * size, left + after[1] * size, size, size)


def test_position_is_only_in_the_image():
    """The frame is a function of the agent's cell alone, and different cells give different frames."""
    env = TwoRoomsEnv(**SMALL)
    frames: dict[tuple[int, int], np.ndarray] = {}
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(600):
        cell = env.position
        if cell in frames:  # reached again with another previous action / reward / task
            np.testing.assert_array_equal(frames[cell], obs)
        frames[cell] = obs
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(4)))
        if terminated or truncated:
            obs, _ = env.reset()
    assert len(frames) == env.layout.free_cells.size  # every free cell was visited
    assert len({frame.tobytes() for frame in frames.values()}) == len(frames)


@pytest.mark.parametrize("task_assignment", ["grouped", "sampled"])
def test_batched_env_equals_single_envs_exactly(task_assignment):
    kwargs = dict(SMALL, task_assignment=task_assignment)
    batched = gym.make_vec("TwoRooms-v0", num_envs=6, vectorization_mode="vector_entry_point", **kwargs)
    sync = gym.make_vec("TwoRooms-v0", num_envs=6, vectorization="sync", **kwargs)
    assert isinstance(batched.unwrapped, TwoRoomsVectorEnv)
    assert batched.single_observation_space == sync.single_observation_space
    actions = np.random.default_rng(7).integers(0, 4, size=(300, 6))
    episode_ends = 0
    obs_b, _ = batched.reset(seed=7)
    obs_s, _ = sync.reset(seed=7)
    np.testing.assert_array_equal(obs_b, obs_s)
    for a in actions:
        out_b, out_s = batched.step(a), sync.step(a)
        assert out_b[0].dtype == np.uint8 and out_b[0].shape == (6, 1, PIXEL_FRAME_SIZE, PIXEL_FRAME_SIZE)
        for x, y in zip(out_b[:4], out_s[:4], strict=True):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(out_b[4]["task_id"], out_s[4]["task_id"])
        episode_ends += int((out_b[2] | out_b[3]).sum())
    assert episode_ends > 20  # the comparison went through many autoresets


def test_torch_backend_matches_numpy():
    kwargs = dict(SMALL, task_assignment="sampled")
    numpy_env, torch_env = TwoRoomsVectorEnv(8, **kwargs), TwoRoomsVectorEnv(8, device="cpu", **kwargs)
    obs, _ = torch_env.reset(seed=3)
    assert isinstance(obs, torch.Tensor) and obs.dtype == torch.uint8
    np.testing.assert_array_equal(numpy_env.reset(seed=3)[0], obs.numpy())
    for a in np.random.default_rng(0).integers(0, 4, size=(100, 8)):
        expected, got = numpy_env.step(a), torch_env.step(torch.as_tensor(a))
        for x, y in zip(expected[:4], got[:4], strict=True):
            np.testing.assert_array_equal(x, y.numpy())


def test_task_obs_wraps_the_frame():
    env = gym.make("TwoRooms-v0", observation_type="pixels", task_obs=True, num_tasks=2)
    obs, info = env.reset(seed=0)
    assert obs["obs"].shape == (1, PIXEL_FRAME_SIZE, PIXEL_FRAME_SIZE) and obs["task"][info["task_id"]] == 1


def test_map_too_large_for_the_frame_is_refused():
    wide = ["#" * 86, "#" + "." * 84 + "#", "#" * 86]
    with pytest.raises(ValueError, match=r"3x86 map has more than 84 cells on a side"):
        TwoRoomsEnv(layout=wide, observation_type="pixels")
    with pytest.raises(ValueError, match="pixels"):
        TwoRoomsVectorEnv(8, layout=wide, observation_type="pixels")
    with pytest.raises(ValueError, match="valid: onehot, coordinates, image, pixels"):
        TwoRoomsEnv(observation_type="rgb")
