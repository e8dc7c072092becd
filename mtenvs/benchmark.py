"""``mtenvs benchmark``: run a grid of commands x env ids x seeds with parallel workers.

Each grid point runs ``{command} --env-id {env_id} --seed {seed}`` (plus ``--track`` when asked) in a
shell, its output kept in its own log file whose first line is the exact command. A JSON manifest
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

MANIFEST = "manifest.json"
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


def _label(command: str) -> str:
    """A short name for log files: the script's file stem, else the command's first word."""
    words = shlex.split(command)
    scripts = [w for w in words if w.endswith(".py")]
    name = Path(scripts[0]).stem if scripts else Path(words[0]).name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def build_grid(
    commands: Sequence[str], env_ids: Sequence[str], seeds: Sequence[int], log_dir: Path, track: bool = False
) -> list[RunSpec]:
    """Every (command, env id, seed) in that nesting order, each with its own log path."""
    if not commands or not env_ids or not seeds:
        raise ValueError("The grid needs at least one command, one env id and one seed.")
    for command in commands:
        if not command.strip():
            raise ValueError("A benchmark command is empty.")
    grid = []
    for command in commands:
        for env_id in env_ids:
            for seed in seeds:
                full = f"{command} --env-id {shlex.quote(env_id)} --seed {seed}" + (" --track" if track else "")
                index = len(grid)
                log = log_dir / f"{index:03d}__{_label(command)}__{env_id}__{seed}.log"
                grid.append(RunSpec(index, full, env_id, seed, str(log)))
    return grid


class Manifest:
    """The runs of one benchmark, saved as JSON after every change (thread safe)."""

    def __init__(self, path: Path, runs: list[RunSpec]) -> None:
        self.path = path
        self.runs = runs
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            runs = [RunSpec(**entry) for entry in data["runs"]]
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


def run_grid(
    manifest: Manifest, specs: list[RunSpec], workers: int, progress_interval: float = 30.0
) -> list[RunSpec]:
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
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="seeds passed as --seed")
    parser.add_argument("--workers", type=int, default=1, help="runs at once (Slurm: array tasks at once)")
    parser.add_argument("--log-dir", default="benchmark_logs", help="per-run logs and the manifest go here")
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
        if args.commands or args.env_ids or args.slurm_template:
            raise ValueError(
                "--rerun-failed reads its runs from the manifest; drop --commands, --env-ids and --slurm-template."
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
        log_dir = Path(args.log_dir)
        specs = build_grid(args.commands, args.env_ids, args.seeds, log_dir, track=args.track)
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
