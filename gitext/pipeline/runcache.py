"""The run-cache entry format — its one owner.

The pipeline keeps one JSON file per cached run, ``<archives>/runs/<key[:2]>/<key[2:]>``
(key: the sha256 of the stage's command lines, wdir, deps, params and declared outs, see
:func:`run_key`), holding ``{"outs": [...]}`` in dvc.lock's output format. A remote keeps
them at the same relative path (``runs/…`` beside ``files/``), as DVC keeps ``runs/`` in
its remotes. :func:`parse_entry` is the one validator: ``repro`` restoring a run and
``push``/``fetch --run-cache`` moving one accept exactly the same entries.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from gitext.codec.hashing import is_dvc_md5_id
from gitext.errors import ArchivesError, CorruptObjectError
from gitext.fs.atomic import atomic_write
from gitext.pipeline.model import Stage
from gitext.pipeline.runner import cmd_lines

RUNS_DIR = "runs"  # under the archives dir, and on a remote
ENTRY_LIMIT = 16 << 20  # the most bytes an entry is read to from a remote
_KEY_PATH_RE = re.compile(r"runs/([0-9a-f]{2})/([0-9a-f]{62})")


# -- keys and paths ------------------------------------------------------------------------------

def run_key(stage: Stage, deps: list[dict[str, Any]], params: dict[str, Any]) -> str | None:
    """The run-cache key of a stage's inputs, or None when its runs cannot be cached
    (no command, deps or outs; ``always_changed``; a ``persist`` output)."""
    if (not stage.cmd or not stage.deps or not stage.outs or stage.always_changed
            or any(o.persist for o in stage.outs)):
        return None
    doc = {
        "cmd": cmd_lines(stage),
        "wdir": stage.repo_wdir,
        "deps": sorted([d["path"], d["md5"]] for d in deps),
        "params": params,
        "outs": sorted([o.path, o.cache] for o in stage.outs),
    }
    import json

    text = json.dumps(doc, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_path(archives_dir: Path, key: str) -> Path:
    """Where the local run-cache keeps the entry of ``key``."""
    return archives_dir / RUNS_DIR / key[:2] / key[2:]


def key_of(rel: str) -> str | None:
    """The key of the entry at ``rel`` (``runs/<key[:2]>/<key[2:]>``, ``/``-separated,
    relative to the archives dir or a remote's root); None when ``rel`` is not one."""
    m = _KEY_PATH_RE.fullmatch(rel)
    return m.group(1) + m.group(2) if m else None


def local_entries(archives_dir: Path) -> dict[str, Path]:
    """run-cache key -> its file, for every entry in the local run-cache."""
    base = archives_dir / RUNS_DIR
    found: dict[str, Path] = {}
    if not base.is_dir():
        return found
    for sub in base.iterdir():
        if not sub.is_dir():
            continue
        for f in sub.iterdir():
            key = key_of(f"{RUNS_DIR}/{sub.name}/{f.name}")
            if key is not None and f.is_file():
                found[key] = f
    return found


# -- the entry -----------------------------------------------------------------------------------

def parse_entry(data: bytes, *, where: str) -> list[dict[str, Any]]:
    """The outputs (dvc.lock output entries: ``path``, ``md5`` — an md5 or ``<md5>.dir`` —
    and optional ``hash: md5``, ``size``, ``nfiles``, ``isexec``) a run-cache entry names;
    raises :class:`CorruptObjectError` if ``data`` is not an entry the pipeline would
    accept."""
    import json

    def bad(why: str) -> CorruptObjectError:
        return CorruptObjectError(f"{where}: not a run-cache entry ({why})",
                                  hint="the entry is damaged; it was not used")

    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad(f"invalid JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("outs"), list) or not raw["outs"]:
        raise bad('expected {"outs": [...]} with at least one output')
    outs: list[dict[str, Any]] = raw["outs"]
    for i, out in enumerate(outs, 1):
        if not isinstance(out, dict):
            raise bad(f"output {i} is not an object")
        path, md5 = out.get("path"), out.get("md5")
        if not isinstance(path, str) or not path.strip():
            raise bad(f"output {i} has no path")
        if not is_dvc_md5_id(md5):
            raise bad(f"output '{path}' has no valid md5")
        if out.get("hash", "md5") != "md5":
            raise bad(f"output '{path}' is not hashed with md5")
        for name in ("size", "nfiles"):
            v = out.get(name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise bad(f"output '{path}' has an invalid {name}")
        if not isinstance(out.get("isexec", False), bool):
            raise bad(f"output '{path}' has an invalid isexec")
    return outs


def load_entry(archives_dir: Path, key: str) -> list[dict[str, Any]] | None:
    """The outputs of the local entry of ``key``; None when there is none or it is damaged
    (a damaged entry only costs a run)."""
    try:
        return parse_entry(entry_path(archives_dir, key).read_bytes(), where="run-cache entry")
    except (OSError, ArchivesError):
        return None


def save_entry(archives_dir: Path, key: str, outs: list[dict[str, Any]]) -> None:
    """Write the entry of ``key`` (atomically; an entry already there is replaced)."""
    path = entry_path(archives_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    import json

    atomic_write(path, json.dumps({"outs": outs}, sort_keys=True).encode("utf-8"))
