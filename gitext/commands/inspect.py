"""What the clone holds and whether it is whole: ``ls-files`` (pointer files and ``.dvc``
outputs, their size and presence), ``status`` (files left as pointers, missing objects,
``.dvc`` data and pipeline stages not as recorded, and with ``--remote`` what the remote
lacks) and ``fsck`` (every cached object verified; corrupt ones quarantined)."""

from __future__ import annotations

import json
import sys
from typing import Any

from gitext.codec.shellquote import display
from gitext.commands.core import _repo


def register(sub: Any) -> None:
    p = sub.add_parser("ls-files", help="files stored as pointers, their size and presence")
    p.add_argument("--json", action="store_true")
    p.add_argument("-z", dest="nul", action="store_true",
                   help="end each line with NUL and print paths verbatim (as git ls-files -z)")
    p.add_argument("paths", nargs="*")
    p.set_defaults(func=lambda ns: cmd_ls_files(paths=ns.paths, as_json=ns.json, nul=ns.nul))

    p = sub.add_parser("status", help="pointers left in the work tree, missing objects, "
                                      "stale pipeline stages")
    p.add_argument("--json", action="store_true")
    p.add_argument("--remote", nargs="?", const="", default=None, metavar="NAME",
                   help="also say which objects the remote lacks")
    p.set_defaults(func=lambda ns: cmd_status(as_json=ns.json, remote=ns.remote))

    p = sub.add_parser("fsck", help="verify every cached object; quarantine corrupt ones")
    p.add_argument("--dry-run", action="store_true", help="report only; move nothing")
    p.set_defaults(func=lambda ns: cmd_fsck(dry_run=ns.dry_run))

    p = sub.add_parser("du", help="bytes the cache stores, without chunking, and per file "
                                  "what it shares with its previous version")
    p.add_argument("--json", action="store_true")
    p.add_argument("paths", nargs="*")
    p.set_defaults(func=lambda ns: cmd_du(paths=ns.paths, as_json=ns.json))


def cmd_ls_files(*, paths: list[str], as_json: bool, nul: bool = False) -> int:
    from gitext.codec.shellquote import c_quote
    from gitext.config import format_size
    from gitext.store.dvccache import open_store
    from gitext.sync.pointers import index_pointers, worktree_is_pointer

    repo = _repo()
    store = open_store(repo)
    rows: list[dict[str, Any]] = []
    for tp in index_pointers(repo, paths):
        in_cache = tp.pointer.size == 0 or _local(repo, store, tp.pointer.oid)
        in_tree = not worktree_is_pointer(repo.root / tp.path, tp.pointer) \
            and (repo.root / tp.path).exists()
        rows.append({"path": tp.path, "oid": str(tp.pointer.oid), "size": tp.pointer.size,
                     "cached": in_cache, "checked_out": in_tree})
    rows += _dvc_ls_rows(repo, paths)
    if as_json:
        print(json.dumps(rows, indent=1))
        return 0
    # As git prints paths: C-style quoted when special, verbatim with -z.
    quote_path = repo.config_get("core.quotepath", options=["--type=bool"]) != "false"
    end = "\0" if nul else "\n"
    for r in rows:
        mark = "*" if r["checked_out"] else "-"
        cached = "cached" if r["cached"] else "missing"
        path = r["path"] if nul else c_quote(r["path"], non_ascii=quote_path)
        short = r["oid"].partition(":")[2][:12]
        line = f"{short} {mark} {path} ({format_size(r['size'])}, {cached}){end}"
        sys.stdout.buffer.write(line.encode("utf-8", "surrogateescape"))
    sys.stdout.flush()
    return 0


def _dvc_ls_rows(repo: Any, paths: list[str]) -> list[dict[str, Any]]:
    """``ls-files`` rows for the outputs of ``.dvc`` files (``oid`` is ``md5:<id>``; a
    directory's id ends in ``.dir``)."""
    import os

    from gitext.pipeline.dvcdata import NOT_IN_CACHE, survey

    rows, _errors = survey(repo.root, repo.archives_dir)  # errors: 'status' reports them
    wanted = [os.path.relpath(os.path.abspath(p), repo.root).replace(os.sep, "/")
              for p in paths]
    out: list[dict[str, Any]] = []
    for file, dvc_out, said in rows:
        if not dvc_out.addressable:  # DVC 2's, uncached, or no md5: no object of ours
            continue
        if wanted and not any(w in {".", dvc_out.path}
                              or dvc_out.path.startswith(w.rstrip("/") + "/") for w in wanted):
            continue
        out.append({"path": dvc_out.path, "oid": f"md5:{dvc_out.md5}",
                    "size": dvc_out.size or 0, "cached": said != NOT_IN_CACHE,
                    "checked_out": said is None, "dvc_file": file})
    return out


