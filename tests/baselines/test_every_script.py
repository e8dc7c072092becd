"""What every script in baselines/ promises, tested on each of them from its tiny configuration (conftest.py):
bad input is one line and exit status 2, progress lines, seeded runs repeat, every file it reads is verified
(a crafted file runs nothing, a damaged one is refused by name), and a killed run resumes."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from baseline_suite import BASELINES, FILE_FLAGS, SCRIPTS, TINY, load_script, parse, tiny_argv
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mtenvs.train.cli import BadArgument

PROGRESS = re.compile(r"^step (\d+)/(\d+), SPS (\d+), mean return of the last (\d+) episodes (\S+)", re.MULTILINE)
WALL_CLOCK_TAGS = ("charts/SPS", "charts/updates_per_second")  # the only scalars that depend on time


def checkpoint_every(name: str) -> int:
    return 2 if name == "prl" else TINY[name][1] // 2  # prl checkpoints every so many iterations


def run_tiny(name: str, folder: Path, experts: list[str], *extra: str) -> Path:
    """Run the script's tiny configuration in ``folder``; its run directory."""
    os.chdir(folder)
    load_script(name).main(parse(name, tiny_argv(name, experts, *extra)))
    (run_dir,) = (path for path in (folder / "runs").iterdir() if "__tiny__" in path.name)
    return run_dir


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    tags = [tag for tag in events.Tags()["scalars"] if tag not in WALL_CLOCK_TAGS]
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in tags}


def test_every_script_is_covered():
    assert set(TINY) == set(SCRIPTS) and len(SCRIPTS) == 17


@pytest.mark.parametrize("name", SCRIPTS)
def test_bad_input_is_one_line_and_exit_status_2_and_writes_nothing(name, tmp_path, experts):
    result = subprocess.run(
        [sys.executable, BASELINES / f"{name}.py", *tiny_argv(name, experts, "--exp-name", "../../escaped")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith(f"{name}.py: error: --exp-name must be a plain name")
    assert not (tmp_path / "runs").exists() and not (tmp_path.parent.parent / "escaped").exists()


BAD = [
    (["--seed", "-1"], "--seed"),
    (["--progress-interval", "nan"], "--progress-interval"),
    (["--progress-interval", "1e308"], "--progress-interval"),
    (["--total-timesteps", "0"], "--total-timesteps"),
    (["--env-kwargs", "[1, 2]"], "--env-kwargs"),
    (["--env-kwargs", '{"no_such_option": 1}'], "--env-kwargs"),
    (["--resume", "missing.pt"], "--resume missing.pt: no such file"),
]


@pytest.mark.parametrize(("name", "bad", "message"), [(n, *case) for n in SCRIPTS for case in BAD])
def test_bad_input_names_the_flag_before_anything_is_built(name, bad, message, tmp_path, monkeypatch, experts):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadArgument, match=f"^{re.escape(message)}"):
        load_script(name).main(parse(name, tiny_argv(name, experts, *bad)))
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", SCRIPTS)
@pytest.mark.parametrize("env_id", ["Nope-v0", "CartPole-v1", "../x"])
def test_an_id_outside_every_family_is_refused(name, env_id, tmp_path, monkeypatch, experts):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadArgument, match=f"^--env-id '?{re.escape(env_id)}"):
        load_script(name).main(parse(name, tiny_argv(name, experts, "--env-id", env_id)))


@pytest.mark.parametrize("name", SCRIPTS)
def test_progress_lines_and_a_seeded_run_repeats(name, tmp_path, experts, capsys):
    runs = []
    for repeat in ("a", "b"):
        (tmp_path / repeat).mkdir()
        runs.append(run_tiny(name, tmp_path / repeat, experts, "--progress-interval", "1e-9", "--seed", "3"))
        lines = PROGRESS.findall(capsys.readouterr().out)
        steps = [int(line[0]) for line in lines]
        budget = TINY[name][1]
        assert len(lines) >= 2 and steps == sorted(steps) and steps[-1] >= budget, lines
        assert all(int(line[1]) == budget and int(line[2]) >= 0 for line in lines)
    first, second = scalars(runs[0]), scalars(runs[1])
    assert first and first == second


