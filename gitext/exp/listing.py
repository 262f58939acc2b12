"""Which experiments a clone has, and which one a user means.

An experiment is a ref (see ``docs/experiments.md``, "Where experiments live"):
finished ones under DVC's ``refs/exps/<B[:2]>/<B[2:]>/<NAME>`` (B: the baseline commit),
failed ones under ``refs/archives/exps/failed/<B[:2]>/<B[2:]>/<NAME>``, queued ones under
``refs/archives/exps/queue/<NAME>`` (baseline: the commit's parent). All of them are listed
with ONE ``git for-each-ref``; refs of other shapes there (DVC's ``refs/exps/exec/…``
executor refs, a stash) are skipped.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitext.errors import UsageError
from gitext.exp.names import EXPS_PREFIX as EXPS
from gitext.exp.names import FAILED_PREFIX as FAILED
from gitext.exp.names import QUEUE_PREFIX as QUEUE
from gitext.exp.names import parse_ref as parse_name

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from gitext.git.repo import Repo

SUCCESS, QUEUED = "success", "queued"

_HEX = re.compile(r"[0-9a-f]{4,40}")
_FORMAT = "%(refname)%00%(objectname)%00%(objecttype)%00%(committerdate:unix)%00%(parent)"


@dataclass(frozen=True)
class Experiment:
    name: str
    baseline: str  # full commit id of the commit the experiment started from
    commit: str  # full commit id the ref points to
    status: str  # success | failed | queued
    ref: str  # the full ref name
    created: int  # committer time, seconds since the epoch


def parse_ref(ref: str, commit: str, created: int, parents: Sequence[str]) -> Experiment | None:
    """The experiment a ref names, or None when the ref is not of an experiment's shape
    (:func:`gitext.exp.names.parse_ref`); a queued one's baseline is its commit's parent."""
    parsed = parse_name(ref)
    if parsed is None:
        return None
    status, baseline, name = parsed
    if baseline is None:
        if not parents:
            return None
        baseline = parents[0]
    return Experiment(name, baseline, commit, status, ref, created)


def list_experiments(repo: Repo) -> list[Experiment]:
    """Every experiment of the clone (one git call), oldest first, then by name."""
    out = repo.git("for-each-ref", f"--format={_FORMAT}", EXPS.rstrip("/"),
                   FAILED.rstrip("/"), QUEUE.rstrip("/")).stdout
    found = []
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        parts = line.split("\0")
        if len(parts) != 5 or parts[2] != "commit":
            continue
        ref, commit, _typ, when, parents = parts
        exp = parse_ref(ref, commit, int(when) if when.isdigit() else 0, parents.split())
        if exp is not None:
            found.append(exp)
    return sorted(found, key=lambda e: (e.created, e.name, e.ref))


def _baselines(found: Iterable[Experiment]) -> str:
    return ", ".join(sorted({e.baseline[:7] for e in found}))


def resolve(experiments: Sequence[Experiment], spec: str) -> Experiment:
    """The experiment ``spec`` names: a full ref, a name, or a prefix (4+ hex) of its commit.

    A name used under several baselines is ambiguous (the full ref picks one); an unknown
    name raises with the closest names."""
    for exp in experiments:
        if spec == exp.ref:
            return exp
    named = [e for e in experiments if e.name == spec]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise UsageError(
            f"experiment '{spec}' is ambiguous: it exists under baselines {_baselines(named)}",
            hint="name it by its full ref, e.g. " + ", ".join(sorted(e.ref for e in named)))
    if _HEX.fullmatch(spec):
        by_sha = {e.commit: e for e in experiments if e.commit.startswith(spec)}
        if len(by_sha) == 1:
            return next(iter(by_sha.values()))
        if len(by_sha) > 1:
            names = ", ".join(sorted(e.name for e in by_sha.values()))
            raise UsageError(f"'{spec}' is ambiguous: it starts the commits of {names}",
                             hint="give more hex digits, or the experiment's name")
    close = difflib.get_close_matches(spec, sorted({e.name for e in experiments}), n=3)
    hint = ("did you mean " + " or ".join(f"'{c}'" for c in close) + "?") if close else \
        "'git archives exp show -A' lists the experiments"
    raise UsageError(f"no experiment named '{spec}'", hint=hint)


def resolve_many(experiments: Sequence[Experiment], specs: Sequence[str]) -> list[Experiment]:
    """Each of ``specs`` resolved (every one checked before anything is done), in order,
    without duplicates."""
    chosen: dict[str, Experiment] = {}
    for spec in specs:
        exp = resolve(experiments, spec)
        chosen.setdefault(exp.ref, exp)
    return list(chosen.values())
