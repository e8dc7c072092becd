"""Names that become paths: only plain names pass, and nothing joined resolves outside its base."""

from __future__ import annotations

import os

import pytest

from mtenvs.paths import inside, path_component


@pytest.mark.parametrize("name", ["TwoRooms-v0", "dqn", "a.b-c_d+1", "MultiAtari-PongBreakout-v0", "x" * 100])
def test_plain_names_pass(name):
    assert path_component(name, "--exp-name") == name


@pytest.mark.parametrize(
    "name", ["", ".", "..", "../x", "a/b", "a\\b", ".hidden", "x" * 101, "a b", "a\x00b", "/abs", "a:b", "é"]
)
def test_names_that_could_escape_or_mislead_are_refused(name):
    with pytest.raises(ValueError, match="--exp-name must be a plain name"):
        path_component(name, "--exp-name")


def test_a_non_string_is_a_type_error():
    with pytest.raises(TypeError, match="--env-id must be a string"):
        path_component(3, "--env-id")


def test_inside_keeps_paths_in_their_base(tmp_path):
    assert inside(tmp_path, "a", "b.log") == (tmp_path / "a" / "b.log").resolve()
    with pytest.raises(ValueError, match="outside"):
        inside(tmp_path, "..", "x")
    (tmp_path / "link").symlink_to(tmp_path.parent)
    with pytest.raises(ValueError, match="outside"):
        inside(tmp_path, "link", "x")
    assert os.path.isabs(inside("relative", "x"))
