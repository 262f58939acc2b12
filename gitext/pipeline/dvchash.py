"""DVC's content ids for pipeline dependencies and outputs, and their place in the store.

* A file's id is the md5 of its bytes (DVC 3, ``hash: md5`` in the lock). DVC 2 locks carry
  ``md5-dos2unix`` ids instead: each 1 MiB chunk whose first 512 bytes look like text has its
  CRLF pairs turned into LF before hashing (DVC's heuristic: no NUL byte and at most 30 %
  bytes outside printable ASCII and ``\\n\\r\\t\\f\\b``). A CRLF split across two chunks
  stays as it is, as in DVC.
* A directory's id is the md5 of its manifest plus ``.dir``. The manifest is the JSON list
  ``[{"md5": …, "relpath": …}, …]`` sorted by ``relpath`` and serialised with Python's default
  ``json.dumps(…, sort_keys=True)`` separators — exactly DVC's bytes, so the ids agree.
* Hashes are cached in ``state.db`` (:class:`gitext.store.state.StateCache`) under git's racy
  rule: a single file in a row of its own; a directory in *one* row holding every file's
  stat key, md5 and sha256, so checking 5,000 unchanged files costs 5,000 stats and one row
  read, and a file whose stat changed but not its bytes (``touch``, a checkout) is proven
  unchanged by the cheaper sha256 where the CPU makes it cheaper. Big batches of reads are
  spread over a few threads.
* ``.dvcignore`` files (gitignore syntax, DVC's reading of it) leave paths out of a
  directory's manifest, from the repository root down; one inside the directory itself is
  refused unless it ignores itself, as DVC refuses it.
* Objects live in the local store as ``files/md5/ab/rest``; a manifest as
  ``files/md5/ab/rest.dir`` (DVC 3's layout), handled here because :class:`ObjectId` only
  takes plain 32-hex digests.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from gitext.codec.hashing import ObjectId
from gitext.errors import CorruptObjectError, InvalidObjectIdError, PipelineError
from gitext.store.objects import READ_ONLY, LocalStore
from gitext.store.state import RACY_WINDOW_NS, StateCache, is_racy

MD5 = "md5"
LEGACY = "md5-dos2unix"
CHUNK = 1 << 20  # DVC hashes in 1 MiB reads; the dos2unix test is per read
TEXT_PROBE = 512
_TEXT_CHARS = bytes(range(32, 127)) + b"\n\r\t\f\b"
_MD5_RE = re.compile(r"[0-9a-f]{32}")
_DIR_ID_RE = re.compile(r"[0-9a-f]{32}\.dir")
# Names DVC never looks into when it walks a directory.
IGNORED_NAMES = frozenset({".git", ".dvc", ".hg"})


class HashInfo(NamedTuple):
    """What a lock entry records for one path: ``md5`` (``….dir`` for a directory),
    ``size``, ``nfiles`` (directories) and ``isexec`` (executable files)."""

    md5: str
    size: int | None
    nfiles: int | None = None
    isexec: bool = False


class ManifestEntry(NamedTuple):
    relpath: str
    md5: str


def is_text_block(block: bytes) -> bool:
    """DVC's guess whether a chunk is text (so its CRLFs are normalised for md5-dos2unix)."""
    if not block:
        return True
    if b"\x00" in block:
        return False
    nontext = block.translate(None, _TEXT_CHARS)
    return len(nontext) / len(block) <= 0.30


# Reading a file we only hash need not stamp its access time: O_NOATIME (Linux) saves an
# inode update per file, ~15 % of checking 5,000 touched files. Only a file's owner may ask
# for it; for anyone else's file the open is retried without it.
_PLAIN_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)
_HASH_READ = _PLAIN_READ | getattr(os, "O_NOATIME", 0)


