"""git-archives: large files, notebooks and pipelines versioned with plain git."""

from __future__ import annotations

__version__ = "0.1.0"
