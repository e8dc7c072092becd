"""Run set-up: seeding, the device, the run's name and its folder under ``runs/``."""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import torch

from mtenvs.paths import inside, path_component
from mtenvs.train.cli import BadArgument

RUNS = "runs"


def seed_everything(seed: int, torch_deterministic: bool) -> None:
    """Seed Python's, NumPy's and torch's global RNGs; cuDNN deterministic when asked."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = torch_deterministic


def choose_device(cuda: bool, torch_threads: int) -> torch.device:
    """CUDA when asked for and present (the script says when it is not), else the CPU; ``torch_threads`` > 0
    sets torch's CPU threads."""
    if torch_threads:
        torch.set_num_threads(torch_threads)
    if cuda and not torch.cuda.is_available():
        print("--cuda: CUDA is not available on this machine; training on the CPU.")
    return torch.device("cuda" if cuda and torch.cuda.is_available() else "cpu")


def new_run_name(env_id: str, exp_name: str, seed: int) -> str:
    """``{env_id}__{exp_name}__{seed}__{unix time}``, CleanRL's run name; each part is a plain name."""
    try:
        parts = (path_component(env_id, "--env-id"), path_component(exp_name, "--exp-name"))
    except (TypeError, ValueError) as error:
        raise BadArgument(str(error)) from None
    return f"{parts[0]}__{parts[1]}__{seed}__{int(time.time())}"


def run_dir(run_name: str) -> Path:
    """``runs/{run_name}``, created, after checking that it stays inside ``runs/`` (a resumed name too)."""
    try:
        path = inside(RUNS, path_component(run_name, "the run name"))
    except (TypeError, ValueError) as error:
        raise BadArgument(str(error)) from None
    path.mkdir(parents=True, exist_ok=True)
    return path
