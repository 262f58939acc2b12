"""DVC's ``.dvc`` files (what ``dvc add``, ``dvc import`` and ``dvc import-url`` write): the
one owner of the format.

``dvc add data/raw`` writes ``data/raw.dvc``::

    outs:
    - md5: 849835d274483dc683eb416d6e4f887d.dir
      size: 4
      nfiles: 2
      hash: md5
      path: raw

:func:`parse_dvcfile` reads one strictly, with DVC 3's schema (``dvc/schema.py``
``SINGLE_STAGE_SCHEMA``): a key DVC does not know, a value of the wrong type, or an md5
that is not 32 hex digits (``.dir`` added for a directory) is one error naming the file,
line and column. Output paths are resolved as DVC resolves them — relative to ``wdir``,
itself relative to the ``.dvc`` file's folder — into repository paths; a path that would
leave the repository (``..`` too far, absolute, a drive) or enter ``.git`` is refused.

Import files (``deps`` with ``repo:``, or a URL) are read, never re-imported: their outputs
are outputs like any other. Outputs without an md5 (``import-url --no-download``, cloud
``etag``/``checksum`` only) or with ``cache: false`` name no object of ours.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gitext.codec.shellquote import shell_arg
from gitext.errors import PipelineError
from gitext.pipeline.model import _Record

if TYPE_CHECKING:
    from gitext.pipeline.yaml12 import Marks, YamlPath

SUFFIX = ".dvc"
_MD5 = re.compile(r"[0-9a-f]{32}(\.dir)?")

# DVC 3's schema, key -> the check of its value (dvc/schema.py, dvc/output.py,
# dvc/dependency/__init__.py, dvc/annotations.py).
_CHECKSUMS = ("md5", "etag", "checksum")
_META = {"size": "int", "nfiles": "int", "isexec": "bool", "version_id": "str"}
_ANNOTATION = {"desc": "str", "type": "str", "labels": "strlist", "meta": "any"}
_ARTIFACT = {**dict.fromkeys(_CHECKSUMS, "checksum"), **_META, "path": "str",
             "persist": "bool", "cloud": "dict", "hash": "str"}
_FILES = {"files": "list", "fs_config": "dict"}
_OUT_KEYS = {**_ARTIFACT, **_ANNOTATION, "cache": "bool", "remote": "str", "push": "bool",
             **_FILES}
_DEP_KEYS = {**_ARTIFACT, **_ANNOTATION, "repo": "repo", "db": "dict", **_FILES}
_TOP_KEYS = {"md5": "checksum", "wdir": "str_or_none", "deps": "entries", "outs": "entries",
             "locked": "bool", "frozen": "bool", "meta": "any", "always_changed": "bool",
             "desc": "str"}

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# kind -> (does a value fit, what was expected)
_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "any": (lambda v: True, "anything"),
    "checksum": (lambda v: v is None or isinstance(v, str) or _is_int(v), "a string"),
    "int": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "str_or_none": (lambda v: v is None or isinstance(v, str), "a string"),
    "strlist": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                "a list of strings"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "entries": (lambda v: v is None or isinstance(v, list), "a list"),
    "dict": (lambda v: isinstance(v, dict), "a mapping"),
}
_REPO_KEYS = {"url", "rev", "rev_lock", "config", "remote"}
_HINT = "fix it as 'dvc add' writes it (docs/coming-from-dvc.md), or restore it: " \
        "git checkout -- {file}"


class DvcOut(_Record):
    """One output of a ``.dvc`` file. ``path`` is relative to the repository's top;
    ``md5`` is a 32-hex md5 or ``<md5>.dir`` (a directory), None when the file names no
    content DVC caches by md5. ``legacy``: written by DVC 2 (no ``hash: md5``; text files
    hashed with CRLF turned into LF, cached outside ``files/md5``)."""

    _fields = ("path", "md5", "size", "nfiles", "cache", "legacy", "written", "push")

    def __init__(self, path: str, md5: str | None, size: int | None = None,  # noqa: PLR0917
                 nfiles: int | None = None, cache: bool = True, legacy: bool = False,
                 written: str = "", push: bool = True) -> None:
        self.path = path
        self.md5 = md5
        self.size = size
        self.nfiles = nfiles
        self.cache = cache
        self.legacy = legacy
        self.written = written or path  # as the file says it (relative to wdir)
        self.push = push  # False: 'push: false', DVC never uploads it

    @property
    def is_dir(self) -> bool:
        return self.md5 is not None and self.md5.endswith(".dir")

    @property
    def addressable(self) -> bool:
        """Whether this output names an object of DVC 3's md5 store."""
        return self.md5 is not None and self.cache and not self.legacy


class DvcFile(_Record):
    """A whole ``.dvc`` file: ``file`` its repository path; ``imported_from`` the source of
    ``dvc import`` (the repo URL) or ``import-url`` (the URL), else None."""

    _fields = ("file", "outs", "deps", "frozen", "imported_from")

    def __init__(self, file: str, outs: list[DvcOut], deps: list[str],
                 frozen: bool = False, imported_from: str | None = None) -> None:
        self.file = file
        self.outs = outs
        self.deps = deps
        self.frozen = frozen
        self.imported_from = imported_from


