"""Directory ids as DVC computes them, cached per directory, and saving into the store.

* A directory's id is the md5 of its ``.dir`` manifest (:mod:`gitext.store.manifests`), which
  lists every file :func:`~gitext.pipeline.dvchash.dvcignore.walk_files` sees.
* Hashes are cached in ``state.db`` (:class:`gitext.store.state.StateCache`) under git's racy
  rule: a single file in a row of its own; a directory in *one* row holding every file's
  stat key, md5 and sha256, so checking 5,000 unchanged files costs 5,000 stats and one row
  read, and a file whose stat changed but not its bytes (``touch``, a checkout) is proven
  unchanged by the cheaper sha256 where the CPU makes it cheaper.
* :func:`save_path` puts a file, or a directory's files and manifest, into the local store.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import NamedTuple

from gitext.codec.hashing import ObjectId
from gitext.errors import PipelineError
from gitext.pipeline.dvchash.dvcignore import FileRow, IgnoreRules, walk_files
from gitext.pipeline.dvchash.md5 import MD5, Ids, file_md5, hash_files
from gitext.store.manifests import (
    DIR_ID_RE,
    ManifestEntry,
    manifest_bytes,
    manifest_id,
    write_manifest,
)
from gitext.store.objects import LocalStore
from gitext.store.state import RACY_WINDOW_NS, StateCache, is_racy, stat_key


class HashInfo(NamedTuple):
    """What a lock entry records for one path: ``md5`` (``….dir`` for a directory),
    ``size``, ``nfiles`` (directories) and ``isexec`` (executable files)."""

    md5: str
    size: int | None
    nfiles: int | None = None
    isexec: bool = False



# a directory of 5,000 unchanged files costs the stats and one row read — and a change costs
# only the changed files' reads plus one row write, never 5,000 row writes.
TREE_FORMAT = 2
TreeKey = tuple[str, int, int, int, int]  # relpath, inode, size, mtime_ns, ctime_ns


class _TreeRow(NamedTuple):
    recorded_ns: int
    keys: list[TreeKey]
    digests: list[str]
    shas: list[bytes]
    info: HashInfo


def _tree_key(rel: str, st: os.stat_result) -> TreeKey:
    return (rel, *stat_key(st))


# -- a directory's file table, one opaque state.db row (StateCache.get_blob/put_blob) --------

def _tree_load(state: StateCache | None, top: str, algo: str) -> _TreeRow | None:
    found = state.get_blob(top, algo + "+tree") if state is not None else None
    if found is None:
        return None
    import marshal

    try:
        # Only this module writes these rows, into the clone's own state.db; marshal builds
        # plain values and never runs code, and is 3x faster to read than JSON here.
        fmt, keys, digests, shas, md5, size, nfiles = marshal.loads(found[0])  # noqa: S302
        if (fmt != TREE_FORMAT or not isinstance(keys, list) or not isinstance(digests, list)
                or not isinstance(shas, list) or not len(keys) == len(digests) == len(shas)
                or not DIR_ID_RE.fullmatch(md5)):
            return None
        return _TreeRow(found[1], keys, digests, shas, HashInfo(md5, int(size), int(nfiles)))
    except (ValueError, EOFError, TypeError):
        return None  # a row from another version: hash again


def _tree_save(state: StateCache | None, top: str, algo: str, row: _TreeRow) -> None:
    if state is None:
        return
    import marshal

    blob = marshal.dumps((TREE_FORMAT, row.keys, row.digests, row.shas, row.info.md5,
                          row.info.size, row.info.nfiles))
    state.put_blob(top, algo + "+tree", blob, row.recorded_ns)


class Hasher:
    """Hashes paths DVC's way, trusting cached ids only while the stat is unchanged and
    the racy-timestamp rule of :mod:`gitext.store.state` holds. ``root`` (the repository) makes
    directories honour ``.dvcignore`` files from the root down; without it, only those
    inside the directory apply."""

    def __init__(self, state: StateCache | None, root: Path | None = None) -> None:
        self.state = state
        self.root = root

    def file(self, path: str, st: os.stat_result, hash_name: str = MD5) -> str:
        if self.state is not None:
            known = self.state.lookup(path, hash_name, st)
            if known is not None:
                return known
        digest, _ = file_md5(path, hash_name, st.st_size)
        if self.state is not None and not _racy(st):
            self.state.record(path, hash_name, st, digest)
        return digest

    def rules_for(self, top: Path) -> tuple[IgnoreRules, str]:
        """The ``.dvcignore`` rules in force at ``top`` and its repo-relative path."""
        if self.root is not None:
            try:
                rel = Path(os.path.abspath(top)).relative_to(os.path.abspath(self.root))
            except ValueError:
                rel = None
            if rel is not None:
                repo_dir = rel.as_posix()
                repo_dir = "" if repo_dir == "." else repo_dir
                return IgnoreRules.for_folder(self.root, repo_dir), repo_dir
        # Outside the repository (or no root given): only the directory's own files.
        rules = IgnoreRules(os.fspath(top))
        return rules.read(os.fspath(top), ""), ""

    def files(self, top: Path) -> list[FileRow]:
        rules, repo_dir = self.rules_for(top)
        return list(walk_files(top, rules, repo_dir))

    def directory(self, top: Path, hash_name: str = MD5, *,
                  files: list[FileRow] | None = None, record: bool = True
                  ) -> tuple[HashInfo, list[ManifestEntry]]:
        """The directory's id and its manifest entries (sorted by relpath). ``files``: a
        listing from :meth:`files` already made; ``record=False`` leaves the cache row as
        it was (for a listing about to change)."""
        info, rels, digests = self._tree(top, hash_name, files, record=record)
        entries = sorted((ManifestEntry(r, d) for r, d in zip(rels, digests, strict=True)),
                         key=lambda e: e.relpath)
        return info, entries

    def directory_id(self, top: Path, hash_name: str = MD5) -> HashInfo:
        return self._tree(top, hash_name, None)[0]

    def remember_tree(self, top: Path, placed: dict[str, str], hash_name: str = MD5) -> None:
        """Record ``top``'s tree right after its files were written from the store:
        ``placed`` maps relpath → the id each was written with (any other file is hashed).
        A file written now is racy against this row and is read again next time, unless
        it is a hard link to an older cache object — exactly what the racy rule allows."""
        self._tree(top, hash_name, None, placed=placed)

    def _tree(self, top: Path, hash_name: str, files: list[FileRow] | None, *,
              record: bool = True, placed: dict[str, str] | None = None
              ) -> tuple[HashInfo, list[str], list[str]]:
        began = time.time_ns()  # before any stat: the racy rule's reference for the row
        if files is None:
            files = self.files(top)
        keys = [_tree_key(rel, st) for rel, st, _full in files]
        where = os.fspath(top)
        cached = None if placed is not None else _tree_load(self.state, where, hash_name)
        known: dict[TreeKey, Ids] = {}
        before: dict[tuple[str, int], Ids] = {}  # (relpath, size) -> ids, stat aside
        if cached is not None:
            if cached.keys == keys and not _any_racy(keys, cached.recorded_ns):
                return cached.info, [k[0] for k in keys], cached.digests
            rec = cached.recorded_ns
            for key, digest, sha in zip(cached.keys, cached.digests, cached.shas, strict=True):
                if not is_racy(key[3], rec):
                    known[key] = (digest, sha)
                if sha:
                    before[key[0], key[2]] = (digest, sha)
        elif placed is not None:
            known = {k: (placed[k[0]], b"") for k in keys if k[0] in placed}
        ids: list[Ids] = []
        todo: list[int] = []
        for i, key in enumerate(keys):
            found = known.get(key)
            if found is None:
                todo.append(i)
                found = ("", b"")
            ids.append(found)
        if todo:
            jobs = [(files[i][2], keys[i][2], before.get((keys[i][0], keys[i][2])))
                    for i in todo]
            for i, fresh in zip(todo, hash_files(jobs, hash_name), strict=True):
                ids[i] = fresh
        rels = [k[0] for k in keys]
        digests = [d for d, _sha in ids]
        data = manifest_bytes([ManifestEntry(r, d) for r, d in zip(rels, digests, strict=True)])
        md5 = manifest_id(data)
        info = HashInfo(md5, sum(k[2] for k in keys), len(keys))
        if record and (cached is None or todo or cached.keys != keys):
            _tree_save(self.state, where, hash_name,
                       _TreeRow(began, keys, digests, [sha for _d, sha in ids], info))
        return info, rels, digests

    def path(self, path: Path, hash_name: str = MD5) -> HashInfo | None:
        """The id of a file or directory, or None if nothing is there."""
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISDIR(st.st_mode):
            return self.directory_id(path, hash_name)
        digest = self.file(os.fspath(path), st, hash_name)
        return HashInfo(digest, st.st_size, None, bool(st.st_mode & 0o111))

    def flush(self) -> None:
        if self.state is not None:
            self.state.flush()


def _any_racy(keys: list[TreeKey], recorded_ns: int) -> bool:
    """True if a row recorded at ``recorded_ns`` cannot vouch for one of these files."""
    if not keys or max(k[3] for k in keys) + RACY_WINDOW_NS <= recorded_ns:
        return False  # every file is older than the widest window: no per-file test
    return any(is_racy(k[3], recorded_ns) for k in keys)


def _racy(st: os.stat_result) -> bool:
    """A row written now for this stat could never be trusted (the state's racy rule),
    so writing it is wasted work — the usual case right after a command wrote the file."""
    return is_racy(st.st_mtime_ns, time.time_ns())


def save_path(store: LocalStore, hasher: Hasher, path: Path) -> HashInfo:
    """Put a file or a directory (each file plus its manifest) into the store; its id."""
    st = path.stat()
    if stat.S_ISDIR(st.st_mode):
        info, entries = hasher.directory(path)
        for entry in entries:
            _save_file(store, path / entry.relpath, entry.md5)
        oid = write_manifest(store, manifest_bytes(entries))
        if oid != info.md5:  # a file changed under us while we were copying
            raise PipelineError(f"'{path}' changed while it was being saved",
                                hint="run 'git archives repro' again")
        return info
    digest = hasher.file(os.fspath(path), st)
    _save_file(store, path, digest)
    return HashInfo(digest, st.st_size, None, bool(st.st_mode & 0o111))


def _save_file(store: LocalStore, path: Path, digest: str) -> None:
    oid = ObjectId(MD5, digest)
    if store.has(oid):
        return
    store.add_file(path, MD5, expected=oid)
