"""DVC's ``.dir`` directory manifests: their ids, bytes, validation and place in the store.

This module is the one owner of the format; everything else builds, reads or names
manifests through it.

* A directory's id is the md5 of its manifest plus ``.dir`` (:func:`manifest_id`). A lock
  entry's ``md5`` is either a plain 32-hex md5 (a file) or such an id (:func:`check_md5`,
  :func:`is_manifest_id`).
* The manifest is the JSON list ``[{"md5": …, "relpath": …}, …]`` sorted by ``relpath`` and
  serialised with Python's default ``json.dumps(…, sort_keys=True)`` separators — exactly
  DVC's bytes, so the ids agree (:func:`manifest_bytes`). Reading one back
  (:func:`parse_manifest`) refuses any entry whose path would leave its directory.
* Objects live in the local store as ``files/md5/ab/rest``; a manifest as
  ``files/md5/ab/rest.dir`` (DVC 3's layout) — :func:`manifest_key`, :func:`object_path` —
  handled here because :class:`~gitext.codec.hashing.ObjectId` only takes plain 32-hex
  digests.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import NamedTuple

from gitext.codec.hashing import ObjectId, is_dvc_md5_id
from gitext.errors import CorruptObjectError, InvalidObjectIdError, PipelineError
from gitext.store.objects import READ_ONLY, LocalStore

_ALGO = "md5"  # the ObjectId algorithm of DVC's objects
DIR_SUFFIX = ".dir"
MD5_RE = re.compile(r"[0-9a-f]{32}")
DIR_ID_RE = re.compile(r"[0-9a-f]{32}\.dir")
MANIFEST_LIMIT = 512 << 20  # the most bytes a manifest is read to from a remote (~4M files)


class ManifestEntry(NamedTuple):
    relpath: str
    md5: str


def is_manifest_id(md5: str) -> bool:
    """Whether a lock's ``md5`` names a directory (``<md5>.dir``) rather than a file."""
    return md5.endswith(DIR_SUFFIX)


def check_md5(value: str, *, where: str) -> str:
    """``value`` if it is a 32-hex md5 or ``<md5>.dir``; else a clear error."""
    if is_dvc_md5_id(value):
        return value
    raise InvalidObjectIdError(
        f"{where}: '{value}' is not an md5 id",
        hint="an md5 id is 32 lowercase hex digits, '.dir' added for a directory",
    )


def manifest_id(data: bytes) -> str:
    """The ``<md5>.dir`` id of a manifest's bytes."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest() + DIR_SUFFIX


def manifest_key(oid: ObjectId) -> str:
    """The layout path (relative to a store's or a remote's root) of the manifest whose
    id is ``<oid.digest>.dir``."""
    return oid.key + DIR_SUFFIX


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
        if not isinstance(md5, str) or not MD5_RE.fullmatch(md5):
            raise CorruptObjectError(f"{where}: entry '{relpath}' has no valid md5")
        out.append(ManifestEntry(relpath, md5))
    return out


# -- in the local store ------------------------------------------------------------------------

def object_path(store: LocalStore, md5: str) -> Path:
    """Where a file object or a ``.dir`` manifest lives in ``store``."""
    check_md5(md5, where="object id")
    if is_manifest_id(md5):
        return store.key_path(manifest_key(ObjectId(_ALGO, md5[:-4])))
    return store.path(ObjectId(_ALGO, md5))


def has_object(store: LocalStore, md5: str) -> bool:
    return object_path(store, md5).is_file()


def write_manifest(store: LocalStore, data: bytes) -> str:
    """Put a manifest into the store (atomic, read-only); return its ``<md5>.dir`` id."""
    oid = manifest_id(data)
    final = object_path(store, oid)
    if final.is_file():
        return oid
    tmp_dir = store.tmp_dir(_ALGO)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="incoming-")
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
    if manifest_id(data) != oid:
        raise CorruptObjectError(f"cached directory manifest {oid} is corrupt",
                                 hint="run 'git archives fsck', then 'git archives pull'")
    return parse_manifest(data, where=f"manifest {oid}")