def is_dvcfile(path: str) -> bool:
    """Whether a repository path names a ``.dvc`` file (not the ``.dvc/`` folder's files)."""
    name = path.rpartition("/")[2]
    return name.endswith(SUFFIX) and len(name) > len(SUFFIX) and not path.startswith(".dvc/")


def parse_dvcfile(data: bytes | str, *, file: str) -> DvcFile:
    """A ``.dvc`` file's text (``file``: its repository path, used for paths and errors)."""
    from gitext.pipeline.yaml12 import load_yaml_with_marks

    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise PipelineError(f"{file}: not UTF-8 text",
                            hint=_HINT.format(file=_quoted(file))) from None
    doc, marks = load_yaml_with_marks(text, file=file)
    return _Reader(file, marks).document(doc)


def _quoted(path: str) -> str:
    return shell_arg(path)


class _Reader:
    def __init__(self, file: str, marks: Marks) -> None:
        self.file = file
        self.marks = marks
        self.folder = posixpath.dirname(file)

    def fail(self, path: YamlPath, problem: str, *, key: bool = False) -> PipelineError:
        loc = self.marks.key(path) if key else self.marks.value(path)
        return PipelineError(f"{loc}: {problem}", hint=_HINT.format(file=_quoted(self.file)))

    def document(self, doc: Any) -> DvcFile:
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise self.fail((), "a .dvc file is a mapping (outs:, deps:, ...)")
        self.keys(doc, (), _TOP_KEYS, "in a .dvc file")
        wdir = doc.get("wdir") or "."
        base = self.resolve(wdir, ("wdir",), self.folder, what="wdir")
        outs = [self.out(item, ("outs", n), base)
                for n, item in enumerate(doc.get("outs") or [])]
        deps: list[str] = []
        source: str | None = None
        for n, item in enumerate(doc.get("deps") or []):
            self.keys(item, ("deps", n), _DEP_KEYS, "in a dependency")
            path = item.get("path")
            if isinstance(path, str):
                deps.append(path)
            if source is None:  # in a .dvc file, a dependency means an import
                repo = item.get("repo")
                source = repo["url"] if repo is not None else path
        return DvcFile(self.file, outs, deps, frozen=bool(doc.get("frozen")),
                       imported_from=source)

    def keys(self, data: Any, path: YamlPath, allowed: dict[str, str], where: str) -> None:
        if not isinstance(data, dict):
            raise self.fail(path, f"expected a mapping {where}")
        for key, value in data.items():
            kind = allowed.get(key) if isinstance(key, str) else None
            if kind is None:
                known = ", ".join(sorted(allowed))
                raise self.fail((*path, str(key)), f"unknown key '{key}' {where} "
                                f"(DVC knows: {known})", key=True)
            self.value(value, (*path, key), kind)

    def value(self, value: Any, path: YamlPath, kind: str) -> None:
        if kind == "repo":
            self.repo(value, path)
            return
        accepts, wanted = _KINDS[kind]
        if not accepts(value):
            raise self.fail(path, f"'{path[-1]}' must be {wanted}")

    def repo(self, value: Any, path: YamlPath) -> None:
        if not isinstance(value, dict):
            raise self.fail(path, "'repo' must be a mapping with 'url'")
        for key in value:
            if key not in _REPO_KEYS:
                raise self.fail((*path, str(key)), f"unknown key '{key}' in 'repo' (DVC "
                                f"knows: {', '.join(sorted(_REPO_KEYS))})", key=True)
        if not isinstance(value.get("url"), str):
            raise self.fail(path, "'repo' needs a 'url' string")

    def out(self, item: Any, path: YamlPath, base: str) -> DvcOut:
        self.keys(item, path, _OUT_KEYS, "in an output")
        written = item.get("path")
        if not isinstance(written, str) or not written:
            raise self.fail(path, "an output needs a 'path'")
        repo_path = self.resolve(written, (*path, "path"), base, what="output path")
        if not repo_path:
            raise self.fail((*path, "path"), f"output path '{written}' is the repository "
                            "itself")
        md5 = item.get("md5")
        if md5 is not None:
            md5 = str(md5).lower()  # DVC lower-cases checksums (and reads ints as text)
            if not _MD5.fullmatch(md5):
                raise self.fail((*path, "md5"), f"bad md5 '{item.get('md5')}': 32 hex "
                                "digits expected ('.dir' added for a directory)")
        return DvcOut(repo_path, md5, size=item.get("size"), nfiles=item.get("nfiles"),
                      cache=item.get("cache", True), legacy=item.get("hash") != "md5"
                      and md5 is not None, written=written, push=item.get("push", True))

    def resolve(self, written: str, path: YamlPath, base: str, *, what: str) -> str:
        """A path as written (relative to ``base``, a repository folder) as a repository
        path; refused if it leaves the repository or enters ``.git``."""
        text = written.replace("\\", "/")
        if text.startswith("/") or re.match(r"^[A-Za-z]:", text) or "\0" in text:
            raise self.fail(path, f"{what} '{written}' is absolute: git-archives only "
                            "follows paths inside the repository")
        joined = posixpath.normpath(posixpath.join(base or ".", text))
        if joined == ".." or joined.startswith("../"):
            raise self.fail(path, f"{what} '{written}' leaves the repository")
        if any(part.lower() == ".git" for part in joined.split("/")):
            raise self.fail(path, f"{what} '{written}' is inside .git")
        return "" if joined == "." else joined
