"""Every pixel-capable baseline learns TwoRooms' pixel task (84x84 frames, CNN + LSTM) from its command line.

The scripts are run as a user runs them, through their flags only, and judged by the evaluation
return they log: it must beat the uniform random policy's by a clear margin. The task is a small
two-room map with two goals in different rooms and 12-step episodes, on which a CNN agent learns in a
few seconds of CPU (docs/tworooms.md#pixels-a-cheap-image-task).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import mtenvs  # noqa: F401  (registers the mtenvs ids)
from mtenvs.wrappers import RecordTaskEpisodeStatisticsVector

ROOT = Path(__file__).resolve().parents[2]
PIXEL_SCRIPTS = (
    "ma3c_1",
    "ma3c_2",
    "a3c_independent",
    "a3c_2col",
    "a3c_multitask",
    "distral_kl_1col",
    "distral_kl_2col",
    "distral_kl_ent_1col",
    "distral_kl_ent_2col",
)
PIXEL_TASK = {"observation_type": "pixels", "num_tasks": 2, "room_size": 3, "corridor_length": 1, "max_steps": 12}
STEPS = 24_000
MARGIN = 0.2


@pytest.fixture(scope="module")
def random_return() -> float:
    """Mean return of the uniform random policy on the pixel task (512 episodes per task)."""
    envs = RecordTaskEpisodeStatisticsVector(gym.make_vec("TwoRooms-v0", num_envs=1024, **PIXEL_TASK))
    envs.reset(seed=123)
    envs.action_space.seed(123)
    returns = np.full(envs.num_envs, np.nan)
    while np.isnan(returns).any():
        *_, infos = envs.step(envs.action_space.sample())
        if "episode" in infos:
            finished = infos["_episode"] & np.isnan(returns)
            returns[finished] = infos["episode"]["r"][finished]
    envs.close()
    return float(returns.mean())


@pytest.mark.slow
@pytest.mark.parametrize("script", PIXEL_SCRIPTS)
def test_learns_the_pixel_task(script, tmp_path, random_return):
    command = [sys.executable, str(ROOT / "baselines" / f"{script}.py"), "--env-id", "TwoRooms-v0"]
    command += ["--env-kwargs", json.dumps(PIXEL_TASK), "--num-envs", "8", "--num-steps", "5", "--seed", "1"]
    command += ["--total-timesteps", str(STEPS), "--eval-interval", str(STEPS), "--eval-episodes", "64"]
    command += ["--checkpoint-interval", "0", "--no-cuda"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    events = EventAccumulator(str(run_dir))
    events.Reload()
    final_step, final_return = [(e.step, e.value) for e in events.Scalars("eval/episodic_return")][-1]
    assert STEPS <= final_step < STEPS + 8 * 5  # the evaluation after the last update
    assert 0.1 < random_return < 0.4  # the task is neither trivial nor out of a random walk's reach
    assert final_return > random_return + MARGIN, (script, final_return, random_return)
