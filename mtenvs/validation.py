"""The argument checks every mtenvs env, vector env and command shares (docs/contract.md).

Each checker names the argument, says what was wrong and what is allowed, and returns the value in
its plain Python type. Wrong types raise ``TypeError`` (a bool is not a number here, although
Python lets it be one); values of the right type outside what is allowed (out of range, NaN, inf,
not one of the choices) raise ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

# Seeds: what Gymnasium's ``np_random`` accepts (any int >= 0). Emulators that take 32-bit seeds
# (ale-py) get them reduced modulo 2**31 (see mtenvs.atari).
SEED_BOUND = 2**31


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _range_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"in {low}..{high}" if isinstance(low, int) and isinstance(high, int) else f"in [{low}, {high}]"
    if low is not None:
        return f">= {low}"
    if high is not None:
        return f"<= {high}"
    return ""


def check_int(name: str, value: object, low: int | None = None, high: int | None = None) -> int:
    """An int (not a bool, not a float) with ``low <= value <= high``."""
    allowed = " ".join(("an int", _range_text(low, high))).strip()
    if not _is_int(value):
        raise TypeError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__}).")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed}, got {value}.")
    return value


def check_number(name: str, value: object, low: float | None = None, high: float | None = None) -> float:
    """A finite real number (int or float, not a bool) with ``low <= value <= high``."""
    allowed = " ".join(("a finite number", _range_text(low, high))).strip()
    if not (_is_int(value) or isinstance(value, (float, np.floating))):
        raise TypeError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__}).")
    value = float(value)
    if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed}, got {value}.")
    return value


def check_bool(name: str, value: object) -> bool:
    """``True`` or ``False`` (not 0/1, not a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__}).")
    return bool(value)


def check_choice(name: str, value: object, choices: Collection[Any]) -> Any:
    """One of ``choices``; the message lists every valid value."""
    valid = ", ".join(str(choice) for choice in choices)
    try:
        known = value in choices
    except TypeError:  # unhashable values cannot be in a set of choices
        known = False
    if not known:
        raise ValueError(f"Unknown {name} {value!r}; valid: {valid}.")
    return value


def check_seed(seed: object, name: str = "seed") -> int | None:
    """A reset seed: None or an int >= 0, as Gymnasium's ``np_random`` takes it."""
    if seed is None:
        return None
    return check_int(name, seed, low=0)


def check_action(action: object, num_actions: int, space: str = "the action space", names: Sequence[str] = ()) -> int:
    """One action of a single env with a ``Discrete(num_actions)`` space, as a plain int.

    Accepts what Gymnasium's ``Discrete.contains`` accepts (an int, a NumPy integer, a 0-d integer
    array), except a bool: Python lets ``True`` be 1, but ``step(True)`` is a bug, never action 1
    (``TypeError``). Anything else outside the space is a ``ValueError``. ``space`` names the space
    in the message and ``names`` (what each action does) are listed after it.
    """
    listing = f" ({', '.join(f'{i} {name}' for i, name in enumerate(names))})" if names else ""
    allowed = f"{space} Discrete({num_actions}){listing}"
    value = action[()] if isinstance(action, np.ndarray) and action.shape == () else action
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"Action {action!r} is a bool; an action is an int in {allowed}.")
    if not _is_int(value) or not 0 <= value < num_actions:
        raise ValueError(f"Action {action!r} is outside {allowed}.")
    return int(value)


def check_reset_options(options: object, valid_keys: Collection[str]) -> dict[str, Any]:
    """``reset(options=...)``: None or a dict whose keys are all in ``valid_keys``; returns a copy."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(
            f"reset options must be a dict (or None), got {options!r} ({type(options).__name__}); "
            f"valid keys: {sorted(valid_keys)}."
        )
    unknown = sorted(set(options) - set(valid_keys), key=str)
    if unknown:
        raise ValueError(f"Unknown reset option(s) {unknown}; valid options: {sorted(valid_keys)}.")
    return dict(options)
