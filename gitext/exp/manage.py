"""Acting on experiments: apply one to the work tree, make a branch of it, remove
experiments, and collect those whose baseline is gone.

Nothing here deletes a cached object: an experiment's data stays in the local cache until
``git archives gc`` finds nothing that references it (refs under ``refs/exps`` and
``refs/archives/exps`` count as references there).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gitext.errors import ArchivesError, UsageError
from gitext.exp.listing import Experiment

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from gitext.fs.worktree import WorkTree
    from gitext.git.repo import Repo


@dataclass(frozen=True)
class Change:
    status: str  # A (added), M (modified), D (deleted), T (type changed)
    path: str
    mode: str = ""  # the experiment's mode ('' when deleted)
    blob: str = ""


@dataclass
class ApplyReport:
    changes: list[Change] = field(default_factory=list)
    left_as_pointers: list[str] = field(default_factory=list)  # objects not in the cache
    outputs_restored: int = 0
    outputs_missing: list[str] = field(default_factory=list)


def changed_files(repo: Repo, exp: Experiment) -> list[Change]:
    """What the experiment changed against its baseline (one ``git diff-tree``)."""
    out = repo.git("diff-tree", "-r", "-z", "--no-renames", exp.baseline, exp.commit).stdout
    fields = out.split(b"\0")
    changes = []
    i = 0
    while i + 1 < len(fields):
        meta = fields[i].decode()
        path = fields[i + 1].decode("utf-8", "surrogateescape")
        i += 2
        if not meta.startswith(":"):
            continue
        _old_mode, new_mode, _old, new_blob, status = meta[1:].split(" ")
        if status == "D":
            changes.append(Change("D", path))
        else:
            changes.append(Change(status[0], path, new_mode, new_blob))
    return changes


def _literal(paths: Sequence[str]) -> list[str]:
    return [f":(literal){p}" for p in paths]


def local_edits(repo: Repo, paths: Sequence[str]) -> list[str]:
    """Of ``paths``, those with staged or unstaged changes, or untracked files in the way."""
    if not paths:
        return []
    out = repo.git("status", "--porcelain=v1", "-z", "--untracked-files=all",
                   "--no-renames", "--", *_literal(paths)).stdout
    return sorted(rec[3:].decode("utf-8", "surrogateescape")
                  for rec in out.split(b"\0") if len(rec) > 3)


def apply_experiment(repo: Repo, exp: Experiment, *, force: bool = False) -> ApplyReport:
    """Write the files ``exp`` changed into the work tree and stage them, so that ``git
    commit`` records the experiment. HEAD does not move. Refused, with nothing changed,
    when any of those files has uncommitted changes (unless ``force``)."""
    from gitext.codec.shellquote import display

    report = ApplyReport(changed_files(repo, exp))
    paths = [c.path for c in report.changes]
    edited = local_edits(repo, paths)
    if edited and not force:
        shown = " ".join(display(p) for p in edited[:5]) + (" …" if len(edited) > 5 else "")
        raise UsageError(f"exp apply: uncommitted changes to {shown} would be overwritten",
                         hint="commit or stash them first, or pass --force to overwrite them")
    _write_changes(repo, report.changes)
    _stage(repo, report.changes)
    _fill(repo, report)
    repo.git("update-index", "-q", "--refresh", check=False)  # stat data of what was written
    return report


def _check_paths(wt: WorkTree, changes: Sequence[Change]) -> None:
    """Refuse, before anything is written, what the work tree must not take: a symbolic
    link, a path into ``.git`` or out of the clone, a folder on the way that is a symlink."""
    from gitext.fs.worktree import split_repo_path

    for change in changes:
        split_repo_path(change.path, where="exp apply")
        if change.mode == "120000":
            raise ArchivesError(f"exp apply: {change.path} is a symbolic link in the "
                                "experiment; nothing was written",
                                hint="check it out with 'git checkout EXP -- PATH'")
        wt.lstat(change.path)  # a symlink among its folders raises UnsafePathError


def _write_changes(repo: Repo, changes: Sequence[Change]) -> None:
    from gitext.fs.worktree import WorkTree

    wanted = [c.blob for c in changes if c.blob and c.mode != "160000"]
    with WorkTree(repo.root) as wt:
        _check_paths(wt, changes)
        blobs = dict(repo.cat_blobs(wanted))
        for change in changes:
            if change.status == "D":
                gone = wt.lstat(change.path)
                if gone is not None and not stat.S_ISDIR(gone.st_mode):
                    wt.remove(change.path)  # a folder there now is not the file it deletes
                continue
            if change.mode == "160000":  # a submodule: git's to update
                continue
            mode = 0o777 if change.mode == "100755" else 0o666
            st = wt.lstat(change.path)
            if st is not None and stat.S_ISDIR(st.st_mode):
                wt.remove(change.path)
            wt.write(change.path, _writer(blobs.get(change.blob, b"")), mode=mode)


def _writer(data: bytes) -> Callable[[int], None]:
    from gitext.fs.atomic import write_all

    def fill(fd: int) -> None:
        write_all(fd, data)

    return fill


def _stage(repo: Repo, changes: Sequence[Change]) -> None:
    """Record the experiment's blobs in the index (no clean filter runs: the blobs are the
    experiment's own)."""
    lines = []
    for change in changes:
        if change.status == "D":
            lines.append(f"0 {'0' * 40}\t{change.path}\n")
        else:
            lines.append(f"{change.mode} {change.blob}\t{change.path}\n")
    if lines:
        repo.git("update-index", "--index-info", input_bytes="".join(lines).encode(
            "utf-8", "surrogateescape"))


