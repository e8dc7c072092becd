"""``mtenvs benchmark``: run a grid of commands x env ids x seeds with parallel workers.

Each grid point runs ``{command} --env-id {env_id} --seed {seed}`` (plus ``--track`` when asked) in a
shell, its output kept in its own log file whose first line is the exact command. Log files are
named ``{index}__{label}__{env_id}__{seed}.log`` inside ``--log-dir`` (env ids must be plain names,
:func:`mtenvs.paths.path_component`; the label is the command's script, made a plain name). A JSON manifest
records every run's command, status, exit code, duration and log, and is rewritten as runs finish,
so failed runs are listed at the end and ``--rerun-failed MANIFEST`` runs only those (or runs that
never finished because the runner was killed). ``--slurm-template`` writes a Slurm array job instead
(one array task per grid point) and prints the ``sbatch`` line.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path

from mtenvs.paths import inside, path_component

MANIFEST = "manifest.json"
MAX_LABEL = 40  # characters of a command's label in its log files' names
# Defaults applied only when building a grid: --rerun-failed refuses these options when given.
DEFAULT_SEEDS = (1, 2, 3)
DEFAULT_LOG_DIR = "benchmark_logs"
SLURM_SCRIPT = "benchmark.slurm"
SLURM_PLACEHOLDERS = ("{{array}}", "{{command}}")


@dataclass
class RunSpec:
    """One grid point and what happened to it."""

    index: int
    command: str
    env_id: str
    seed: int
    log: str
    status: str = "pending"  # pending | ok | failed
    returncode: int | None = None
    seconds: float | None = None


def _words(command: str) -> list[str]:
    """A ``--commands`` entry split into words as the shell will, or ``ValueError`` naming the flag."""
    try:
        words = shlex.split(command)
    except ValueError as err:  # shlex's own message ("No closing quotation") names nothing
        raise ValueError(f"--commands entry {command!r} cannot be split into shell words: {err}.") from err
    if not words:
        raise ValueError(f"--commands has an empty entry ({command!r}).")
    return words


def _label(words: Sequence[str]) -> str:
    """A short plain name for log files: the script's file stem, else the command's first word.

    Made from the command rather than chosen, so it is made plain (characters outside a file name's
    replaced by ``_``, no leading ``.``, at most ``MAX_LABEL`` characters) rather than refused.
    """
    scripts = [w for w in words if w.endswith(".py")]
    name = Path(scripts[0]).stem if scripts else Path(words[0]).name
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).lstrip(".")[:MAX_LABEL] or "command"


def _refuse_repeats(flag: str, values: Sequence[object]) -> None:
    """``ValueError`` naming the first value ``flag`` lists twice: it would run the same runs twice."""
    seen = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{flag} lists {value!r} more than once; give each value once (the runs would repeat).")
        seen.add(value)


def build_grid(
    commands: Sequence[str], env_ids: Sequence[str], seeds: Sequence[int], log_dir: Path, track: bool = False
) -> list[RunSpec]:
    """Every (command, env id, seed) in that nesting order, each with its own log path inside ``log_dir``.

    ``ValueError`` for an empty grid, a command the shell cannot split, an env id that is not a
    plain name (it becomes part of a file name) and a command (same words), env id or seed given twice.
    """
    if not commands or not env_ids or not seeds:
        raise ValueError("The grid needs at least one command, one env id and one seed.")
    words = [_words(command) for command in commands]
    _refuse_repeats("--commands", [shlex.join(w) for w in words])
    _refuse_repeats("--env-ids", env_ids)
    _refuse_repeats("--seeds", seeds)
    for env_id in env_ids:
        path_component(env_id, "an --env-ids entry")
    grid = []
    for command, command_words in zip(commands, words, strict=True):
        for env_id in env_ids:
            for seed in seeds:
                full = f"{command} --env-id {shlex.quote(env_id)} --seed {seed}" + (" --track" if track else "")
                index = len(grid)
                name = f"{index:03d}__{_label(command_words)}__{env_id}__{seed}.log"
                inside(log_dir, name)  # refuses a log that would resolve elsewhere (e.g. through a symlink)
                grid.append(RunSpec(index, full, env_id, seed, str(Path(log_dir) / name)))
    return grid


class Manifest:
    """The runs of one benchmark, saved as JSON after every change (thread safe)."""

    def __init__(self, path: Path, runs: list[RunSpec]) -> None:
        self.path = path
        self.runs = runs
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        """Read a manifest; each run's log is the file of that name beside it, wherever the folder is now
        (so a re-run writes nowhere else, whatever the manifest says or the current directory is)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            runs = [RunSpec(**entry) for entry in data["runs"]]
            for run in runs:
                name = Path(run.log).name
                if not name.endswith(".log") or name.startswith("."):
                    raise ValueError(f"run {run.index}'s log {run.log!r} is not a .log file name")
                inside(path.parent, name)  # e.g. not a symlink out of the folder
                run.log = str(path.parent / name)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{str(path)!r} is not a readable mtenvs benchmark manifest: {err}") from err
        return cls(path, runs)

    def save(self) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"runs": [asdict(r) for r in self.runs]}, indent=1))
            tmp.replace(self.path)


