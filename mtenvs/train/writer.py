"""The run writer: TensorBoard always, W&B with ``--track`` (offline without an API key)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch.utils.tensorboard import SummaryWriter

from mtenvs.provenance import run_provenance


def open_writer(
    args: Any, run_name: str, run_path: Path, env: Any, resumed_step: int | None, extra: Mapping[str, Any] = (),
) -> SummaryWriter:  # fmt: skip
    """The run's ``SummaryWriter`` (after ``wandb.init`` with ``args.track``).

    A new run records its hyperparameters, ``extra`` and the provenance of ``env`` (package versions,
    emulator protocol: scores only compare within one protocol). A resumed run purges the events
    logged after ``resumed_step``: the checkpoint was written after that step's own events, so those
    stay and the killed run's later ones go.
    """
    if args.track:
        import wandb

        wandb.init(
            project=args.wandb_project_name,
            entity=args.wandb_entity,
            sync_tensorboard=True,
            config=vars(args),
            name=run_name,
            id=run_name,
            resume="allow",
            save_code=True,
            mode="online" if os.environ.get("WANDB_API_KEY") else "offline",
        )
    writer = SummaryWriter(str(run_path), purge_step=None if resumed_step is None else resumed_step + 1)
    if resumed_step is None:
        record = {**vars(args), **dict(extra), **run_provenance(env), "torch_version": torch.__version__}
        table = "\n".join(f"|{key}|{value}|" for key, value in record.items())
        writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")
    return writer