def _local(repo: Any, store: Any, oid: Any) -> bool:
    """In the cache, or in git-lfs's folder (taken over, verified, the moment it is read)."""
    from gitext.store.lfsobjects import lfs_objects

    return bool(store.has(oid) or lfs_objects(repo).has(oid))


def _invalid_pointer_lines(invalid: list[Any]) -> list[str]:
    """``status``'s section on committed text that looks like a pointer but is not one."""
    if not invalid:
        return []
    lines = [f"Invalid pointers ({len(invalid)}): committed text that looks like a pointer "
             "but is not one; it is stored and checked out as it is"]
    for bad in invalid:
        lines += [f"  {bad.line()}", f"    fix: {bad.fix}"]
    return lines


_UP_TO_DATE = "Data and pipelines are up to date."


def _dvc_status_lines(repo: Any) -> tuple[list[str], dict[str, Any] | None]:
    """``status``'s section on data ``.dvc`` files track, in ``dvc status``'s words; and the
    same as ``dvc status --json`` groups it (None: no ``.dvc`` file here)."""
    from gitext.pipeline.dvcdata import NOT_IN_CACHE, dvc_status

    report = dvc_status(repo.root, repo.archives_dir)
    if not report.outputs and not report.errors:
        return [], None
    lines: list[str] = []
    for file, message in report.errors:
        lines.append(f"Unreadable .dvc file {display(file)}: {message}")
    if report.changed:
        lines.append(f"Data tracked by .dvc files ({len(report.changed)} of {report.outputs} "
                     "output(s) changed):")
        lines += [f"  {display(file)}: {state}: {display(path)}"
                  for file, path, state in report.changed]
        if any(state == NOT_IN_CACHE for _f, _p, state in report.changed):
            lines.append("  (not in cache: 'git archives pull' fetches it)")
        if any(state != NOT_IN_CACHE for _f, _p, state in report.changed):
            lines.append("  (deleted or modified: 'git archives checkout' restores what the "
                         ".dvc file records; 'dvc add' records the new data)")
    return lines, {"outputs": report.outputs, "changed": report.to_dict(),
                   "errors": [{"file": f, "error": m} for f, m in report.errors]}


def _pointer_status(repo: Any) -> tuple[list[str], dict[str, Any]]:
    """``status``'s section on pointer-tracked files: left as pointers in the work tree,
    missing from the cache, or not valid pointers at all; and the same for ``--json``."""
    from gitext.store.dvccache import open_store
    from gitext.sync.badpointers import index_invalid_pointers
    from gitext.sync.pointers import index_pointers, worktree_is_pointer

    store = open_store(repo)
    pointers = index_pointers(repo)
    invalid = index_invalid_pointers(repo)
    left = [tp for tp in pointers if tp.pointer.size
            and worktree_is_pointer(repo.root / tp.path, tp.pointer)]
    missing = [tp for tp in pointers if tp.pointer.size
               and not _local(repo, store, tp.pointer.oid)]
    result: dict[str, Any] = {
        "pointers": len(pointers),
        "left_as_pointers": [tp.path for tp in left],
        "missing_objects": [tp.path for tp in missing],
        "invalid_pointers": [bad.as_dict() for bad in invalid],
    }
    lines: list[str] = []
    if left:
        lines.append(f"Files left as pointers ({len(left)}): "
                     "run 'git archives pull' to fetch their content")
        lines += [f"  {display(tp.path)}" for tp in left]
    if missing:
        lines.append(f"Objects missing from the local cache ({len(missing)}):")
        lines += [f"  {display(tp.path)} ({tp.pointer.oid.digest[:12]})" for tp in missing]
    lines += _invalid_pointer_lines(invalid)
    if not left and not missing:
        lines.append(f"Large files: all {len(pointers)} present.")
    return lines, result


def cmd_status(*, as_json: bool, remote: str | None) -> int:
    repo = _repo()
    lines, result = _pointer_status(repo)
    from gitext.commands.pipeline import pipeline_status_lines

    plines, code = pipeline_status_lines(repo.root, archives_dir=repo.archives_dir)
    errors: list[str] = []
    if code:  # the pipeline cannot be read: said on stderr, and the exit code says it
        errors, plines = plines, []
        result["pipeline_error"] = errors
    dlines, dvc = _dvc_status_lines(repo)
    if dvc is not None:
        result["dvc_files"] = dvc
        lines += dlines
        if dlines and plines == [_UP_TO_DATE]:
            plines = []  # the .dvc-tracked data is not up to date
        elif not dlines and not plines and not errors:
            plines = [_UP_TO_DATE]
    if plines:
        lines += plines
        result["pipeline"] = plines
    if remote is not None:
        from gitext.sync.prepush import remote_status_lines

        rlines = remote_status_lines(repo, remote or None)
        lines += rlines
        result["remote"] = rlines
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        print("\n".join(lines))
    for line in errors:
        print(line, file=sys.stderr)
    return max(code, 1 if dvc is not None and dvc["errors"] else 0)


