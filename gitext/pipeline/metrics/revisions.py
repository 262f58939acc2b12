"""Which revisions ``--all-branches``/``--all-tags``/``--all-commits`` and named revisions
select, for showing metrics and params across history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitext.git.repo import Repo


@dataclass(frozen=True)
class Revision:
    """One column of a multi-revision report: a commit and the names that point at it."""

    label: str  # "main", "main, v1.0", or a short commit id
    commit: str  # full commit id


def _refs(repo: Repo, namespace: str) -> list[tuple[str, str]]:
    """(short name, commit) of every ref under ``namespace`` whose target peels to a
    commit, sorted by name."""
    fmt = "%(refname)%00%(objecttype)%00%(objectname)%00%(*objecttype)%00%(*objectname)"
    text = repo.git_text("for-each-ref", f"--format={fmt}", namespace)
    found = []
    for line in text.splitlines():
        parts = line.split("\0")
        if len(parts) != 5:
            continue
        ref, typ, obj, peeled_typ, peeled = parts
        commit = peeled if peeled_typ == "commit" else obj if typ == "commit" else None
        if commit is not None:
            found.append((ref.removeprefix(namespace + "/"), commit))
    return sorted(found)


def list_revisions(repo: Repo, *, all_branches: bool = False, all_tags: bool = False,
                   all_commits: bool = False) -> list[Revision]:
    """The commits DVC's ``-a`` (every branch), ``-T`` (every tag) and ``-A`` (every commit
    reachable from a branch, a tag or HEAD) name, as revisions in that order: branches and
    tags sorted by name, commits newest first. A commit named several times is listed once,
    labelled with all its names (``main, v1.0``); an unnamed commit by its short id."""
    names: dict[str, list[str]] = {}
    if all_branches:
        for name, commit in _refs(repo, "refs/heads"):
            names.setdefault(commit, []).append(name)
    if all_tags:
        for name, commit in _refs(repo, "refs/tags"):
            names.setdefault(commit, []).append(name)
    if all_commits:
        args = ["rev-list", "--branches", "--tags"]
        head = repo.git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
        if head.returncode == 0:
            args.append("HEAD")
        for commit in repo.git_text(*args).split():
            names.setdefault(commit, [])
    return [Revision(", ".join(found) if found else commit[:7], commit)
            for commit, found in names.items()]

