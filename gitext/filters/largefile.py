"""The large-file filter (``filter=archives``): clean = content → store → pointer,
smudge = pointer → verified content.

Clean has three paths, cheapest first:
1. *stat hit*: ``state.db`` knows this path's digest for its current stat — drain the
   content without hashing (git re-cleans "racily clean" files all the time).
2. *compare*: the stat changed (a ``touch``) but the size matches the last digest recorded
   for the path and that object is cached — compare bytes with the cached object instead of
   hashing; on the first difference fall back to 3 with the bytes seen so far.
3. *hash and store*: stream into the store while hashing, once.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from gitext.codec import pointer as ptr
from gitext.codec.hashing import CHUNK, ObjectId
from gitext.codec.shellquote import display, pull_command, shell_arg
from gitext.config import PROJECT_CONFIG, Config
from gitext.errors import ArchivesError
from gitext.filters.chunked import (
    chunk_reader,
    chunk_work_tree_file,
    chunked_ready,
    same_as_chunked,
    smudge_chunked,
)
from gitext.filters.fetching import ObjectFetcher
from gitext.filters.packets import (
    PacketReader,
    buffer_upto,
    count_rest,
    pass_through,
    reread,
    same_head,
)
from gitext.filters.protocol import ContentSink
from gitext.filters.rules import RESTORE_HINT, ConfigRules
from gitext.git.protected import is_protected
from gitext.log import note
from gitext.store.dvccache import open_store
from gitext.store.state import stat_key

if TYPE_CHECKING:
    pass

SKIP_SMUDGE_ENV = "GIT_ARCHIVES_SKIP_SMUDGE"
# Troubleshooting: do not offer git the "delay" capability, so each missing object is
# fetched when git asks for its file, one at a time (what git does when it cannot delay).
NO_DELAY_ENV = "GIT_ARCHIVES_NO_DELAY"
# Above this, clean copies the work-tree file in the kernel rather than writing git's stream.
COPY_THRESHOLD = 1 << 20


class LargeFileDriver:
    capabilities: tuple[str, ...] = ("clean", "smudge", "delay")

    def __init__(self, root: Path) -> None:
        from gitext.git.repo import Repo

        self.root = root
        self._rootstr = os.fspath(root)
        self.repo = Repo.discover(root)
        self.store = open_store(self.repo)
        self.state = self.store.state
        self.rules = ConfigRules(root, self.repo)
        self.skip_smudge = os.environ.get(SKIP_SMUDGE_ENV, "") not in ("", "0")
        if os.environ.get(NO_DELAY_ENV, "") not in ("", "0"):
            self.capabilities = ("clean", "smudge")
        self.fetcher = ObjectFetcher(self.repo, self.store, lambda: self.config)
        self._delayed: dict[str, ptr.Pointer] = {}
        self._delay_done = False
        self._missing_warned = 0
        self._pending_paths: set[str] | None = None

    @property
    def config(self) -> Config:
        return self.rules.config

    @property
    def larger_than(self) -> int | None:
        return self.rules.larger_than

    def _k(self, path: str) -> str:
        """State rows are keyed by absolute path: worktrees share one state.db."""
        return os.path.join(self._rootstr, path)

    # -- clean ------------------------------------------------------------------------------
    def clean(self, path: str, content: Iterator[bytes], out: ContentSink) -> None:
        try:
            self._clean(path, content, out)
        finally:
            # A write transaction held long would block every other process using
            # state.db (a concurrent add in another worktree, a hook): commit often.
            self.state.flush_if_due()

    def _clean(self, path: str, content: Iterator[bytes], out: ContentSink) -> None:
        first = next(content, b"")
        if is_protected(path):
            pass_through([first], content, out)  # never a pointer, whatever attributes say
            return
        if ptr.looks_like_pointer(first):
            data = first + b"".join(content)
            if len(data) < ptr.MAX_POINTER_SIZE:
                # A pointer, valid or not, is stored byte for byte: never wrapped in a
                # pointer (an invalid one is listed by 'git archives status').
                out.write(data)
                return
            head = [data]
        else:
            head = [first] if first else []
        try:
            st: os.stat_result | None = os.stat(path)
        except OSError:
            st = None
        if self._stored_plainly(path, st, head, content):
            pass_through(head, content, out)
            return
        if st is not None:
            result = self._clean_cached(path, st, head, content) \
                or self._clean_chunked(path, st, head, content)
            if result is None and st.st_size >= COPY_THRESHOLD:
                result = self._clean_by_copy(path, st, head, content)
            if result is not None:
                out.write(result.encode())
                return
        if st is not None and st.st_size < COPY_THRESHOLD:
            data = b"".join([*head, *content])  # small: one buffer (one copy), one write
            stat_ok = st

            def remember(oid: ObjectId) -> None:
                # Only once the object is stored may a stat hit skip this file's content.
                if len(data) == stat_ok.st_size:
                    self.state.record(self._k(path), "sha256", stat_ok, oid.digest)

            oid, size = self.store.add_bytes_behind(data, "sha256", label=path,
                                                    after_write=remember)
            out.write(ptr.Pointer(oid, size).encode())
            return
        else:
            reader = PacketReader(head, content)
            oid, size = self.store.add_stream(reader, "sha256",  # type: ignore[arg-type]
                                              background=True)
        if st is not None and size == st.st_size:
            self.state.record(self._k(path), "sha256", st, oid.digest)
        out.write(ptr.Pointer(oid, size).encode())

    def _clean_by_copy(self, path: str, st: os.stat_result, head: list[bytes],
                       content: Iterator[bytes]) -> ptr.Pointer | None:
        """A big work-tree file: copy it into the store in the kernel and hash the copy,
        instead of writing git's stream through Python (user-space writes of a GiB cost
        seconds here). git's stream is only drained; its size and the file's unchanged stat
        prove the copy is the content git is adding."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode) or stat_key(before) != stat_key(st):
                return None
            oid, size = self.store.add_copy_of(fd, st.st_size, "sha256", background=True)
            streamed = sum(len(p) for p in head) + count_rest(content)
            if streamed != size or stat_key(os.fstat(fd)) != stat_key(st):
                raise ArchivesError(f"{display(path)} changed while it was being added",
                                    hint=f"run: git add -- {shell_arg(path)}")
        finally:
            os.close(fd)
        self.state.record(self._k(path), "sha256", st, oid.digest)
        return ptr.Pointer(oid, size)

    def _stored_plainly(self, path: str, st: os.stat_result | None, head: list[bytes],
                        content: Iterator[bytes]) -> bool:
        """Whether the size rule (or, with the config unknown, the index) keeps ``path``
        plain. May read packets ahead into ``head`` (when the file cannot be stat'ed)."""
        self.rules.refresh()
        if not self.rules.known:
            return self._plain_while_unknown(path)
        limit = self.larger_than
        if limit is None or self._stays_pointer(path):
            return False
        size = st.st_size if st is not None else buffer_upto(head, content, limit)[1]
        return size <= limit

    def _plain_while_unknown(self, path: str) -> bool:
        """The config cannot be read: keep the form the index stores ``path`` in (True:
        plainly). A path the index does not have cannot be decided, and is refused."""
        self.rules.warn_once()
        stored = self.rules.stored_as_pointer(path)
        if stored is None:
            raise ArchivesError(
                f"{display(path)}: not added: it is new and {PROJECT_CONFIG} cannot be "
                "read, so whether its size makes it a pointer is unknown",
                hint=f"{RESTORE_HINT}, then add {shell_arg(path)} again")
        return not stored

    def _clean_chunked(self, path: str, st: os.stat_result, head: list[bytes],
                       content: Iterator[bytes]) -> ptr.Pointer | None:
        if not self._chunks_for(st.st_size):
            return None
        result = chunk_work_tree_file(self.store, path, st, head, content)
        if result is not None:
            self.state.record(self._k(path), "sha256", st, result.oid.digest)
        return result

    def _chunks_for(self, size: int) -> bool:
        """Whether a file of ``size`` bytes is stored as chunks (docs/storage.md)."""
        limit = self.rules.chunk_threshold
        return limit is not None and size >= limit and self.rules.known

    def _stays_pointer(self, path: str) -> bool:
        """Under a size rule, a path we have stored as a pointer before stays a pointer."""
        return self.state.last_digest(self._k(path), "sha256") is not None

    def _clean_cached(self, path: str, st: os.stat_result, head: list[bytes],
                      content: Iterator[bytes]) -> ptr.Pointer | None:
        digest, last = self.state.lookup_with_last(self._k(path), "sha256", st)
        if digest is not None:
            oid = ObjectId("sha256", digest)
            if self.store.has(oid):
                n = sum(len(p) for p in head)
                first = head[0] if head else b""
                if first and not same_head(path, first):
                    return self._compare_or_none(path, st, None, head, content)
                n += count_rest(content)
                if n != st.st_size:
                    raise ArchivesError(
                        f"content git sent for {display(path)} ({n} bytes) is not the "
                        "work-tree file",
                        hint="run the git command again",
                    )
                return ptr.Pointer(oid, n)
        return self._compare_or_none(path, st, last, head, content)

    def _compare_or_none(self, path: str, st: os.stat_result, last: tuple[str, int] | None,
                         head: list[bytes], content: Iterator[bytes]) -> ptr.Pointer | None:
        if last is None or last[1] != st.st_size:
            return None
        oid = ObjectId("sha256", last[0])
        if not self.store.has(oid) or not self.store.is_verified(oid):
            return None
        if self.store.is_chunked(oid):  # hashing beats rebuilding to compare
            result = same_as_chunked(self.store, path, st, head, content, oid=oid)
            self.state.record(self._k(path), "sha256", st, result.oid.digest)
            return result
        offset = 0
        with self.store.open(oid) as obj:
            packets = iter(head)
            while True:
                pkt = next(packets, None)
                if pkt is None:
                    pkt = next(content, None)
                if pkt is None:
                    break
                ref = obj.read(len(pkt))
                if ref != pkt:
                    # Differs: rebuild what we consumed and hash/store it the usual way.
                    head[:] = [*reread(self.store, oid, offset), pkt]
                    return self._hash_rest(path, st, head, content)
                offset += len(pkt)
            if obj.read(1):
                head[:] = list(reread(self.store, oid, offset))
                return self._hash_rest(path, st, head, content)
        self.state.record(self._k(path), "sha256", st, oid.digest)
        return ptr.Pointer(oid, offset)

    def _hash_rest(self, path: str, st: os.stat_result, head: list[bytes],
                   content: Iterator[bytes]) -> ptr.Pointer:
        reader = PacketReader(head, content)
        if self._chunks_for(st.st_size):
            oid, size = chunk_reader(self.store, reader.read)
        else:
            oid, size = self.store.add_stream(reader, "sha256",  # type: ignore[arg-type]
                                              background=True)
        if size == st.st_size:
            self.state.record(self._k(path), "sha256", st, oid.digest)
        return ptr.Pointer(oid, size)

    # -- smudge -----------------------------------------------------------------------------
    def smudge(self, path: str, content: Iterator[bytes], out: ContentSink,
               *, can_delay: bool) -> bool:
        try:
            return self._smudge(path, content, out, can_delay=can_delay)
        finally:
            self.state.flush_if_due()

    def _smudge(self, path: str, content: Iterator[bytes], out: ContentSink,
                *, can_delay: bool) -> bool:
        try:
            self.store.finish_writes()  # one git command may clean, then smudge the same object
        except ArchivesError as exc:
            note(exc.message)
        if path in self._delayed:
            # A delayed path asked again (with empty content): answer from what we kept.
            for _ in content:
                pass
            pointer = self._delayed.pop(path)
            self._write_content(path, pointer, pointer.encode(), out)
            return False
        first = next(content, b"")
        if not (len(first) < ptr.MAX_POINTER_SIZE and first.startswith(b"version ")):
            self._passthrough_non_pointer(path, first, content, out)
            return False
        data = first + b"".join(content)
        try:
            pointer = ptr.parse(data)
        except ArchivesError as exc:
            note(f"{display(path)}: invalid pointer checked out as it is ({exc.message});"
                 " see 'git archives status' for how to fix it")
            out.write(data)
            return False
        if is_protected(path):
            note(f"{display(path)} is stored as a pointer, but git-archives never stores "
                 f"it as one; store it plainly with 'git add {shell_arg(path)}' and commit")
        if pointer.size == 0:
            return False  # the empty file (parse checked that the oid is the empty file's)
        if not self.skip_smudge and not self.store.has(pointer.oid):
            self.fetcher.take_over_lfs(path, pointer)
        if not self.store.has(pointer.oid) and not self.skip_smudge \
                and self.fetcher.has_remote():
            if can_delay:  # answered later, after one parallel fetch of every such object
                self._delayed[path] = pointer
                return True
            # git cannot wait for this file (git archive, checkout-index, or delay turned
            # off): fetch its object now, as Git LFS does
            self.fetcher.fetch_now(path, pointer)
        self._write_content(path, pointer, data, out)
        return False

    def _write_content(self, path: str, pointer: ptr.Pointer, text: bytes,
                       out: ContentSink) -> None:
        if self.skip_smudge:
            out.write(text)
            return
        size = self.store.size(pointer.oid)
        if size is None:
            self._missing_warned += 1
            if pointer.oid not in self.fetcher.lfs_corrupt:
                note(f"{display(path)}: content {pointer.oid.digest[:12]} is not in the "
                     f"local cache; the file is left as a pointer. Fetch it with: "
                     f"{pull_command(path)}")
            self._remember_pending(path, pointer)
            out.write(text)
            return
        if size != pointer.size:
            note(f"{display(path)}: the pointer says {pointer.size} bytes but the cached object "
                 f"{pointer.oid.digest[:12]} has {size}; the file is left as a pointer. "
                 f"Run 'git archives fsck' to check the cache")
            out.write(text)
            return
        if self.store.is_chunked(pointer.oid) and not chunked_ready(self.store, path, pointer):
            self._remember_pending(path, pointer)
            out.write(text)
            return
        if not self.store.is_verified(pointer.oid) and not self.store.verify(pointer.oid):
            # Never serve a corrupt object: move it aside (a pull fetches it again) and leave
            # the pointer, so the rest of the checkout goes on.
            where = self.store.quarantine(pointer.oid)
            note(f"{display(path)}: cached object {pointer.oid.digest[:12]} is corrupt and was "
                 f"moved to {where}; the file is left as a pointer. Fetch it again with: "
                 f"{pull_command(path)}")
            self._remember_pending(path, pointer)
            out.write(text)
            return
        if self.store.is_chunked(pointer.oid):
            smudge_chunked(self.store, pointer, out, stream_above=4 * CHUNK)
        elif pointer.size > 4 * CHUNK:
            out.start_stream()  # big: stream, and override the status if it turns out bad
            if out.can_send_file and self.store.is_verified(pointer.oid):
                with self.store.open(pointer.oid) as f:
                    out.send_file(f.fileno(), pointer.size)
            else:
                self.store.stream_verified(pointer.oid, out.write)
        else:
            self.store.stream_verified(pointer.oid, out.write)
        # git writes the file next and will soon re-clean it as "racily clean": leave it
        # the digest to compare with, so that costs a memcmp instead of a hash.
        self.state.remember(self._k(path), "sha256", pointer.oid.digest, pointer.size)
        self._forget_pending(path)

    def _passthrough_non_pointer(self, path: str, first: bytes, content: Iterator[bytes],
                                 out: ContentSink) -> None:
        size = len(first)
        out.write(first)
        for pkt in content:
            size += len(pkt)
            out.write(pkt)
        self.rules.refresh()
        if not self.rules.known or is_protected(path):
            return  # no rule to judge by (a clone before its config), or never a pointer
        small_by_rule = self.larger_than is not None and size <= self.larger_than
        if size and not small_by_rule:
            note(f"{display(path)}: committed content is not a pointer; checked out unchanged "
                 f"(store it as a pointer with: git add --renormalize -- {shell_arg(path)})")

    # -- delay ------------------------------------------------------------------------------
    def list_available(self) -> list[str]:
        if not self._delayed:
            return []
        if not self._delay_done:
            self._delay_done = True
            try:
                self.fetcher.fetch_all(list(self._delayed.values()))
            finally:
                self.state.flush()
        # Every delayed path is answered now: with content if it arrived, else a pointer.
        return list(self._delayed)

    # -- bookkeeping ------------------------------------------------------------------------
    def _remember_pending(self, path: str, pointer: ptr.Pointer) -> None:
        from gitext.sync.pointers import PendingPointers

        PendingPointers(self.state).add(self._k(path), str(pointer.oid))
        if self._pending_paths is not None:
            self._pending_paths.add(path)

    def _forget_pending(self, path: str) -> None:
        if self._pending_paths is None:
            # Loaded once per process: most checkouts have nothing pending.
            prefix = self._rootstr.rstrip(os.sep) + os.sep
            self._pending_paths = {p[len(prefix):] for p in self.state.pending_under(prefix)}
        if path in self._pending_paths:
            self.state.pending_set(self._k(path), None)
            self._pending_paths.discard(path)

    def close(self) -> None:
        try:
            self.store.finish_writes()
        except ArchivesError as exc:
            note(exc.message)
            if exc.hint:
                note(f"hint: {exc.hint}")
        self.state.close()
        if self._missing_warned > 1:
            note(f"{self._missing_warned} files were left as pointers; "
                 "run 'git archives pull' to fetch their content")


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run 'git-archives filter-process'")