def _fill(repo: Repo, report: ApplyReport) -> None:
    """Pointer files become their content (from the cache), as a checkout leaves them; a
    changed ``dvc.lock`` puts its outputs in place."""
    from gitext.store.dvccache import open_store
    from gitext.sync.fill import fill_in_place

    written = [c.path for c in report.changes if c.status != "D"]
    if written:
        result = fill_in_place(repo, open_store(repo), written)
        report.left_as_pointers = sorted(result.missing)
    if any(c.path.rsplit("/", 1)[-1] == "dvc.lock" for c in report.changes):
        from gitext.pipeline.checkout import checkout_outputs

        done = checkout_outputs(repo.root, archives_dir=repo.archives_dir)
        report.outputs_restored = len(done.restored)
        report.outputs_missing = sorted(done.missing)


def branch_experiment(repo: Repo, exp: Experiment, branch: str) -> None:
    """``git branch BRANCH <experiment's commit>``; an existing branch is refused."""
    from gitext.codec.shellquote import shell_arg

    valid = repo.git("check-ref-format", "--branch", branch, check=False)
    if valid.returncode != 0:
        raise UsageError(f"exp branch: '{branch}' is not a valid branch name",
                         hint="see 'git help check-ref-format'")
    if repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}",
                check=False).returncode == 0:
        raise UsageError(f"exp branch: branch '{branch}' already exists",
                         hint=f"pick another name, or 'git branch -D {shell_arg(branch)}' first")
    repo.git("branch", "--", branch, exp.commit)


def delete_refs(repo: Repo, experiments: Sequence[Experiment]) -> None:
    """Delete the experiments' refs in one ``git update-ref --stdin`` transaction (each
    only if it still points where it did)."""
    if not experiments:
        return
    request = "".join(f"delete {e.ref} {e.commit}\n" for e in experiments)
    repo.git("update-ref", "--stdin", input_bytes=request.encode("utf-8", "surrogateescape"))


@dataclass(frozen=True)
class GcScope:
    """Which baselines keep their experiments: by default every commit reachable from a
    branch, a tag or HEAD; with any of these set, only HEAD (``workspace``), plus the tips of
    all branches / all tags."""

    workspace: bool = False
    all_branches: bool = False
    all_tags: bool = False

    @property
    def narrowed(self) -> bool:
        return self.workspace or self.all_branches or self.all_tags


def _kept_baselines(repo: Repo, scope: GcScope) -> set[str]:
    head = repo.git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    kept = {head.stdout.decode().strip()} if head.returncode == 0 else set()
    if not scope.narrowed:
        args = ["rev-list", "--branches", "--tags", *(["HEAD"] if kept else [])]
        out = repo.git(*args, check=False).stdout.decode()
        return kept | set(out.split())
    kinds = [k for k, on in (("refs/heads", scope.all_branches),
                             ("refs/tags", scope.all_tags)) if on]
    if kinds:
        fmt = "%(objectname) %(*objectname)"
        for line in repo.git_text("for-each-ref", f"--format={fmt}", *kinds).splitlines():
            kept.update(line.split())
    return kept


def gc_candidates(repo: Repo, experiments: Sequence[Experiment],
                  scope: GcScope) -> list[Experiment]:
    """The experiments whose baseline ``scope`` no longer keeps."""
    kept = _kept_baselines(repo, scope)
    return [e for e in experiments if e.baseline not in kept]