def _open_for_hash(path: str | os.PathLike[str]) -> int:
    if _HASH_READ == _PLAIN_READ:
        return os.open(path, _PLAIN_READ)
    try:
        return os.open(path, _HASH_READ)
    except PermissionError:
        return os.open(path, _PLAIN_READ)  # not ours to open O_NOATIME (or truly unreadable)


def file_md5(path: str | os.PathLike[str], hash_name: str = MD5,
             size_hint: int = -1) -> tuple[str, int]:
    """md5 (or DVC 2's md5-dos2unix) of a file and its size in bytes, streamed.

    ``size_hint`` (the size from a ``stat``) lets a small file be read in one system call
    into a buffer of its size: with thousands of small files, that is most of the cost."""
    if hash_name == LEGACY:
        return _legacy_md5(path)
    h = hashlib.md5(usedforsecurity=False)
    size = 0
    want = min(size_hint + 1, CHUNK) if size_hint >= 0 else CHUNK
    fd = _open_for_hash(path)
    try:
        while True:
            chunk = os.read(fd, want)
            if not chunk:
                break
            size += len(chunk)
            h.update(chunk)
            if len(chunk) < want:
                break  # a short read of a regular file is its end: save a system call
            want = CHUNK
    finally:
        os.close(fd)
    return h.hexdigest(), size


def _legacy_md5(path: str | os.PathLike[str]) -> tuple[str, int]:
    # DVC decides text/binary per 1 MiB read, so reads must be exactly DVC's.
    h = hashlib.md5(usedforsecurity=False)
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if is_text_block(chunk[:TEXT_PROBE]):
                chunk = chunk.replace(b"\r\n", b"\n")
            h.update(chunk)
    return h.hexdigest(), size


def check_md5(value: str, *, where: str) -> str:
    """``value`` if it is a 32-hex md5 or ``<md5>.dir``; else a clear error."""
    if isinstance(value, str) and (_MD5_RE.fullmatch(value) or _DIR_ID_RE.fullmatch(value)):
        return value
    raise InvalidObjectIdError(
        f"{where}: '{value}' is not an md5 id",
        hint="an md5 id is 32 lowercase hex digits, '.dir' added for a directory",
    )


def manifest_bytes(entries: list[ManifestEntry]) -> bytes:
    """The ``.dir`` object exactly as DVC serialises it: the bytes of
    ``json.dumps([{"md5": …, "relpath": …}, …], sort_keys=True)``, built directly (the
    generic encoder costs ~10 µs an entry, a lot for 100,000-file directories)."""
    ordered = sorted(entries, key=lambda e: e.relpath)
    from json.encoder import encode_basestring_ascii as quote  # what json.dumps uses

    body = ", ".join(f'{{"md5": "{e.md5}", "relpath": {quote(e.relpath)}}}' for e in ordered)
    return f"[{body}]".encode()


def check_relpath(relpath: object, *, where: str) -> str:
    """A manifest path must stay inside its directory: relative, no ``..``, no empty part."""
    if not isinstance(relpath, str) or not relpath:
        raise CorruptObjectError(f"{where}: an entry has no relpath",
                                 hint="the manifest is corrupt; fetch it again")
    parts = relpath.split("/")
    if (relpath.startswith("/") or "\\" in relpath or "\0" in relpath
            or any(p in ("", ".", "..") for p in parts) or re.match(r"[A-Za-z]:", relpath)):
        raise CorruptObjectError(
            f"{where}: entry '{relpath}' would leave its directory",
            hint="the manifest is corrupt or hostile; it was not used",
        )
    return relpath


def parse_manifest(data: bytes, *, where: str) -> list[ManifestEntry]:
    """Validate a ``.dir`` object: a JSON list of {md5, relpath} with safe relative paths."""
    try:
        import json

        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptObjectError(f"{where}: not a directory manifest ({exc})",
                                 hint="the manifest is corrupt; fetch it again") from None
    if not isinstance(raw, list):
        raise CorruptObjectError(f"{where}: a directory manifest must be a JSON list")
    out: list[ManifestEntry] = []
    for item in raw:
        if not isinstance(item, dict):
            raise CorruptObjectError(f"{where}: a manifest entry is not an object")
        relpath = check_relpath(item.get("relpath"), where=where)
        md5 = item.get("md5")
        if not isinstance(md5, str) or not _MD5_RE.fullmatch(md5):
            raise CorruptObjectError(f"{where}: entry '{relpath}' has no valid md5")
        out.append(ManifestEntry(relpath, md5))
    return out


