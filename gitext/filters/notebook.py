"""The notebook filter (``filter=archives-nb``): clean strips outputs and volatile metadata.

Smudge passes content through unchanged (the committed notebook is already stripped); it
must still be advertised, because with ``filter.archives-nb.required`` git treats a
missing capability as a failed filter.

A file that is not a notebook (``*.txt filter=archives-nb`` in someone's
``.gitattributes``) passes through unchanged with one warning: an error here would make
every ``git status`` fatal. A file *named* like a notebook that does not parse still
follows ``nb.on-error`` (an error by default, so a broken notebook is not committed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gitext.codec.shellquote import display
from gitext.config import PROJECT_CONFIG, Config
from gitext.errors import ArchivesError, NotebookError
from gitext.filters.protocol import ContentSink
from gitext.log import note

NOTEBOOK_SUFFIXES = (".ipynb", ".zpln")


class NotebookDriver:
    capabilities = ("clean", "smudge")

    def __init__(self, root: Path) -> None:
        from gitext.notebooks.strip_options import StripOptions, options_from_config

        self.root = root
        # Read once per process: the options apply to every notebook of this git command.
        try:
            self.options: Any = options_from_config(Config.load(root))
        except ArchivesError as exc:
            # Unknown options: the defaults strip the most, and only what nbstripout strips.
            where = "" if PROJECT_CONFIG.as_posix() in exc.message else f"{PROJECT_CONFIG}: "
            note(f"{where}{exc.message} ({exc.hint or 'fix it'}); notebooks are stripped "
                 "with the default options until it is readable")
            self.options = StripOptions()

    def clean(self, path: str, content: Iterator[bytes], out: ContentSink) -> None:
        from gitext.notebooks.strip import clean_notebook

        data = b"".join(content)
        try:
            stripped, warning = clean_notebook(data, name=path, opts=self.options)
        except NotebookError as exc:
            if path.lower().endswith(NOTEBOOK_SUFFIXES):
                raise
            why = exc.message.removeprefix(f"{path}: ")
            note(f"{display(path)} is not a notebook ({why}); stored unchanged "
                 "(its filter=archives-nb attribute in .gitattributes is probably a mistake)")
            out.write(data)
            return
        if warning:
            note(warning)
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
