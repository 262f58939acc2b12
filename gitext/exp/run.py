"""``exp run``: run the pipeline in a temporary linked worktree and record the result as a
commit under ``refs/exps/`` (layout: :mod:`gitext.exp.names`).

The worktree lives in ``<git common dir>/archives/exps/wt-<token>``; it starts at the
baseline commit (or a queued experiment's commit), takes the user's tracked changes (staged
and not, new files in the index, deletions) copied byte for byte, then the ``-S`` edits.
``repro`` runs there with the repository's object store and run-cache (both live in the
git common dir, or DVC's cache folder, which the worktree is pointed at), so a stage whose
inputs were seen before is restored, not run. Everything git would add (``git add -A``,
through our filter, so outputs become pointers) becomes the experiment's tree; the commit's
only parent is the baseline. The user's branch, index, HEAD and files are only read.
"""

from __future__ import annotations

import collections
import contextlib
import os
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gitext.codec.shellquote import shell_args
from gitext.errors import ArchivesError, UsageError
from gitext.exp import names
from gitext.exp.params_set import Override, apply_overrides
from gitext.fs.worktree import WorkTree
from gitext.git.repo import Repo

if TYPE_CHECKING:
    from gitext.pipeline.metrics.snapshot import Snapshot

# git worktree add/remove read every worktree's admin folder: one at a time in a process
_WORKTREE_LOCK = threading.Lock()
LOG_LIMIT = 64 * 1024
LOCAL_CONFIG = ".dvc/config.local"
ZERO = "0" * 40
Emit = Callable[[str], None]
# Called after an experiment is recorded, while its worktree still exists (the MLflow log
# reads it): the worktree's repo and the outcome.
Recorded = Callable[[Repo, "Outcome"], None]


@dataclass
class Outcome:
    """What one experiment became."""

    name: str
    baseline: str
    status: str  # success | failed
    ref: str
    commit: str
    error: str | None = None
    metrics: Snapshot | None = None


@dataclass
class _Log:
    """The tail of a run's output (what a failed experiment keeps), echoed to ``echo``."""

    echo: Emit | None
    lines: collections.deque[str] = field(default_factory=collections.deque)
    size: int = 0

    def __call__(self, line: str) -> None:
        if self.echo is not None:
            self.echo(line)
        self.lines.append(line)
        self.size += len(line) + 1
        while self.size > LOG_LIMIT and len(self.lines) > 1:
            self.size -= len(self.lines.popleft()) + 1

    def text(self) -> str:
        return "\n".join(self.lines).replace("\0", "")[-LOG_LIMIT:]


# -- names ----------------------------------------------------------------------------------

def taken_names(repo: Repo, baseline: str) -> set[str]:
    """Names in use under ``baseline`` (finished or failed) and in the queue."""
    b = f"{baseline[:2]}/{baseline[2:]}/"
    out = repo.git_text("for-each-ref", "--format=%(refname)",
                        names.EXPS_PREFIX + b, names.FAILED_PREFIX + b, names.QUEUE_PREFIX)
    return {ref.rsplit("/", 1)[1] for ref in out.splitlines() if ref}


def check_name_free(repo: Repo, baseline: str, name: str) -> None:
    if name in taken_names(repo, baseline):
        raise UsageError(f"an experiment named {name!r} already exists for this baseline "
                         f"({baseline[:7]}) or in the queue; choose another with -n/--name")


# -- the temporary worktree ----------------------------------------------------------------

def exps_dir(repo: Repo) -> Path:
    return repo.archives_dir / "exps"


def add_worktree(repo: Repo, rev: str) -> Path:
    """A detached linked worktree of ``rev`` under the git common dir, pointed at the
    user's DVC cache when the project has one."""
    path = exps_dir(repo) / f"wt-{secrets.token_hex(6)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    # No hooks: our post-checkout would place the outputs, which run_in_worktree does
    # itself; a user's hook has no business in a temporary worktree.
    no_hooks = os.fspath(exps_dir(repo) / "no-hooks")
    args = ("-c", f"core.hooksPath={no_hooks}", "worktree", "add", "--detach", "--quiet",
            os.fspath(path), rev)
    with _WORKTREE_LOCK:
        for attempt in range(3):  # another process's half-made worktree makes git fail
            proc = repo.git(*args, check=attempt == 2)
            if proc.returncode == 0:
                break
            time.sleep(0.2 * (attempt + 1))
    try:
        _share_dvc_cache(repo, path)
    except BaseException:
        remove_worktree(repo, path)
        raise
    return path


