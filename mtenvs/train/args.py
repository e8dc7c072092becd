"""The flags every script shares, declared once: a script's ``Args`` subclasses one of these and adds its own.

tyro lists the inherited flags first, with the docstrings below; a script overrides a default by
declaring the field again (``exp_name`` is always the script's file stem, ``checkpoint_interval``
its own cadence).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RunArgs:
    """The run: its name, seed, tracking, model file, checkpoints and progress lines."""

    exp_name: str = "run"
    """the name of this experiment (default: the script's file stem; part of the run folder's name)"""
    seed: int = 1
    """seed of the experiment (Python, NumPy, torch and the envs)"""
    track: bool = False
    """if toggled, track the run with Weights and Biases (offline when WANDB_API_KEY is unset)"""
    wandb_project_name: str = "mtenvs"
    """the wandb project name"""
    wandb_entity: str | None = None
    """the entity (team) of the wandb project"""
    save_model: bool = False
    """if toggled, save the final model to runs/{run_name}/{exp_name}.pt"""
    checkpoint_interval: int = 10_000
    """save runs/{run_name}/checkpoint.pt every this many env steps (0 disables)"""
    resume: str | None = None
    """path of a checkpoint.pt to continue with its own arguments (only --cuda, --track, --save-model,
    --progress-interval, --torch-threads and --total-timesteps may be given with it; docs/baselines.md)"""
    progress_interval: float = 30.0
    """print a progress line (step, SPS, recent mean return) at least every this many seconds"""


@dataclass
class TorchRunArgs(RunArgs):
    """A run that trains torch networks: the device, determinism and CPU threads too."""

    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    cuda: bool = True
    """if toggled, train on CUDA when it is available (the script says when it is not)"""
    torch_threads: int = 1
    """CPU threads for torch (1 is fastest for small networks on a shared CPU; 0 keeps torch's default)"""
