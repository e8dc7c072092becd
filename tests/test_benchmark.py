"""The benchmark runner: the grid, parallel runs with kept logs, failures listed and re-run alone,
and the Slurm array script (run here with bash, as Slurm would run each array task)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mtenvs.benchmark import Manifest, build_grid, main, slurm_script

# A stand-in "training script": prints its arguments; fails for seed 2 unless the file `fixed` exists.
SCRIPT = """
import pathlib, sys
print("args", " ".join(sys.argv[1:]))
sys.exit(3 if "2" == sys.argv[-1] and not pathlib.Path("fixed").exists() else 0)
"""


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train_fake.py").write_text(SCRIPT)
    return f"{sys.executable} train_fake.py"


def test_grid_is_commands_by_env_ids_by_seeds(tmp_path: Path) -> None:
    grid = build_grid(["python a.py", "python b.py --lr 0.1"], ["E1-v0", "E2-v0"], [1, 2, 3], tmp_path, track=True)
    assert len(grid) == 12 and [g.index for g in grid] == list(range(12))
    assert grid[0].command == "python a.py --env-id E1-v0 --seed 1 --track"
    assert grid[11].command == "python b.py --lr 0.1 --env-id E2-v0 --seed 3 --track"
    assert Path(grid[11].log).name == "011__b__E2-v0__3.log"
    with pytest.raises(ValueError, match="at least one command"):
        build_grid([], ["E-v0"], [1], tmp_path)


def test_failures_are_reported_logged_and_rerun_alone(script: str, tmp_path: Path, capsys) -> None:
    args = ["--commands", script, "--env-ids", "A-v0", "B-v0", "--seeds", "1", "2", "--workers", "2"]
    assert main([*args, "--log-dir", "logs"]) == 1
    err = capsys.readouterr().err
    assert "[4/4, 2 failed]" in err and "2 of 4 runs failed" in err
    assert "mtenvs benchmark --rerun-failed logs/manifest.json" in err

    manifest = Manifest.load(tmp_path / "logs" / "manifest.json")
    status = {(r.env_id, r.seed): (r.status, r.returncode) for r in manifest.runs}
    assert status == {("A-v0", 1): ("ok", 0), ("A-v0", 2): ("failed", 3),
                      ("B-v0", 1): ("ok", 0), ("B-v0", 2): ("failed", 3)}  # fmt: skip
    log = Path(manifest.runs[1].log).read_text()
    assert log.startswith(f"# command: {script} --env-id A-v0 --seed 2\n")
    assert "args --env-id A-v0 --seed 2" in log and "# exit code 3" in log

    (tmp_path / "fixed").touch()
    assert main(["--rerun-failed", "logs/manifest.json"]) == 0
    assert "2 runs" in capsys.readouterr().err
    rerun = Manifest.load(tmp_path / "logs" / "manifest.json")
    assert all(r.status == "ok" for r in rerun.runs)
    assert rerun.runs[0].seconds == manifest.runs[0].seconds  # the successful runs were not run again
    log = Path(rerun.runs[1].log).read_text()
    assert "# exit code 3" in log and log.rstrip().endswith("# exit code 0 after " + log.rstrip().split()[-2] + " s")
    assert main(["--rerun-failed", "logs/manifest.json"]) == 0
    assert "nothing to re-run" in capsys.readouterr().err


def test_bad_arguments_are_clear_errors(tmp_path: Path, capsys) -> None:
    assert main(["--env-ids", "A-v0"]) == 2
    assert "Give --commands and --env-ids" in capsys.readouterr().err
    assert main(["--rerun-failed", str(tmp_path / "none.json")]) == 2
    assert "not a readable mtenvs benchmark manifest" in capsys.readouterr().err
    assert main(["--commands", "x", "--env-ids", "A-v0", "--workers", "0", "--log-dir", str(tmp_path)]) == 2


@pytest.mark.parametrize("env_id", ["../../../x", "a/b", "/tmp/x", ".hidden", "..", "", "x" * 101])
def test_env_ids_that_are_not_plain_names_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, env_id):
    """Regression: --env-ids ../../../x wrote its log outside --log-dir."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep" / "er").mkdir(parents=True)
    assert main(["--commands", "true", "--env-ids", env_id, "--log-dir", "deep/er/logs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtenvs benchmark: error: an --env-ids entry must be a plain name") and err.count("\n") == 1
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["deep", "deep/er"]  # nothing written


def test_log_files_get_plain_names_inside_the_log_dir(tmp_path: Path) -> None:
    commands = ["'../../odd dir/.hidden tool' --x", "python 'a b/../../c d.py'", "'" + "y" * 300 + "'"]
    grid = build_grid(commands, ["E-v0"], [1], tmp_path / "logs")
    assert [Path(g.log).name for g in grid] == ["000__hidden_tool__E-v0__1.log", "001__c_d__E-v0__1.log",
                                                f"002__{'y' * 40}__E-v0__1.log"]  # fmt: skip
    assert all(Path(g.log).parent == tmp_path / "logs" for g in grid)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (
            ["--commands", "echo 'x"],
            '--commands entry "echo \'x" cannot be split into shell words: No closing quotation',
        ),
        (["--commands", "   "], "--commands has an empty entry ('   ')"),
        (["--commands", "true", "true"], "--commands lists 'true' more than once"),
        (["--commands", "echo a", "echo  'a'"], "--commands lists 'echo a' more than once"),  # the same words
        (["--commands", "true", "--env-ids", "A-v0", "B-v0", "A-v0"], "--env-ids lists 'A-v0' more than once"),
        (["--commands", "true", "--seeds", "1", "1"], "--seeds lists 1 more than once"),
    ],
)
def test_bad_grids_are_refused_naming_the_flag(tmp_path: Path, capsys, argv, words) -> None:
    """Regression: an unclosed quote said only "No closing quotation"; duplicates silently ran twice."""
    if "--env-ids" not in argv:
        argv = [*argv, "--env-ids", "A-v0"]
    assert main([*argv, "--log-dir", str(tmp_path / "logs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtenvs benchmark: error: ") and words in err, err
    assert not (tmp_path / "logs").exists()


def test_rerun_refuses_grid_options_and_keeps_logs_beside_the_manifest(tmp_path: Path, capsys) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    run = {"index": 0, "command": "echo again", "env_id": "A-v0", "seed": 1, "log": "../../elsewhere/000.log",
           "status": "failed"}  # fmt: skip
    (logs / "manifest.json").write_text(json.dumps({"runs": [run]}))
    for extra in (["--seeds", "1"], ["--log-dir", "other"], ["--track"]):
        assert main(["--rerun-failed", str(logs / "manifest.json"), *extra]) == 2
        assert f"drop {extra[0]}." in capsys.readouterr().err  # used to be ignored without a word
    assert main(["--rerun-failed", str(logs / "manifest.json")]) == 0
    assert "again" in (logs / "000.log").read_text()  # beside the manifest, not where it pointed
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["000.log", "logs", "manifest.json"]


TEMPLATE = """#!/bin/bash
#SBATCH --job-name={{job_name}}
#SBATCH --array={{array}}
#SBATCH --output={{log_dir}}/slurm-%A_%a.log
set -euo pipefail
{{command}}
"""


def test_slurm_array_script_runs_one_command_per_task(tmp_path: Path, capsys) -> None:
    template = tmp_path / "template.sh"
    template.write_text(TEMPLATE)
    log_dir = tmp_path / "logs"
    grid = ["--commands", 'echo "it\'s"', "echo b", "--env-ids", "A-v0", "--seeds", "1", "2", "--track"]
    assert main([*grid, "--workers", "3", "--log-dir", str(log_dir), "--slurm-template", str(template)]) == 0
    script = log_dir / "benchmark.slurm"
    assert capsys.readouterr().out.strip() == f"sbatch {script}"
    text = script.read_text()
    assert "#SBATCH --array=0-3%3" in text and "#SBATCH --job-name=mtenvs-benchmark" in text
    assert f"#SBATCH --output={log_dir}/slurm-%A_%a.log" in text
    assert len(json.loads((log_dir / "manifest.json").read_text())["runs"]) == 4
    expected = ["it's --env-id A-v0 --seed 1 --track", "it's --env-id A-v0 --seed 2 --track",
                "b --env-id A-v0 --seed 1 --track", "b --env-id A-v0 --seed 2 --track"]  # fmt: skip
    for task, line in enumerate(expected):
        env = {**os.environ, "SLURM_ARRAY_TASK_ID": str(task)}
        result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, check=True)
        assert result.stdout.splitlines()[-1] == line


def test_slurm_template_without_placeholders_is_rejected(tmp_path: Path) -> None:
    grid = build_grid(["echo a"], ["A-v0"], [1], tmp_path)
    with pytest.raises(ValueError, match=r"lacks \{\{array\}\}"):
        slurm_script("#!/bin/bash\n{{command}}\n", grid, 1, tmp_path, "job")


def test_long_runs_show_their_latest_log_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "slow.py").write_text(
        "import sys, time\nprint('global_step=123 SPS=45', flush=True)\ntime.sleep(1.5)\n"
    )
    code = main(
        [
            "--commands",
            f"{sys.executable} slow.py",
            "--env-ids",
            "E-v0",
            "--seeds",
            "1",
            "--log-dir",
            "logs",
            "--progress-interval",
            "0.3",
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "[0/1 done, 1 running]" in err
    assert "global_step=123 SPS=45" in err  # the running script's own progress line, echoed
    assert "[1/1, 0 failed] ok" in err
    bad = ["--commands", "true", "--env-ids", "E-v0", "--seeds", "1", "--log-dir", "logs2", "--progress-interval"]
    assert main([*bad, "nan"]) == 2
    assert "--progress-interval must be a number of seconds > 0, got nan" in capsys.readouterr().err