# -- store layout ------------------------------------------------------------------------------

def object_path(store: LocalStore, md5: str) -> Path:
    """Where a file object or a ``.dir`` manifest lives in ``store``."""
    check_md5(md5, where="object id")
    if md5.endswith(".dir"):
        return store.path(ObjectId(MD5, md5[:-4])).with_name(md5[2:])
    return store.path(ObjectId(MD5, md5))


def has_object(store: LocalStore, md5: str) -> bool:
    return object_path(store, md5).is_file()


def write_manifest(store: LocalStore, data: bytes) -> str:
    """Put a manifest into the store (atomic, read-only); return its ``<md5>.dir`` id."""
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
    oid = digest + ".dir"
    final = object_path(store, oid)
    if final.is_file():
        return oid
    store.tmp.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=store.tmp, prefix="incoming-")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.chmod(READ_ONLY)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.replace(final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return oid


def read_manifest(store: LocalStore, oid: str) -> list[ManifestEntry]:
    """A stored manifest, verified against its id and validated."""
    path = object_path(store, oid)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PipelineError(f"directory object {oid} is not in the local cache",
                            hint="run 'git archives pull', or 'git archives repro'") from None
    if hashlib.md5(data, usedforsecurity=False).hexdigest() + ".dir" != oid:
        raise CorruptObjectError(f"cached directory manifest {oid} is corrupt",
                                 hint="run 'git archives fsck', then 'git archives pull'")
    return parse_manifest(data, where=f"manifest {oid}")


# -- .dvcignore --------------------------------------------------------------------------------

DVCIGNORE = ".dvcignore"


class IgnoreRule(NamedTuple):
    """One line of a ``.dvcignore``: ``base`` is the repo-relative folder of its file
    (``""`` at the root); the pattern matches paths relative to it."""

    base: str
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool
    source: str  # "path/.dvcignore:line: pattern", for messages


def _glob_segment(seg: str) -> str:
    """One path component of a gitignore pattern as a regex (``*``, ``?``, ``[…]``, ``\\x``)."""
    if seg == "*":
        return "[^/]+"  # a whole-component star names something: never an empty name
    out: list[str] = []
    i, n = 0, len(seg)
    while i < n:
        c = seg[i]
        if c == "\\" and i + 1 < n:
            out.append(re.escape(seg[i + 1]))
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < n and seg[j] in "!^":
                j += 1
            if j < n and seg[j] == "]":
                j += 1  # a ']' first in the class is a literal
            close = seg.find("]", j)
            if close < 0:
                raise ValueError("unclosed [")  # DVC (pathspec) drops such a pattern
            body = seg[i + 1:close]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            chars = "".join(ch if ch == "-" else re.escape(ch) for ch in body)
            out.append(f"[{'^' if negate else ''}{chars}]")
            i = close
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def gitignore_regex(pattern: str) -> tuple[str, bool] | None:
    """``(regex, dir_only)`` for one gitignore pattern (no ``!``, already stripped), matching
    a relative path — or, as git does, anything below a matching path. None if empty."""
    dir_only = pattern.endswith("/")
    body = pattern.rstrip("/")
    if not body:
        return None
    anchored = "/" in body
    segs = body.lstrip("/").split("/") if body.startswith("/") else body.split("/")
    segs = [seg for i, seg in enumerate(segs) if not (seg == "**" and segs[i - 1:i] == ["**"])]
    if dir_only and not body.startswith("/") and segs[-1] in ("*", "**") and \
            all(seg == "**" for seg in segs[:-1]):
        return None  # "*/", "**/": pathspec's regex for these never matches, so DVC's neither
    parts: list[str] = []
    if segs[0] == "**" and len(segs) > 1:
        parts.append("(?:.+/)?")
        segs = segs[1:]
    elif not anchored:
        parts.append("(?:.+/)?")
    last = len(segs) - 1
    need_slash = False
    for i, seg in enumerate(segs):
        if seg == "**" and i == last:
            parts.append("/.*" if need_slash else ".*")
            break
        if seg == "**":
            parts.append("(?:/.+)?" if need_slash else "(?:.+/)?")
            continue
        if need_slash:
            parts.append("/")
        parts.append(_glob_segment(seg))
        need_slash = True
    else:
        parts.append("/.*" if dir_only else "(?:/.*)?")
    return "".join(parts) + r"\Z", dir_only


def _compile_pattern(pattern: str) -> tuple[str, bool] | None:
    try:
        return gitignore_regex(pattern)
    except ValueError:
        return None


def parse_dvcignore(text: str, *, base: str, name: str) -> list[IgnoreRule]:
    """A ``.dvcignore`` as DVC reads it: each line stripped, ``#`` lines and blank lines
    skipped, ``!`` negates, gitignore wildcards (see :func:`gitignore_regex`)."""
    rules: list[IgnoreRule] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        found = _compile_pattern(line[1:] if negate else line)
        if found is None:
            continue
        try:
            regex = re.compile(found[0], re.DOTALL)
        except re.error as exc:
            raise PipelineError(f"{name}:{number}: bad pattern {line!r} ({exc})",
                                hint="fix the pattern (gitignore syntax)") from None
        rules.append(IgnoreRule(base, regex, negate, found[1], f"{name}:{number}: {line}"))
    return rules


class IgnoreRules:
    """The ``.dvcignore`` rules in force at one folder: those of its own and every parent
    folder's ``.dvcignore`` up to the repository root (a deeper file's rules win, and in
    a file the last matching line wins, as in git)."""

    __slots__ = ("root", "rules")

    def __init__(self, root: str, rules: tuple[IgnoreRule, ...] = ()) -> None:
        self.root = root  # absolute repository root, no trailing separator
        self.rules = rules

    @classmethod
    def for_folder(cls, root: Path, repo_dir: str) -> IgnoreRules:
        """The rules that apply inside ``repo_dir`` (repo-relative, posix; ``""`` = root)."""
        rules = cls(os.fspath(root).rstrip(os.sep) or os.sep)
        rules = rules.read(rules.root, "")
        if repo_dir in ("", "."):
            return rules
        base = ""
        for part in repo_dir.split("/"):
            base = f"{base}/{part}" if base else part
            rules = rules.read(os.path.join(rules.root, *base.split("/")), base)
        return rules

    def read(self, folder: str, base: str) -> IgnoreRules:
        """These rules plus those of ``folder/.dvcignore`` if there is one (and it is not
        itself ignored — DVC then never reads it)."""
        path = os.path.join(folder, DVCIGNORE)
        name = f"{base}/{DVCIGNORE}" if base else DVCIGNORE
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return self
        except (OSError, UnicodeDecodeError) as exc:
            raise PipelineError(f"cannot read {name}: {exc}",
                                hint="make it a readable UTF-8 text file") from None
        if self.ignored(name, False):
            return self
        new = parse_dvcignore(text, base=base, name=name)
        return IgnoreRules(self.root, self.rules + tuple(new)) if new else self

    def ignored(self, repo_path: str, is_dir: bool) -> bool:
        """True when DVC leaves ``repo_path`` out (its parents are assumed not ignored)."""
        for rule in reversed(self.rules):
            if rule.dir_only and not is_dir:
                continue
            if not rule.base:
                rel = repo_path
            elif repo_path.startswith(rule.base + "/"):
                rel = repo_path[len(rule.base) + 1:]
            else:
                continue
            if rule.regex.match(rel) or (is_dir and rule.regex.match(rel + "/")):
                return not rule.negate
        return False

    def in_folder(self, folder: str) -> list[tuple[re.Pattern[str], bool, bool, str]]:
        """The rules that can match a name directly inside ``folder`` (repo-relative,
        ``""`` = root), last first, each with the folder's path relative to its base:
        ``(regex, negate, dir_only, prefix)`` for :func:`_ignored_here`."""
        out = []
        for rule in reversed(self.rules):
            if not rule.base:
                prefix = f"{folder}/" if folder else ""
            elif folder == rule.base:
                prefix = ""
            elif folder.startswith(rule.base + "/"):
                prefix = folder[len(rule.base) + 1:] + "/"
            else:
                continue
            out.append((rule.regex, rule.negate, rule.dir_only, prefix))
        return out

    def __bool__(self) -> bool:
        return bool(self.rules)


def _ignored_here(rules: list[tuple[re.Pattern[str], bool, bool, str]], name: str,
                  is_dir: bool) -> bool:
    """:meth:`IgnoreRules.ignored` for ``name`` inside the folder ``rules`` were made for."""
    for regex, negate, dir_only, prefix in rules:
        if dir_only and not is_dir:
            continue
        rel = prefix + name
        if regex.match(rel) or (is_dir and regex.match(rel + "/")):
            return not negate
    return False


# -- walking and hashing -----------------------------------------------------------------------

FileRow = tuple[str, os.stat_result, str]  # (posix relpath, stat, absolute path)


def walk_files(top: Path, rules: IgnoreRules | None = None,
               repo_dir: str = "") -> Iterator[FileRow]:
    """(posix relpath, stat, absolute path) of every file under ``top``, as DVC sees it:
    ``.git``/``.dvc``/``.hg`` skipped, symlinked files followed, symlinked folders not.

    With ``rules`` (those in force at ``top``, whose repo-relative path is ``repo_dir``),
    what the ``.dvcignore`` files leave out is skipped, those met on the way included. As
    in DVC, a ``.dvcignore`` that is itself inside the walked directory and not ignored
    is an error: DVC refuses to hash such a directory, so accepting it would split the
    two tools' ids."""
    at_top = f"{repo_dir}/" if repo_dir not in ("", ".") else ""
    stack: list[tuple[str, str, IgnoreRules | None]] = [("", os.fspath(top), rules)]
    while stack:
        prefix, folder, here = stack.pop()
        at = at_top + prefix  # repo-relative prefix of this folder's entries
        if here is not None and prefix:
            here = here.read(folder, at.rstrip("/"))  # top's own file is in ``rules``
        check = here.in_folder(at.rstrip("/")) if here else None
        with os.scandir(folder) as it:
            for entry in it:
                name = entry.name
                if name in IGNORED_NAMES:
                    continue
                rel = prefix + name
                if entry.is_dir(follow_symlinks=False):
                    if not check or not _ignored_here(check, name, True):
                        stack.append((rel + "/", entry.path, here))
                    continue
                if check and _ignored_here(check, name, False):
                    continue
                if name == DVCIGNORE and here is not None:
                    raise PipelineError(
                        f"'{at}{name}' is inside the directory '{at_top.rstrip('/') or top}'"
                        " that a stage depends on or writes",
                        hint="DVC refuses this too: move its patterns to a .dvcignore in a "
                             "parent folder, or add the line '.dvcignore' to it")
                try:
                    st = entry.stat()  # a symlinked file counts as its target's content
                except FileNotFoundError:
                    continue  # a dangling symlink
                if stat.S_ISREG(st.st_mode):
                    yield rel, st, entry.path  # (a symlink to a directory is not followed)


def _workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


PARALLEL_MIN_FILES = 64
PARALLEL_MIN_BYTES = 4 << 20
# Threads pay off only when each file keeps a thread outside the GIL for long: for small
# files (10 KB: ~7 us of sha256) the GIL hand-offs cost as much as the hashing they
# overlap — measured on 2 CPUs, 5,000 such files took as long or longer with 2 threads,
# and more CPU. Below this average size a batch is hashed on the calling thread.
PARALLEL_MIN_AVERAGE = 64 << 10

# A file's ids: its md5 (DVC's id) and, for a file of at most CHUNK bytes, the sha256 of the
# same bytes (b"" otherwise). When a file's stat changed but not its content — a checkout,
# a copy, ``touch`` — comparing sha256 with the one recorded proves the md5 unchanged
# without computing it; a changed file gets both. Worth it only where sha256 is the faster
# of the two (CPUs with SHA instructions: about twice as fast as md5), so it is measured.
Ids = tuple[str, bytes]
_SHA_IS_FASTER: list[bool] = []  # measured once per process, when first needed


def sha256_is_faster() -> bool:
    """Whether sha256 hashes faster than md5 here (best of three 64 KiB runs each)."""
    if not _SHA_IS_FASTER:
        block = bytes(1 << 16)
        best = {}
        for name in ("md5", "sha256"):
            runs = []
            for _ in range(3):
                began = time.perf_counter_ns()
                hashlib.new(name, block).digest()
                runs.append(time.perf_counter_ns() - began)
            best[name] = min(runs)
        _SHA_IS_FASTER.append(best["sha256"] < best["md5"])
    return _SHA_IS_FASTER[0]


def file_ids(path: str, size: int, old: Ids | None = None, hash_name: str = MD5) -> Ids:
    """``(md5, sha256)`` of one file whose stat said ``size`` bytes; ``old``: the ids
    recorded for it before (same path and size), reused when the sha256 still matches."""
    if hash_name != MD5 or size > CHUNK or not sha256_is_faster():
        return file_md5(path, hash_name, size)[0], b""
    fd = _open_for_hash(path)
    try:
        data = os.read(fd, size + 1)
    finally:
        os.close(fd)
    if len(data) > size:  # it grew since the stat: hash it whole, as any large file
        return file_md5(path, hash_name, size)[0], b""
    sha = hashlib.sha256(data).digest()
    if old is not None and old[1] == sha:
        return old[0], sha
    return hashlib.md5(data, usedforsecurity=False).hexdigest(), sha


def hash_files(items: Sequence[tuple[str, int, Ids | None]],
               hash_name: str = MD5) -> list[Ids]:
    """:func:`file_ids` of many files (``(path, size, old ids)`` each), in order. Large
    batches are read and hashed by a few threads: ``os.read`` and hashlib release the GIL,
    so several cores hash at once."""
    ids_of = file_ids  # looked up once (and patchable in tests)
    if hash_name == MD5:
        sha256_is_faster()  # measured here, before any thread needs it
    workers = _workers()
    total = sum(item[1] for item in items)
    if (workers < 2 or len(items) < PARALLEL_MIN_FILES or total < PARALLEL_MIN_BYTES
            or total < PARALLEL_MIN_AVERAGE * len(items)):
        return [ids_of(path, size, old, hash_name) for path, size, old in items]
    import threading

    out: list[Ids] = [("", b"")] * len(items)
    order = iter(range(len(items)))  # shared: each next() is atomic under the GIL
    errors: list[Exception] = []

    def work() -> None:
        try:
            for i in order:
                path, size, old = items[i]
                out[i] = ids_of(path, size, old, hash_name)
        except Exception as exc:  # noqa: BLE001 - re-raised on the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=work, daemon=True)
               for _ in range(min(workers, len(items) // 16) - 1)]
    for t in threads:
        t.start()
    work()  # the calling thread takes its share too
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out


# One state row per directory (``algo`` = "<hash>+tree"): every file's stat key and ids, so
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
    return rel, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


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
                or not _DIR_ID_RE.fullmatch(md5)):
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
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest() + ".dir"
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
