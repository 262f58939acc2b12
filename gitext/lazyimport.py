"""Importing a module ahead of need, on a thread, while this one waits on git or a server."""

from __future__ import annotations

import contextlib
import importlib
import threading


def preload(*modules: str) -> None:
    """Import ``modules``, in order, on a daemon thread, so that their import overlaps the
    caller's waits (git commands, a network round trip) instead of following them. A
    failure is left for the import that needs the module to raise."""
    def load() -> None:
        for module in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(module)

    threading.Thread(target=load, name="preload", daemon=True).start()