def cmd_du(*, paths: list[str], as_json: bool) -> int:
    from gitext.config import format_size
    from gitext.store.dvccache import open_store
    from gitext.sync.usage import measure

    repo = _repo()
    usage = measure(repo, open_store(repo), paths)
    if as_json:
        print(json.dumps(usage.as_dict(), indent=1))
        return 0
    print(f"stored: {format_size(usage.stored)} ({usage.packs} pack(s), "
          f"{usage.whole_objects} whole object(s))")
    print(f"without chunking: {format_size(usage.without_chunking)} "
          f"({usage.chunked_objects} object(s) stored as chunks)")
    for f in usage.files:
        new = "?" if f.new_bytes is None else format_size(f.new_bytes)
        shared = "?" if f.shared_percent is None else f"{f.shared_percent:.1f}%"
        print(f"{display(f.path)}\t{format_size(f.size)}\tnew {new}\tshared {shared}")
    return 0


def _fsck_state_db(store: Any) -> int:
    """Check ``state.db`` (a corrupt one is set aside and rebuilt); name every copy set
    aside so far. Returns how many there are."""
    from gitext.store.state import corrupt_copies

    store.state.check()
    copies = corrupt_copies(store.state.db_path)
    for copy in copies:
        print(f"corrupt: state.db (the hash cache) was moved to {copy} and rebuilt; "
              "remove that copy once you no longer need it")
    return len(copies)


def cmd_fsck(*, dry_run: bool) -> int:
    from gitext.store.dvccache import open_store
    from gitext.sync.badpointers import index_invalid_pointers

    repo = _repo()
    store = open_store(repo)
    bad_state = _fsck_state_db(store)
    bad = 0
    total = 0
    for oid in store.iter_objects():
        total += 1
        if not store.verify(oid):
            bad += 1
            if dry_run:
                print(f"corrupt: {oid}")
            else:
                where = store.quarantine(oid)
                print(f"corrupt: {oid} moved to {where}")
    bad += _fsck_chunks(store, dry_run=dry_run)
    stale = store.stale_temp_files()
    for p in stale:
        if dry_run:
            print(f"stale temp file: {p}")
        else:
            p.unlink(missing_ok=True)
            print(f"removed stale temp file {p.name} (left by an interrupted write)")
    _fsck_work_tree_temps(repo, dry_run=dry_run)
    from gitext.sync.pointers import index_pointers

    missing = [tp for tp in index_pointers(repo) if tp.pointer.size
               and not _local(repo, store, tp.pointer.oid)]
    for tp in missing:
        print(f"missing: {display(tp.path)} ({tp.pointer.oid})")
    invalid = index_invalid_pointers(repo)
    for inv in invalid:
        print(f"invalid pointer: {inv.line()}\n  fix: {inv.fix}")
    print(f"checked {total} object(s): {bad} corrupt, {len(missing)} missing"
          + (f", {len(invalid)} invalid pointer(s)" if invalid else ""))
    if bad or missing:
        print("hint: run 'git archives pull' to fetch missing or quarantined objects again",
              file=sys.stderr)
    return 1 if bad or missing or invalid or bad_state else 0


def _fsck_chunks(store: Any, *, dry_run: bool) -> int:
    """Check the chunk store (docs/storage.md); name each damaged pack and object."""
    if not (store.root / "chunks").is_dir():
        return 0
    from gitext.store.chunks.check import check_chunks

    report = check_chunks(store.chunks, store.quarantine_dir, repair=not dry_run)
    for f in report.findings:
        where = f" (moved to {f.moved_to})" if f.moved_to else ""
        extra = "; its sound chunks were copied to a new pack" \
            if f.what == "pack" and f.moved_to else ""
        print(f"corrupt: {f.what} {f.name}: {f.problem}{where}{extra}")
    print(f"checked {report.recipes} chunked object(s) and {report.chunks} chunk(s) in "
          f"{report.packs} pack(s)")
    return len(report.findings)


def _fsck_work_tree_temps(repo: Any, *, dry_run: bool) -> None:
    """Temp files a killed pull left in the work tree: ours are removed (their process is
    gone); an older version's are listed with the command that removes them."""
    from gitext.codec.shellquote import display, shell_args
    from gitext.fs.worktree import WorkTree
    from gitext.sync.pointers import interrupted_fill_temps

    if repo.worktree is None:
        return
    ours, legacy = interrupted_fill_temps(repo)
    with WorkTree(repo.root) as wt:
        for rel in ours:
            if dry_run:
                print(f"stale temp file: {display(rel)}")
            else:
                wt.remove(rel)
                print(f"removed stale temp file {display(rel)} (left by an interrupted pull)")
    if legacy:
        print(f"{len(legacy)} temp file(s) an interrupted pull of an older version left: "
              + ", ".join(display(p) for p in legacy[:5]))
        print(f"hint: remove them with: rm -- {shell_args(legacy[:20])}", file=sys.stderr)