def _share_dvc_cache(repo: Repo, path: Path) -> None:
    """DVC keeps its cache in ``.dvc/cache`` of each work tree; the experiment's must be
    the user's (as DVC's own temporary workspaces do, through ``.dvc/config.local``)."""
    if not (path / ".dvc").is_dir():
        return
    from gitext.store.dvccache import dvc_cache_dir

    cache = dvc_cache_dir(repo.root, repo.archives_dir)
    if cache is None:
        return
    if (path / LOCAL_CONFIG).exists():
        raise UsageError(f"{LOCAL_CONFIG} is committed in this repository: exp run needs it "
                         "untracked (it points the experiment's worktree at your DVC cache)",
                         hint=f"git rm --cached {LOCAL_CONFIG}")
    cache.mkdir(parents=True, exist_ok=True)
    text = f"[cache]\n    dir = {os.path.abspath(cache)}\n"
    with WorkTree(path) as wt:
        wt.write_bytes(LOCAL_CONFIG, text.encode("utf-8"))


def remove_worktree(repo: Repo, path: Path) -> None:
    with _WORKTREE_LOCK:
        repo.git("worktree", "remove", "--force", "--force", os.fspath(path), check=False)
    if path.exists():
        from gitext.store.objects import remove_tree_safely

        remove_tree_safely(path)  # git's own gc prunes the worktree's stale admin folder


def changed_paths(repo: Repo) -> list[str]:
    """Tracked paths of the user's work tree (and index) that differ from HEAD."""
    out = repo.git("--no-optional-locks", "diff", "HEAD", "--name-only", "--no-renames",
                   "-z", "--no-ext-diff", "--no-textconv").stdout
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


def copy_changes(src_root: Path, dest: Path, paths: Sequence[str]) -> None:
    """Make ``paths`` in ``dest`` what they are in ``src_root`` (or absent)."""
    with WorkTree(dest) as wt:
        for rel in paths:
            src = src_root / rel
            try:
                st = src.lstat()
            except FileNotFoundError:
                wt.remove(rel)
                continue
            if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
                raise UsageError(f"{rel}: exp run carries changed regular files only; "
                                 "commit or restore this change first")

            def fill(fd: int, src: Path = src) -> None:
                with src.open("rb") as f, os.fdopen(os.dup(fd), "wb") as out:
                    shutil.copyfileobj(f, out, 1 << 20)

            wt.write(rel, fill, mode=st.st_mode & 0o777)


# -- recording -----------------------------------------------------------------------------------

def params_text(overrides: Sequence[Override]) -> str:
    return shell_args(ov.text for ov in overrides)


def message(name: str, baseline: str, params: str, status: str, log: str | None = None) -> str:
    msg = (f"archives exp: {name}\n\nArchives-Exp-Name: {name}\n"
           f"Archives-Exp-Baseline: {baseline}\nArchives-Exp-Params: {params}\n"
           f"Archives-Exp-Status: {status}\n")
    if log is not None:
        msg += f"\n--- log ---\n{log}\n"
    return msg


def trailer(text: str, key: str) -> str | None:
    """The value of ``key:`` in an experiment commit's message (first occurrence)."""
    for line in text.splitlines():
        if line.startswith(f"{key}: "):
            return line[len(key) + 2:]
        if line == "--- log ---":
            break
    return None


def snapshot_tree(wt_repo: Repo) -> str:
    """``git add -A`` in the experiment's worktree; its tree id."""
    wt_repo.git("add", "-A")
    if (wt_repo.root / LOCAL_CONFIG).exists():  # ours (see _share_dvc_cache), never recorded
        wt_repo.git("rm", "--cached", "-q", "--ignore-unmatch", "--", LOCAL_CONFIG)
    return wt_repo.git_text("write-tree")


