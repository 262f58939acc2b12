"""``git archives hook <name> …``: what each git hook does.

Every hook's no-op path must cost little more than starting Python: nothing heavy is
imported until a hook knows it has work (a pending pointer, a dvc.lock, a staged file).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from gitext import log
from gitext.codec.shellquote import display, shell_arg, shell_args, track_patterns
from gitext.errors import ArchivesError
from gitext.git.repo import Repo

DEFAULT_SIZE_LIMIT = "10mb"
_POINTER_MAX = 1024  # gitext.codec.pointer.MAX_POINTER_SIZE, without importing it on every commit


def pre_commit(repo: Repo, args: list[str]) -> int:
    # One diff serves every check: without rename detection a renamed or copied file is an
    # added one, so A, M and T are all there is.
    raw = repo.git("diff", "--cached", "--raw", "-z", "--no-renames", "--diff-filter=AMT",
                   "--no-abbrev").stdout
    fields = raw.split(b"\0")
    staged_names: list[str] = []
    staged: list[tuple[str, str]] = []
    i = 0
    while i + 1 < len(fields):
        meta, raw_path = fields[i], fields[i + 1]
        i += 2
        parts = meta.decode().split()
        name = raw_path.decode("utf-8", "surrogateescape")
        staged_names.append(name)
        if len(parts) >= 4 and parts[1] != "160000":
            staged.append((parts[3], name))
    problems: list[str] = []
    small: list[tuple[str, str]] = []  # (blob, path) small enough to be pointers
    limit = 0
    if staged:
        from gitext.config import Config, format_size, parse_size  # (not on the no-op path)

        cfg = Config.load(repo.worktree)  # (only now: a commit of nothing reads no config)
        limit = parse_size(cfg.get("size.limit") or DEFAULT_SIZE_LIMIT,
                           where="size.limit in .archives/config")
        sizes = repo.git("cat-file", "--batch-check=%(objectsize)",
                         input_bytes="".join(b + "\n" for b, _ in staged).encode()).stdout
        for (blob, path), size in zip(staged, sizes.decode().split(), strict=False):
            if size.isdigit() and int(size) > limit:
                problems.append(f"  {path} ({format_size(int(size))})")
            elif size.isdigit() and 0 < int(size) < _POINTER_MAX:
                small.append((blob, path))
    code = 0
    if problems:
        from gitext.config import format_size

        log.line(f"git-archives: refusing to commit {len(problems)} file(s) larger than "
             f"{format_size(limit)} that are not tracked as large files:")
        for p in problems:
            log.line(p)
        names = [p[2:].rsplit(" (", 1)[0] for p in problems[:5]]
        log.line(f"hint: track them with: git archives track -- {track_patterns(names)} && "
             f"git add --renormalize -- {shell_args(names)}")
        log.line("hint: or raise size.limit in .archives/config; 'git commit --no-verify' skips "
             "this check")
        code = 1
    unstored = _unstored(repo)
    # (what _unstored reported is missing too: say it once)
    code = max(code, unstored or _missing_objects(repo, small))
    code = max(code, _notebook_pairs(repo, staged_names))
    return code


def _unstored(repo: Repo) -> int:
    """Refuse to commit a pointer whose content the filter could not store (a write that
    failed after git had its answer: the filter reported it, and noted it here)."""
    from gitext.store import unstored

    entries = unstored.read(repo.archives_dir)
    if entries is None:
        return 0
    from gitext.codec import pointer as ptr
    from gitext.store.dvccache import open_store

    store = open_store(repo)
    keep: list[unstored.Entry] = []
    bad: list[tuple[str, str]] = []
    for entry in entries:
        if store.has(entry.oid):
            continue  # stored since (added again)
        staged = [e for e in repo.ls_files(entry.path) if e.stage == 0 and e.path == entry.path]
        if not staged:
            continue
        blob = dict(repo.cat_blobs([staged[0].blob])).get(staged[0].blob, b"")
        pointer = ptr.try_parse(blob)
        if pointer is None or pointer.oid != entry.oid:
            continue  # the index no longer holds that pointer
        keep.append(entry)
        bad.append((entry.path, entry.why))
    unstored.keep_only(repo.archives_dir, keep)
    if not bad:
        return 0
    log.line(f"git-archives: refusing to commit {len(bad)} pointer(s) whose content could not be "
         "stored in the cache:")
    for path, why in bad[:10]:
        log.line(f"  {display(path)} ({why})")
    names = shell_args(p for p, _ in bad[:5])
    log.line(f"hint: fix the cause, then: git add --renormalize -- {names}")
    return 1


def _missing_objects(repo: Repo, small: list[tuple[str, str]]) -> int:
    """Refuse staged pointers whose object is neither cached nor on the default remote."""
    if not small:
        return 0
    from gitext.codec.shellquote import display, shell_arg
    from gitext.sync.stagecheck import missing_staged_objects

    report = missing_staged_objects(repo, small)
    if not report.missing:
        return 0
    where = (f"on data remote '{report.remote}'" if report.remote and not report.remote_error
             else f"known to be on data remote '{report.remote}' ({report.remote_error})"
             if report.remote else "on a data remote (none is configured)")
    log.line(f"git-archives: refusing to commit {len(report.missing)} pointer(s) whose content "
         f"is neither in the local cache nor {where}:")
    for path, oid in report.missing[:10]:
        log.line(f"  {display(path)} ({oid})")
    if len(report.missing) > 10:
        log.line(f"  ... and {len(report.missing) - 10} more")
    names = " ".join(shell_arg(p) for p, _ in report.missing[:5])
    log.line(f"hint: if the files still hold their content, store it again: "
         f"git add --renormalize -- {names}")
    if report.remote_error:
        log.line("hint: or make the data remote reachable and commit again")
    log.line(f"hint: or unstage them: git restore --staged -- {names}")
    log.line("hint: 'git commit --no-verify' skips this check (the commit would name data that "
         "exists nowhere)")
    return 1


def _notebook_pairs(repo: Repo, staged: list[str]) -> int:
    if not staged:
        return 0
    from gitext.notebooks import hooks as nbhooks

    problems = nbhooks.check_staged_pairs(repo, staged)
    for p in problems:
        log.line(f"git-archives: {p}")
    return 1 if problems else 0


def post_checkout(repo: Repo, args: list[str]) -> int:
    _fill(repo)
    _outputs(repo)
    _notebooks(repo)
    if len(args) >= 3 and args[2] == "1" and _pairing_possible(repo):
        from gitext.notebooks import hooks as nbhooks

        for line in nbhooks.regenerate_from_text(repo):
            log.line(f"git-archives: {line}")
    return 0


def _pairing_possible(repo: Repo) -> bool:
    """A few stats, so a repository that pairs nothing never imports the pairing code."""
    top = repo.worktree
    if top is None:
        return False
    if (repo.archives_dir / "nbsync").is_dir():
        return True
    if any((top / n).is_file() for n in ("jupytext.toml", ".jupytext.toml", ".jupytext")):
        return True
    pyproject = top / "pyproject.toml"
    try:
        return pyproject.is_file() and b"jupytext" in pyproject.read_bytes()
    except OSError:
        return False


def post_merge(repo: Repo, args: list[str]) -> int:
    _fill(repo)
    _outputs(repo)
    _notebooks(repo)
    return 0


def reference_transaction(repo: Repo, args: list[str]) -> int:
    """Run (by the shim) only when a fetch has moved remote-tracking refs: the merge step
    of 'git pull' comes next, and must not be refused over notebook outputs."""
    if repo.worktree is not None:
        _refresh_notebooks(repo)
    return 0


def _refresh_notebooks(repo: Repo) -> None:
    from gitext.notebooks.refresh import nothing_to_refresh, refresh

    if nothing_to_refresh(repo):
        return

    report = refresh(repo)
    if report.refreshed:
        log.line(f"git-archives: {len(report.refreshed)} notebook(s) differ only in outputs; "
             "git now compares them by content (outputs kept aside in case a checkout "
             "replaces them)")


def _notebooks(repo: Repo) -> None:
    """After a checkout or merge: say which notebooks lost outputs that were kept aside,
    then re-register notebooks whose only changes are outputs."""
    from gitext.notebooks.refresh import outputs_dir, replaced_since_saved

    if outputs_dir(repo).is_dir():
        for path in replaced_since_saved(repo):
            log.line(f"git-archives: {display(path)} was replaced; its previous outputs are kept: "
                 f"git archives nb restore-outputs {shell_arg(path)} puts them back in the "
                 "cells whose source did not change")
    _refresh_notebooks(repo)


def _fill(repo: Repo) -> None:
    # Fast path: smudge flags the cache when it leaves a pointer; no flag, nothing to fill.
    if not (repo.archives_dir / "pending").exists():
        return
    from gitext.store.dvccache import open_store
    from gitext.sync.pointers import fill_pointers

    report = fill_pointers(repo, open_store(repo))
    if report.filled:
        log.line(f"git-archives: filled in {len(report.filled)} file(s) from the cache")
    if report.missing:
        log.line(f"git-archives: {len(report.missing)} file(s) are still pointers; "
             "run 'git archives pull' to fetch them")


def _outputs(repo: Repo) -> None:
    root = repo.worktree
    # Nested pipelines' outputs outside a DVC project: 'git archives checkout' (a hook stays
    # cheap). In a DVC project (.dvc/ at the top), .dvc files are looked for (one git call).
    if root is None or not ((root / "dvc.lock").exists() or (root / ".dvc").is_dir()):
        return
    from gitext.pipeline.checkout import checkout_outputs

    # Never forced: a file the user changed is kept and reported, not overwritten.
    report = checkout_outputs(root, archives_dir=repo.archives_dir)
    if report.restored:
        log.line(f"git-archives: restored {len(report.restored)} output(s) of dvc.lock and "
                 ".dvc files from the cache")
    for path, why in report.conflicts:
        log.line(f"git-archives: kept {display(path)} ({why}); 'git archives checkout --force' "
             "replaces it")
    for item in report.missing[:5]:
        log.line(f"git-archives: {display(item)} is not in the cache; run 'git archives pull'")
    if len(report.missing) > 5:
        log.line(f"git-archives: ... and {len(report.missing) - 5} more output(s) not in the "
                 "cache")
    for path, why in report.refused:
        log.line(f"git-archives: refused to restore {display(path)}: {why}")
    for path, why in report.skipped:
        log.line(f"git-archives: skipped {display(path)}: {why}")


def pre_push(repo: Repo, args: list[str]) -> int:
    lines = [ln for ln in sys.stdin.read().splitlines() if ln.strip()]
    if not lines:
        return 0
    from gitext.lazyimport import preload

    # What the first request needs, imported on a thread while this one reads the
    # configuration and lists what to push (git commands it waits for): the store and the
    # transfers, then the LFS client if the LFS server is the remote. (The chunk store is
    # loaded during that request: gitext.sync.transfer.push.)
    preload("gitext.sync.transfer")
    from gitext.config import Config
    from gitext.git.repo import keep_config_lists

    keep_config_lists()  # read three times below, changed by nothing

    cfg = Config.load(repo.worktree)
    from gitext.remotes import has_default_remote, lfs_is_default

    lfs = lfs_is_default(cfg, repo.worktree)
    if not lfs and not has_default_remote(cfg, repo.worktree):
        # Nowhere to upload to. Say so when there is data a teammate would then lack.
        if (repo.archives_dir / "files").is_dir():
            log.line("git-archives: no data remote is configured, so the data these commits "
                 "reference is not uploaded")
            log.line("hint: git archives remote add -d storage <directory or s3://bucket/path>")
        return 0
    if lfs:
        preload("gitext.remotes.lfs")
    from gitext.sync.prepush import pre_push

    remote_name = args[0] if args else ""
    remote_url = args[1] if len(args) > 1 else ""
    code: int = pre_push(repo, remote_name, remote_url, lines, cfg)
    return code


HOOKS: dict[str, Callable[[Repo, list[str]], int]] = {
    "pre-commit": pre_commit,
    "post-checkout": post_checkout,
    "post-merge": post_merge,
    "pre-push": pre_push,
    "reference-transaction": reference_transaction,
}


def run_hook(name: str, args: list[str]) -> int:
    func = HOOKS.get(name)
    if func is None:
        log.line(f"git-archives: unknown hook '{name}' (known: {', '.join(HOOKS)})")
        return 2
    if os.environ.get("GIT_ARCHIVES_SKIP_HOOKS"):
        return 0
    try:
        return func(Repo.for_hook(), args)
    except ArchivesError as exc:
        log.line(f"git-archives: {name}: {exc.message}")
        if exc.hint:
            log.line(f"hint: {exc.hint}")
        # A failing post-* hook cannot undo the checkout: report, don't fail.
        return 1 if name.startswith("pre-") else 0
