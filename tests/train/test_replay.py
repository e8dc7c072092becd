"""mtenvs.train.replay: the DQN family's replay memories (ring order, sampling draws, checkpoint state)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtenvs.train import replay
from mtenvs.train.cli import BadArgument

CPU = torch.device("cpu")


def filled(capacity: int = 4, steps: int = 6, lanes: int | None = None) -> replay.Replay:
    memory = replay.Replay(capacity, replay.transitions((2,), torch.float32), CPU, lanes=lanes)
    for step in range(steps):
        for lane in range(lanes or 1):
            where = {} if lanes is None else {"lane": lane}
            value = 10 * lane + step
            memory.write(**where, obs=np.full(2, value, np.float32), next_obs=np.full(2, value + 1, np.float32),
                         actions=value, rewards=float(value) / 2, terminated=float(step % 2))  # fmt: skip
        memory.advance()
    return memory


def test_ring_keeps_the_last_capacity_rows_and_samples_as_torch_randint():
    memory = filled()
    assert (memory.pos, memory.size) == (2, 4)
    assert memory.data["actions"].tolist() == [4, 5, 2, 3]  # rows 0 and 1 overwritten by steps 4 and 5
    assert memory.data["rewards"].dtype == torch.float32 and memory.data["rewards"][0].item() == 2.0
    torch.manual_seed(0)
    batch = memory.sample(8)
    torch.manual_seed(0)
    index = torch.randint(0, 4, (8,))
    assert torch.equal(batch["actions"], memory.data["actions"][index])
    assert torch.equal(batch["next_obs"][:, 0], batch["obs"][:, 0] + 1)


def test_lanes_fill_in_lockstep_and_each_sample_row_is_its_own_lane():
    memory = filled(capacity=5, steps=3, lanes=3)
    assert memory.data["obs"].shape == (3, 5, 2) and memory.size == 3
    torch.manual_seed(1)
    batch = memory.sample(4)
    torch.manual_seed(1)
    index = torch.randint(0, 3, (3, 4))
    assert batch["actions"].shape == (3, 4)
    assert torch.equal(batch["actions"], index + 10 * torch.arange(3).unsqueeze(1))


@pytest.mark.parametrize("lanes", [None, 2])
def test_state_round_trip_and_misfits_are_refused(lanes):
    memory = filled(capacity=6, steps=4, lanes=lanes)
    state = memory.state()
    assert state["size"] == 4 and state["obs"].shape == ((4, 2) if lanes is None else (2, 4, 2))
    fresh = replay.Replay(6, replay.transitions((2,), torch.float32), CPU, lanes=lanes)
    fresh.restore(state, "--resume", "c.pt")
    assert (fresh.pos, fresh.size) == (4, 4)
    assert all(torch.equal(fresh.data[k], memory.data[k]) for k in memory.data)
    with pytest.raises(BadArgument, match=r"--resume c.pt: its replay does not fit this run's \(pos 9, size 4"):
        fresh.restore({**state, "pos": 9}, "--resume", "c.pt")
    smaller = replay.Replay(3, replay.transitions((2,), torch.float32), CPU, lanes=lanes)
    with pytest.raises(BadArgument, match="for a capacity of 3"):
        smaller.restore(state, "--resume", "c.pt")
    wider = replay.Replay(6, replay.transitions((5,), torch.float32), CPU, lanes=lanes)
    with pytest.raises(BadArgument, match=r"obs is torch\.float32"):
        wider.restore(state, "--resume", "c.pt")


def test_task_memories_fill_on_their_own_and_sample_per_task_with_numpy():
    fields = {"obs": ((3,), np.uint8), "actions": ((), np.int64)}
    memory = replay.TaskReplay(2, 4, fields)
    for step in range(5):
        memory.add(0, obs=np.full(3, step), actions=step)
    memory.add(1, obs=np.full(3, 100), actions=100)
    assert memory.size.tolist() == [4, 1] and memory.pos.tolist() == [1, 1]
    np.random.seed(3)
    batch = memory.sample(6)
    np.random.seed(3)
    first, second = np.random.randint(0, 4, 6), np.random.randint(0, 1, 6)
    assert batch["actions"].tolist() == memory.data["actions"][0, first].tolist() + [100] * 6
    assert batch["obs"].shape == (12, 3) and batch["obs"].dtype == np.uint8
    assert second.tolist() == [0] * 6


def test_task_state_with_and_without_data():
    fields = {"obs": ((3,), np.float32)}
    memory = replay.TaskReplay(2, 4, fields)
    memory.add(1, obs=np.ones(3))
    fresh = replay.TaskReplay(2, 4, fields)
    assert not fresh.restore(memory.state(with_data=False), "--resume", "c.pt")  # nothing kept: refill
    assert fresh.size.tolist() == [0, 0]
    assert fresh.restore(memory.state(), "--resume", "c.pt")
    assert fresh.size.tolist() == [0, 1] and fresh.data["obs"][1, 0].tolist() == [1.0, 1.0, 1.0]
    other = replay.TaskReplay(3, 4, fields)
    with pytest.raises(BadArgument, match="positions for"):
        other.restore(memory.state(), "--resume", "c.pt")
    state = memory.state()
    state["data"]["obs"] = torch.zeros(2, 4, 5)
    with pytest.raises(BadArgument, match="obs does not have the shape"):
        fresh.restore(state, "--resume", "c.pt")


def test_nbytes_counts_every_field():
    assert replay.nbytes(replay.transitions((4, 84, 84), torch.uint8), 10) == 10 * (2 * 4 * 84 * 84 + 8 + 4 + 4)
    assert replay.nbytes({"obs": ((3,), np.float32)}, 5) == 60
