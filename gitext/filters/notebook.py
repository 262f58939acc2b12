"""The notebook filter (``filter=archives-nb``): clean strips outputs and volatile metadata.

Only ``clean`` is advertised: the working copy keeps its outputs, and checkout writes the
committed (stripped) notebook as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gitext.config import Config
from gitext.filters.process import ContentSink, warn


class NotebookDriver:
    capabilities = ("clean",)

    def __init__(self, root: Path) -> None:
        from gitext.notebooks.strip import options_from_config

        self.root = root
        self.config = Config.load(root)
        self.options: Any = options_from_config(self.config)
        self.passthrough_on_error = (self.config.get("nb.on-error") or "error") == "passthrough"

    def clean(self, path: str, content: Iterator[bytes], out: ContentSink) -> None:
        from gitext.errors import NotebookError
        from gitext.notebooks.strip import strip_bytes

        data = b"".join(content)
        try:
            out.write(strip_bytes(data, name=path, opts=self.options))
        except NotebookError as exc:
            if not self.passthrough_on_error:
                raise
            warn(f"{path}: {exc.message}; committed unchanged (nb.on-error = passthrough)")
            out.write(data)

    def smudge(self, path: str, content: Iterator[bytes], out: ContentSink,
               *, can_delay: bool) -> bool:
        for pkt in content:
            out.write(pkt)
        return False

    def list_available(self) -> list[str]:
        return []

    def close(self) -> None:
        return None
