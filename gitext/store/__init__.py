"""Content-addressed object stores (the local cache; remotes use the same layout)."""

from __future__ import annotations

from gitext.store.objects import LocalStore

__all__ = ["LocalStore"]
