"""What a remote holds of the chunk layout, and how its chunks are read and written.

A remote's chunks are in packs (``chunks/packs/<id>.pack``) each with its index
(``<id>.idx``), in the byte format of :mod:`gitext.store.chunks.format`. The remote's index
is the set of its idx files: :class:`RemoteIndex` keeps a copy of each under
``<chunk store>/remotes/<remote id>/`` and, on :meth:`RemoteIndex.refresh`, lists
``chunks/packs/`` and downloads only the idx files it has not seen (and forgets those gone).

An idx is published only after its pack (push uploads the pack, then the idx, then the
recipes), so an idx on the remote means its pack is complete — unless the remote was damaged,
which :func:`read_ranges` detects (a short read, a record header that disagrees with the idx)
and reports as :class:`~gitext.errors.CorruptObjectError` naming the pack.

Lower layer: never prints.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import NamedTuple, Protocol

from gitext.codec.hashing import ObjectId
from gitext.errors import ArchivesError, CorruptObjectError, ObjectMissingError, RemoteError
from gitext.remotes.backend import Backend, Ranged, can_list, chunk_capable, read_bounded
from gitext.store.chunks import format as fmt

PREFIX = "chunks/"
PACKS = "chunks/packs/"
RECIPES = "chunks/recipes/"
# ``chunks/where/<ab>/<rest>``: the ids of the packs holding a recipe's chunks, one a line,
# for a remote that cannot be listed (http): its reader fetches just those packs' idx files.
WHERE = "chunks/where/"
WHERE_LIMIT = 16 << 20  # the most bytes a where-file is read to (~250,000 pack ids)
RECORD_HEADER = fmt.RECORD_HEADER.size  # chunk id 32 + raw 4 + stored 4 + flags 1
# Neighbouring chunks of one pack closer than this are read in one request (the bytes
# between them are read and dropped); one request reads at most MAX_RANGE bytes (held in
# memory until its chunks are stored: jobs x MAX_RANGE at most).
GAP = 256 * 1024
MAX_RANGE = 4 * 1024 * 1024
PACK_LIMIT = fmt.MAX_PACK
FIX_HINT = "git archives fsck --remote"  # replaced by the caller's command where it knows one


class _Item(Protocol):
    @property
    def oid(self) -> ObjectId: ...
    @property
    def manifest(self) -> bool: ...


class Where(NamedTuple):
    """One chunk's record on a remote (a tuple: a remote's index is built of thousands)."""

    pack: str
    offset: int
    raw_len: int
    stored_len: int
    flags: int

    @property
    def end(self) -> int:
        return self.offset + RECORD_HEADER + self.stored_len


# tuple.__new__ called from C: no Python frame per chunk while an index loads
_new_where = functools.partial(tuple.__new__, Where)


def _located(stem: str, entries: list[fmt.IdxEntry]) -> Iterator[tuple[bytes, Where]]:
    """(chunk id, where) of each entry of pack ``stem``'s index."""
    if not entries:
        return iter(())
    ids, offsets, raw, stored, flags = zip(*entries, strict=True)
    wheres = map(_new_where, zip(repeat(stem), offsets, raw, stored, flags, strict=False))
    return zip(ids, wheres, strict=True)


def recipe_key(digest: str) -> str:
    return f"{RECIPES}{digest[:2]}/{digest[2:]}"


def where_key(digest: str) -> str:
    return f"{WHERE}{digest[:2]}/{digest[2:]}"


def pack_key(pack: str, ext: str) -> str:
    return f"{PACKS}{pack}.{ext}"


def present_as_recipes(backend: Backend, items: Sequence[_Item]) -> set[str]:
    """The keys (``files/…``) among ``items`` whose recipe the remote holds. A remote with
    no pack at all (an old one, or one only ever given whole objects) costs one listing
    request, not a question per object."""
    if not items or not chunk_capable(backend) or (
            can_list(backend) and next(iter(backend.list(PACKS)), None) is None):
        return set()
    by_recipe = {recipe_key(i.oid.digest): i.oid.key for i in items
                 if i.oid.algo == "sha256" and not i.manifest}
    return {by_recipe[k] for k in backend.exists_many(list(by_recipe))}


def remote_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:24]


