#!/usr/bin/env bash
# GPU check: does every deep baseline train on a CUDA GPU, and how fast do the envs and the scripts run there?
#
#     bash scripts/gpu_check.sh [SUMMARY.md]        (default: gpu_check.md in the current directory)
#
# On a machine with one CUDA GPU, in at most 8 minutes:
#   1. every script of baselines/ that has --cuda runs the tiny configuration its tests declare
#      (tests/baselines/baseline_suite.py, TINY) with --cuda; it fails if it errors, falls back to the CPU,
#      or puts nothing on the GPU (actor_mimic.py's --experts come from two dqn.py --save-model runs first);
#   2. batched TwoRooms on the torch backend is timed on the GPU at 4,096 and 65,536 envs (NumPy beside it);
#   3. one short training run per env family (distral_kl_ent_2col.py on TwoRooms, MultiAtari Breakout,
#      MultiMaze, MultiControl) with --cuda, stopped at a time cap; its SPS is the last progress line's;
#   4. SUMMARY.md gets the device, the versions and the three tables; the exit status is 1 if anything
#      failed (after running everything), else 0.
# Every run works in a temporary folder (kept, with its logs, when something failed), so nothing but the
# summary is written in the repo. Without a CUDA GPU it prints one line and exits 0 (CI runs it that way).
#
# Switches (environment variables), for debugging; none is needed on a GPU machine:
#   GPU_CHECK_DEVICE=cpu         run everything on the CPU (--no-cuda) to test this script's plumbing on a
#                                machine without a GPU; the summary then says it is not a GPU check.
#   GPU_CHECK_ONLY="dqn control" run only these scripts / steps (script names, "throughput", and the
#                                families tworooms, atari, miniworld, control).
#   GPU_CHECK_FAMILY_SECONDS=N   time cap of each family's training run (default 40).
#   PYTHON=...                   the interpreter (default: the repo's .venv, else python3).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
summary=$(realpath -m -- "${1:-gpu_check.md}")  # resolved now: the runs work in other folders
device=${GPU_CHECK_DEVICE:-cuda}
family_seconds=${GPU_CHECK_FAMILY_SECONDS:-40}
if [[ -n ${PYTHON:-} ]]; then
    python=$PYTHON
elif [[ -x $repo/.venv/bin/python ]]; then
    python=$repo/.venv/bin/python
else
    python=python3
fi
case $device in
    cuda) cuda_flag=--cuda ;;
    cpu) cuda_flag=--no-cuda ;;
    *) echo "gpu_check.sh: GPU_CHECK_DEVICE must be cuda or cpu, got '$device'." >&2; exit 2 ;;
esac
[[ $family_seconds =~ ^[1-9][0-9]*$ ]] || { echo "gpu_check.sh: GPU_CHECK_FAMILY_SECONDS must be a positive integer." >&2; exit 2; }

# --- is there a GPU? (exit status 3 of the snippet means no; anything else non-zero is a broken install) ---
if [[ $device == cuda ]]; then
    reason_status=0
    reason=$("$python" - <<'EOF'
import torch

if not torch.cuda.is_available():
    build = "a CPU-only build" if torch.version.cuda is None else f"built with CUDA {torch.version.cuda}"
    print(f"torch.cuda.is_available() is False; torch {torch.__version__} is {build}")
    raise SystemExit(3)
EOF
    ) || reason_status=$?
    if ((reason_status == 3)); then
        echo "gpu_check.sh: no CUDA GPU on this machine ($reason); nothing to check."
        exit 0
    elif ((reason_status != 0)); then
        echo "gpu_check.sh: $python cannot import torch; install the baselines' dependencies first." >&2
        exit 1
    fi
fi

# --- the time budget: every command runs under `timeout`, cut to what is left of BUDGET_S ---
BUDGET_S=420       # the timed commands; set-up, the summary and the kill grace stay within 8 minutes
KILL_AFTER_S=5     # SIGKILL this long after a command's SIGTERM
MIN_RUN_S=10       # a command with less time left than this is not started
EXPERT_CAP_S=90    # caps of single commands: far above their expected time, they only bound a hang
SCRIPT_CAP_S=120
THROUGHPUT_CAP_S=90
THROUGHPUT_SECONDS=3  # timing per (backend, num_envs)
deadline=$((SECONDS + BUDGET_S))

