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
from gitext.config import PROJECT_CONFIG
from gitext.errors import ArchivesError, NotebookError
from gitext.filters.protocol import ContentSink
from gitext.log import note, warn

NOTEBOOK_SUFFIXES = (".ipynb", ".zpln")


def _load_options(root: Path) -> Any:
    """The configured strip options. A value that cannot be honoured is one warning naming
    its file and key, and the other options still apply; a config that cannot be read at
    all strips with the defaults (they strip the most, and only what nbstripout strips)."""
    from gitext.notebooks.strip_options import StripOptions, configured_options

    try:
        options, problems = configured_options(root)
    except ArchivesError as exc:
        where = "" if PROJECT_CONFIG.as_posix() in exc.message else f"{PROJECT_CONFIG}: "
        note(f"{where}{exc.message} ({exc.hint or 'fix it'}); notebooks are stripped "
             "with the default options until it is readable")
    except Exception as exc:  # noqa: BLE001 - git must get a filter, not a dead process
        note(f"notebook options could not be read ({exc.__class__.__name__}: {exc}); "
             "notebooks are stripped with the default options")
    else:
        for line in problems:
            warn(line)
        return options
    return StripOptions()


class NotebookDriver:
    capabilities = ("clean", "smudge")

    def __init__(self, root: Path) -> None:
        self.root = root
        # Read once per process: the options apply to every notebook of this git command.
        self.options: Any = _load_options(root)
        self._kept: Any = None  # a kept.Keeper, started with the first outputs stripped
        self._blob_width = 40
        self._warned = False

    def _keep(self, path: str, stripped: bytes, data: bytes) -> None:
        """Keep the outputs the strip removed (gitext.notebooks.kept): a failure is one
        warning, and keeping stops for this git command."""
        from gitext.notebooks import kept

        try:
            if self._kept is None:
                self._kept = self._open_store()
            if self._kept:
                self._kept.submit(path, kept.blob_id(stripped, self._blob_width), data)
                if self._kept.error is not None:
                    raise self._kept.error
        except (OSError, ArchivesError) as exc:
            self._not_kept(exc, f"outputs of {display(path)}")
            self._kept = False

    def _not_kept(self, exc: Exception, what: str) -> None:
        if not self._warned:
            warn(f"{what} not kept aside ({exc}); 'git archives nb restore-outputs' will not "
                 "have them")
            self._warned = True

    def _open_store(self) -> Any:
        from gitext.config import Config
        from gitext.errors import ConfigError
        from gitext.git.repo import Repo
        from gitext.notebooks import kept

        repo = Repo.for_hook()  # git starts filters in the top folder of the work tree
        limit = kept.DEFAULT_LIMIT
        try:
            cfg = Config.load(self.root)
        except ArchivesError:
            cfg = None  # unreadable: said once already, with the options
        try:
            limit = kept.limit_from_config(cfg) if cfg is not None else limit
        except ConfigError as exc:
            warn(f"{exc.message}; keeping at most {limit // 10**6} MB of outputs")
        if limit <= 0:
            return False
        fmt = repo.git("rev-parse", "--show-object-format", check=False).stdout.strip()
        self._blob_width = 64 if fmt == b"sha256" else 40
        return kept.Keeper(kept.OutputStore(repo.common_dir / "archives" / kept.FOLDER, limit))

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
        if stripped != data and self._kept is not False:
            self._keep(path, stripped, data)

    def smudge(self, path: str, content: Iterator[bytes], out: ContentSink,
               *, can_delay: bool) -> bool:
        for pkt in content:
            out.write(pkt)
        return False

    def list_available(self) -> list[str]:
        return []

    def close(self) -> None:
        if self._kept:
            error = self._kept.close()
            if error is not None:
                self._not_kept(error, "some notebook outputs")
