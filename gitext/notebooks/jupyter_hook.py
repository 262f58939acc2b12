"""A Jupyter server post-save hook: pairing without ``watch``, and no phantom changes.

On each save of a notebook or a text file with a jupytext extension it runs ``git archives
nb sync --hook`` on it (the content-based pair sync of :mod:`gitext.notebooks.pairing`;
a text file counts only when its jupytext header declares the pairing), then for a notebook
``git archives nb refresh``, so plain ``git status`` does not call a notebook modified when a
run changed only its outputs (see :mod:`gitext.notebooks.refresh`). A refused sync is
logged through the contents manager's log (Jupyter's console).

The hook is a marked block appended to the user's ``jupyter_server_config.py`` (Jupyter
Server, which JupyterLab and Notebook 7 run on). It keeps a ``post_save_hook`` that was
configured before it (called first), runs in a background thread so a save never waits for
it, and is removed exactly by ``--uninstall``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gitext.errors import ArchivesError
from gitext.fs.atomic import atomic_write
from gitext.notebooks.pairing.formats import TEXT_EXTENSIONS

BEGIN = "# >>> git-archives post-save hook >>>"
END = "# <<< git-archives post-save hook <<<"
CONFIG_NAME = "jupyter_server_config.py"

_BLOCK = '''{begin}
# Added by 'git archives nb jupyter-hook'; 'git archives nb jupyter-hook --uninstall'
# removes it. After each save, in the background: a paired notebook or text file is
# synced with its other side by content ('git archives nb sync'), and a notebook whose
# outputs alone changed is re-registered so 'git status' does not call it modified.
def _git_archives_post_save(model, os_path, contents_manager,
                            _previous=c.FileContentsManager.get("post_save_hook"),
                            **kwargs):
    import os
    import shutil
    import subprocess
    import threading

    if _previous is not None:
        if isinstance(_previous, str):
            from traitlets.utils.importstring import import_item

            _previous = import_item(_previous)
        _previous(model=model, os_path=os_path, contents_manager=contents_manager,
                  **kwargs)
    path = str(os_path)
    notebook = path.endswith(".ipynb")
    if not notebook and os.path.splitext(path)[1] not in {text!r}:
        return
    exe = shutil.which("git-archives") or {fallback!r}
    if not os.path.exists(exe):
        return
    runs = [[exe, "nb", "sync", "--hook", "--", path]]
    if notebook:
        runs.append([exe, "nb", "refresh", "--quiet", "--", path])
    log = getattr(contents_manager, "log", None)

    def _run():
        for argv in runs:
            try:
                done = subprocess.run(argv, cwd=os.path.dirname(path) or ".",
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, timeout=300, check=False)
            except (OSError, subprocess.SubprocessError):
                return
            said = done.stderr.decode("utf-8", "replace").strip()
            # A refused sync (both sides edited the same cell) is for the user to settle.
            if done.returncode not in (0, 2) and said and log is not None:
                log.warning("git-archives: %s", said)

    threading.Thread(target=_run, name="git-archives-post-save", daemon=True).start()


c.FileContentsManager.post_save_hook = _git_archives_post_save
{end}
'''


@dataclass
class HookReport:
    path: Path
    changed: bool


def config_path() -> Path:
    """The user's Jupyter config folder (``$JUPYTER_CONFIG_DIR`` or ``~/.jupyter``)."""
    env = os.environ.get("JUPYTER_CONFIG_DIR")
    return (Path(env) if env else Path.home() / ".jupyter") / CONFIG_NAME


# The text files a save of which syncs a pair (jupytext's text notebook extensions).
HOOK_TEXT_EXTENSIONS = tuple(sorted(TEXT_EXTENSIONS))


def render_block(fallback: str) -> str:
    return _BLOCK.format(begin=BEGIN, end=END, fallback=fallback, text=HOOK_TEXT_EXTENSIONS)


def _without_block(text: str, path: Path) -> str:
    start = text.find(BEGIN)
    if start < 0:
        return text
    stop = text.find(END, start)
    if stop < 0:
        raise ArchivesError(f"{path}: the git-archives block has no end marker '{END}'",
                            hint="fix or remove the block by hand, then run this again")
    stop += len(END)
    if text[stop:stop + 1] == "\n":
        stop += 1
    head = text[:start]
    if head.endswith("\n\n"):
        head = head[:-1]
    return head + text[stop:]


def install(fallback: str, path: Path | None = None) -> HookReport:
    target = path or config_path()
    try:
        old = target.read_text(encoding="utf-8") if target.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ArchivesError(f"{target}: cannot read it ({exc})",
                            hint="fix the file's permissions or encoding") from None
    base = _without_block(old, target)
    sep = "" if not base or base.endswith("\n\n") else ("\n" if base.endswith("\n") else "\n\n")
    new = base + sep + render_block(fallback)
    if new == old:
        return HookReport(target, False)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, new.encode("utf-8"))
    return HookReport(target, True)


def uninstall(path: Path | None = None) -> HookReport:
    target = path or config_path()
    if not target.exists():
        return HookReport(target, False)
    old = target.read_text(encoding="utf-8")
    new = _without_block(old, target)
    if new == old:
        return HookReport(target, False)
    atomic_write(target, new.encode("utf-8"))
    return HookReport(target, True)