def run_one(spec: RunSpec) -> RunSpec:
    """Run one grid point in a shell, appending its output to its log; fills status, code and time."""
    log = Path(spec.log)
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with log.open("a") as handle:
        handle.write(f"# command: {spec.command}\n# started: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
        handle.flush()
        process = subprocess.run(spec.command, shell=True, stdout=handle, stderr=subprocess.STDOUT)
        spec.seconds = round(time.time() - start, 3)
        spec.returncode = process.returncode
        spec.status = "ok" if process.returncode == 0 else "failed"
        handle.write(f"\n# exit code {process.returncode} after {spec.seconds:.1f} s\n")
    return spec


def last_line(path: Path) -> str:
    """The last non-empty line of a run's log (the scripts' latest progress line), or ``""``."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, 2) - 4096))
            lines = [line.strip() for line in handle.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def run_grid(manifest: Manifest, specs: list[RunSpec], workers: int, progress_interval: float = 30.0) -> list[RunSpec]:
    """Run ``specs`` with ``workers`` in parallel, printing one line per finished run and, at least every
    ``progress_interval`` seconds, each running run's latest log line. Returns the failed runs."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}.")
    if not progress_interval > 0:
        raise ValueError(f"progress_interval must be a number of seconds > 0, got {progress_interval}.")
    manifest.save()
    total, done, failed = len(specs), 0, 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = {pool.submit(run_one, spec): spec for spec in specs}
        while pending:
            finished, _ = wait(pending, timeout=progress_interval, return_when=FIRST_COMPLETED)
            if not finished:  # a long run: show where the running ones stand
                running = [spec for future, spec in pending.items() if future.running()]
                print(f"[{done}/{total} done, {len(running)} running]", file=sys.stderr)
                for spec in running:
                    print(f"  {spec.command}\n    {last_line(Path(spec.log))}", file=sys.stderr)
            for future in finished:
                spec = future.result()
                del pending[future]
                done += 1
                manifest.save()
                failed += spec.status != "ok"
                mark = "ok" if spec.status == "ok" else f"FAILED (exit {spec.returncode})"
                print(f"[{done}/{total}, {failed} failed] {mark} {spec.seconds:.1f}s  {spec.command}", file=sys.stderr)
    return [s for s in specs if s.status != "ok"]


def slurm_script(template: str, specs: list[RunSpec], workers: int, log_dir: Path, job_name: str) -> str:
    """The template with ``{{array}}`` (e.g. ``0-11%4``), ``{{command}}`` (selects this array task's
    command and runs it), ``{{job_name}}`` and ``{{log_dir}}`` filled in."""
    missing = [p for p in SLURM_PLACEHOLDERS if p not in template]
    if missing:
        raise ValueError(
            f"The Slurm template lacks {', '.join(missing)}; it needs {' and '.join(SLURM_PLACEHOLDERS)} "
            "(optional: {{job_name}}, {{log_dir}})."
        )
    block = [
        "commands=(",
        *(f"  {shlex.quote(s.command)}" for s in specs),
        ")",
        'command="${commands[$SLURM_ARRAY_TASK_ID]}"',
        'echo "# command: $command"',
        'eval "$command"',
    ]
    return (
        template.replace("{{array}}", f"0-{len(specs) - 1}%{workers}")
        .replace("{{command}}", "\n".join(block))
        .replace("{{job_name}}", job_name)
        .replace("{{log_dir}}", str(log_dir))
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark options, shared by ``mtenvs benchmark`` and ``python -m mtenvs.benchmark``."""
    parser.add_argument("--commands", nargs="+", default=[], help='e.g. "python baselines/distral_tabular.py"')
    parser.add_argument("--env-ids", nargs="+", default=[], help="env ids passed as --env-id")
    parser.add_argument(
        "--seeds", nargs="+", type=int, help=f"seeds passed as --seed (default: {' '.join(map(str, DEFAULT_SEEDS))})"
    )
    parser.add_argument("--workers", type=int, default=1, help="runs at once (Slurm: array tasks at once)")
    parser.add_argument("--log-dir", help=f"per-run logs and the manifest go here (default: {DEFAULT_LOG_DIR})")
    parser.add_argument("--track", action="store_true", help="append --track (wandb; offline without an API key)")
    parser.add_argument("--rerun-failed", metavar="MANIFEST", help="run only the failed/unfinished runs of a manifest")
    parser.add_argument("--slurm-template", metavar="PATH", help="write a Slurm array job from this template")
    parser.add_argument("--job-name", default="mtenvs-benchmark", help="Slurm job name ({{job_name}})")
    parser.add_argument(
        "--progress-interval", type=float, default=30.0, help="seconds between status lines of the running runs"
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Run (or write the Slurm job of) the benchmark the arguments describe; 1 when a run failed."""
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}.")
    if not args.progress_interval > 0:
        raise ValueError(f"--progress-interval must be a number of seconds > 0, got {args.progress_interval}.")
    if args.rerun_failed:
        grid_options = {
            "--commands": args.commands, "--env-ids": args.env_ids, "--seeds": args.seeds,
            "--log-dir": args.log_dir, "--track": args.track, "--slurm-template": args.slurm_template,
        }  # fmt: skip
        given = [flag for flag, value in grid_options.items() if value]
        if given:
            raise ValueError(
                "--rerun-failed reads its runs (commands, env ids, seeds, logs) from the manifest; "
                f"drop {', '.join(given)}."
            )
        manifest = Manifest.load(args.rerun_failed)
        specs = [s for s in manifest.runs if s.status != "ok"]
        if not specs:
            print(f"Every run in {manifest.path} succeeded; nothing to re-run.", file=sys.stderr)
            return 0
        for spec in specs:
            spec.status, spec.returncode, spec.seconds = "pending", None, None
    else:
        if not args.commands or not args.env_ids:
            raise ValueError("Give --commands and --env-ids (or --rerun-failed MANIFEST).")
        log_dir = Path(args.log_dir or DEFAULT_LOG_DIR)
        specs = build_grid(args.commands, args.env_ids, args.seeds or DEFAULT_SEEDS, log_dir, track=args.track)
        manifest = Manifest(log_dir / MANIFEST, specs)
        if args.slurm_template:
            template = Path(args.slurm_template).read_text()
            script = log_dir / SLURM_SCRIPT
            log_dir.mkdir(parents=True, exist_ok=True)
            script.write_text(slurm_script(template, specs, args.workers, log_dir, args.job_name))
            manifest.save()
            print(f"sbatch {script}")
            return 0
    print(f"{len(specs)} runs, {args.workers} at a time; logs and manifest in {manifest.path.parent}", file=sys.stderr)
    failed = run_grid(manifest, specs, args.workers, args.progress_interval)
    if failed:
        print(f"\n{len(failed)} of {len(specs)} runs failed:", file=sys.stderr)
        for spec in failed:
            print(f"  exit {spec.returncode}: {spec.command}\n    log: {spec.log}", file=sys.stderr)
        print(f"Re-run them alone: mtenvs benchmark --rerun-failed {manifest.path}", file=sys.stderr)
        return 1
    print(f"All {len(specs)} runs succeeded.", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtenvs.benchmark", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except (ValueError, OSError) as err:
        print(f"mtenvs benchmark: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
