"""``exp run --queue`` and ``exp run --run-all [-j N]``.

A queued experiment is a commit (parent: its baseline) of the baseline's tree with the
workspace's changes and the ``-S`` edits applied, under ``refs/archives/exps/queue/NAME``;
nothing has run yet. ``--run-all`` runs each in its own temporary worktree, N at once
(threads: the work is in the stages' processes; the object store, the run-cache and the
stat database take several writers), records it as finished or failed, and deletes its
queue ref. A failure does not stop the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gitext.errors import ArchivesError
from gitext.exp import names
from gitext.exp.params_set import Override
from gitext.exp.run import (
    Emit,
    Outcome,
    Recorded,
    add_worktree,
    commit_tree,
    create_ref,
    message,
    params_text,
    prepared_worktree,
    remove_worktree,
    run_and_record,
    snapshot_tree,
    taken_names,
    trailer,
)
from gitext.git.repo import Repo


@dataclass(frozen=True)
class Queued:
    name: str
    ref: str
    commit: str
    baseline: str
    params: str


def queue_experiment(repo: Repo, overrides: Sequence[Override], *,
                     name: str | None = None) -> Queued:
    """Record HEAD + the workspace's changes + ``overrides`` as a queued experiment."""
    with prepared_worktree(repo, overrides, name) as (baseline, wt):
        tree = snapshot_tree(Repo.discover(wt))
    if name is None:
        name = names.generate_name(tree, taken_names(repo, baseline).__contains__)
    params = params_text(overrides)
    commit = commit_tree(repo, tree, baseline, message(name, baseline, params, "queued"))
    ref = names.queue_ref(name)
    create_ref(repo, ref, commit, f"queued experiment {name!r}")
    return Queued(name, ref, commit, baseline, params)


def list_queue(repo: Repo) -> list[Queued]:
    """The queued experiments, oldest first."""
    out = repo.git_text("for-each-ref", "--sort=refname", "--sort=committerdate",
                        "--format=%(refname)%00%(objectname)%00%(parent)%00%(contents)%01",
                        names.QUEUE_PREFIX)
    queued = []
    for raw in out.split("\x01"):
        rec = raw.lstrip("\n")
        if not rec:
            continue
        ref, commit, parent, contents = rec.split("\0", 3)
        parsed = names.parse_ref(ref)
        if parsed is None or len(parent.split()) != 1 or not _valid(parsed[2]):
            continue
        queued.append(Queued(parsed[2], ref, commit, parent.strip(),
                             trailer(contents, "Archives-Exp-Params") or ""))
    return queued


def _valid(name: str) -> bool:
    try:
        names.validate_name(name)
    except ArchivesError:
        return False
    return True


def _run_one(repo: Repo, q: Queued, echo: Emit | None, recorded: Recorded | None) -> Outcome:
    wt = add_worktree(repo, q.commit)
    try:
        outcome = run_and_record(repo, wt, baseline=q.baseline, name=q.name,
                                 params=q.params, targets=None, echo=echo, recorded=recorded)
    finally:
        remove_worktree(repo, wt)
    repo.git("update-ref", "-d", q.ref, q.commit, check=False)
    return outcome


def run_all(repo: Repo, *, jobs: int = 1,
            echo_for: Callable[[str], Emit | None] = lambda _name: None,
            recorded: Recorded | None = None) -> list[Outcome | tuple[Queued, str]]:
    """Run every queued experiment, ``jobs`` at once. Each item of the result is an
    :class:`Outcome`, or ``(queued, error)`` when it could not even be recorded (it then
    stays queued)."""
    queued = list_queue(repo)
    lock = threading.Lock()

    def one(q: Queued) -> Outcome | tuple[Queued, str]:
        echo = echo_for(q.name)
        locked: Emit | None = None
        if echo is not None:
            def locked(line: str, echo: Emit = echo) -> None:
                with lock:
                    echo(line)

        try:
            return _run_one(repo, q, locked, recorded)
        except ArchivesError as exc:
            return q, exc.message

    if jobs <= 1 or len(queued) <= 1:
        return [one(q) for q in queued]
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="exp") as pool:
        return list(pool.map(one, queued))
