"""Scripts that are variants of one algorithm file may differ only in the regions declared here.

Each variant is a file that users run by name (``python baselines/distral_kl_ent_2col.py``), so the files stay;
this test keeps them from drifting apart. In every file of a group the declared regions are replaced by
placeholders: named top-level blocks (``"docstring"``: the module docstring; otherwise the class or function of
that name) and declared lines (a line pattern with one placeholder, and each variant's value in it). The normalised
texts of a group must be equal, the whole file or, for a group with ``part``, the lines from the one holding the
first marker to the one holding the second.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import pytest

BASELINES = Path(__file__).resolve().parents[2] / "baselines"


@dataclass(frozen=True)
class Group:
    variants: Mapping[str, Mapping[str, str]]
    """script -> its value of each declared line; the first script is the reference"""
    blocks: tuple[str, ...] = ()
    """the top-level blocks that may differ: "docstring" or the name of a class or function"""
    lines: Mapping[str, str] = field(default_factory=dict)
    """declared line name -> the line, with "{}" where the variant's value stands"""
    part: tuple[str, str] | None = None
    """compare only the lines from the one holding part[0] up to (without) the one holding part[1]"""


GROUPS = {
    # Distral's Table 1 variants: alpha (KL: 1, KL+ent: 0.5) and the column count.
    "distral": Group(
        variants={
            "distral_kl_ent_2col": {"alpha": "0.5", "columns": "True"},
            "distral_kl_2col": {"alpha": "1.0", "columns": "True"},
            "distral_kl_ent_1col": {"alpha": "0.5", "columns": "False"},
            "distral_kl_1col": {"alpha": "1.0", "columns": "False"},
        },
        blocks=("docstring",),
        lines={
            "alpha": "    alpha: float = {}",
            "columns": "TWO_COLUMNS = {}  # Table 1: 2col, pi_i = softmax(alpha h + f_i); 1col (False), separate "
            "networks: softmax(f_i)",
        },
    ),
    # Distral's A3C baselines: one loop and loss, three networks.
    "a3c": Group(
        variants={"a3c_independent": {}, "a3c_2col": {}, "a3c_multitask": {}},
        blocks=("docstring", "Agent"),
    ),
    # MA3C-1 and MA3C-2 differ only in the LSTM (one per task, or one shared).
    "ma3c": Group(variants={"ma3c_1": {}, "ma3c_2": {}}, blocks=("docstring", "Agent")),
    # MA3C trains with A3C's rollout, returns and loss; it differs in its network, the envs it takes (images, several
    # tasks) and in clipping the gradient as a whole (the update), so only these sections are compared.
    "a3c update in ma3c": Group(
        variants={"a3c_independent": {}, "a3c_2col": {}, "a3c_multitask": {}, "ma3c_1": {}, "ma3c_2": {}},
        part=("# --- rollout ---", "# --- update ---"),
    ),
}
TITLES = {  # the Distral variants' docstrings start with these
    "distral_kl_1col": "Distral KL 1col",
    "distral_kl_2col": "Distral KL 2col",
    "distral_kl_ent_1col": "Distral KL+ent 1col",
    "distral_kl_ent_2col": "Distral KL+ent 2col",
}


def normalise(text: str, group: Group, values: Mapping[str, str]) -> list[str]:
    """The lines of ``text`` with each declared block and line replaced by a placeholder (only ``group.part`` of them
    if set); ``AssertionError`` when a declared block, line or marker is missing or not unique."""
    tree, lines = ast.parse(text), text.splitlines()
    spans = []
    for name in group.blocks:
        if name == "docstring":
            nodes = tree.body[:1]
            assert isinstance(nodes[0], ast.Expr) and isinstance(nodes[0].value, ast.Constant), "no module docstring"
        else:
            kinds = (ast.ClassDef, ast.FunctionDef)
            nodes = [node for node in tree.body if isinstance(node, kinds) and node.name == name]
        assert len(nodes) == 1, f"{name}: expected exactly one top-level block, found {len(nodes)}"
        first = min([nodes[0].lineno] + [d.lineno for d in getattr(nodes[0], "decorator_list", [])])
        spans.append((first - 1, nodes[0].end_lineno, f"<{name}>"))
    for name, pattern in group.lines.items():
        expected = pattern.format(values[name])
        found = [i for i, line in enumerate(lines) if line == expected]
        assert len(found) == 1, f"{name}: expected exactly one line {expected!r}, found {len(found)}"
        spans.append((found[0], found[0] + 1, f"<{name}>"))
    spans.sort()
    assert all(a[1] <= b[0] for a, b in pairwise(spans)), f"overlapping declared regions {spans}"
    for start, end, placeholder in reversed(spans):
        lines[start:end] = [placeholder]
    if group.part:
        bounds = []
        for marker in group.part:
            found = [i for i, line in enumerate(lines) if marker in line]
            assert len(found) == 1, f"marker {marker!r}: expected exactly one line, found {len(found)}"
            bounds.append(found[0])
        lines = lines[bounds[0] : bounds[1]]
    return lines


