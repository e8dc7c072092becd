"""What a training run records about where its numbers come from (logged by every baseline).

Scores are only comparable under one emulator protocol and comparable library versions, so the
baselines write these next to their hyperparameters, where ``mtenvs report`` reads them back.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

PACKAGES = ("mtenvs", "gymnasium", "ale-py", "miniworld", "numpy")


def run_provenance(env: Any) -> dict[str, str]:
    """Versions of the packages behind the env, and its emulator ``protocol`` (``n/a`` for envs without one).

    ``env`` is a single or vector mtenvs env; MultiAtari envs describe their protocol (preset, sticky
    actions, episode cap) in ``env.unwrapped.protocol``.
    """
    facts = {}
    for package in PACKAGES:
        try:
            facts[f"{package.replace('-', '_')}_version"] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            facts[f"{package.replace('-', '_')}_version"] = "not installed"
    facts["protocol"] = getattr(env.unwrapped, "protocol", None) or "n/a"
    return facts
