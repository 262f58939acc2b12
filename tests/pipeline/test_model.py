"""The pipeline's records: frozen, comparable, and hashable even with DVC's extra keys."""

from __future__ import annotations

import pytest

from gitext.pipeline.model import Dep, Out


def test_a_dep_with_extra_keys_is_hashable_and_equal_records_hash_equal() -> None:
    a = Dep("data", "data", {"hash": "md5", "nested": {"x": [1, 2]}})
    b = Dep("data", "data", {"nested": {"x": [1, 2]}, "hash": "md5"})
    assert a == b and hash(a) == hash(b)
    assert len({a, b, Dep("data", "data")}) == 2


def test_an_out_with_extra_keys_is_hashable() -> None:
    out = Out("m.json", "m.json", "metrics", cache=False, extra={"x": "step", "labels": ["a"]})
    assert out in {out}


def test_records_are_frozen() -> None:
    dep = Dep("a", "a")
    with pytest.raises(AttributeError):
        setattr(dep, "path", "b")  # noqa: B010 (the frozen check is the point)