def read(script: str) -> str:
    return (BASELINES / f"{script}.py").read_text()


def first_difference(group: Group, texts: Mapping[str, str]) -> str | None:
    """A message naming the first variant (in ``texts``) that differs from the group's reference outside its
    declared regions, and where; ``None`` when none does."""
    normalised = {script: normalise(texts[script], group, values) for script, values in group.variants.items()}
    reference_script = next(iter(group.variants))
    theirs = normalised[reference_script]
    for script, ours in normalised.items():
        if ours != theirs:
            first = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), None)
            first = min(len(ours), len(theirs)) if first is None else first
            line = ours[first] if first < len(ours) else "<end>"
            other = theirs[first] if first < len(theirs) else "<end>"
            return (
                f"{script}.py differs from {reference_script}.py outside its declared regions, first at normalised "
                f"line {first + 1}: {line!r} vs {other!r}"
            )
    return None


@pytest.mark.parametrize("name", GROUPS)
def test_the_variants_differ_only_in_their_declared_regions(name):
    group = GROUPS[name]
    difference = first_difference(group, {script: read(script) for script in group.variants})
    if difference:
        pytest.fail(difference)


# A one-line edit outside the declared regions of each group, in one of its files (not the reference).
EDITS = {
    "distral": (
        "distral_kl_1col",
        "        optimizer.zero_grad()\n",
        "        optimizer.zero_grad(set_to_none=False)\n",
    ),
    "a3c": ("a3c_multitask", "    eval_envs = None\n", "    eval_envs = []\n"),
    "ma3c": ("ma3c_2", 'EVAL_TAGS = ("eval/episodic_return", ', 'EVAL_TAGS = ("eval/return", '),
    "a3c update in ma3c": ("ma3c_1", "entropy_loss = masked_mean(entropy, valid)", "entropy_loss = entropy.mean()"),
}


def edited(group: Group, script: str, old: str, new: str) -> dict[str, str]:
    """The group's texts with one replacement of ``old`` by ``new`` in ``script``."""
    texts = {name: read(name) for name in group.variants}
    assert texts[script].count(old) == 1, (script, old)
    return dict(texts, **{script: texts[script].replace(old, new)})


@pytest.mark.parametrize("name", GROUPS)
def test_a_one_line_edit_outside_the_declared_regions_is_caught(name):
    script, old, new = EDITS[name]
    difference = first_difference(GROUPS[name], edited(GROUPS[name], script, old, new))
    assert difference is not None and difference.startswith(f"{script}.py differs from")


def test_changes_inside_the_declared_regions_are_not_differences():
    group = GROUPS["distral"]
    # the reference's docstring and declared values changed to distral_kl_1col's: still the same program
    reference = read("distral_kl_ent_2col")
    changed = reference.replace("Distral KL+ent 2col (Teh", "Distral KL 1col (Teh").replace(
        "    alpha: float = 0.5\n", "    alpha: float = 1.0\n"
    )
    changed = changed.replace("TWO_COLUMNS = True  #", "TWO_COLUMNS = False  #")
    assert normalise(changed, group, group.variants["distral_kl_1col"]) == normalise(
        reference, group, group.variants["distral_kl_ent_2col"]
    )
    with pytest.raises(AssertionError, match="alpha"):  # a declared line that is not there
        normalise(reference, group, group.variants["distral_kl_1col"])
    # inside an Agent class; outside the compared part (MA3C clips the gradient as a whole)
    swapped = "return [*self.tasks, self.shared]"
    assert (
        first_difference(GROUPS["a3c"], edited(GROUPS["a3c"], "a3c_2col", "return [self.shared, *self.tasks]", swapped))
        is None
    )
    clip = "grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)"
    assert (
        first_difference(
            GROUPS["a3c update in ma3c"], edited(GROUPS["a3c update in ma3c"], "ma3c_2", clip, clip + "  # all")
        )
        is None
    )
    with pytest.raises(AssertionError, match="Agent: expected exactly one top-level block, found 0"):
        normalise(read("a3c_2col").replace("class Agent(", "class Network("), GROUPS["a3c"], {})


@pytest.mark.parametrize("script", GROUPS["distral"].variants)
def test_declared_values_are_the_distral_variant_its_name_says(script):
    declared = GROUPS["distral"].variants[script]
    assert declared["alpha"] == ("0.5" if "_ent_" in script else "1.0")  # KL+ent: alpha 0.5; KL only: alpha 1
    assert declared["columns"] == ("True" if script.endswith("2col") else "False")
    docstring = ast.get_docstring(ast.parse(read(script)))
    assert docstring.startswith(f"{TITLES[script]} (Teh et al. 2017)")
    assert ("alpha = 0.5" in docstring) == ("_ent_" in script) and ("alpha = 1" in docstring) != ("_ent_" in script)
