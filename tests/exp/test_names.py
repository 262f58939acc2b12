"""Experiment ref names and generated names (pure functions; git check-ref-format judges)."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitext.errors import UsageError
from gitext.exp import names

B = "0123456789abcdef0123456789abcdef01234567"


def test_ref_layout() -> None:
    assert names.exp_ref(B, "cased-hobs") == f"refs/exps/01/{B[2:]}/cased-hobs"
    assert names.failed_ref(B, "x") == f"refs/archives/exps/failed/01/{B[2:]}/x"
    assert names.queue_ref("x") == "refs/archives/exps/queue/x"
    assert names.parse_ref(names.exp_ref(B, "n")) == ("success", B, "n")
    assert names.parse_ref(names.failed_ref(B, "n")) == ("failed", B, "n")
    assert names.parse_ref(names.queue_ref("n")) == ("queued", None, "n")
    assert names.parse_ref("refs/heads/main") is None
    assert names.parse_ref("refs/exps/01/xyz/n") is None
    with pytest.raises(ValueError):
        names.exp_ref("abc", "n")


def test_word_lists_have_no_duplicates() -> None:
    assert len(set(names.ADJECTIVES)) == len(names.ADJECTIVES)
    assert len(set(names.NOUNS)) == len(names.NOUNS)


def test_generated_names_are_reproducible_and_skip_taken() -> None:
    first = names.generate_name("tree1")
    assert first == names.generate_name("tree1")
    other = names.generate_name("tree1", taken=lambda n: n == first)
    assert other != first
    assert names.validate_name(other) == other


@pytest.mark.parametrize("bad", ["", "a/b", "a..b", "-x", "x.lock", "x.", "a b", "a~1", "@{x}"])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="experiment name"):
        names.validate_name(bad)


@settings(deadline=None, max_examples=50)  # one git process per example; no deadline
@given(st.text(min_size=1, max_size=30))
def test_accepted_names_pass_git_check_ref_format(name: str) -> None:
    try:
        names.validate_name(name)
    except UsageError:
        return
    ref = names.exp_ref(B, name)
    assert subprocess.run(["git", "check-ref-format", ref], check=False).returncode == 0
