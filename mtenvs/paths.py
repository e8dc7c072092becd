"""Names that become paths, checked in one place: nothing mtenvs writes leaves its folder.

Env ids, experiment names, task names and labels taken from a command line all end up as one
component of a file or folder name (``runs/{env_id}__{exp_name}__{seed}__{time}``, a benchmark's
log files). :func:`path_component` accepts only a plain name; :func:`inside` joins components to a
base folder and refuses any result that resolves outside it (a symlink included).
"""

from __future__ import annotations

import re
from pathlib import Path

# Letters, digits, '.', '-', '_' and '+' (Gymnasium ids use '-' and ':' is refused: Windows and
# URLs); not starting with '.', so neither '.', '..' nor a hidden name is possible.
_COMPONENT = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]*")
MAX_COMPONENT = 100


def path_component(name: str, what: str) -> str:
    """``name`` if it is safe as one file-name component, else ``ValueError`` naming ``what`` (e.g. ``--exp-name``).

    Allowed: letters, digits, ``.``, ``-``, ``_`` and ``+``, not starting with ``.``, at most 100
    characters. No separator, no ``..``, nothing hidden, nothing empty.
    """
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a string, got {name!r} ({type(name).__name__}).")
    if len(name) > MAX_COMPONENT or _COMPONENT.fullmatch(name) is None:
        raise ValueError(
            f"{what} must be a plain name (letters, digits, '.', '-', '_' and '+', not starting with '.', "
            f"at most {MAX_COMPONENT} characters) because it becomes part of a file name; got {name!r}."
        )
    return name


def inside(base: str | Path, *components: str) -> Path:
    """``base / components...`` after checking that the result stays inside ``base`` (``ValueError`` if not)."""
    root = Path(base).resolve()
    path = root.joinpath(*components).resolve()
    if path != root and root not in path.parents:
        raise ValueError(f"{Path(base).joinpath(*components)} resolves to {path}, outside {root}.")
    return path
