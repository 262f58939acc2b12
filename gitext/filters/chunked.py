"""The large-file filter's chunked paths (docs/storage.md): clean a file at least
``archives.chunking.threshold`` large into chunks in one pass over its bytes, and smudge one
rebuilt from its chunks."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from io import FileIO
from typing import TYPE_CHECKING

from gitext.codec import pointer as ptr
from gitext.codec.hashing import ObjectId
from gitext.codec.shellquote import display, pull_command, shell_arg
from gitext.errors import ArchivesError
from gitext.filters.packets import count_rest, feed_all, hash_all
from gitext.filters.protocol import ContentSink
from gitext.log import note
from gitext.store.objects import LocalStore
from gitext.store.state import stat_key

if TYPE_CHECKING:
    from gitext.store.chunks.chunker import ChunkingWriter
    from gitext.store.chunks.format import RecipeMatch

READ_BLOCK = 8 << 20


def chunk_work_tree_file(store: LocalStore, path: str, st: os.stat_result, head: list[bytes],
                         content: Iterator[bytes]) -> ptr.Pointer | None:
    """Chunk the work-tree file ``path`` (read directly: git's stream is only drained, as
    :meth:`LargeFileDriver._clean_by_copy` does; its size and the unchanged stat prove the
    file is what git is adding). None if the file is not the one stat'ed."""
    try:
        f = FileIO(path, "rb")
    except OSError:
        return None
    return _chunk_file(store, path, st, f, lambda: _count(head, content))


def _chunk_file(store: LocalStore, path: str, st: os.stat_result, f: FileIO,
                count: Callable[[], int]) -> ptr.Pointer | None:
    with f:
        before = os.fstat(f.fileno())
        if not stat.S_ISREG(before.st_mode) or stat_key(before) != stat_key(st):
            return None
        from concurrent.futures import ThreadPoolExecutor  # (not at start-up: 5 ms)

        with ThreadPoolExecutor(max_workers=1) as drain:
            # git's stream is drained on a thread while the file is chunked (a failure is
            # raised once the stream is drained: git expects it read to its end)
            counted = drain.submit(count)
            w = chunk_stream(store, f)
            streamed = counted.result()
        if streamed != w.size or stat_key(os.fstat(f.fileno())) != stat_key(st):
            w.abort()
            raise ArchivesError(f"{display(path)} changed while it was being added",
                                hint=f"run: git add -- {shell_arg(path)}")
        oid, n = w.finish()
    store.record_chunked_verified(oid)
    return ptr.Pointer(oid, n)


def same_as_chunked(store: LocalStore, path: str, st: os.stat_result, head: list[bytes],
                    content: Iterator[bytes], *, oid: ObjectId) -> ptr.Pointer:
    """git re-cleans a file it has just checked out ("racily clean"): hash its stream and
    compare with the chunked object it should be (rebuilding the object to compare bytes
    costs more). If it differs, chunk the work-tree file itself (its unchanged stat and size
    prove it is what git sent). A recipe this process or an earlier one verified is
    compared chunk by chunk (BLAKE3 of each span) instead of by the whole file's sha256."""
    match = _recipe_match(store, oid)
    if match is not None:
        n = feed_all(head, content, match.feed)
        if match.matched():
            return ptr.Pointer(oid, n)
    else:
        digest, n = hash_all(head, content)
        if digest == oid.digest:
            return ptr.Pointer(oid, n)
    try:
        f = FileIO(path, "rb")
    except OSError as exc:
        raise ArchivesError(f"{display(path)} changed while it was being added",
                            hint=f"run: git add -- {shell_arg(path)}") from exc
    result = _chunk_file(store, path, st, f, lambda: n)
    if result is None:
        raise ArchivesError(f"{display(path)} changed while it was being added",
                            hint=f"run: git add -- {shell_arg(path)}")
    return result


def _recipe_match(store: LocalStore, oid: ObjectId) -> RecipeMatch | None:
    """A matcher against ``oid``'s recipe if that recipe was verified and reads cleanly."""
    if not store.is_verified(oid):
        return None
    from gitext.store.chunks.format import RecipeMatch

    try:
        return RecipeMatch(store.chunks.read_recipe(oid))
    except ArchivesError:  # damaged or gone since: the whole-file hash decides
        return None


def _count(head: list[bytes], content: Iterator[bytes]) -> int:
    return sum(len(p) for p in head) + count_rest(content)


def chunk_stream(store: LocalStore, src: FileIO) -> ChunkingWriter:
    """Chunk all of ``src``; the caller then calls ``finish`` (writes the recipe) or
    ``abort`` on the writer returned."""
    from gitext.store.chunks.chunker import ChunkingWriter

    w = ChunkingWriter(store.chunks)
    buf = bytearray(READ_BLOCK)
    view = memoryview(buf)
    try:
        while True:
            n = src.readinto(view)
            if not n:
                break
            w.write(view[:n])
    except BaseException:
        w.abort()
        raise
    return w


def chunk_reader(store: LocalStore, read: Callable[[int], bytes]) -> tuple[ObjectId, int]:
    """Chunk what ``read`` gives until it is empty; (oid, size) once the recipe is written."""
    from gitext.store.chunks.chunker import ChunkingWriter

    w = ChunkingWriter(store.chunks)
    try:
        while True:
            data = read(READ_BLOCK)
            if not data:
                break
            w.write(data)
    except BaseException:
        w.abort()
        raise
    oid, size = w.finish()
    store.record_chunked_verified(oid)
    return oid, size


def chunked_ready(store: LocalStore, path: str, pointer: ptr.Pointer) -> bool:
    """Whether every chunk of a chunked object is here; if not, say so (the pointer stays)."""
    try:
        store.chunks.check_complete(pointer.oid)
    except ArchivesError as exc:
        note(f"{display(path)}: {exc.message}; the file is left as a pointer. Fetch it with: "
             f"{pull_command(path)}")
        return False
    return True


def smudge_chunked(store: LocalStore, pointer: ptr.Pointer, out: ContentSink, *,
                   stream_above: int) -> None:
    """Send a chunked object rebuilt and verified (a bad byte fails the file at its end)."""
    if pointer.size > stream_above:
        out.start_stream()
    store.stream_verified(pointer.oid, out.write)
