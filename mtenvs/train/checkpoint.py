"""Checkpoints and model files as data: written atomically, verified and checked before use.

A file is written with ``torch.save`` (a zip archive whose every record carries a CRC-32) and read
back only with ``torch.load(weights_only=True)``, which builds tensors and plain Python values and
never runs code from the file. Before that, the archive's CRCs are checked (torch does not check
them), so a damaged file is refused by name instead of resuming silently on flipped bytes; after it,
the structure is checked against a schema, so a file with the right tag and the wrong content is a
one-line error, not a ``KeyError`` or a ``load_state_dict`` traceback.

RNG states and env states are stored as plain data too (:func:`rng_state`, :func:`env_state`).
"""

from __future__ import annotations

import collections
import os
import random
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtenvs.train.cli import BadArgument

TENSOR = torch.Tensor
ANY = object


def save(path: str | Path, payload: Mapping[str, Any]) -> None:
    """``torch.save`` to ``path`` atomically: a kill mid-save keeps the previous file."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(dict(payload), temporary)
    with open(temporary, "rb") as written:
        os.fsync(written.fileno())
    os.replace(temporary, path)


def load(path: str | Path, flag: str, schema: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The dict in ``path`` after checking the file's CRCs and its structure against ``schema``.

    ``schema`` maps each required key to a type, a tuple of types, a nested schema (a dict), or a
    constant the value must equal (a ``str`` such as a format tag). ``what`` names the expected
    writer (e.g. ``"a checkpoint of dqn.py"``). Every failure is a :class:`BadArgument` naming
    ``flag`` and ``path``.
    """
    prefix = f"{flag} {path}"
    if not os.path.isfile(path):
        raise BadArgument(f"{prefix}: no such file.")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise BadArgument(f"{prefix} is not {what}: not a readable torch file ({error}).") from None
    if damaged is not None:
        raise BadArgument(f"{prefix} is damaged: record {damaged} fails its CRC check (refusing to use it).")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for foreign objects and malformed archives
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise BadArgument(f"{prefix} is not {what}: it cannot be loaded as data ({reason}).") from None
    problem = _mismatch(payload, schema, "")
    if problem:
        raise BadArgument(f"{prefix} is not {what}: {problem}.")
    return payload


def _mismatch(value: Any, schema: Any, where: str) -> str | None:
    """Why ``value`` does not fit ``schema`` (``None`` when it does)."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return f"{where or 'the file'} holds {type(value).__name__}, not a dict"
        missing = [key for key in schema if key not in value]
        if missing:
            return f"{where or 'it'} lacks {missing}"
        for key, sub in schema.items():
            problem = _mismatch(value[key], sub, f"{where}[{key!r}]" if where else repr(key))
            if problem:
                return problem
        return None
    if isinstance(schema, str):
        return None if value == schema else f"{where} is {value!r}, expected {schema!r}"
    if not isinstance(value, schema):
        names = " or ".join(t.__name__ for t in (schema if isinstance(schema, tuple) else (schema,)))
        return f"{where} is {type(value).__name__}, expected {names}"
    return None


def load_state(module: torch.nn.Module | torch.optim.Optimizer, state: Any, flag: str, path: str, name: str) -> None:
    """``module.load_state_dict(state)``; a state that does not fit is a one-line :class:`BadArgument`."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as error:
        reason = " ".join(str(error).split())[:400] or type(error).__name__  # one line: torch's spans several
        raise BadArgument(f"{flag} {path}: its {name} does not fit this run's ({reason}).") from None


