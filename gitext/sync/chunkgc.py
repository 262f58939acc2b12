"""``gc --remote`` of the chunk layout: recipes nothing keeps, and packs with no live chunk.

A recipe (``chunks/recipes/<ab>/<rest>``) stays if its object's key is kept, or if it was
written within the grace period. A chunk is live if a recipe that stays names it; a pack
(with its idx) stays if it holds one live chunk, or was written within the grace period (a
push still running uploads packs before its recipes). A pack without an idx (a push killed
between the two) is dropped once older than the grace period. Packs are not repacked: one
live chunk keeps its whole pack.

Deletion order (:func:`deletion_phases`): recipes first, then idx files, then packs, so that
at every moment a recipe's chunks are all indexed and every idx's pack is there.

Lower layer: never prints.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from gitext.errors import ArchivesError, ObjectMissingError
from gitext.remotes.backend import Backend
from gitext.sync.chunkremote import PACKS, RECIPES, RemoteIndex, decode_recipe


def recipe_digest(key: str) -> str | None:
    """``chunks/recipes/ab/cdef…`` -> ``abcdef…`` (None for anything else there)."""
    rest = key.removeprefix(RECIPES)
    head, _, tail = rest.partition("/")
    digest = head + tail
    if len(head) != 2 or "/" in tail or len(digest) != 64:
        return None
    return digest


def plan_chunks(backend: Backend, index: RemoteIndex, keep: set[str],
                cutoff: float | None) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(doomed, recent) keys of the chunk layout on ``backend``; ``keep`` holds the layout
    keys (``files/sha256/…``) gc keeps, ``cutoff`` the grace period's start (None: keep
    every unreferenced key)."""
    doomed: list[tuple[str, int]] = []
    recent: list[tuple[str, int]] = []
    live_recipes: list[str] = []
    for key, size, when in backend.list_times(RECIPES):
        digest = recipe_digest(key)
        if digest is not None and f"files/sha256/{digest[:2]}/{digest[2:]}" in keep:
            live_recipes.append(key)
        elif cutoff is None or when > cutoff:
            live_recipes.append(key)
            recent.append((key, size))
        else:
            doomed.append((key, size))
    live: set[bytes] = set()
    for key in live_recipes:
        buf = io.BytesIO()
        try:
            backend.get(key, buf)
            recipe = decode_recipe(buf.getvalue(), f"{backend.url} {key}")
        except ObjectMissingError:
            continue
        except ArchivesError:
            return [], recent  # a recipe we cannot read: its chunks are unknown, drop nothing
        live.update(cid for cid, _len in recipe.chunks)
    index.refresh()
    holds: dict[str, bool] = {}
    for cid, where in index.chunks.items():
        if cid in live:
            holds[where.pack] = True
    packs = [(key, size, when, key.rpartition("/")[2].partition(".")[0])
             for key, size, when in backend.list_times(PACKS)]
    # a pack or idx written after the cutoff keeps the pair
    young = {stem for _k, _s, when, stem in packs if cutoff is None or when > cutoff}
    for key, size, _when, stem in packs:
        if holds.get(stem):
            continue
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
