"""Data remotes: the object-store layout on a directory (:mod:`.local`) or S3 (:mod:`.s3`),
behind the :class:`~gitext.remotes.base.Backend` protocol. See ``docs/remotes.md``."""

from __future__ import annotations

from gitext.remotes.base import Backend, Remote, open_remote, register_backend

__all__ = ["Backend", "Remote", "open_remote", "register_backend"]
