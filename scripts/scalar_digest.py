#!/usr/bin/env python
"""Digest of the TensorBoard scalars of a run (or of every run under a runs/ folder).

    python scripts/scalar_digest.py PATH              -> "<sha256> <ntags> <nevents>"
    python scripts/scalar_digest.py --per-tag PATH    -> a "<sha256> <nevents> <tag>" line per tag, then the total
    python scripts/scalar_digest.py --dump PATH       -> every "<tag> <step> <value>" line that is hashed (for diffing)

PATH is a run directory (runs/<run_name>) or a folder holding run directories (runs/). Every directory
below PATH that holds event files is read with EventAccumulator (size_guidance scalars=0: no sampling,
purge_orphaned_data=False: nothing a writer wrote is discarded). Events of a subdirectory (prl.py's
runs/<run>/updates writer) get the subdirectory as tag prefix ("updates/losses/loss").

Run names end in "__<unix time>": that suffix is stripped. When PATH holds more than one run
(actor_mimic's entry: two dqn.py expert runs and the actor_mimic run), each tag is prefixed with its
run's name (minus the time) so runs cannot mix; with a single run no run name enters the digest.

Hashed: the sorted list of (tag, step, repr(float32(value))). Wall times are never hashed. Tags whose
values are wall-clock measurements are dropped (TIME_DEPENDENT below):
  charts/SPS                 steps per second, from time.time(), in every deep script and the tabular ones;
                             in dqn.py and mt_dqn_shared.py even the *steps* at which it is logged depend
                             on the clock (logged when 20 s have passed, and at the end).
  charts/updates_per_second  prl.py: training updates per second of wall time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

TIME_DEPENDENT = {"charts/SPS", "charts/updates_per_second"}
EVENT_FILE = "events.out.tfevents."


def event_dirs(root: str) -> list[str]:
    found = []
    for directory, _, files in os.walk(root):
        if any(name.startswith(EVENT_FILE) for name in files):
            found.append(directory)
    return sorted(found)


def stable(relative: str) -> str:
    """A relative event-dir path with the run name's "__<unix time>" suffix removed."""
    return "/".join(re.sub(r"__\d{9,}$", "", part) for part in relative.split(os.sep))


def collect(root: str) -> tuple[list[tuple[str, int, str]], list[str]]:
    root = os.path.normpath(root)
    directories = event_dirs(root)
    if not directories:
        raise SystemExit(f"scalar_digest: no event files under {root}")
    relatives = [os.path.relpath(d, root) for d in directories]
    # PATH is a runs/ folder with several runs: keep the run name; one run only (or PATH is the run): drop it.
    tops = {r.split(os.sep)[0] for r in relatives if r != "."}
    single_run_root = "." not in relatives and len(tops) == 1
    rows, dropped = [], set()
    for directory, relative in zip(directories, relatives, strict=True):
        if relative == ".":
            prefix = ""
        else:
            parts = relative.split(os.sep)
            if single_run_root:
                parts = parts[1:]
            prefix = stable(os.sep.join(parts)) + "/" if parts else ""
        accumulator = EventAccumulator(directory, size_guidance={"scalars": 0}, purge_orphaned_data=False)
        accumulator.Reload()
        tags = accumulator.Tags()
        tensors = [t for t in tags.get("tensors", []) if not t.endswith("/text_summary")]  # add_text: not scalars
        if tensors:
            print(f"scalar_digest: warning: tensor summaries not hashed in {directory}: {tensors}", file=sys.stderr)
        for tag in tags["scalars"]:
            if tag in TIME_DEPENDENT:
                dropped.add(prefix + tag)
                continue
            for event in accumulator.Scalars(tag):
                rows.append((prefix + tag, int(event.step), repr(np.float32(event.value))))
    rows.sort()
    return rows, sorted(dropped)


def digest(rows) -> str:
    h = hashlib.sha256()
    for tag, step, value in rows:
        h.update(f"{tag}\t{step}\t{value}\n".encode())
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--per-tag", action="store_true", help="one digest line per tag, then the total")
    mode.add_argument("--dump", action="store_true", help="print every hashed row")
    parser.add_argument("--show-dropped", action="store_true", help="list the time-dependent tags left out (stderr)")
    args = parser.parse_args()
    rows, dropped = collect(args.path)
    if args.show_dropped:
        print("dropped: " + " ".join(dropped), file=sys.stderr)
    tags = sorted({row[0] for row in rows})
    if args.dump:
        for tag, step, value in rows:
            print(f"{tag} {step} {value}")
        return
    if args.per_tag:
        for tag in tags:
            subset = [row for row in rows if row[0] == tag]
            print(f"{digest(subset)} {len(subset)} {tag}")
    print(f"{digest(rows)} {len(tags)} {len(rows)}")


if __name__ == "__main__":
    main()
