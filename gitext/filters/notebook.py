"""The notebook filter (``filter=archives-nb``): clean strips outputs and volatile metadata.

Smudge passes content through unchanged (the committed notebook is already stripped); it
must still be advertised, because with ``filter.archives-nb.required`` git treats a
missing capability as a failed filter.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gitext.config import Config
from gitext.filters.process import ContentSink, warn


class NotebookDriver:
    capabilities = ("clean", "smudge")

    def __init__(self, root: Path) -> None:
        from gitext.notebooks.strip import options_from_config

        self.root = root
        # Read once per process: the options apply to every notebook of this git command.
        self.options: Any = options_from_config(Config.load(root))

    def clean(self, path: str, content: Iterator[bytes], out: ContentSink) -> None:
        from gitext.notebooks.strip import clean_notebook

        stripped, warning = clean_notebook(b"".join(content), name=path, opts=self.options)
        if warning:
            warn(warning)
        out.write(stripped)

    def smudge(self, path: str, content: Iterator[bytes], out: ContentSink,
               *, can_delay: bool) -> bool:
        for pkt in content:
            out.write(pkt)
        return False

    def list_available(self) -> list[str]:
        return []

    def close(self) -> None:
        return None
