"""Command-line plumbing of the baselines: one-line errors, argument rules, env kwargs, defaults, resume.

Every script checks its arguments before it builds anything and reports a bad one as
``<script>.py: error: <what was wrong and what is allowed>`` on stderr with exit status 2, as
argparse and tyro do for usage errors.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from mtenvs.paths import path_component
from mtenvs.registration import env_family

A = TypeVar("A")

# Floats are bounded as well as finite: 1e308 passes math.isfinite and overflows inside torch.
MAX_FLOAT = 1e9


class BadArgument(ValueError):
    """An invalid argument, found before training; :func:`run` prints its message without a traceback."""


def run(main: Callable[[A], None], args_type: type[A], script: str) -> None:
    """Parse the command line into ``args_type`` with tyro and call ``main``; a :class:`BadArgument`
    becomes one line on stderr and exit status 2."""
    import tyro

    args = tyro.cli(args_type)
    try:
        main(args)
    except BadArgument as error:
        print(f"{script}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def flag(name: str) -> str:
    """The command-line flag of an ``Args`` field: ``learning_rate`` -> ``--learning-rate``."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Rule:
    """What some ``Args`` fields must be: ``test(value)`` holds, described as ``allowed``. ``None`` is skipped
    (a field still to be filled by defaults); a bool is never a number; floats must be finite and within
    +-``MAX_FLOAT`` (``at_most`` caps them lower)."""

    names: tuple[str, ...]
    test: Callable[[Any], bool]
    allowed: str


def integer(names: Iterable[str], low: int, high: int | None = None, note: str = "") -> Rule:
    """Integers in ``[low, high]``."""
    allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    return Rule(tuple(names), lambda v: low <= v and (high is None or v <= high), allowed + note)


def number(
    names: Iterable[str], low: float, high: float = MAX_FLOAT, *, open_low: bool = False, open_high: bool = False,
    note: str = "",
) -> Rule:  # fmt: skip
    """Finite numbers between ``low`` and ``high`` (each bound included unless opened)."""
    left, right = "(" if open_low else "[", ")" if open_high else "]"

    def test(v: float) -> bool:
        return (low < v if open_low else low <= v) and (v < high if open_high else v <= high)

    return Rule(tuple(names), test, f"a number in {left}{low:g}, {high:g}{right}{note}")


def choice(names: Iterable[str], options: Iterable[str]) -> Rule:
    options = tuple(options)
    return Rule(tuple(names), lambda v: v in options, "one of " + ", ".join(repr(o) for o in options))


def _run_name_part(value: str) -> bool:
    try:
        path_component(value, "--exp-name")
    except (TypeError, ValueError):
        return False
    return "__" not in value and not value.endswith("_")


# The rules every script shares (its own fields add their own).
COMMON_RULES = (
    integer(["seed"], 0, 2**30, " (the envs are seeded with seed + offsets)"),
    integer(["torch_threads"], 0, 1024, " (0 keeps torch's default)"),
    integer(["total_timesteps"], 1),
    integer(["checkpoint_interval"], 0, note=" (0 disables)"),
    number(["progress_interval"], 0.0, 86_400.0, open_low=True, note=" (seconds)"),
    Rule(
        ("exp_name",),
        _run_name_part,
        "a plain name: letters, digits, '.', '-', '+' and single '_' (not first, not last), at most 100 characters "
        "(it becomes part of the run folder's name)",
    ),
)


def check_rules(args: object, rules: Iterable[Rule]) -> None:
    """:class:`BadArgument` naming the first field of ``args`` that breaks its rule. A field of
    :data:`COMMON_RULES` that the script does not have is skipped (the tabular scripts have no
    ``--torch-threads``); any other rule's field must exist."""
    for rule in rules:
        for name in rule.names:
            if not hasattr(args, name) and rule in COMMON_RULES:
                continue
            value = getattr(args, name)
            if value is None:
                continue
            try:
                if isinstance(value, bool) and rule.allowed.startswith(("an integer", "a number")):
                    ok = False
                elif isinstance(value, float):
                    ok = math.isfinite(value) and abs(value) <= MAX_FLOAT and rule.test(value)
                else:
                    ok = rule.test(value)
            except TypeError:  # a value of the wrong type (e.g. from a crafted checkpoint's arguments)
                ok = False
            if not ok:
                raise BadArgument(f"{flag(name)} must be {rule.allowed}, got {value!r}.")


def parse_env_kwargs(text: str, reserved: Mapping[str, str]) -> dict[str, Any]:
    """The ``--env-kwargs`` JSON object; ``reserved`` maps the keys the script sets itself to how it sets them."""
    try:
        env_kwargs = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadArgument(f"--env-kwargs must be a JSON object, got {text!r} ({error}).") from None
    if not isinstance(env_kwargs, dict):
        raise BadArgument(f"--env-kwargs must be a JSON object, got {text!r}.")
    for key, setter in reserved.items():
        if key in env_kwargs:
            raise BadArgument(f"--env-kwargs must not set {key!r}: the script sets it ({setter}).")
    return env_kwargs