class RemoteIndex:
    """The chunk index of one remote, cached locally (see the module docstring)."""

    def __init__(self, backend: Backend, cache_dir: Path) -> None:
        self.backend = backend
        self.cache_dir = cache_dir
        self.chunks: dict[bytes, Where] = {}
        self.pack_sizes: dict[str, int] = {}  # every pack listed, sealed (with an idx) or not
        self.idx_packs: set[str] = set()
        self.truncated: set[str] = set()  # shorter than their idx says: their chunks are
        self._loaded = False              # not counted (a push uploads them again)

    def refresh(self) -> None:
        """List ``chunks/packs/``; fetch the idx files not cached yet; drop those gone."""
        listed: dict[str, int] = {}
        idx_on_remote: set[str] = set()
        for key, size in self.backend.list(PACKS):
            name = key.rpartition("/")[2]
            stem, _, ext = name.partition(".")
            if not fmt.is_pack_id(stem):
                continue  # not ours (and never a name to build a local path from)
            if ext == "pack":
                listed[stem] = size
            elif ext == "idx":
                idx_on_remote.add(stem)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        cached = {p.stem for p in self.cache_dir.glob("*.idx")}
        for gone in cached - idx_on_remote:
            with contextlib.suppress(FileNotFoundError):
                (self.cache_dir / f"{gone}.idx").unlink()
        for stem in sorted(idx_on_remote - cached):
            self._download_idx(stem)
        self.pack_sizes = listed
        self.idx_packs = idx_on_remote & set(listed)
        self.chunks = {}
        self.truncated = set()
        for stem in sorted(self.idx_packs, reverse=True):  # the first pack's entry wins
            entries = self._read_cached(stem)
            if entries and max(e.end for e in entries) > listed[stem]:
                self.truncated.add(stem)
                continue
            self.chunks.update(_located(stem, entries))
        self._loaded = True

    def ensure(self) -> None:
        if not self._loaded:
            self.refresh()

    def load_packs(self, stems: Iterable[str]) -> None:
        """Add the idx files of ``stems`` (fetched if not cached) without listing the
        remote: for one that cannot be listed. A pack cut short is caught on reading."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        for stem in sorted(set(stems) - self.idx_packs):
            if not (self.cache_dir / f"{stem}.idx").is_file():
                self._download_idx(stem)
            for cid, where in _located(stem, self._read_cached(stem)):
                self.chunks.setdefault(cid, where)
            self.idx_packs.add(stem)

    def _download_idx(self, stem: str) -> None:
        key = pack_key(stem, "idx")
        data = read_bounded(self.backend, key, limit=fmt.max_idx_bytes(), what="pack index",
                            hint=FIX_HINT)
        decode_idx(data, f"{self.backend.url} {key}")  # checked first
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=".idx-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, self.cache_dir / f"{stem}.idx")
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _read_cached(self, stem: str) -> list[fmt.IdxEntry]:
        path = self.cache_dir / f"{stem}.idx"
        try:
            return decode_idx(path.read_bytes(), str(path))
        except ArchivesError:
            path.unlink(missing_ok=True)  # a damaged copy of ours: fetch it again
            self._download_idx(stem)
            return decode_idx(path.read_bytes(), str(path))

    def locate(self, chunk_id: bytes) -> Where | None:
        return self.chunks.get(chunk_id)


def decode_idx(data: bytes, where: str) -> list[fmt.IdxEntry]:
    try:
        return fmt.decode_idx(data)
    except fmt.FormatError as exc:
        raise CorruptObjectError(f"{where}: {exc.message}") from None


def decode_recipe(data: bytes, where: str) -> fmt.Recipe:
    try:
        return fmt.decode_recipe(data)
    except fmt.FormatError as exc:
        raise CorruptObjectError(f"{where}: {exc.message}") from None


@dataclass(frozen=True)
class Span:
    """One ranged read: ``pack`` bytes ``start`` .. ``end`` holding ``chunks``."""

    pack: str
    start: int
    end: int
    chunks: tuple[tuple[bytes, Where], ...]


def plan_ranges(wanted: Iterable[tuple[bytes, Where]], *, gap: int = GAP,
                max_range: int = MAX_RANGE) -> list[Span]:
    """Group the records to read into as few ranged reads as sensible: per pack, in offset
    order, joining neighbours at most ``gap`` bytes apart, each read at most ``max_range``
    (one larger record is one read of its own)."""
    by_pack: dict[str, list[tuple[bytes, Where]]] = {}
    for cid, where in wanted:
        by_pack.setdefault(where.pack, []).append((cid, where))
    spans: list[Span] = []
    for pack, items in sorted(by_pack.items()):
        items.sort(key=lambda i: i[1].offset)
        group: list[tuple[bytes, Where]] = []
        start = end = 0
        for cid, where in items:
            if group and (where.offset - end > gap or where.end - start > max_range):
                spans.append(Span(pack, start, end, tuple(group)))
                group = []
            if not group:
                start = where.offset
            group.append((cid, where))
            end = max(end, where.end)
        if group:
            spans.append(Span(pack, start, end, tuple(group)))
    return spans


def read_span(backend: Backend, span: Span, *, hint: str) -> list[tuple[bytes, int, int, bytes]]:
    """Read one span and cut its records out, checking each record's header against the
    idx: ``(chunk id, raw length, flags, stored bytes)`` ready for ``add_records``."""
    key = pack_key(span.pack, "pack")
    if not isinstance(backend, Ranged):
        raise RemoteError(f"{backend.url} cannot read part of an object (chunks)")
    try:
        data = backend.get_range(key, span.start, span.end - span.start)
    except ObjectMissingError:
        raise CorruptObjectError(
            f"{backend.url}: the chunk pack {key} is listed in its index but missing: "
            "nothing was changed", hint=hint) from None
    if len(data) != span.end - span.start:
        raise CorruptObjectError(
            f"{backend.url}: the chunk pack {key} is truncated (bytes {span.start}.."
            f"{span.end} asked, {len(data)} read): nothing was changed", hint=hint)
    out = []
    for cid, where in span.chunks:
        at = where.offset - span.start
        try:
            header = fmt.decode_record_header(data, at)
        except fmt.FormatError:
            header = None
        if header is None or (header.chunk_id, header.raw_len, header.stored_len,
                              header.flags) != (cid, where.raw_len, where.stored_len,
                                                where.flags):
            raise CorruptObjectError(
                f"{backend.url}: the chunk pack {key} disagrees with its index at offset "
                f"{where.offset}: nothing was changed", hint=hint)
        body = data[at + RECORD_HEADER: at + RECORD_HEADER + where.stored_len]
        out.append((cid, where.raw_len, where.flags, body))
    return out


class PackWriter:
    """Builds upload packs (records copied as stored locally) of at most ``limit`` bytes in
    ``folder``; :meth:`add` returns the finished ``(pack id, pack path, idx path)`` when a
    pack is full, :meth:`close` the last one. ``durable``: each finished pack and idx is
    fsynced and made read-only, so a directory remote on the same filesystem takes it by a
    hard link instead of a second copy (:func:`~gitext.remotes.backend.links_from`)."""

    def __init__(self, folder: Path, limit: int = PACK_LIMIT, *, durable: bool = False) -> None:
        self.folder = folder
        self.limit = limit
        self.durable = durable
        self._f: io.BufferedWriter | None = None
        self._id = ""
        self._entries: list[fmt.IdxEntry] = []
        self._size = 0

    def add(self, chunk_id: bytes, raw_len: int, flags: int,
            stored: bytes) -> tuple[str, Path, Path] | None:
        done = None
        record_len = RECORD_HEADER + len(stored)
        if self._f is not None and self._size + record_len > self.limit:
            done = self.close()
        if self._f is None:
            self._id = fmt.new_pack_id()
            self._f = open(self.folder / f"{self._id}.pack", "wb")  # noqa: SIM115
            self._f.write(fmt.PACK_MAGIC)
            self._size = len(fmt.PACK_MAGIC)
            self._entries = []
        self._entries.append(fmt.IdxEntry(chunk_id, self._size, raw_len, len(stored), flags))
        self._f.write(fmt.encode_record(chunk_id, raw_len, flags, stored))
        self._size += record_len
        return done

    def close(self) -> tuple[str, Path, Path] | None:
        if self._f is None:
            return None
        f, self._f = self._f, None
        pack = self.folder / f"{self._id}.pack"
        idx = self.folder / f"{self._id}.idx"
        with f:
            self._seal(f)
        with open(idx, "wb") as g:
            g.write(fmt.encode_idx(self._entries))
            self._seal(g)
        return self._id, pack, idx

    def _seal(self, f: io.BufferedWriter) -> None:
        if self.durable:
            f.flush()
            os.fsync(f.fileno())
            os.chmod(f.name, 0o444)


