"""scripts/gpu_check.sh on a machine without a CUDA GPU: one line saying so, exit status 0, nothing written
(CI calls it this way, as a check that it starts; on a GPU it runs the full check of docs/benchmarks.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present: the script would run the full check")
def test_without_a_gpu_it_prints_one_line_exits_0_and_writes_no_summary(tmp_path):
    summary = tmp_path / "summary.md"
    env = {name: value for name, value in os.environ.items() if not name.startswith("GPU_CHECK_")}  # its switches
    env["PYTHON"] = sys.executable
    result = subprocess.run(
        ["bash", str(SCRIPT), str(summary)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count("\n") == 1 and output.endswith("\n"), output
    assert output.startswith("gpu_check.sh: no CUDA GPU on this machine (torch.cuda.is_available() is False")
    assert not summary.exists() and list(tmp_path.iterdir()) == []
