"""Content-defined chunk storage of large files (docs/storage.md): format, packs, recipes.

Importing this package is cheap; its modules load the native libraries."""

from __future__ import annotations

from gitext.config import parse_size

DEFAULT_THRESHOLD = 1 << 20
THRESHOLD_KEY = "chunking.threshold"  # archives.chunking.threshold
OFF_WORDS = ("0", "off", "false", "no")


def parse_threshold(raw: str | None, *, where: str) -> int | None:
    """Files at least this large are chunked; None: chunking is off."""
    if raw is None:
        return DEFAULT_THRESHOLD
    if raw.strip().lower() in OFF_WORDS:
        return None
    return max(1, parse_size(raw, where=where))
