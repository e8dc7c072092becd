"""The DQN family's network and its model file, ``mtenvs-dqn/1``.

``dqn.py`` writes it for an expert, ``actor_mimic.py`` reads experts from it (and writes the same
layout as ``mtenvs-amn/1``), ``dqn.py --init-from`` reads both for transfer, and ``mdqn.py`` trains
the same network on all tasks. The file is a dict of tensors and plain values (``torch.save``;
loaded with ``torch.load(weights_only=True)``, CRC and structure checked first)::

    format        "mtenvs-dqn/1" | "mtenvs-amn/1"
    env_id, env_kwargs, task, task_names
    obs_shape     list[int], one observation as the env gives it
    num_actions   size of the env's (union) action space
    action_mask   list[int], the task's valid actions (1 = valid)
    torso_type    "mlp" | "nature_cnn";  hidden_sizes: list[int] (mlp only)
    task_inputs   optional int (absent: 0): a one-hot task id of this size joins a vector observation at
                  the torso's input (mdqn.py and actor_mimic.py, where tasks' observations alias)
    q_network     state_dict: torso.* (features = the last hidden layer's ReLU output),
                  head.* (Linear(feature_dim, num_actions))
    args, global_step

``torso`` is ``Sequential(Linear(obs, h1), ReLU, Linear(h1, h2), ReLU, ...)`` for vectors, and for
images (float in [0, 1], channel-first) Nature DQN's ``Sequential(Conv2d(c, 32, 8, 4), ReLU,
Conv2d(32, 64, 4, 2), ReLU, Conv2d(64, 64, 3, 1), ReLU, Flatten, Linear(3136, 512), ReLU)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from mtenvs.train import checkpoint
from mtenvs.train.cli import BadArgument
from mtenvs.train.observations import ObservationLayout

DQN_FORMAT = "mtenvs-dqn/1"
AMN_FORMAT = "mtenvs-amn/1"

MODEL_SCHEMA = {
    "format": str,
    "env_id": str,
    "env_kwargs": dict,
    "task": (str, type(None)),
    "task_names": list,
    "obs_shape": list,
    "num_actions": int,
    "torso_type": str,
    "hidden_sizes": list,
    "q_network": dict,
}


def build_torso(torso_type: str, obs_shape: Sequence[int], hidden_sizes: Sequence[int]) -> tuple[nn.Sequential, int]:
    """The feature extractor and its width: an MLP (ReLU after every layer) or Nature DQN's convolutions + 512."""
    if torso_type == "nature_cnn":
        torso = nn.Sequential(
            nn.Conv2d(obs_shape[0], 32, 8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = torso(torch.zeros(1, *obs_shape)).shape[1]
        torso.extend([nn.Linear(flat, 512), nn.ReLU()])
        return torso, 512
    layers: list[nn.Module] = []
    width = obs_shape[0]
    for size in hidden_sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    return nn.Sequential(*layers), width


def torso_type_of(obs_shape: Sequence[int]) -> str:
    """``nature_cnn`` for images (C, H, W), ``mlp`` for vectors."""
    return "nature_cnn" if len(obs_shape) == 3 else "mlp"


def with_task_one_hot(x: torch.Tensor, task_ids: torch.Tensor | None, task_inputs: int) -> torch.Tensor:
    """``x`` (vector observations), with the one-hot of each row's task id beside it when ``task_inputs`` > 0."""
    if not task_inputs:
        return x
    if task_ids is None:
        raise ValueError(f"this network reads the task id ({task_inputs} tasks): pass task_ids")
    return torch.cat([x, nn.functional.one_hot(task_ids, task_inputs).to(x.dtype)], dim=1)


class QNetwork(nn.Module):
    """``torso`` to the last hidden layer's features, ``head`` to one output per action of the union space.

    Inputs are float batches as :meth:`mtenvs.train.observations.ObservationLayout.to_tensor` gives them. With
    ``task_inputs`` T > 0 (vector observations only) the torso also reads the one-hot of each row's task id (the
    ``task_ids`` argument), so tasks whose observations look alike stay apart."""

    def __init__(
        self, torso_type: str, obs_shape: Sequence[int], hidden_sizes: Sequence[int], num_actions: int,
        task_inputs: int = 0,
    ):  # fmt: skip
        super().__init__()
        if task_inputs and torso_type != "mlp":
            raise ValueError(f"task_inputs ({task_inputs}) need vector observations, not a {torso_type} torso")
        self.task_inputs = task_inputs
        shape = (obs_shape[0] + task_inputs, *obs_shape[1:])
        self.torso, self.feature_dim = build_torso(torso_type, shape, hidden_sizes)
        self.head = nn.Linear(self.feature_dim, num_actions)

    def get_features(self, x: torch.Tensor, task_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The last hidden layer (what Actor-Mimic's feature regression targets)."""
        return self.torso(with_task_one_hot(x, task_ids, self.task_inputs))

    def get_q_values(self, x: torch.Tensor, task_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.get_features(x, task_ids))

    def forward(self, x: torch.Tensor, task_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(outputs, features): Q-values for a DQN, policy logits for the AMN."""
        features = self.get_features(x, task_ids)
        return self.head(features), features


def model_payload(
    file_format: str, network: QNetwork, *, env_id: str, env_kwargs: dict, task: str | None, task_names: Sequence[str],
    obs_shape: Sequence[int], action_mask: Sequence[int], torso_type: str, hidden_sizes: Sequence[int],
    args: dict[str, Any], global_step: int,
) -> dict[str, Any]:  # fmt: skip
    """The model file's dict (module docstring)."""
    return {
        "format": file_format,
        "env_id": env_id,
        "env_kwargs": env_kwargs,
        "task": task,
        "task_names": list(task_names),
        "obs_shape": list(obs_shape),
        "num_actions": int(network.head.out_features),
        "action_mask": [int(v) for v in action_mask],
        "torso_type": torso_type,
        "hidden_sizes": list(hidden_sizes) if torso_type == "mlp" else [],
        "task_inputs": network.task_inputs,
        "q_network": network.state_dict(),
        "args": {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()},
        "global_step": global_step,
    }


def load_model(path: str | Path, flag: str, formats: Sequence[str] = (DQN_FORMAT,)) -> tuple[dict[str, Any], QNetwork]:
    """A model file of one of ``formats``, checked, and the network it holds (on the CPU)."""
    writers = {DQN_FORMAT: "dqn.py", AMN_FORMAT: "actor_mimic.py"}
    what = "a model of " + " or ".join(writers.get(f, f) for f in formats) + f" (format {' or '.join(formats)})"
    model = checkpoint.load(path, flag, MODEL_SCHEMA, what)
    if model["format"] not in formats:
        raise BadArgument(f"{flag} {path} is not {what}: its format is {model['format']!r}.")
    if model["torso_type"] not in ("mlp", "nature_cnn"):
        raise BadArgument(f"{flag} {path} is not {what}: unknown torso_type {model['torso_type']!r}.")
    task_inputs = model.setdefault("task_inputs", 0)  # files written before task inputs have none
    if (
        not isinstance(task_inputs, int)
        or isinstance(task_inputs, bool)
        or not 0 <= task_inputs <= len(model["task_names"])
    ):
        raise BadArgument(f"{flag} {path} is not {what}: task_inputs {task_inputs!r} is not in 0..number of tasks.")
    try:  # obs_shape is the env's (channel-last for MiniWorld); the network takes images channel-first
        shape = ObservationLayout.of_shape(model["obs_shape"]).shape
        declared = (model["torso_type"], shape, model["hidden_sizes"], model["num_actions"], task_inputs)
        with torch.device("meta"):  # sizes only: nothing allocated, no RNG drawn
            size = sum(p.numel() for p in QNetwork(*declared).parameters())
        held = sum(v.numel() for v in model["q_network"].values() if isinstance(v, torch.Tensor))
        if size > held:  # a file that declares a network larger than the weights it holds
            raise ValueError(f"they declare {size} parameters, its q_network holds {held}")
        network = QNetwork(*declared)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        raise BadArgument(f"{flag} {path} is not {what}: its shapes do not build a network ({error}).") from None
    checkpoint.load_state(network, model["q_network"], flag, str(path), "q_network")
    return model, network


def copy_torso(
    network: QNetwork, source: dict[str, Any], flag: str, path: str, obs_shape: Sequence[int], torso_type: str,
    hidden_sizes: Sequence[int] | None, task: str | None = None,
) -> list[str]:  # fmt: skip
    """Copy the source model's ``torso.*`` tensors into ``network`` after checking that they fit; their names.

    A source that reads a one-hot task id (``task_inputs``) into a network that does not: the one-hot of ``task``
    is constant, so its column of the first layer's weights is added to that layer's bias (the same function of
    the observation); a task the source never saw gets the all-zero one-hot, and the note says so."""
    if source["torso_type"] != torso_type:
        raise BadArgument(f"{flag} {path}: its torso is {source['torso_type']}, this run's is {torso_type}.")
    if list(source["obs_shape"]) != list(obs_shape):
        raise BadArgument(
            f"{flag} {path}: observation shape {list(source['obs_shape'])} does not fit this env's {list(obs_shape)}."
        )
    if torso_type == "mlp" and list(source["hidden_sizes"]) != list(hidden_sizes):
        raise BadArgument(
            f"{flag} {path}: its --hidden-sizes {list(source['hidden_sizes'])} differ from this run's "
            f"{list(hidden_sizes)}; pass --hidden-sizes {' '.join(map(str, source['hidden_sizes']))}."
        )
    torso = {k[len("torso.") :]: v for k, v in source["q_network"].items() if k.startswith("torso.")}
    copied = [f"torso.{k} {tuple(v.shape)}" for k, v in torso.items()]
    task_inputs = source.get("task_inputs", 0)
    if task_inputs and not network.task_inputs and "0.weight" in torso:
        weight, bias = torso["0.weight"], torso["0.bias"]
        obs_size = weight.shape[1] - task_inputs
        names = list(source["task_names"])
        if task in names:
            bias = bias + weight[:, obs_size + names.index(task)]
            copied.append(f"(task input: the one-hot of {task!r} folded into torso.0.bias)")
        else:
            copied.append(f"(task input: {task!r} is not one of the model's tasks {names}, so its one-hot is zero)")
        torso = {**torso, "0.weight": weight[:, :obs_size], "0.bias": bias}
    checkpoint.load_state(network.torso, torso, flag, path, "torso")
    return copied


def copy_head(network: QNetwork, source: dict[str, Any], flag: str, path: str) -> str:
    """Copy the source model's ``head.*`` tensors into ``network`` when both have the same action space; say what
    happened to the head (the caller prints it). A source over other actions leaves the head freshly initialised."""
    if source["num_actions"] != network.head.out_features:
        return (f"re-initialised (the model has {source['num_actions']} actions, this env "
                f"{network.head.out_features})")  # fmt: skip
    head = {k[len("head.") :]: v for k, v in source["q_network"].items() if k.startswith("head.")}
    checkpoint.load_state(network.head, head, flag, path, "head")
    return "copied (" + ", ".join(f"head.{k} {tuple(v.shape)}" for k, v in head.items()) + ")"
