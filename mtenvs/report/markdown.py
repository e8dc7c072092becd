"""The Markdown report: figures, tables, commands, versions, protocol, and what was skipped."""

from __future__ import annotations

import importlib.metadata
import math
import platform
from collections.abc import Sequence
from pathlib import Path

from mtenvs.report.analysis import Analysis, FinalRow

VERSIONED_PACKAGES = ("mtenvs", "gymnasium", "ale-py", "torch", "numpy", "tensorboard")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that matter for the numbers, ``not installed`` otherwise."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def fmt(value: float, digits: int = 2) -> str:
    """A number for a table; ``n/a`` for NaN."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    escape = [[str(c).replace("|", "\\|") for c in row] for row in rows]
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in escape),
    ]


def _final_table(rows: list[FinalRow], digits: int = 2) -> list[str]:
    return table(
        ["env", "task", "algorithm", "mean ± std", "runs"],
        [[r.env_id, r.task, r.algorithm, f"{fmt(r.mean, digits)} ± {fmt(r.std, digits)}", str(r.runs)] for r in rows],
    )


def write_markdown(
    analysis: Analysis,
    out_dir: Path,
    figures: dict[str, list[Path]],
    commands: list[str],
    title: str,
    invocation: str,
) -> Path:
    """Write ``report.md`` in ``out_dir``; figure paths are linked relative to it."""
    s = analysis.settings
    lines = [f"# {title}", ""]
    lines += [
        f"{len(analysis.runs)} runs over {len(analysis.env_ids)} env id(s); {len(analysis.skipped)} item(s) skipped "
        "(listed at the end). Final performance = mean of each run's last "
        f"{s.last_episodes} logged training episodes, and evaluations = each run's last evaluation; spreads "
        "are the sample std (ddof=1) over runs (seeds).",
        "",
        f"Made with: `{invocation}`",
        "",
    ]

    def image(path: Path, alt: str) -> str:
        return f"![{alt}]({path.relative_to(out_dir).as_posix()})"

    lines += ["## Learning curves", ""]
    lines += [
        f"Episodic return per task against env steps: each run smoothed over its last {s.smooth_window} logged "
        f"episodes, interpolated onto {s.curve_points} common steps, then mean ± 1 std over runs.",
        "",
    ]
    for path in figures.get("curves", []):
        lines += [image(path, path.stem), ""]
    if analysis.notes:
        lines += ["Notes:", "", *(f"- {n}" for n in analysis.notes), ""]

    if analysis.metric_rows:
        lines += ["## Further metrics", ""]
        lines += [
            "Metrics asked for with `--metric`, drawn unsmoothed (mean ± 1 std over runs); the table gives "
            "mean ± std over runs of each run's last logged value (e.g. its final evaluation).",
            "",
        ]
        for path in figures.get("metrics", []):
            lines += [image(path, path.stem), ""]
        lines += table(
            ["env", "metric", "algorithm", "mean ± std", "runs"],
            [[r.env_id, r.task, r.algorithm, f"{fmt(r.mean, 3)} ± {fmt(r.std, 3)}", str(r.runs)]
             for r in analysis.metric_rows],
        )  # fmt: skip
        lines += [""]

    lines += ["## Final performance", ""]
    if analysis.final_rows:
        lines += [*_final_table(analysis.final_rows), ""]
    else:
        lines += ["No run logged episodic returns.", ""]
    if analysis.eval_rows:
        lines += [
            "### Evaluation episodes (`eval/episodic_return/<task>`)",
            "",
            "Each run's last evaluation (the last logged point, itself the mean return of that evaluation's "
            "episodes), then mean ± std over runs.",
            "",
            *_final_table(analysis.eval_rows),
            "",
        ]

    if analysis.aggregates:
        lines += ["## Human-normalized scores (Atari)", ""]
        lines += [
            "Per game: mean ± std over runs of each run's final human-normalized score "
            "(`charts/human_normalized_score/<game>`).",
            "",
            *_final_table(analysis.hns_rows, digits=3),
            "",
            f"Aggregates over runs x games with {s.confidence:.0%} percentile intervals from {s.bootstrap_reps} "
            f"stratified bootstrap resamples (runs resampled within each game; seed {s.seed}). Median = median over "
            "games of the per-game mean; IQM = mean of the middle 50% of all run x game scores (rliable's method).",
            "",
        ]
        lines += table(
            ["env", "algorithm", "runs", "games", "median [CI]", "IQM [CI]", "mean [CI]"],
            [
                [a.env_id, a.algorithm, str(a.runs), str(a.tasks), a.median.format(), a.iqm.format(), a.mean.format()]
                for a in analysis.aggregates
            ],
        )
        lines += [""]
        for path in figures.get("aggregates", []):
            lines += [image(path, path.stem), ""]

    lines += ["## Stability: sorted final returns of every run", ""]
    lines += [
        "Each run's final return (mean over its tasks), sorted best first per algorithm, as panel A2 of "
        "Figure 4 in Distral (Teh et al. 2017): a flat line means every seed learned.",
        "",
    ]
    for path in figures.get("sorted", []):
        lines += [image(path, path.stem), ""]

    lines += ["## Runs: runtime, SPS and protocol", ""]
    lines += table(
        ["run", "algorithm", "seed", "env steps", "runtime (s)", "SPS (last)", "final return", "protocol"],
        [
            [r.name, r.algorithm, str(r.seed), fmt(r.env_steps, 0), fmt(r.runtime_s, 1), fmt(r.sps, 0),
             fmt(r.final_return), r.protocol]
            for r in analysis.run_rows
        ],
    )  # fmt: skip
    lines += [""]
    for path in figures.get("sps", []):
        lines += [image(path, path.stem), ""]
    lines += [
        "Protocol = the emulator protocol each run logged in its hyperparameters (`preset`, `protocol`, "
        "`repeat_action_probability`, ...), `unknown` where it logged none. Never compare scores across protocols.",
        "",
    ]

    lines += ["## Commands and configurations", ""]
    if commands:
        lines += ["Commands the benchmark runner ran:", "", "```bash", *commands, "```", ""]
    else:
        lines += ["No runner manifest given (`--manifest`); the configurations below are what each run logged.", ""]
    by_algorithm: dict[str, list] = {}
    for run in analysis.runs:
        by_algorithm.setdefault(run.algorithm, []).append(run)
    for algorithm, runs in sorted(by_algorithm.items()):
        keys = sorted({k for r in runs for k in r.hyperparameters})
        if not keys:
            lines += [f"- `{algorithm}`: no hyperparameters logged.", ""]
            continue
        rows = []
        for key in keys:
            values = sorted({r.hyperparameters.get(key, "(absent)") for r in runs})
            rows.append([key, values[0] if len(values) == 1 else "varies: " + ", ".join(values)])
        lines += [f"### `{algorithm}` ({len(runs)} runs)", "", *table(["param", "value"], rows), ""]
    run_versions = sorted(
        {f"{k}={v}" for r in analysis.runs for k, v in r.hyperparameters.items() if "version" in k.lower()}
    )
    lines += [
        "Versions the runs logged: " + (", ".join(run_versions) if run_versions else "unknown (none logged)") + ".",
        "",
        "Versions on the machine that made this report (not necessarily the one that ran the runs): "
        + ", ".join(f"{k} {v}" for k, v in package_versions().items())
        + f", Python {platform.python_version()}.",
        "",
    ]

    lines += ["## Skipped", ""]
    if analysis.skipped:
        lines += table(["what", "why"], [[k.what, k.reason] for k in analysis.skipped])
    else:
        lines += ["Nothing was skipped."]
    lines += [""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
