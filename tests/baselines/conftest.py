"""Fixtures of the baselines' tests; the scripts and their tiny configurations are in baseline_suite.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # test modules import baseline_suite (pytest's importlib mode)

from baseline_suite import _CONTROL2, _DQN, load_script, parse


@pytest.fixture(scope="session")
def experts(tmp_path_factory) -> list[str]:
    """dqn.py experts for CartPole and Acrobot (actor_mimic.py's --experts), trained once per session."""
    folder = tmp_path_factory.mktemp("experts")
    dqn = load_script("dqn")
    paths = []
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        for task in ("CartPole", "Acrobot"):
            argv = [*_CONTROL2, "--task", task, *_DQN, "--total-timesteps", "200", "--exp-name", f"expert-{task}",
                    "--save-model", "--checkpoint-interval", "0", "--no-cuda"]  # fmt: skip
            dqn.main(parse("dqn", argv))
            (path,) = folder.glob(f"runs/*__expert-{task}__*/expert-{task}.pt")
            paths.append(str(path))
    return paths
