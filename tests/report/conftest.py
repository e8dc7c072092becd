"""The synthetic runs directory shared by the report tests (written once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.synthetic import write_runs


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_runs(tmp_path_factory.mktemp("runs"))
