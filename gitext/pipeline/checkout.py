"""Put pipeline outputs back as ``dvc.lock`` records them, and the data of ``.dvc`` files as
they record it (the post-checkout/post-merge hooks, ``pull`` and ``git archives checkout``).

Every ``cache: true`` output named in a lock or a ``.dvc`` file is placed from the local
store: a hard link to the read-only cached object where the filesystem allows, a verified copy
otherwise. An output already in place costs a stat (the stat cache knows its id). A file whose
content differs from the lock's *and* is not in the cache either is the user's work: it is
reported, never overwritten, unless ``force``. Nothing here runs a pipeline command
(DESIGN.md, "Trust").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gitext.codec.hashing import ObjectId
from gitext.errors import ArchivesError
from gitext.fs.worktree import UnsafePathError, WorkTree
from gitext.git.repo import run_git
from gitext.pipeline.dvchash.md5 import MD5
from gitext.pipeline.dvchash.tree import Hasher
from gitext.pipeline.model import Pipeline
from gitext.store import manifests
from gitext.store.dvccache import store_for
from gitext.store.objects import LocalStore
from gitext.store.state import StateCache


class CheckoutReport:
    # A plain class: a dataclass costs ~1 ms of import in every post-checkout hook.
    __slots__ = ("conflicts", "missing", "refused", "restored", "skipped", "unchanged")

    def __init__(self) -> None:
        self.restored: list[str] = []  # repo paths placed or repaired
        self.unchanged: list[str] = []  # already as recorded
        self.conflicts: list[tuple[str, str]] = []  # (path, why kept)
        self.missing: list[str] = []  # recorded but not in the cache
        self.skipped: list[tuple[str, str]] = []  # (path, why)
        self.refused: list[tuple[str, str]] = []  # (path, why): behind a symlink, into .git

    def __repr__(self) -> str:
        return f"CheckoutReport({self.to_dict()!r})"

    @property
    def ok(self) -> bool:
        return not self.conflicts and not self.missing and not self.refused

    def to_dict(self) -> dict[str, Any]:
        return {
            "restored": self.restored, "unchanged": self.unchanged,
            "conflicts": [{"path": p, "reason": r} for p, r in self.conflicts],
            "missing": self.missing,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "refused": [{"path": p, "reason": r} for p, r in self.refused],
        }


def _nested_locks(root: Path) -> bool:
    proc = run_git(
        ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
         ":(glob)**/dvc.lock"],
        cwd=root, check=False)
    return bool(proc.stdout.strip(b"\0"))


def checkout_outputs(root: Path, *, force: bool = False, archives_dir: Path | None = None,
                     pipelines: list[Pipeline] | None = None,
                     dvc_files: list[str] | None = None) -> CheckoutReport:
    """Place every cached output of every ``dvc.lock`` and every ``.dvc`` file under
    ``root`` as recorded. ``dvc_files``: the ``.dvc`` files to place (default: all in the
    work tree, one git call)."""
    report = CheckoutReport()
    if pipelines is None:
        pipelines = []
        # The common case costs one stat; a lock elsewhere costs one git call.
        if (root / "dvc.lock").is_file() or _nested_locks(root):
            from gitext.pipeline.dvcyaml.loader import load_all_pipelines

            pipelines = load_all_pipelines(root)
    if dvc_files is None:
        from gitext.pipeline.dvcdata import list_dvcfiles

        dvc_files = list_dvcfiles(root)
    if not pipelines and not dvc_files:
        return report
    if archives_dir is None:
        from gitext.git.repo import Repo

        archives_dir = Repo.discover(root).archives_dir
    state = StateCache(archives_dir / "state.db")
    store = store_for(root, archives_dir, state=state)
    hasher = Hasher(state, root)
    wt = WorkTree(root)
    try:
        for pipeline in pipelines:
            _checkout_pipeline(pipeline, store, hasher, wt, force=force, report=report)
        if dvc_files:
            _checkout_dvcfiles(root, dvc_files, store, hasher, wt, force=force, report=report)
    finally:
        wt.close()
        state.close()
    return report


def _checkout_dvcfiles(root: Path, files: list[str], store: LocalStore, hasher: Hasher,
                       wt: WorkTree, *, force: bool, report: CheckoutReport) -> None:
    """The outputs of ``.dvc`` files, as ``dvc checkout`` places them (imports included:
    their recorded content, never a new import)."""
    from gitext.pipeline.dvcdata import load_dvcfiles

    parsed, errors = load_dvcfiles(root, files)
    for file, message in errors:  # DVC would not read it either: nothing of it is placed
        report.refused.append((file, message))
    for dvc_file in parsed:
        for out in dvc_file.outs:
            if out.md5 is None or not out.cache:
                continue
            if out.legacy:
                report.skipped.append((out.path, f"recorded by DVC 2 in {dvc_file.file}: "
                                                 "'dvc add' it again with DVC 3"))
                continue
            _checkout_guarded(wt, out.path, out.md5, store, hasher, force=force,
                              report=report, where=f"{dvc_file.file} output '{out.path}'")


def _checkout_pipeline(pipeline: Pipeline, store: LocalStore, hasher: Hasher, wt: WorkTree, *,
                       force: bool, report: CheckoutReport) -> None:
    from gitext.pipeline.lockfile import read_lock

    if not pipeline.lock_file.is_file():
        return
    lock = read_lock(pipeline.lock_file)
    for stage in pipeline.stages.values():
        entry = lock.stages.get(stage.name)
        if entry is None:
            continue
        recorded = {f.path: f for f in entry.outs}
        for out in stage.outs:
            rec = recorded.get(out.path)
            if not out.cache or rec is None or rec.md5 is None:
                continue
            if rec.legacy:
                report.skipped.append((out.repo_path, "recorded by DVC 2 (md5-dos2unix): run "
                                                      "'git archives repro' to re-record it"))
                continue
            _checkout_guarded(wt, out.repo_path, rec.md5, store, hasher, force=force,
                              report=report, where=f"dvc.lock output '{out.repo_path}'")


def _checkout_guarded(wt: WorkTree, repo_path: str, md5: str, store: LocalStore,
                      hasher: Hasher, *, force: bool, report: CheckoutReport,
                      where: str) -> None:
    try:
        _checkout_one(wt, repo_path, md5, store, hasher, force=force, report=report,
                      where=where)
    except UnsafePathError as exc:
        report.refused.append((repo_path, exc.message))
    except ArchivesError as exc:
        report.skipped.append((repo_path, exc.message))
    except OSError as exc:
        report.skipped.append((repo_path, f"cannot write: {exc.strerror or exc}"))


def _user_files(dest: Path, md5: str, store: LocalStore, hasher: Hasher) -> list[str]:
    """Files at ``dest`` whose content is neither what the lock records nor in the cache."""
    if manifests.is_manifest_id(md5):
        wanted = {e.relpath: e.md5 for e in manifests.read_manifest(store, md5)}
        if not dest.is_dir():
            return _user_files_single(dest, None, store, hasher)
        return [f"{dest.name}/{e.relpath}" for e in hasher.directory(dest)[1]
                if e.md5 != wanted.get(e.relpath) and not store.has(ObjectId(MD5, e.md5))]
    return _user_files_single(dest, md5, store, hasher)


def _user_files_single(dest: Path, md5: str | None, store: LocalStore,
                       hasher: Hasher) -> list[str]:
    if dest.is_dir():
        return [f"{dest.name}/{e.relpath}" for e in hasher.directory(dest)[1]
                if not store.has(ObjectId(MD5, e.md5))]
    st = dest.stat()
    digest = hasher.file(os.fspath(dest), st)
    if digest == md5 or store.has(ObjectId(MD5, digest)):
        return []
    return [dest.name]


def _checkout_one(wt: WorkTree, repo_path: str, md5: str, store: LocalStore, hasher: Hasher, *,
                  force: bool, report: CheckoutReport, where: str) -> None:
    from gitext.pipeline.dvcdata import in_store
    from gitext.pipeline.outputs import place_object

    manifests.check_md5(md5, where=where)
    wt.lstat(repo_path)  # refuses a path behind a symlink before anything reads through it
    dest = wt.path(repo_path)
    current = hasher.path(dest)
    if current is not None and current.md5 == md5:
        report.unchanged.append(repo_path)
        return
    if not in_store(store, md5):
        report.missing.append(repo_path)
        return
    if current is not None and not force:
        changed = _user_files(dest, md5, store, hasher)
        if changed:
            report.conflicts.append(
                (repo_path, "changed here and not saved anywhere: " + ", ".join(changed[:5])
                 + (" …" if len(changed) > 5 else "")))
            return
    place_object(store, hasher, md5, wt, repo_path, hardlink=True)
    report.restored.append(repo_path)
