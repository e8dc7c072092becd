"""The four Distral scripts are one program: they may differ only in the lines declared here.

Each file is the paper's Table 1 variant that users run by name (``python baselines/distral_kl_ent_2col.py``),
so the four stay; this test keeps them from drifting apart. Every file is normalised by replacing its
module docstring and its declared lines with placeholders, and the normalised texts must be equal.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

BASELINES = Path(__file__).resolve().parents[2] / "baselines"

# The declared differences, as data: a line pattern with one placeholder, and each variant's value in it.
DECLARED_LINES = {
    "alpha": "    alpha: float = {}",
    "columns": "TWO_COLUMNS = {}  # Table 1: 2col, pi_i = softmax(alpha h + f_i); 1col (False), separate networks: "
    "softmax(f_i)",
}
VARIANTS = {
    "distral_kl_1col": {"alpha": "1.0", "columns": "False", "title": "Distral KL 1col"},
    "distral_kl_2col": {"alpha": "1.0", "columns": "True", "title": "Distral KL 2col"},
    "distral_kl_ent_1col": {"alpha": "0.5", "columns": "False", "title": "Distral KL+ent 1col"},
    "distral_kl_ent_2col": {"alpha": "0.5", "columns": "True", "title": "Distral KL+ent 2col"},
}


def normalise(text: str, declared: dict[str, str]) -> str:
    """``text`` with its module docstring and each declared line (holding the declared value) replaced by a
    placeholder; ``AssertionError`` when a declared line is missing or appears more than once."""
    tree = ast.parse(text)
    docstring = tree.body[0]
    assert isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant), "no module docstring"
    lines = text.splitlines()
    lines[docstring.lineno - 1 : docstring.end_lineno] = ["<docstring>"]
    for name, pattern in DECLARED_LINES.items():
        expected = pattern.format(declared[name])
        found = [i for i, line in enumerate(lines) if line == expected]
        assert len(found) == 1, f"{name}: expected exactly one line {expected!r}, found {len(found)}"
        lines[found[0]] = f"<{name}>"
    return "\n".join(lines) + "\n"


def read(script: str) -> str:
    return (BASELINES / f"{script}.py").read_text()


def test_the_four_files_differ_only_in_the_declared_lines():
    normalised = {script: normalise(read(script), declared) for script, declared in VARIANTS.items()}
    reference = normalised["distral_kl_ent_2col"]
    for script, text in normalised.items():
        if text != reference:
            ours, theirs = text.splitlines(), reference.splitlines()
            first = next(
                (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs))
            )
            pytest.fail(
                f"{script}.py differs from distral_kl_ent_2col.py outside its declared lines, first at normalised "
                f"line {first + 1}: {ours[first] if first < len(ours) else '<end>'!r} vs "
                f"{theirs[first] if first < len(theirs) else '<end>'!r}"
            )


@pytest.mark.parametrize("script", VARIANTS)
def test_declared_values_are_the_variant_its_name_says(script):
    declared = VARIANTS[script]
    assert declared["alpha"] == ("0.5" if "_ent_" in script else "1.0")  # KL+ent: alpha 0.5; KL only: alpha 1
    assert declared["columns"] == ("True" if script.endswith("2col") else "False")
    docstring = ast.get_docstring(ast.parse(read(script)))
    assert docstring.startswith(f"{declared['title']} (Teh et al. 2017)")
    assert ("alpha = 0.5" in docstring) == ("_ent_" in script) and ("alpha = 1" in docstring) != ("_ent_" in script)


def test_normalisation_catches_a_change_outside_the_declared_lines():
    text, declared = read("distral_kl_ent_2col"), VARIANTS["distral_kl_ent_2col"]
    reference = normalise(text, declared)
    changed = re.sub(r"optimizer\.zero_grad\(\)", "optimizer.zero_grad(set_to_none=False)", text, count=1)
    assert changed != text and normalise(changed, declared) != reference
    # a changed docstring and changed declared values are not differences
    other = text.replace("Distral KL+ent 2col (Teh", "Distral KL 2col (Teh").replace(
        "    alpha: float = 0.5\n", "    alpha: float = 1.0\n"
    )
    assert normalise(other, VARIANTS["distral_kl_2col"]) == reference
    with pytest.raises(AssertionError, match="alpha"):  # a declared line that is not there
        normalise(text, VARIANTS["distral_kl_1col"])