def build_env(make: Callable[[], A], env_id: str, env_kwargs: Mapping[str, Any]) -> A:
    """``make()``, with the env's own refusal of a keyword argument reported against ``--env-kwargs``."""
    try:
        return make()
    except (TypeError, ValueError) as error:  # the env's own message names the keyword it refuses
        raise BadArgument(f"--env-kwargs {json.dumps(dict(env_kwargs))} for {env_id}: {error}") from None


def family_of(env_id: str, supported: Iterable[str], script: str) -> str:
    """The family declared for ``env_id`` (mtenvs.registration), if ``script`` supports it; else a clear error."""
    try:
        family = env_family(env_id)
    except (TypeError, ValueError) as error:
        raise BadArgument(f"--env-id {error}") from None
    supported = tuple(supported)
    if family not in supported:
        raise BadArgument(f"--env-id {env_id} is a {family} env; {script} supports {', '.join(supported)} envs.")
    return family


def apply_family_defaults(args: A, defaults: Mapping[str, Mapping[str, Any]], script: str) -> A:
    """Fill the fields left at ``None`` with the defaults of ``args.env_id``'s family, and say which were applied."""
    family = family_of(args.env_id, defaults, script)
    applied = {name: value for name, value in defaults[family].items() if getattr(args, name) is None}
    if applied:
        print(f"{family} defaults applied: " + ", ".join(f"{name}={value}" for name, value in applied.items()))
    return dataclasses.replace(args, **applied)


# What may differ from the checkpoint on --resume: where the run trains and what it writes, and the budget.
RESUME_MAY_CHANGE = ("resume", "cuda", "track", "save_model", "progress_interval", "torch_threads", "total_timesteps")


# Flags added after checkpoints of their scripts already existed, with the value such a checkpoint's run used (its
# behaviour then): a checkpoint without one resumes with that value instead of being refused.
ADDED_FLAGS = {"anneal_lr": False}


def resume_args(args: A, saved: Mapping[str, Any], reached_step: int) -> A:
    """The checkpoint's arguments, with the ones of ``RESUME_MAY_CHANGE`` that the command line sets.

    ``--total-timesteps`` left out keeps the checkpoint's budget; given, it is the new budget (it must
    lie beyond the step the checkpoint reached). Any other flag set to a non-default value is an error:
    a resumed run continues the same experiment.
    """
    args_type = type(args)
    names = {field.name for field in dataclasses.fields(args_type)}
    saved = {**{name: value for name, value in ADDED_FLAGS.items() if name in names}, **saved}
    if set(saved) != names:
        raise BadArgument(
            f"--resume {args.resume}: its arguments do not match this script's "
            f"(unknown {sorted(set(saved) - names)}, missing {sorted(names - set(saved))})."
        )
    defaults = args_type()
    changed = [
        flag(name) for name in sorted(names)
        if name not in RESUME_MAY_CHANGE and getattr(args, name) != getattr(defaults, name)
    ]  # fmt: skip
    if changed:
        raise BadArgument(
            f"--resume continues the checkpoint's run with its own arguments; {', '.join(changed)} cannot be changed "
            f"(allowed with --resume: {', '.join(flag(n) for n in RESUME_MAY_CHANGE[1:] if n in names)})."
        )
    merged = dict(saved)
    merged.update(resume=args.resume, track=args.track or saved["track"])
    merged.update(save_model=args.save_model or saved["save_model"])
    if "cuda" in names:  # the tabular scripts have neither --cuda nor --torch-threads
        merged["cuda"] = args.cuda
    for name in ("progress_interval", "torch_threads"):
        if name in names and getattr(args, name) != getattr(defaults, name):
            merged[name] = getattr(args, name)
    if args.total_timesteps is not None:
        if args.total_timesteps <= reached_step:
            raise BadArgument(
                f"--total-timesteps {args.total_timesteps} is not beyond the checkpoint's step {reached_step}; "
                "leave it out to keep the checkpoint's budget."
            )
        merged["total_timesteps"] = args.total_timesteps
    tuples = {field.name for field in dataclasses.fields(args_type) if str(field.type).startswith("tuple")}
    try:
        resumed = args_type(**{k: tuple(v) if k in tuples and v is not None else v for k, v in merged.items()})
    except TypeError as error:
        raise BadArgument(f"--resume {args.resume}: its arguments cannot be read ({error}).") from None
    print(f"--resume {args.resume}: continuing from step {reached_step} with the checkpoint's arguments.")
    return resumed


def available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux's MemAvailable; physical memory elsewhere)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def require_memory(nbytes: int, what: str) -> None:
    """:class:`BadArgument` when ``what`` (e.g. ``"--buffer-size 10000000 (replay of 84x84x4 uint8 frames)"``)
    needs more bytes than the machine has available, saying how much each is."""
    available = available_memory()
    if nbytes > available:
        raise BadArgument(
            f"{what} needs {nbytes / 2**30:.1f} GiB of memory; {available / 2**30:.1f} GiB are available."
        )
