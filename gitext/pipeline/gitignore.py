"""Keeping pipeline outputs out of git: ``/name`` in the ``.gitignore`` beside each cached
output, as DVC writes it (written through the work tree, :class:`WorkTree`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitext.fs.worktree import WorkTree


def ensure_gitignored(wt: WorkTree, repo_paths: Sequence[str]) -> None:
    """Add ``/name`` to the ``.gitignore`` beside each path not yet ignored, as DVC does."""
    # The usual case, a path whose own line is already there (a stage run before), costs
    # a read of that .gitignore and no git process.
    root = wt.root
    todo: list[tuple[str, Path, str, str]] = []  # (repo path, .gitignore, entry, its text)
    for repo_path in repo_paths:
        target = root / repo_path
        gitignore = target.parent / ".gitignore"
        entry = "/" + _escape_gitignore(target.name)
        try:
            text = gitignore.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        if entry + "\n" not in text.splitlines(keepends=True):
            todo.append((repo_path, gitignore, entry, text))
    if not todo:
        return
    from gitext.git.repo import run_git

    proc = run_git(
        ["check-ignore", "--no-index", "--stdin", "-z"], cwd=root,
        input_bytes=b"".join(t[0].encode() + b"\0" for t in todo), check=False)
    ignored = {p.decode() for p in proc.stdout.split(b"\0") if p}
    for repo_path, gitignore, entry, _text in todo:
        if repo_path in ignored:
            continue
        try:  # read again: an earlier path of this loop may have added to the same file
            text = gitignore.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        if entry + "\n" in text.splitlines(keepends=True):
            continue
        prefix = "" if not text or text.endswith("\n") else "\n"
        wt.write_bytes(gitignore.relative_to(root).as_posix(),
                       (text + prefix + entry + "\n").encode("utf-8"))


def _escape_gitignore(name: str) -> str:
    out = "".join("\\" + c if c in "[]!*#?" else c for c in name)
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out


def gitignore_entry(repo_path: str) -> tuple[str, str]:
    """(repository path of the ``.gitignore``, its line) DVC writes for an output."""
    folder, _, name = repo_path.rpartition("/")
    return (f"{folder}/.gitignore" if folder else ".gitignore"), "/" + _escape_gitignore(name)


def remove_gitignored(wt: WorkTree, repo_paths: Sequence[str]) -> list[tuple[str, str]]:
    """Remove the line DVC wrote for each path from the ``.gitignore`` beside it (the file
    goes when nothing else is left in it, as ``dvc remove`` does). Returns (``.gitignore``,
    line) of each line removed."""
    removed: list[tuple[str, str]] = []
    for repo_path in repo_paths:
        rel, entry = gitignore_entry(repo_path)
        try:
            text = wt.path(rel).read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        lines = text.splitlines(keepends=True)
        kept = [line for line in lines if line.rstrip("\r\n") != entry]
        if len(kept) == len(lines):
            continue
        removed.append((rel, entry))
        if any(line.strip() for line in kept):
            wt.write_bytes(rel, "".join(kept).encode("utf-8"))
        else:
            wt.remove(rel)
    return removed