def commit_tree(repo: Repo, tree: str, baseline: str, msg: str) -> str:
    return repo.git("commit-tree", tree, "-p", baseline, "-F", "-",
                    input_bytes=msg.encode("utf-8", "replace")).stdout.decode().strip()


def create_ref(repo: Repo, ref: str, commit: str, what: str) -> None:
    """Point ``ref`` at ``commit`` only if it does not exist yet."""
    proc = repo.git("update-ref", ref, commit, ZERO, check=False)
    if proc.returncode != 0:
        raise UsageError(f"could not record {what} as {ref}: it already exists; choose "
                         "another name with -n/--name")


# -- running ------------------------------------------------------------------------------------

def run_in_worktree(wt: Path, archives_dir: Path, targets: Sequence[str] | None,
                    log: _Log) -> str | None:
    """Place the recorded data, then ``repro``; None on success, else what failed."""
    from gitext.pipeline.checkout import checkout_outputs
    from gitext.pipeline.repro import repro

    try:
        checkout_outputs(wt, archives_dir=archives_dir)
        result = repro(wt, list(targets or ()) or None, archives_dir=archives_dir, out=log,
                       inherit_output=False, keep_going=False)
    except ArchivesError as exc:
        log(f"error: {exc.message}")
        return exc.message
    if result.failed:
        for f in result.failed:
            log(f"error: stage '{f.stage}' failed: {f.message}")
        return "; ".join(f"stage '{f.stage}' failed: {f.message}" for f in result.failed)
    return None


def run_and_record(repo: Repo, wt: Path, *, baseline: str, name: str | None, params: str,
                   targets: Sequence[str] | None, echo: Emit | None,
                   recorded: Recorded | None = None) -> Outcome:
    """Run the pipeline in ``wt`` (prepared) and record it as finished or failed."""
    log = _Log(echo)
    error = run_in_worktree(wt, repo.archives_dir, targets, log)
    wt_repo = Repo.discover(wt)
    tree = snapshot_tree(wt_repo)
    if name is None:
        taken = taken_names(repo, baseline)
        name = names.generate_name(tree, taken.__contains__)
    status = "failed" if error else "success"
    ref = (names.failed_ref if error else names.exp_ref)(baseline, name)
    msg = message(name, baseline, params, status, log.text() if error else None)
    commit = commit_tree(repo, tree, baseline, msg)
    create_ref(repo, ref, commit, f"experiment {name!r}")
    metrics = None
    if not error:
        from gitext.pipeline.metrics.read import collect_metrics

        metrics = collect_metrics(wt_repo)
    outcome = Outcome(name, baseline, status, ref, commit, error, metrics)
    if recorded is not None and not error:
        recorded(wt_repo, outcome)
    return outcome


@contextlib.contextmanager
def prepared_worktree(repo: Repo, overrides: Sequence[Override],
                      name: str | None) -> Iterator[tuple[str, Path]]:
    """A temporary worktree of HEAD with the workspace's changes and ``overrides`` applied:
    ``(baseline, path)``; removed afterwards. A ``name`` already used is refused first."""
    baseline = repo.resolve_rev("HEAD")
    if name is not None:
        check_name_free(repo, baseline, names.validate_name(name))
    changed = changed_paths(repo)
    wt = add_worktree(repo, baseline)
    try:
        copy_changes(repo.root, wt, changed)
        apply_overrides(wt, list(overrides))
        yield baseline, wt
    finally:
        remove_worktree(repo, wt)


def run_experiment(repo: Repo, overrides: Sequence[Override], *, name: str | None = None,
                   targets: Sequence[str] = (), echo: Emit | None = None,
                   recorded: Recorded | None = None) -> Outcome:
    """``exp run``: one experiment on HEAD plus the workspace's changes plus ``overrides``."""
    with prepared_worktree(repo, overrides, name) as (baseline, wt):
        return run_and_record(repo, wt, baseline=baseline, name=name,
                              params=params_text(overrides), targets=targets, echo=echo,
                              recorded=recorded)
