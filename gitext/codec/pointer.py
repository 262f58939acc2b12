"""Git LFS pointer spec v1: a strict producer and a lenient reader.

Canonical form (LF endings, keys sorted with ``version`` first)::

    version https://git-lfs.github.com/spec/v1
    oid sha256:<64 hex>
    size <decimal>

The empty file's pointer is the empty file. The reader accepts CRLF, a missing final LF and
any order of the ``oid`` and ``size`` lines, but rejects anything else: another key (a Git
LFS extension such as ``ext-0-foo`` transforms content in a way we cannot undo), a bad oid
or size, and ``size 0`` with an oid other than the empty file's (it would check out as an
empty file and lose whatever the oid names). Text rejected here is *not a pointer*: the
filter passes it through byte for byte and ``git archives status`` lists it as invalid.
"""

from __future__ import annotations

import re
from typing import Final

from gitext.codec.hashing import ObjectId
from gitext.errors import PointerError

VERSION_URL = "https://git-lfs.github.com/spec/v1"
_LEGACY_VERSIONS = (VERSION_URL, "https://hawser.github.com/spec/v1")
MAX_POINTER_SIZE = 1024
_PREFIX = b"version "
_KEY_RE = re.compile(r"[a-z0-9.-]+")
_KEYS = ("version", "oid", "size")
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class Pointer:
    """An immutable (oid, size). (A plain class: see :class:`ObjectId`.)"""

    __slots__ = ("oid", "size")

    def __init__(self, oid: ObjectId, size: int) -> None:
        self.oid: Final = oid
        self.size: Final = size

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Pointer:
            return NotImplemented
        return self.oid == other.oid and self.size == other.size

    def __hash__(self) -> int:
        return hash((self.oid, self.size))

    def __repr__(self) -> str:
        return f"Pointer(oid={self.oid!r}, size={self.size!r})"

    def encode(self) -> bytes:
        if self.size == 0:
            return b""
        return (
            f"version {VERSION_URL}\noid sha256:{self.oid.digest}\nsize {self.size}\n"
        ).encode("ascii")


def looks_like_pointer(data: bytes) -> bool:
    """Cheap pre-check: small and starts like a pointer. Use :func:`parse` to be sure."""
    return len(data) < MAX_POINTER_SIZE and data.startswith(_PREFIX)


def parse(data: bytes) -> Pointer:
    """Parse pointer text; raise :class:`PointerError` saying what is wrong."""
    if len(data) >= MAX_POINTER_SIZE:
        raise PointerError("pointer text is 1024 bytes or more")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise PointerError("pointer text is not ASCII") from None
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise PointerError("pointer text is empty")
    fields: dict[str, str] = {}
    for i, line in enumerate(lines, 1):
        key, sep, value = line.partition(" ")
        if not sep or not _KEY_RE.fullmatch(key):
            raise PointerError(f"pointer line {i} is not 'key value': {line[:60]!r}")
        if key in fields:
            raise PointerError(f"pointer line {i} repeats key '{key}'")
        fields[key] = value
    if lines[0].partition(" ")[0] != "version":
        raise PointerError("pointer does not start with a version line")
    if fields["version"] not in _LEGACY_VERSIONS:
        raise PointerError(f"unsupported pointer version '{fields['version']}'")
    oid_text = fields.get("oid")
    size_text = fields.get("size")
    if oid_text is None or size_text is None:
        raise PointerError("pointer lacks an 'oid' or 'size' line")
    extra = [k for k in fields if k not in _KEYS]
    if extra:
        raise PointerError(f"pointer has a key git-archives does not know: '{extra[0]}'")
    algo, sep, digest = oid_text.partition(":")
    if algo != "sha256" or not sep:
        raise PointerError(f"pointer oid '{oid_text[:80]}' is not sha256:<hex>")
    if not size_text.isdigit() or (len(size_text) > 1 and size_text[0] == "0"):
        raise PointerError(f"pointer size '{size_text[:40]}' is not a decimal number")
    try:
        oid = ObjectId("sha256", digest)
    except Exception as exc:  # InvalidObjectIdError: re-raise as a pointer problem
        raise PointerError(f"pointer oid '{oid_text[:80]}' is not sha256 with 64 hex") from exc
    size = int(size_text)
    if size == 0 and oid.digest != EMPTY_SHA256:
        raise PointerError("pointer says size 0 but its oid is not the empty file's")
    return Pointer(oid, size)


def try_parse(data: bytes) -> Pointer | None:
    """The pointer in ``data``, or None if ``data`` is not a (valid) pointer."""
    if not looks_like_pointer(data):
        return None
    try:
        return parse(data)
    except PointerError:
        return None
