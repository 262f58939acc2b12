"""``gc --remote`` of the chunk layout: recipes nothing keeps, and packs with no live chunk.

A recipe (``chunks/recipes/<ab>/<rest>``) stays if its object's key is kept, or if it was
written within the grace period; so does its where-file (``chunks/where/…``). A chunk is
live if a recipe that stays names it; a pack (with its idx) stays if it holds one live
chunk, or was written within the grace period (a push still running uploads packs before
its recipes). A pack without an idx (a push killed
between the two) is dropped once older than the grace period. Packs are not repacked: one
live chunk keeps its whole pack.

Deletion order (:func:`deletion_phases`): recipes (and where-files) first, then idx files,
then packs, so that at every moment a recipe's chunks are all indexed and every idx's pack
is there.

Lower layer: never prints.
"""

from __future__ import annotations

from collections.abc import Iterable

from gitext.errors import ArchivesError, ObjectMissingError
from gitext.remotes.backend import Backend, read_bounded
from gitext.store.chunks import format as fmt
from gitext.sync.chunkremote import PACKS, RECIPES, WHERE, RemoteIndex, decode_recipe


def recipe_digest(key: str, prefix: str = RECIPES) -> str | None:
    """``chunks/recipes/ab/cdef…`` -> ``abcdef…`` (None for anything else there)."""
    rest = key.removeprefix(prefix)
    head, _, tail = rest.partition("/")
    digest = head + tail
    if len(head) != 2 or "/" in tail or len(digest) != 64:
        return None
    return digest


def _kept(digest: str | None, keep: set[str]) -> bool:
    return digest is not None and f"files/sha256/{digest[:2]}/{digest[2:]}" in keep


def _sort_recipes(backend: Backend, keep: set[str], cutoff: float | None
                  ) -> tuple[list[str], list[tuple[str, int]], list[tuple[str, int]]]:
    """(recipes that stay, doomed, recent) among recipes and where-files."""
    live: list[str] = []
    doomed: list[tuple[str, int]] = []
    recent: list[tuple[str, int]] = []
    for key, size, when in backend.list_times(RECIPES):
        if _kept(recipe_digest(key), keep):
            live.append(key)
        elif cutoff is None or when > cutoff:
            live.append(key)
            recent.append((key, size))
        else:
            doomed.append((key, size))
    for key, size, when in backend.list_times(WHERE):  # where-files follow their recipes
        if not _kept(recipe_digest(key, WHERE), keep):
            (recent if cutoff is None or when > cutoff else doomed).append((key, size))
    return live, doomed, recent


def _live_chunks(backend: Backend, recipes: list[str]) -> set[bytes] | None:
    """The chunks ``recipes`` name; None if one cannot be read (then nothing is dropped)."""
    live: set[bytes] = set()
    for key in recipes:
        try:
            data = read_bounded(backend, key, limit=fmt.max_recipe_bytes(None), what="recipe",
                                hint="git archives fsck --remote")
            recipe = decode_recipe(data, f"{backend.url} {key}")
        except ObjectMissingError:
            continue
        except ArchivesError:
            return None
        live.update(cid for cid, _len in recipe.chunks)
    return live


def plan_chunks(backend: Backend, index: RemoteIndex, keep: set[str],
                cutoff: float | None) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(doomed, recent) keys of the chunk layout on ``backend``; ``keep`` holds the layout
    keys (``files/sha256/…``) gc keeps, ``cutoff`` the grace period's start (None: keep
    every unreferenced key)."""
    live_recipes, doomed, recent = _sort_recipes(backend, keep, cutoff)
    live = _live_chunks(backend, live_recipes)
    if live is None:
        return [], recent  # a recipe we cannot read: its chunks are unknown, drop nothing
    index.refresh()
    holds = {where.pack for cid, where in index.chunks.items() if cid in live}
    packs = [(key, size, when, key.rpartition("/")[2].partition(".")[0])
             for key, size, when in backend.list_times(PACKS)]
    # a pack or idx written after the cutoff keeps the pair
    young = {stem for _k, _s, when, stem in packs if cutoff is None or when > cutoff}
    for key, size, _when, stem in packs:
        if stem not in holds:
            (recent if stem in young else doomed).append((key, size))
    return doomed, recent


def deletion_phases(keys: Iterable[tuple[str, int]]) -> list[list[str]]:
    """The keys to delete, in the order that keeps the remote consistent: objects and
    recipes, then idx files, then packs."""
    phases: list[list[str]] = [[], [], []]
    for key, _size in keys:
        if key.startswith(PACKS) and key.endswith(".idx"):
            phases[1].append(key)
        elif key.startswith(PACKS):
            phases[2].append(key)
        else:
            phases[0].append(key)
    return [p for p in phases if p]