def rng_state() -> dict[str, Any]:
    """Python's, NumPy's, torch's (and CUDA's) global RNG states, as data ``torch.load(weights_only=True)`` reads."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }  # fmt: skip


def restore_rng(state: Mapping[str, Any]) -> None:
    """Set the global RNGs to a :func:`rng_state`."""
    random.setstate(_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


RNG_SCHEMA = {"python": tuple, "numpy": {"name": str, "keys": TENSOR}, "torch": TENSOR}


# --- env state as data -------------------------------------------------------------------------------
# An env's state is the data in its object graph: numbers, strings, arrays and RNG states in the
# attributes of the env, its wrappers and its parts. env_state() reads them from a live env; on resume
# a new env is built by the script as usual and restore_env_state() writes them back into it. The file
# holds values only, never a class or a callable: nothing in it can run. A part whose state is not
# plain Python data (an emulator, a renderer) makes the env's state unavailable: the run then restarts
# its episodes in progress, and says so.

_STATEFUL_MODULES = ("mtenvs.", "gymnasium.")
_CODE = (type, collections.abc.Callable, np.dtype)  # rebuilt with the env, not state


class _Opaque(Exception):
    """A part of the env whose state is not plain data."""


def env_state(env: Any) -> dict[str, Any] | None:
    """The data state of ``env`` (a single env, a vector env or a list of envs), or ``None`` when some part of it
    holds state outside Python data (ale-py's emulator, MiniWorld's renderer)."""
    try:
        return {"state": _capture(env, set())}
    except _Opaque:
        return None


def restore_env_state(env: Any, state: Mapping[str, Any], flag: str, path: str) -> None:
    """Write an :func:`env_state` back into a freshly built ``env`` of the same kind."""
    try:
        _restore(env, state["state"], "env")
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        raise BadArgument(f"{flag} {path}: its env state does not fit this env ({error}).") from error


def _capture(value: Any, seen: set[int]) -> Any:
    if value is None or isinstance(value, (bool, int, float, str, np.bool_, np.integer, np.floating)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"list": [_capture(v, seen) for v in value.tolist()]}
        return {"array": torch.from_numpy(np.ascontiguousarray(value).copy()), "dtype": str(value.dtype)}
    if isinstance(value, np.random.Generator):
        return {"generator": value.bit_generator.state}
    if isinstance(value, np.random.RandomState):
        return {"random_state": _capture(value.get_state(), seen)}
    if isinstance(value, (list, tuple, collections.deque)):
        return {"list": [_capture(v, seen) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, (str, int)) for k in value):
            raise _Opaque("dict with keys other than str and int")
        return {"dict": [(k, _capture(v, seen)) for k, v in value.items()]}
    if isinstance(value, _CODE) or _frozen(value):
        return {"code": True}  # classes, callables and frozen (immutable) parts are rebuilt by the script
    if type(value).__module__.startswith(_STATEFUL_MODULES) and hasattr(value, "__dict__"):
        if id(value) in seen:
            return {"seen": True}
        seen.add(id(value))
        attributes = {name: _capture(v, seen) for name, v in vars(value).items()}
        return {"object": type(value).__qualname__, "attributes": attributes}
    raise _Opaque(type(value).__qualname__)


def _frozen(value: Any) -> bool:
    params = getattr(type(value), "__dataclass_params__", None)
    return params is not None and params.frozen


def _restore(target: Any, state: Any, where: str) -> Any:
    """The value ``state`` describes, written into ``target`` where it is mutable; returns the value to assign."""
    if not isinstance(state, dict):
        return state
    if "array" in state:
        array = state["array"].numpy().astype(state["dtype"], copy=True)
        if (
            isinstance(target, np.ndarray)
            and target.shape == array.shape
            and target.dtype == array.dtype
            and target.flags.writeable
        ):
            target[...] = array
            return target
        return array
    if "generator" in state:
        target.bit_generator.state = state["generator"]
        return target
    if "random_state" in state:
        target.set_state(_tuples(_restore(None, state["random_state"], where)))
        return target
    if "list" in state:
        items = state["list"]
        if isinstance(target, (list, collections.deque, tuple, np.ndarray)) and len(target) == len(items):
            values = [_restore(t, s, f"{where}[{i}]") for i, (t, s) in enumerate(zip(target, items, strict=True))]
        else:
            values = [_restore(None, s, f"{where}[{i}]") for i, s in enumerate(items)]
        if isinstance(target, list):
            target[:] = values
            return target
        if isinstance(target, collections.deque):
            target.clear()
            target.extend(values)
            return target
        return tuple(values) if isinstance(target, tuple) or target is None else values
    if "dict" in state:
        base = target if isinstance(target, dict) else {}
        restored = {k: _restore(base.get(k), s, f"{where}[{k!r}]") for k, s in state["dict"]}
        if isinstance(target, dict):
            target.clear()
            target.update(restored)
            return target
        return restored
    if "code" in state or "seen" in state:
        return target
    if type(target).__qualname__ != state["object"]:
        raise TypeError(f"{where} is a {type(target).__qualname__}, the saved state is of a {state['object']}")
    attributes = vars(target)
    for name, sub in state["attributes"].items():
        if name not in attributes:
            raise AttributeError(f"{where}.{name} is not an attribute of this env's {state['object']}")
        restored = _restore(attributes[name], sub, f"{where}.{name}")
        if restored is not attributes[name]:
            setattr(target, name, restored)
    return target
