"""What one version of the project says about its metrics or params: a :class:`Snapshot`,
``{file: {flat.key: value}}``, and :data:`MISSING`, a value absent at one side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WORKSPACE = "workspace"  # the label of the work tree's snapshot

Flat = dict[str, Any]


class _Missing:
    """A value absent at one side of a comparison (shown as ``-``)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass
class Snapshot:
    """What one version says: values per file, and files that could not be read."""

    label: str
    values: dict[str, Flat] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
