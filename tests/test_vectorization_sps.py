"""scripts/vectorization_sps.py: one env id's vector paths timed side by side, as fractions of the first."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "vectorization_sps.py"
spec = importlib.util.spec_from_file_location("vectorization_sps", SCRIPT)
vectorization_sps = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = vectorization_sps
spec.loader.exec_module(vectorization_sps)


def test_prints_each_contender_as_a_fraction_of_the_first(capsys):
    argv = ["MultiControl-v0", "--num-envs", "10", "--seconds", "0.2", "--rounds", "2", "--task-assignment", "sampled"]
    argv += ["--contender", "native", "{}", "--contender", "sync", '{"vectorization": "sync"}']
    assert vectorization_sps.main(argv) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^(\w+)\s+([\d,]+) steps/s\s+([\d.]+)$", out, flags=re.M)
    assert [label for label, *_ in rows] == ["native", "sync"]
    (_, native, first), (_, sync, fraction) = rows
    assert float(first) == 1.0
    assert float(fraction) == pytest.approx(float(sync.replace(",", "")) / float(native.replace(",", "")), abs=2e-3)
    assert re.search(r"^load average [\d.]+ before, [\d.]+ after$", out, flags=re.M)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--contender", "a", "{}", "--contender", "a", "{}"], "contender labels must differ"),
        (["--contender", "a", "{nope"], "a contender's kwargs are not JSON"),
        (["--contender", "a", "[1]"], "a contender's kwargs must be a JSON object"),
        (["--contender", "a", "{}", "--seconds", "0"], "--seconds > 0"),
    ],
)
def test_bad_arguments_exit_2_saying_what_is_wrong(argv, message, capsys):
    with pytest.raises(SystemExit) as raised:
        vectorization_sps.main(["MultiControl-v0", "--num-envs", "2", *argv])
    assert raised.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("env_id", "contender", "extra", "message"),
    [
        ("NoSuchEnv-v0", "{}", [], "NoSuchEnv"),
        ("MultiControl-v0", '{"task_assignment": "grouped"}', [], "task_assignment"),
        ("MultiControl-v0", "{}", ["--action", "99"], "--action must be in 0..2 for MultiControl-v0, got 99"),
    ],
)
def test_a_bad_env_id_kwargs_or_action_is_one_line_and_exit_2(env_id, contender, extra, message, capsys):
    assert vectorization_sps.main([env_id, "--num-envs", "5", "--contender", "a", contender, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vectorization_sps.py: ") and message in err and err.count("\n") == 1
