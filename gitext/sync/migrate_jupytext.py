"""``git archives migrate --from-jupytext``: the pairings a jupytext user declared become
pairs that ``nb sync``, ``watch``, the hooks and the Jupyter hook keep in step by content.

Our pairing already reads what jupytext's pairing lives in (``jupytext.toml``,
``.jupytext.toml``, ``.jupytext``, ``pyproject.toml [tool.jupytext]``, the notebooks'
``metadata.jupytext.formats`` and the text headers), so nothing needs converting. What is
missing after jupytext is the *record* of the last agreed cells, without which a pair whose
two files differ cannot be told apart from a conflict. The migration finds every pair in the
work tree, says where its formats come from, and syncs it once: pairs that agree are
recorded, a missing side is created, and pairs that differ are listed with the command that
keeps the side jupytext would have kept (the newer file) — never settled silently.

It also names what is not read (``jupytext.py``, YAML/JSON configurations, the user's
``~/.config/jupytext``) and a jupytext hook in ``.pre-commit-config.yaml``. Lower layer:
never prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gitext.codec.shellquote import display, shell_arg
from gitext.errors import UsageError
from gitext.git.repo import Repo
from gitext.notebooks.pairing.formats import (
    CONFIG_FILES,
    Configs,
    discover_pairs,
    notebook_metadata_formats,
    read_or_none,
    relpath,
    text_header_formats,
)
from gitext.notebooks.pairing.sync import NotebookSyncError, sync

# jupytext's configuration files (jupytext.config.JUPYTEXT_CONFIG_FILES) that we never read.
UNREAD_CONFIGS = ("jupytext.yml", "jupytext.yaml", "jupytext.json", "jupytext.py",
                  ".jupytext.yml", ".jupytext.yaml", ".jupytext.json", ".jupytext.py")


@dataclass
class JupytextReport:
    lines: list[str] = field(default_factory=list)
    paired: int = 0
    conflicts: int = 0


def _tracked_or_present(repo: Repo, names: tuple[str, ...]) -> list[str]:
    """Work-tree files with one of ``names`` (tracked anywhere, or present at the top)."""
    specs = [f":(glob)**/{n}" for n in names]
    out = repo.git("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                   *specs).stdout
    found = {p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p}
    return sorted(found)


def _config_lines(repo: Repo, report: JupytextReport) -> None:
    top = repo.root.resolve()
    configs = Configs(top)
    for rel in _tracked_or_present(repo, (*CONFIG_FILES, "pyproject.toml")):
        path = top / rel
        cfg_file, config = configs.for_path(path.parent / "probe.ipynb")
        if cfg_file != path or config is None:
            continue
        formats = config.formats or "(none: notebooks pair only through their metadata)"
        if isinstance(formats, list | tuple):
            formats = ", ".join(str(f) for f in formats)
        report.lines.append(f"read {display(rel)}: formats = {display(str(formats))}")
    for rel in _tracked_or_present(repo, UNREAD_CONFIGS):
        why = ("a configuration that is code is never run" if rel.endswith(".py")
               else "only TOML configurations are read")
        report.lines.append(f"not read: {display(rel)} ({why}): write its settings into "
                            "jupytext.toml (same keys) to keep them")
    home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "jupytext"
    if home.is_dir() and any(home.iterdir()):
        report.lines.append(f"not read: {display(str(home))} (configuration outside the work "
                            "tree, so every contributor pairs the same way): copy what you "
                            "need into jupytext.toml at the top of the work tree")
    hooks = top / ".pre-commit-config.yaml"
    if hooks.is_file() and "mwouts/jupytext" in hooks.read_text(encoding="utf-8", errors="replace"):
        report.lines.append(".pre-commit-config.yaml runs jupytext's hook (mtime-based sync): "
                            "replace it with git-archives' git-archives-nb-sync hook "
                            "(docs/pairing.md)")


def _source_of(notebook: Path, text: Path, config_file: Path | None, top: Path) -> str:
    data = read_or_none(notebook)
    if data is not None and notebook_metadata_formats(data, notebook):
        return "notebook metadata"
    data = read_or_none(text)
    if data is not None and text_header_formats(data, text.suffix):
        return "text header"
    return relpath(config_file, top) if config_file else "configuration"


def migrate(repo: Repo, *, dry_run: bool) -> JupytextReport:
    """Report the configuration, sync (or with ``dry_run`` plan) every pair once."""
    if repo.worktree is None:
        raise UsageError("migrate needs a work tree (this is a bare repository)")
    top = repo.root.resolve()
    report = JupytextReport()
    _config_lines(repo, report)
    pairs = {(p.notebook, p.text): p for p in discover_pairs(top, [top])}
    if not pairs:
        raise UsageError("nothing to migrate: no paired notebook found (no jupytext.formats "
                         "in a notebook's metadata or a text header, no jupytext.toml or "
                         "pyproject.toml [tool.jupytext] with formats)",
                         hint="pair notebooks with 'git archives nb pair --formats "
                              "ipynb,py:percent PATH'")
    try:
        results = sync(top, [top], dry_run=dry_run, explicit_files=False)
    except NotebookSyncError as exc:
        results = exc.results
    verb = "would " if dry_run else ""
    recorded = "would be recorded" if dry_run else "recorded"
    for res in results:
        pair = pairs.get((res.notebook, res.text))
        where = _source_of(res.notebook, res.text, pair.config_file if pair else None, top)
        nb, text = relpath(res.notebook, top), relpath(res.text, top)
        head = f"paired {display(nb)} <-> {display(text)} ({where})"
        if res.action == "conflict":
            report.conflicts += 1
            report.lines.append(f"{head}: the two files differ; nothing written. "
                                + _prefer_hint(res.notebook, res.text, nb))
            continue
        report.paired += 1
        wrote = ", ".join(display(relpath(w, top)) for w in res.written)
        done = f"{verb}write {wrote}" if wrote else f"in sync, {recorded}"
        report.lines.append(f"{head}: {res.action}, {done}")
    report.lines.append(f"{report.paired} pair(s) {recorded}"
                        + (f", {report.conflicts} to settle (above)" if report.conflicts
                           else "")
                        + "; from now on 'git archives nb sync' (or watch, the pre-commit "
                          "hook, the Jupyter hook) keeps them in step by content")
    return report


def _prefer_hint(notebook: Path, text: Path, nb_rel: str) -> str:
    try:
        newer = "text" if text.stat().st_mtime > notebook.stat().st_mtime else "notebook"
    except OSError:
        newer = "notebook"
    return (f"jupytext would keep the newer file ({newer}): git archives nb sync --prefer "
            f"{newer} -- {shell_arg(nb_rel)}  (or --prefer "
            f"{'notebook' if newer == 'text' else 'text'}, or make them agree by hand)")
