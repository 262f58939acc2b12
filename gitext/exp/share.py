"""Sharing experiments: their refs through git (``refs/exps/…`` pushed and fetched as they
are, never forced), their data through the data remote (the objects the experiment commits'
pointers and ``dvc.lock`` files name, moved by :mod:`gitext.sync.transfer`).

Only finished experiments travel; failed and queued ones stay in the clone that made them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitext.errors import ArchivesError, UsageError
from gitext.exp.listing import SUCCESS, Experiment, parse_ref, resolve_many
from gitext.exp.names import EXPS_PREFIX

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gitext.git.repo import Repo
    from gitext.remotes import Remote
    from gitext.sync.transfer import TransferReport


@dataclass
class ShareReport:
    experiments: list[Experiment]
    data: TransferReport | None  # None: no data to move (or --no-cache)


def select(experiments: Sequence[Experiment], names: Sequence[str], *, all_: bool,
           verb: str) -> list[Experiment]:
    """The finished experiments ``names`` (or all of them) pick."""
    if not names and not all_:
        raise UsageError(f"exp {verb}: name the experiments, or pass --all")
    if names and all_:
        raise UsageError(f"exp {verb}: give experiment names or --all, not both")
    if all_:
        return [e for e in experiments if e.status == SUCCESS]
    chosen = resolve_many(experiments, names)
    for exp in chosen:
        if exp.status != SUCCESS:
            raise UsageError(f"exp {verb}: '{exp.name}' is {exp.status}; only finished "
                             "experiments are shared",
                             hint="run it again with 'git archives exp run'")
    return chosen


def remote_experiments(repo: Repo, git_remote: str) -> list[Experiment]:
    """The finished experiments a git remote has (``git ls-remote``; times unknown)."""
    proc = repo.git("ls-remote", "--refs", "--", git_remote, EXPS_PREFIX + "*", check=False)
    if proc.returncode != 0:
        raise ArchivesError(f"cannot list the experiments of git remote '{git_remote}': "
                            + _last_line(proc.stderr),
                            hint="check the name with 'git remote -v'")
    found = []
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        commit, _, ref = line.partition("\t")
        exp = parse_ref(ref, commit, 0, [])
        if exp is not None and exp.status == SUCCESS:
            found.append(exp)
    return found


def _last_line(stderr: bytes) -> str:
    lines = [s for s in stderr.decode("utf-8", "replace").splitlines() if s.strip()]
    return lines[-1].strip() if lines else "git failed"


def push_refs(repo: Repo, git_remote: str, experiments: Sequence[Experiment]) -> None:
    refspecs = [f"{e.ref}:{e.ref}" for e in experiments]
    if not refspecs:
        return  # 'git push REMOTE' alone would push the current branch
    proc = repo.git("push", "--quiet", "--", git_remote, *refspecs, check=False)
    if proc.returncode != 0:
        raise ArchivesError(f"exp push: git could not push to '{git_remote}': "
                            + _last_line(proc.stderr),
                            hint="an experiment of that name there points elsewhere: "
                                 "remove it there first ('git archives exp remove -g')")


def fetch_refs(repo: Repo, git_remote: str, experiments: Sequence[Experiment]) -> None:
    refspecs = [f"{e.ref}:{e.ref}" for e in experiments]
    if not refspecs:
        return  # 'git fetch REMOTE' alone would fetch its branches
    proc = repo.git("fetch", "--quiet", "--no-tags", "--", git_remote, *refspecs,
                    check=False)
    if proc.returncode != 0:
        raise ArchivesError(f"exp pull: git could not fetch from '{git_remote}': "
                            + _last_line(proc.stderr),
                            hint="an experiment of that name here points elsewhere: "
                                 "remove it here first ('git archives exp remove')")


def delete_remote_refs(repo: Repo, git_remote: str, experiments: Sequence[Experiment]) -> None:
    refspecs = [f":{e.ref}" for e in experiments]
    if not refspecs:
        return
    proc = repo.git("push", "--quiet", "--", git_remote, *refspecs, check=False)
    if proc.returncode != 0:
        raise ArchivesError(f"exp remove: git could not delete on '{git_remote}': "
                            + _last_line(proc.stderr))


def move_data(repo: Repo, data_remote: Remote, experiments: Sequence[Experiment], *,
              upload: bool, jobs: int | None = None) -> TransferReport | None:
    """Upload (or download) the objects the experiments' commits need."""
    from gitext.store.dvccache import open_store
    from gitext.sync import transfer
    from gitext.sync.references import find_references

    if not experiments:
        return None
    store = open_store(repo)
    refs = find_references(repo, [e.commit for e in experiments], store=store)
    if upload:
        return transfer.push(repo, data_remote, refs, jobs=jobs, store=store)
    return transfer.fetch(repo, data_remote, refs, jobs=jobs, store=store)
