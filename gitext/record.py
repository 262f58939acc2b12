"""Plain records: equality and repr over a class's named fields, as a dataclass gives them.

Modules that every hook and every ``git push`` imports define their small records on this
base rather than with :mod:`dataclasses`: importing ``dataclasses`` (it brings ``inspect``,
``ast``, ``dis``, ``tokenize``) and generating each class's methods with ``exec`` cost the
pre-push hook about 20-30 ms (design note "Start-up without dataclasses"). Each record
writes its own ``__init__``; this gives ``==`` (same class, equal fields; records are then
unhashable, as a non-frozen dataclass is) and a readable ``repr``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Record:
    """Subclasses name their fields in ``_fields`` (in ``__init__``'s order)."""

    _fields: ClassVar[tuple[str, ...]] = ()
    __hash__ = None  # type: ignore[assignment]

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)  # noqa: S101 - narrowed for the type checker
        return self._values() == other._values()

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{self.__class__.__name__}({inner})"
