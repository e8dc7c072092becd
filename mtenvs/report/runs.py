"""Reading runs: TensorBoard event files under ``runs/{env_id}__{exp_name}__{seed}__{unix_time}/``
(the baselines' run names, docs/baselines.md), and the same runs from W&B's public API when asked.

Nothing here raises on a bad run: every run, file or metric that cannot be used is recorded as a
:class:`Skipped` entry with the reason, so the report can render what it can and say what it left out.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RUN_NAME = re.compile(r"^(?P<env_id>.+?)__(?P<exp_name>.+)__(?P<seed>-?\d+)__(?P<start>\d+)$")
EPISODIC_RETURN = "charts/episodic_return"
HUMAN_NORMALIZED = "charts/human_normalized_score"
EVAL_RETURN = "eval/episodic_return"
SPS = "charts/SPS"
HYPERPARAMETERS = "hyperparameters"


@dataclass
class Series:
    """One scalar metric of one run, sorted by step. Several points may share a step (vector envs end
    several episodes in one step), so none is dropped; within a step they keep their write order."""

    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray

    @classmethod
    def from_points(cls, steps: Iterable[float], values: Iterable[float], wall_times: Iterable[float]) -> Series:
        steps_a = np.asarray(list(steps), dtype=np.float64)
        values_a = np.asarray(list(values), dtype=np.float64)
        walls_a = np.asarray(list(wall_times), dtype=np.float64)
        order = np.argsort(walls_a, kind="stable")
        steps_a, values_a, walls_a = steps_a[order], values_a[order], walls_a[order]
        keep = np.isfinite(values_a)
        steps_a, values_a, walls_a = steps_a[keep], values_a[keep], walls_a[keep]
        order = np.argsort(steps_a, kind="stable")
        return cls(steps_a[order], values_a[order], walls_a[order])

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class Run:
    """A run: its name fields, scalar metrics by tag, and the hyperparameters it logged."""

    name: str
    env_id: str
    algorithm: str
    seed: int
    scalars: dict[str, Series] = field(default_factory=dict)
    hyperparameters: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def tasks(self, prefix: str = EPISODIC_RETURN) -> list[str]:
        """Task names with a ``<prefix>/<task>`` metric, in sorted order."""
        return sorted(tag[len(prefix) + 1 :] for tag in self.scalars if tag.startswith(prefix + "/"))

    @property
    def runtime_s(self) -> float:
        """Seconds between the first and the last logged point of any metric."""
        walls = [s.wall_times for s in self.scalars.values() if len(s)]
        if not walls:
            return float("nan")
        joined = np.concatenate(walls)
        return float(joined.max() - joined.min())

    @property
    def env_steps(self) -> float:
        """The largest step any metric was logged at (steps are env steps, docs/baselines.md)."""
        steps = [s.steps.max() for s in self.scalars.values() if len(s)]
        return float(max(steps)) if steps else float("nan")


@dataclass(frozen=True)
class Skipped:
    """Something the report left out, and why."""

    what: str
    reason: str


def parse_hyperparameters(text: str) -> dict[str, str]:
    """The ``|param|value|`` Markdown table the baselines log as their ``hyperparameters`` text."""
    table: dict[str, str] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("param", "") or set(cells[0]) <= set("-: "):
            continue
        table[cells[0]] = cells[1]
    return table


def _check_record_framing(path: Path) -> str | None:
    """Why an event file is damaged, or None. TensorBoard's reader stops silently at a bad record, so
    the record framing (8-byte length, 4-byte header CRC, data, 4-byte data CRC) is walked here to
    notice a truncated file or trailing garbage. CRCs are not recomputed (TensorBoard's reader does
    that, in pure Python, and is the slow part already)."""
    data = path.read_bytes()
    offset, records = 0, 0
    while offset < len(data):
        remaining = len(data) - offset
        if remaining < 16:
            return f"damaged after {records} records: {remaining} stray bytes at the end"
        (length,) = struct.unpack_from("<Q", data, offset)
        if 16 + length > remaining:
            claim = f"the record at byte {offset} claims {length} bytes, {remaining - 16} remain"
            return f"damaged after {records} records: {claim}"
        offset, records = offset + 16 + length, records + 1
    return None


def _read_event_file(path: Path, run: Run, skipped: list[Skipped]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    damage = _check_record_framing(path)
    if damage is not None:
        skipped.append(Skipped(str(path), f"event file {damage}; kept the records before the damage"))
    accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0})
    try:
        accumulator.Reload()
    except Exception as err:  # the reader raises many types (DataLossError, DecodeError, OSError)
        skipped.append(Skipped(str(path), f"unreadable event file: {type(err).__name__}: {err}"))
        return
    tags = accumulator.Tags()
    for tag in tags.get("scalars", []):
        events = accumulator.Scalars(tag)
        old = run.scalars.get(tag)
        steps = [e.step for e in events] + (list(old.steps) if old else [])
        values = [e.value for e in events] + (list(old.values) if old else [])
        walls = [e.wall_time for e in events] + (list(old.wall_times) if old else [])
        run.scalars[tag] = Series.from_points(steps, values, walls)
    for tag in tags.get("tensors", []):
        if tag.split("/")[0] != HYPERPARAMETERS:
            continue
        for event in accumulator.Tensors(tag):
            for raw in event.tensor_proto.string_val:
                run.hyperparameters.update(parse_hyperparameters(raw.decode("utf-8", "replace")))


def _purge_step(path: Path) -> int | None:
    """The step a resumed run's writer purges from (``SummaryWriter(purge_step=...)`` writes it as a
    session START event): earlier files' events at or after it were overwritten by this file.

    The writer puts that event right after the file-version record, before any summary, so the scan
    stops at the first summary: a run's files are parsed once in full (by ``_read_event_file``), not twice.
    """
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
    from tensorboard.compat.proto.event_pb2 import SessionLog

    try:
        for event in LegacyEventFileLoader(str(path)).Load():
            if event.HasField("session_log") and event.session_log.status == SessionLog.START:
                return int(event.step)
            if event.HasField("summary"):
                return None
    except Exception:  # a damaged file: _read_event_file reports it; purge nothing
        return None
    return None


def _load_run_dir(run_dir: Path) -> tuple[Run | None, list[Skipped]]:
    skipped: list[Skipped] = []
    match = RUN_NAME.match(run_dir.name)
    if match is None:
        return None, [Skipped(str(run_dir), "directory name is not {env_id}__{exp_name}__{seed}__{unix_time}")]
    files = sorted(run_dir.rglob("events.out.tfevents.*"))
    if not files:
        return None, [Skipped(str(run_dir), "no TensorBoard event file (empty or partial run)")]
    run = Run(
        name=run_dir.name,
        env_id=match["env_id"],
        algorithm=match["exp_name"],
        seed=int(match["seed"]),
        source=str(run_dir),
    )
    for path in sorted(files, key=lambda f: f.name):  # event file names start with their creation time
        purge = _purge_step(path)
        if purge is not None:  # a resumed run: drop what it logged after its checkpoint, as TensorBoard does
            for tag, series in run.scalars.items():
                keep = series.steps < purge
                run.scalars[tag] = Series(series.steps[keep], series.values[keep], series.wall_times[keep])
        _read_event_file(path, run, skipped)
    if not any(len(s) for s in run.scalars.values()):
        skipped.append(Skipped(str(run_dir), "no scalar metric could be read"))
        return None, skipped
    return run, skipped


def load_tensorboard_runs(runs_dir: str | Path, jobs: int = 1) -> tuple[list[Run], list[Skipped]]:
    """Every run directory directly under ``runs_dir``, read by ``jobs`` processes (TensorBoard's
    reader is pure Python, about 10k records/s); what cannot be used goes to the skipped list.

    ``runs_dir`` may also be a single run's own folder (``runs/{run_name}``): that run is read.
    """
    root = Path(runs_dir)
    if not root.is_dir():
        raise ValueError(f"Runs directory {str(root)!r} does not exist or is not a directory.")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1, got {jobs!r}.")
    if any(root.glob("events.out.tfevents.*")):
        if RUN_NAME.match(root.name) is None:
            raise ValueError(
                f"{str(root)!r} holds event files itself but its name is not a run name "
                "({env_id}__{exp_name}__{seed}__{unix_time}); point the report at the folder that holds "
                f"the run folders (e.g. {str(root.parent)!r}) or rename the run folder."
            )
        run_dirs = [root]
    else:
        run_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if jobs > 1 and len(run_dirs) > 1:
        with ProcessPoolExecutor(max_workers=min(jobs, len(run_dirs))) as pool:
            results = list(pool.map(_load_run_dir, run_dirs))
    else:
        results = [_load_run_dir(d) for d in run_dirs]
    runs = [run for run, _ in results if run is not None]
    skipped = [item for _, items in results for item in items]
    return runs, skipped


def load_wandb_runs(project_path: str, api: object | None = None) -> tuple[list[Run], list[Skipped]]:
    """Runs of a W&B project ``entity/project`` through W&B's public API (needs to be online).

    With ``sync_tensorboard=True`` the history holds the TensorBoard tags as columns and the
    TensorBoard step as ``global_step``; that step is used, W&B's own ``_step`` otherwise.
    """
    if project_path.count("/") != 1 or "" in project_path.split("/"):
        raise ValueError(f"A W&B project is ENTITY/PROJECT, got {project_path!r}.")
    try:
        if api is None:
            import wandb

            api = wandb.Api()
        listed = list(api.runs(project_path))
    except Exception as err:  # wandb raises its own types for no key, no network, unknown project
        needs = "needs WANDB_API_KEY and the network"
        raise ValueError(f"Cannot read runs of W&B project {project_path!r} ({needs}): {err}") from err
    runs: list[Run] = []
    skipped: list[Skipped] = []
    for wandb_run in listed:
        match = RUN_NAME.match(wandb_run.name or "")
        if match is None:
            skipped.append(Skipped(f"wandb:{project_path}/{wandb_run.id}", "run name is not a baseline run name"))
            continue
        run = Run(
            name=wandb_run.name,
            env_id=match["env_id"],
            algorithm=match["exp_name"],
            seed=int(match["seed"]),
            hyperparameters={k: str(v) for k, v in dict(wandb_run.config).items() if not k.startswith("_")},
            source=f"wandb:{project_path}/{wandb_run.id}",
        )
        points: dict[str, tuple[list[float], list[float], list[float]]] = {}
        for row in wandb_run.scan_history():
            step = row.get("global_step", row.get("_step"))
            wall = row.get("_timestamp", float("nan"))
            for key, value in row.items():
                if key.startswith("_") or key == "global_step" or not isinstance(value, (int, float)):
                    continue
                steps, values, walls = points.setdefault(key, ([], [], []))
                steps.append(float(step))
                values.append(float(value))
                walls.append(float(wall))
        run.scalars = {tag: Series.from_points(*triple) for tag, triple in points.items()}
        if not run.scalars:
            skipped.append(Skipped(run.source, "no scalar history"))
            continue
        runs.append(run)
    return runs, skipped