class Exploit:
    """Unpickling it would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize(("name", "flag"), [(n, f) for n in SCRIPTS for f in FILE_FLAGS[n]])
def test_a_crafted_file_is_refused_and_runs_nothing(name, flag, tmp_path, monkeypatch, experts):
    marker = tmp_path / "ran"
    crafted = tmp_path / "crafted.pt"
    torch.save({"format": "mtenvs-dqn/1", "script": f"{name}.py", "args": Exploit(marker)}, crafted)
    files = [str(crafted), experts[1]] if flag == "--experts" else [str(crafted)]
    monkeypatch.chdir(tmp_path)
    argv = tiny_argv(name, experts)
    if flag == "--experts":
        argv = argv[: argv.index("--experts")] + argv[argv.index("--experts") + 3 :]
    with pytest.raises(BadArgument, match=f"^{flag} .*crafted.pt is not .*: it cannot be loaded as data"):
        load_script(name).main(parse(name, [*argv, flag, *files]))
    assert not marker.exists()


def flip_bytes_in_largest_record(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        record = max(archive.infolist(), key=lambda info: info.compress_size)
        start = record.header_offset + 30 + len(record.filename.encode()) + len(record.extra)
    data = bytearray(path.read_bytes())
    middle = start + record.compress_size // 2
    data[middle : middle + 64] = bytes(byte ^ 0xFF for byte in data[middle : middle + 64])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_damaged_checkpoint_is_refused_by_name(name, tmp_path, experts):
    run_dir = run_tiny(name, tmp_path, experts, "--checkpoint-interval", str(checkpoint_every(name)))
    saved = run_dir / "checkpoint.pt"
    flip_bytes_in_largest_record(saved)
    with pytest.raises(BadArgument, match=f"^--resume {re.escape(str(saved))} is damaged: .* fails its CRC check"):
        load_script(name).main(parse(name, ["--resume", str(saved)]))


@pytest.mark.slow
@pytest.mark.parametrize("name", SCRIPTS)
def test_a_killed_run_resumes_from_its_last_checkpoint(name, tmp_path, experts):
    budget = TINY[name][1]
    long_budget = budget * 40 if name != "prl" else budget * 10
    argv = tiny_argv(name, experts, "--checkpoint-interval", str(checkpoint_every(name)))
    argv[argv.index("--total-timesteps") + 1] = str(long_budget)
    if name == "prl":
        argv[argv.index("--num-iterations") + 1] = "20"
    process = subprocess.Popen([sys.executable, BASELINES / f"{name}.py", *argv], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("runs/*/checkpoint.pt")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed: raise long_budget"
    (saved,) = tmp_path.glob("runs/*/checkpoint.pt")
    resumed = subprocess.run([sys.executable, BASELINES / f"{name}.py", "--resume", str(saved)],
                             cwd=tmp_path, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    match = re.search(r"^--resume .*: continuing from step (\d+) with the checkpoint's arguments", resumed.stdout, re.M)
    assert match and 0 < int(match.group(1)) < long_budget, resumed.stdout[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    logged = scalars(run_dir)
    # Losses and evaluations are logged once per step they occur at (training episodes may share a step):
    # a step seen twice would be an event of the killed run that the resumed run logged again.
    once_per_step = {tag: events for tag, events in logged.items() if tag.startswith(("losses/", "eval/"))}
    assert once_per_step
    for tag, events in once_per_step.items():
        steps = [step for step, _ in events]
        assert len(steps) == len(set(steps)), f"{tag} logged a step twice"
    assert all(math.isfinite(value) for events in logged.values() for _, value in events)
