"""``git archives migrate --from-dvc``: data ``.dvc`` files track becomes pointer-tracked
files, in one new commit.

:func:`plan_migration` reads and checks everything first (a clean index and work tree,
every selected output present as its ``.dvc`` file records it) and changes nothing;
:func:`apply_migration` then, for each output: adds a ``.gitattributes`` rule (``/path``
for a file, ``/path/**`` for a directory — the track machinery's), removes the ``.dvc``
file and the ``/name`` line DVC wrote in the ``.gitignore`` beside the output, and stages
the output's files, which the clean filter stores as sha256 objects (a directory becomes one
pointer per file of its ``.dir`` manifest). The md5 objects stay in the cache, untouched.
If a step fails, the index and the files it edited are put back as they were.

Lower layer: never prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gitext.codec import pointer as ptr
from gitext.codec.shellquote import shell_arg
from gitext.errors import ArchivesError, UsageError
from gitext.git.repo import Repo
from gitext.pipeline.dvcfiles import DvcFile, DvcOut, is_dvcfile, parse_dvcfile
from gitext.store.dvccache import open_store
from gitext.store.objects import LocalStore

if TYPE_CHECKING:
    from gitext.pipeline.dvchash.tree import Hasher

_GLOB_CHARS = "*?[]\\"


class MigratedOutput:
    __slots__ = ("dvc_file", "files", "out", "pattern")

    def __init__(self, dvc_file: DvcFile, out: DvcOut, files: list[str]) -> None:
        self.dvc_file = dvc_file
        self.out = out
        self.files = files  # repository paths that become pointers
        escaped = "".join("\\" + c if c in _GLOB_CHARS else c for c in out.path)
        self.pattern = f"/{escaped}/**" if out.is_dir else f"/{escaped}"


class MigrationPlan:
    __slots__ = ("dvc_files", "outputs")

    def __init__(self, dvc_files: list[DvcFile], outputs: list[MigratedOutput]) -> None:
        self.dvc_files = dvc_files
        self.outputs = outputs

    @property
    def files(self) -> list[str]:
        return [f for o in self.outputs for f in o.files]


def _dvc_files_in_index(repo: Repo) -> list[str]:
    return sorted({e.path for e in repo.ls_files(":(glob)**/*.dvc") if is_dvcfile(e.path)})


def _selected(candidates: list[str], wanted: list[str], outs: dict[str, list[str]],
              ) -> list[str]:
    """The ``.dvc`` files a PATH names: the file itself, one of its outputs (or a folder
    holding it), or a folder holding the ``.dvc`` file."""
    if not wanted:
        return candidates
    chosen: list[str] = []
    for path in wanted:
        top = path.rstrip("/")

        def inside(p: str, top: str = top) -> bool:
            return top in {"", "."} or p == top or p.startswith(top + "/")

        hits = [f for f in candidates if inside(f) or any(inside(o) for o in outs[f])]
        if not hits:
            raise UsageError(f"migrate: no .dvc file tracks '{path}'",
                             hint="'git ls-files \"*.dvc\"' lists the .dvc files git tracks")
        chosen += [h for h in hits if h not in chosen]
    return sorted(chosen)


def _check_clean(repo: Repo) -> None:
    changed = repo.git("status", "--porcelain", "-z", "--untracked-files=no").stdout
    if changed.strip(b"\0"):
        entries = [e for e in changed.split(b"\0") if e]
        first = entries[0][3:].decode("utf-8", "surrogateescape")
        more = " and more" if len(entries) > 1 else ""
        raise UsageError(
            f"migrate refused: the index or work tree has uncommitted changes ({first}{more})",
            hint="commit or stash them first ('git status' lists them); migrate makes one "
                 "commit of its own")


def _output_files(root: Path, dvc_file: DvcFile, out: DvcOut, store: LocalStore,
                  hasher: Hasher) -> list[str]:
    """The files an output becomes; refused unless it is present as recorded."""
    from gitext.pipeline.dvcdata import output_state
    from gitext.store import manifests

    where = f"{dvc_file.file}: '{out.path}'"
    if out.legacy:
        raise ArchivesError(f"migrate: {where} was recorded by DVC 2",
                            hint=f"'dvc add {shell_arg(out.path)}' with DVC 3 first")
    if out.md5 is None or not out.cache:
        raise ArchivesError(f"migrate: {where} names no cached content (cache: false, or "
                            "an import not downloaded)",
                            hint="leave it out: name the other paths to migrate")
    state = output_state(root, out, store, hasher)
    if state is not None:
        raise ArchivesError(f"migrate: {where} is not as {dvc_file.file} records it "
                            f"({state}); nothing was changed",
                            hint="'git archives pull' (or 'git archives checkout') puts the "
                                 "recorded data in place; 'dvc add' records yours")
    if not out.is_dir:
        return [out.path]
    return [f"{out.path}/{e.relpath}" for e in manifests.read_manifest(store, out.md5)]


def plan_migration(repo: Repo, paths: list[str]) -> MigrationPlan:
    """What migrating the ``.dvc`` files ``paths`` select (repository paths; none: all that
    git tracks) would do. Raises on anything that stops it; changes nothing."""
    from gitext.pipeline.dvchash.tree import Hasher
    from gitext.store.state import StateCache

    root = repo.root
    _check_clean(repo)
    candidates = _dvc_files_in_index(repo)
    parsed = {f: parse_dvcfile((root / f).read_bytes(), file=f) for f in candidates}
    chosen = _selected(candidates, paths, {f: [o.path for o in d.outs]
                                           for f, d in parsed.items()})
    if not chosen:
        raise UsageError("migrate: git tracks no .dvc file here", hint=None)
    state = StateCache(repo.archives_dir / "state.db")
    try:
        store = open_store(repo, state=state)
        hasher = Hasher(state, root)
        outputs = [MigratedOutput(parsed[f], out, _output_files(root, parsed[f], out, store,
                                                                hasher))
                   for f in chosen for out in parsed[f].outs]
    finally:
        state.close()
    return MigrationPlan([parsed[f] for f in chosen], outputs)


def apply_migration(repo: Repo, plan: MigrationPlan, message: str) -> str:
    """Make the plan's one commit; returns its id. On failure, the index and the edited
    files are restored (the data files themselves are never touched)."""
    attrs = repo.root / ".gitattributes"
    attrs_before = attrs.read_bytes() if attrs.is_file() else None
    edited = [".gitattributes", *(f.file for f in plan.dvc_files)]
    try:
        edited += _edit_work_tree(repo, plan)
        repo.git("add", "-f", "--", *(_literal(p) for p in plan.files))
        repo.git("add", "-A", "--", *(_literal(p) for p in dict.fromkeys(edited)))
        _verify_pointers(repo, plan)
        repo.git("commit", "-q", "-m", message)
    except BaseException:
        _roll_back(repo, edited, attrs_before)
        raise
    return repo.git_text("rev-parse", "HEAD").strip()


def _literal(path: str) -> str:
    return ":(literal)" + path  # a name from a .dvc file is never pathspec magic


def _edit_work_tree(repo: Repo, plan: MigrationPlan) -> list[str]:
    """Attributes in, ``.dvc`` files and their ``.gitignore`` lines out; returns the
    ``.gitignore`` files edited."""
    from gitext.fs.worktree import WorkTree, require_no_symlink
    from gitext.git import attributes
    from gitext.pipeline.gitignore import remove_gitignored

    root = repo.root
    require_no_symlink(root, root / ".gitattributes")
    attributes.track(root / ".gitattributes", [o.pattern for o in plan.outputs])
    with WorkTree(root) as wt:
        for dvc_file in plan.dvc_files:
            wt.remove(dvc_file.file)
        removed = remove_gitignored(wt, [o.out.path for o in plan.outputs])
    return [rel for rel, _line in removed]


def _verify_pointers(repo: Repo, plan: MigrationPlan) -> None:
    """Every staged file is a pointer whose object is in the cache (else the rules did not
    apply: a committed attribute overriding ours, say)."""
    store = open_store(repo)
    staged = {e.path: e.blob for e in repo.ls_files(*(f":(literal){p}" for p in plan.files))}
    blobs = dict(repo.cat_blobs(list(dict.fromkeys(staged.values()))))
    for path in plan.files:
        data = blobs.get(staged.get(path, ""))
        if data is None:
            raise ArchivesError(f"migrate: '{path}' was not staged; nothing was committed",
                                hint="check 'git check-ignore -v' and 'git status' for it")
        pointer = ptr.try_parse(data)
        if data and (pointer is None or not store.has(pointer.oid)):
            raise ArchivesError(
                f"migrate: '{path}' was not stored as a pointer; nothing was committed",
                hint="'git check-attr -a -- " + shell_arg(path) + "' shows which rule wins")


def _roll_back(repo: Repo, edited: list[str], attrs_before: bytes | None) -> None:
    from gitext.fs.worktree import WorkTree

    repo.git("reset", "-q", "--", ".", check=False)
    tracked = [p for p in dict.fromkeys(edited) if repo.git(
        "cat-file", "-e", f"HEAD:{p}", check=False).returncode == 0]
    if tracked:
        repo.git("checkout", "HEAD", "--", *tracked, check=False)
    if ".gitattributes" not in tracked:  # an untracked one, or none, as before
        with WorkTree(repo.root) as wt:
            if attrs_before is None:
                wt.remove(".gitattributes")
            else:
                wt.write_bytes(".gitattributes", attrs_before)
