"""``mtenvs throughput TwoRooms-v0``: the batched NumPy env beside a ``SyncVectorEnv`` of the single env.

Both run the default task set and encoding with the same ``num_envs`` (4096 by default), timed
side by side in interleaved rounds; the ratio batched / sync is the speed-up the batched
implementation buys. The torch backend on CPU is timed alongside for reference, with one
intra-op thread: on small shared machines, handing 4096-element ops to a thread pool costs
more than the ops (the batched torch path is meant for GPUs).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from mtenvs.throughput import Measurement, Ratio, ThroughputResult, interleaved, vector_stepper

DEFAULT_NUM_ENVS = 4096
TARGET_STEPS_PER_SECOND = 10_000_000
TARGET_RATIO = 100.0
BATCHED = "batched NumPy TwoRoomsVectorEnv"
BATCHED_TORCH = "batched torch (cpu) TwoRoomsVectorEnv"
SYNC = "gymnasium SyncVectorEnv of TwoRoomsEnv"


def measure(env_id: str, num_envs: int | None = None, seconds: float = 10.0) -> ThroughputResult:
    """Steps/s of the batched env (NumPy and torch) and of the SyncVectorEnv, and their ratio."""
    import torch

    num_envs = num_envs or DEFAULT_NUM_ENVS
    torch.set_num_threads(1)
    actions = np.random.default_rng(0).integers(0, 4, size=(64, num_envs))
    batched = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    batched_torch = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", device="cpu")
    sync = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync")
    contenders = {
        BATCHED: vector_stepper(batched, actions),
        BATCHED_TORCH: vector_stepper(batched_torch, actions),
        SYNC: vector_stepper(sync, actions),
    }
    rates = interleaved(contenders, seconds)
    for envs in (batched, batched_torch, sync):
        envs.close()
    result = ThroughputResult(env_id, {"num_envs": num_envs, "observation": "onehot (default)"})
    result.measurements += [Measurement(label, rate) for label, rate in rates.items()]
    result.ratios.append(Ratio(f"{BATCHED} steps/s / 10M", rates[BATCHED] / TARGET_STEPS_PER_SECOND, 1.0))
    result.ratios.append(Ratio("batched NumPy / SyncVectorEnv", rates[BATCHED] / rates[SYNC], TARGET_RATIO))
    return result