# time_cap CAP: the timeout of the next command, CAP cut to the budget left (0: too little left to start it)
time_cap() {
    local left=$((deadline - SECONDS - KILL_AFTER_S))
    if ((left > $1)); then left=$1; fi
    if ((left < MIN_RUN_S)); then left=0; fi
    echo "$left"
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
selected() { [[ -z ${GPU_CHECK_ONLY:-} || " $GPU_CHECK_ONLY " == *" $1 "* ]]; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
mkdir -p "$work/args" "$work/results/scripts" "$work/results/families" "$work/logs"
export PYTHONUNBUFFERED=1        # a run stopped by its timeout keeps its last progress line in the log
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the repo
echo "gpu_check.sh: device $device, working in $work"

# The probe runs a baseline as `python SCRIPT ARGS` would, printing the device the script chose through
# mtenvs.train.run.choose_device when it chooses it, and at exit (a timeout's SIGTERM included) the most CUDA
# memory it held: positive evidence that it used the GPU, beside the scripts' own "--cuda: CUDA is not
# available ..." line when they fall back.
cat >"$work/probe.py" <<'EOF'
import atexit
import pathlib
import runpy
import signal
import sys

import mtenvs.train.run as run_module

choose_device = run_module.choose_device


def recording_choose_device(*args, **kwargs):
    device = choose_device(*args, **kwargs)
    print(f"gpu_check: device {device.type}", flush=True)
    return device


@atexit.register
def report():
    import torch

    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_initialized() else 0
    print(f"gpu_check: peak CUDA memory {peak} bytes", flush=True)


run_module.choose_device = recording_choose_device  # the scripts call run.choose_device(...) at run time
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # so that the report runs
script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path[0] = str(pathlib.Path(script).parent)  # as `python SCRIPT` sets it
runpy.run_path(script, run_name="__main__")
EOF

# --- the tiny configurations, read from the tests (one NUL-separated argv file per script) ---
# Prints "run NAME" for each script with --cuda and "skip NAME" for the others (the tabular ones).
script_list=$("$python" - "$repo" "$work/args" "$cuda_flag" <<'EOF'
import sys
from pathlib import Path

repo, out, cuda_flag = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
sys.path.insert(0, str(repo / "tests" / "baselines"))
from baseline_suite import _CONTROL2, _DQN, SCRIPTS, TINY, load_script  # noqa: E402


def write(name, argv):
    (out / name).write_bytes(b"".join(arg.encode() + b"\0" for arg in argv))


# The experts of actor_mimic.py, as tests/baselines/conftest.py's `experts` fixture trains them.
for task in ("CartPole", "Acrobot"):
    write(f"expert-{task}", [*_CONTROL2, "--task", task, *_DQN, "--total-timesteps", "200",
                             "--exp-name", f"expert-{task}", "--save-model", "--checkpoint-interval", "0", cuda_flag])
for name in SCRIPTS:
    if "cuda" not in load_script(name).Args.__dataclass_fields__:
        print("skip", name)
        continue
    argv, budget = TINY[name]
    write(name, [*argv, "--total-timesteps", str(budget), "--exp-name", "gpucheck", cuda_flag])
    print("run", name)
EOF
)
scripts=() skipped=()
while read -r what name; do
    if [[ $what == run ]]; then scripts+=("$name"); else skipped+=("$name"); fi
done <<<"$script_list"

# row FILE FIELDS...: one tab-separated result row (FIELDS may not hold tabs or newlines)
row() {
    local file=$1
    shift
    local IFS=$'\t'
    echo "$*" >"$file"
}
# device_used LOG: what the probe saw: "cuda, 1.2 MiB peak" ("cuda, 40 KiB peak", "cuda, nothing allocated",
# "cuda, peak not reported" when killed), "cpu", "cpu (CUDA fallback)", or "unknown" (it never chose one)
device_used() {
    local chosen peak
    chosen=$(sed -n 's/^gpu_check: device //p' "$1" | sort -u | paste -sd, -)
    peak=$(sed -n 's/^gpu_check: peak CUDA memory \([0-9]*\) bytes$/\1/p' "$1" | tail -n 1)
    if grep -q -- "--cuda: CUDA is not available on this machine" "$1"; then
        echo "cpu (CUDA fallback)"
    elif [[ -z $chosen ]]; then
        echo unknown
    elif [[ $chosen != cuda ]]; then
        echo "$chosen"
    elif [[ -z $peak ]]; then
        echo "cuda, peak not reported"
    elif ((peak == 0)); then
        echo "cuda, nothing allocated"
    else
        awk -v b="$peak" 'BEGIN { if (b >= 2^20) printf "cuda, %.1f MiB peak\n", b / 2^20; else printf "cuda, %.0f KiB peak\n", b / 2^10 }'
    fi
}
# on_expected_device USED: whether USED is the device asked for (on CUDA: with memory allocated there)
on_expected_device() {
    if [[ $device == cuda ]]; then
        [[ $1 == cuda,* && $1 != "cuda, nothing allocated" ]]
    else
        [[ $1 == cpu ]]
    fi
}
# failure_note LOG RC CAP: why a run failed, in one line
failure_note() {
    if (($2 == 124 || $2 == 137)); then
        echo "killed by its ${3} s timeout"
    else
        echo "exit status $2: $(grep -v '^gpu_check: ' "$1" | grep -v '^[[:space:]]*$' | tail -n 1 | tr '\t' ' ' | cut -c1-200)"
    fi
}

# run_baseline DIR LOG CAP SCRIPT ARGS...: run baselines/SCRIPT.py through the probe in DIR; sets rc and secs
run_baseline() {
    local dir=$1 log=$2 cap=$3 name=$4 start
    shift 4
    mkdir -p "$dir"
    start=$(now)
    rc=0
    (cd "$dir" && exec timeout -k "$KILL_AFTER_S" "$cap" "$python" "$work/probe.py" "$repo/baselines/$name.py" "$@") \
        >"$log" 2>&1 || rc=$?
    secs=$(since "$start")
}

# check_script NAME: the tiny run of baselines/NAME.py; writes results/scripts/NAME (name, result, device,
# seconds, note). Always returns 0: it runs as a background job.
check_script() {
    local name=$1 out="$work/results/scripts/$1" log="$work/logs/$1.log" cap used args=()
    mapfile -d '' -t args <"$work/args/$name"
    if [[ $name == actor_mimic ]]; then
        if ((${#experts[@]} != 2)); then
            row "$out" "$name" FAIL - - "not run: no experts (the dqn.py --save-model runs failed)"
            return 0
        fi
        args+=(--experts "${experts[@]}")
    fi
    cap=$(time_cap "$SCRIPT_CAP_S")
    if ((cap == 0)); then
        row "$out" "$name" FAIL - - "not run: the 8-minute budget was spent"
        return 0
    fi
    run_baseline "$work/runs/$name" "$log" "$cap" "$name" "${args[@]}"
    used=$(device_used "$log")
    if ((rc != 0)); then
        row "$out" "$name" FAIL "$used" "$secs" "$(failure_note "$log" "$rc" "$cap")"
    elif ! on_expected_device "$used"; then
        row "$out" "$name" FAIL "$used" "$secs" "did not train on $device"
    else
        row "$out" "$name" pass "$used" "$secs" ""
    fi
    echo "  $name: $(cut -f2 "$out") ($used, ${secs} s)"
    return 0
}

# --- 1. every deep baseline, tiny, on the device ---
experts=()
if selected actor_mimic; then
    echo "experts of actor_mimic.py (dqn.py --save-model):"
    for task in CartPole Acrobot; do
        cap=$(time_cap "$EXPERT_CAP_S")
        if ((cap == 0)); then break; fi
        mapfile -d '' -t args <"$work/args/expert-$task"
        run_baseline "$work/experts" "$work/logs/expert-$task.log" "$cap" dqn "${args[@]}"
        echo "  dqn.py --task $task: exit status $rc ($(device_used "$work/logs/expert-$task.log"), ${secs} s)"
        for path in "$work"/experts/runs/*__expert-"$task"__*/expert-"$task".pt; do
            if [[ -f $path ]]; then experts+=("$path"); fi
        done
    done
fi
# Several tiny runs at once where there are cores for them (each uses one torch thread and a few envs).
parallel=$(($(nproc) / 4))
if ((parallel < 1)); then parallel=1; elif ((parallel > 4)); then parallel=4; fi
echo "baseline scripts, tiny configuration, $cuda_flag, $parallel at a time:"
for name in "${scripts[@]}"; do
    if ! selected "$name"; then continue; fi
    check_script "$name" &
    while (($(jobs -rp | wc -l) >= parallel)); do wait -n || true; done
done
wait

# --- 2. batched TwoRooms on the torch backend (NumPy on the CPU beside it) ---
if selected throughput; then
    echo "batched TwoRooms throughput:"
    cap=$(time_cap "$THROUGHPUT_CAP_S")
    rc=0
    if ((cap == 0)); then
        rc=-1
    else
        (cd "$work" && exec timeout -k "$KILL_AFTER_S" "$cap" "$python" - "$device" "$THROUGHPUT_SECONDS" \
            "$work/results/throughput.tsv" <<'EOF'
import sys
import time

import gymnasium as gym
import numpy as np
import torch

import mtenvs  # noqa: F401  (registers TwoRooms-v0)

device, seconds, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
torch.set_num_threads(1)  # torch on the CPU (GPU_CHECK_DEVICE=cpu) as `mtenvs throughput` times it
rows = []
for backend, env_device in (("torch", device), ("NumPy", None)):
    for num_envs in (4096, 65536):
        # The batched env (vector_entry_point); device=None is NumPy, a torch device the torch backend there.
        envs = gym.make_vec("TwoRooms-v0", num_envs=num_envs, vectorization_mode="vector_entry_point",
                            device=env_device)
        if env_device is None:
            actions = np.random.default_rng(0).integers(0, 4, size=(64, num_envs))
        else:  # actions drawn on the device in advance, so the timing is the env's alone
            actions = torch.randint(0, 4, (64, num_envs), device=env_device)
        envs.reset(seed=0)
        for step in range(10):  # warm-up: CUDA kernels and caches
            envs.step(actions[step % 64])
        sync = torch.cuda.synchronize if env_device == "cuda" else (lambda: None)
        sync()
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            envs.step(actions[steps % 64])
            steps += 1
        sync()
        rate = steps * num_envs / (time.perf_counter() - start)
        envs.close()
        rows.append(f"{backend}\t{env_device or 'cpu'}\t{num_envs}\t{rate:.0f}\n")
        print(f"  {backend:<5} on {env_device or 'cpu':<4} {num_envs:>6} envs: {rate:>14,.0f} steps/s", flush=True)
with open(out, "w") as file:
    file.writelines(rows)
EOF
        ) >"$work/logs/throughput.log" 2>&1 || rc=$?
        cat "$work/logs/throughput.log"
    fi
    if ((rc == -1)); then
        row "$work/results/throughput_failed" "not run: the 8-minute budget was spent"
    elif ((rc != 0)); then
        row "$work/results/throughput_failed" "$(failure_note "$work/logs/throughput.log" "$rc" "$cap")"
    fi
fi

# --- 3. one short training run per env family: distral_kl_ent_2col.py, stopped at its time cap ---
# family, env id, env kwargs, extra flags (fewer envs where each is a process or an emulator, so they start fast)
families=(
    "tworooms|TwoRooms-v0|{}|"
    "control|MultiControl-v0|{}|"
    'atari|MultiAtari-v0|{"games": ["Breakout"]}|--num-envs 16'
    "miniworld|MultiMaze-v0|{}|--num-envs 16"
)
echo "training speed per env family (distral_kl_ent_2col.py, $cuda_flag, at most ${family_seconds} s each):"
for index in "${!families[@]}"; do
    IFS='|' read -r family env_id env_kwargs extra <<<"${families[index]}"
    if ! selected "$family"; then continue; fi
    out="$work/results/families/$index-$family" log="$work/logs/family-$family.log"  # named to sort in run order
    cap=$(time_cap "$family_seconds")
    if ((cap == 0)); then
        row "$out" "$family" "$env_id" FAIL - - - - "not run: the 8-minute budget was spent"
        continue
    fi
    read -ra extra_args <<<"$extra"
    # A budget no run reaches in its time cap: the timeout ends it, and SPS is that of its last progress line.
    run_baseline "$work/runs/family-$family" "$log" "$cap" distral_kl_ent_2col --env-id "$env_id" \
        --env-kwargs "$env_kwargs" "${extra_args[@]}" --total-timesteps 100000000 --eval-interval 0 \
        --eval-episodes 1 --checkpoint-interval 0 --progress-interval 5 --exp-name gpucheck "$cuda_flag"
    used=$(device_used "$log")
    last=$(grep -E '^step [0-9]+/[0-9]+, SPS [0-9]+' "$log" | tail -n 1 || true)
    step=$(sed -E 's/^step ([0-9]+)\/.*/\1/' <<<"$last")
    sps=$(sed -E 's/^step [0-9]+\/[0-9]+, SPS ([0-9]+).*/\1/' <<<"$last")
    if ((rc != 0 && rc != 124)); then  # 124: stopped by its time cap, as planned
        row "$out" "$family" "$env_id" FAIL "$used" "${step:--}" "${sps:--}" "$secs" "$(failure_note "$log" "$rc" "$cap")"
    elif [[ -z $last ]]; then
        row "$out" "$family" "$env_id" FAIL "$used" - - "$secs" "no progress line within ${cap} s"
    elif ! on_expected_device "$used"; then
        row "$out" "$family" "$env_id" FAIL "$used" "$step" "$sps" "$secs" "did not train on $device"
    elif ((rc == 124)); then
        row "$out" "$family" "$env_id" pass "$used" "$step" "$sps" "$secs" "stopped at its ${cap} s cap"
    else
        row "$out" "$family" "$env_id" pass "$used" "$step" "$sps" "$secs" "finished"
    fi
    echo "  $family ($env_id): $(cut -f3 "$out"), SPS ${sps:-n/a} at step ${step:-n/a} ($used, ${secs} s)"
done

# --- 4. the summary (exit status 1 of the snippet: something failed) ---
status=0
"$python" - "$summary" "$work" "$repo" "$device" "$SECONDS" "${skipped[*]}" "${GPU_CHECK_ONLY:-}" <<'EOF' || status=$?
import datetime
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import torch

summary, work, repo, device, elapsed, skipped, only = sys.argv[1:]
work = Path(work)
results = work / "results"


def rows(folder):
    return [path.read_text().rstrip("\n").split("\t") for path in sorted(folder.iterdir())]


def table(header, body):
    if not body:  # a step left out by GPU_CHECK_ONLY
        return ["No results."]
    lines = ["| " + " | ".join(header) + " |", "|" + "-|" * len(header)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in body]


def git(*args):
    try:
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True).stdout.strip()
    except OSError:  # no git
        return ""


scripts, families = rows(results / "scripts"), rows(results / "families")
failed_file = results / "throughput_failed"
throughput_failed = failed_file.read_text().strip() if failed_file.exists() else ""
throughput_tsv = results / "throughput.tsv"
throughput = [line.split("\t") for line in throughput_tsv.read_text().splitlines()] if throughput_tsv.exists() else []
failed = [r[0] for r in scripts if r[1] != "pass"] + [r[0] for r in families if r[2] != "pass"]
failed += ["throughput"] if throughput_failed else []

if device == "cuda":
    name = torch.cuda.get_device_name(0)
    memory = f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB"
    smi = shutil.which("nvidia-smi")
    driver = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                            text=True).stdout.strip() if smi else "n/a"
else:
    name, memory, driver = "none: GPU_CHECK_DEVICE=cpu, a dry run of the check's plumbing on the CPU", "n/a", "n/a"
commit = git("rev-parse", "--short", "HEAD")
dirty = git("status", "--porcelain", "--untracked-files=no")
verdict = "**all passed**" if not failed else f"**{len(failed)} failed**: {', '.join(failed)}"
text = [
    "# GPU check",
    "",
    f"`bash scripts/gpu_check.sh` on {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
    f"{int(elapsed)} s in all: {verdict}."
    + (f" Only `GPU_CHECK_ONLY={only}` was run." if only else ""),
    "",
    *table([" ", " "], [
        ["device", name],
        ["GPU memory", memory],
        ["driver", driver or "n/a"],
        ["torch", f"{torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()})"],
        ["python", platform.python_version()],
        ["CPU cores", str(os.cpu_count())],
        ["mtenvs commit", (commit or "n/a") + (" with local changes" if dirty else "")],
    ]),
    "",
    "## Baseline scripts",
    "",
    f"Each script's tiny configuration (`TINY` in `tests/baselines/baseline_suite.py`) with "
    f"`{'--cuda' if device == 'cuda' else '--no-cuda'}`; `actor_mimic.py` with two `dqn.py --save-model` experts "
    "(as `tests/baselines/conftest.py` trains them). *Device used* is what the script chose "
    "(`mtenvs.train.run.choose_device`) and the most CUDA memory it held; a run passes when it exits 0 on the "
    "device asked for, without the `--cuda: CUDA is not available` fallback.",
    "",
    *table(["script", "result", "device used", "seconds", "note"], scripts),
    "",
    f"Not run (no `--cuda`: tabular): {', '.join(f'`{s}`' for s in skipped.split())}." if skipped else "",
    "",
    "## Batched TwoRooms throughput",
    "",
    "`gym.make_vec(\"TwoRooms-v0\", num_envs=N, device=...)` (default tasks, one-hot observations), random actions "
    "drawn in advance on the env's device, timed after 10 warm-up steps; the batched NumPy env on the CPU beside it.",
    "",
    *table(["backend", "device", "num_envs", "steps/s"], [[b, d, f"{int(n):,}", f"{float(r):,.0f}"]
                                                          for b, d, n, r in throughput]),
    "",
    f"Throughput failed: {throughput_failed}" if throughput_failed else "",
    "",
    "## Training speed per env family",
    "",
    f"`baselines/distral_kl_ent_2col.py {'--cuda' if device == 'cuda' else '--no-cuda'}` with its family's "
    "defaults (16 envs on MultiAtari and MultiMaze), evaluation off, stopped at a time cap; SPS is the script's "
    "last progress line's (env steps per second since its start, set-up and warm-up included).",
    "",
    *table(["family", "env", "result", "device used", "env steps", "SPS", "seconds", "note"], families),
    "",
]
logs = sorted(work.glob("logs/*.log"))
tails = []
for log in logs:
    stem = log.stem.removeprefix("family-")
    if stem in failed or (stem.startswith("expert-") and "actor_mimic" in failed):
        tail = log.read_text(errors="replace").splitlines()[-15:]
        tails += [f"### {log.name}", "", "```", *tail, "```", ""]
if tails:
    text += ["## Logs of the failures (last 15 lines)", "", f"All logs: `{work}/logs/`.", "", *tails]
Path(summary).write_text("\n".join(line for i, line in enumerate(text)
                                   if line or (i and text[i - 1])) + "\n")
sys.exit(1 if failed else 0)
EOF
echo "gpu_check.sh: summary in $summary"
if ((status == 0)); then
    rm -rf -- "$work"
    echo "gpu_check.sh: all passed ($SECONDS s)."
else
    echo "gpu_check.sh: something failed ($SECONDS s); logs kept in $work/logs." >&2
fi
exit "$status"
