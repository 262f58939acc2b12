"""Which objects some revisions need.

:func:`referenced_objects` / :func:`find_references` scan pointer blobs (and the outputs of
``dvc.lock`` and ``.dvc`` files, with their ``.dir`` manifests expanded) reachable from
revisions, cheaply: one ``ls-tree``/``rev-list``, one ``cat-file --batch-check``, one
``cat-file --batch`` of the small blobs only. The helpers that list blobs at a revision or along a
rev-list, and the stash commits, are shared with :mod:`gitext.sync.prepush` and
:mod:`gitext.sync.gcroots`.

Lower layer: never prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from gitext.codec import pointer as ptr
from gitext.codec.hashing import ObjectId
from gitext.errors import ArchivesError
from gitext.git.repo import Repo
from gitext.pipeline.dvcfiles import is_dvcfile
from gitext.pipeline.dvcproject import UncachedOutputs, yaml_path
from gitext.record import Record
from gitext.sync.patterns import PathFilter

if TYPE_CHECKING:
    from gitext.store.objects import LocalStore

LOCK_NAME = "dvc.lock"
YAML_NAME = "dvc.yaml"


class References(Record):
    """Objects some revisions need. ``manifests`` are DVC ``.dir`` ids (stored under
    ``<key>.dir``); their entries are in ``objects`` once the manifest could be read."""

    _fields = ("objects", "manifests", "manifest_paths", "unexpanded", "sizes", "unreadable",
               "unpushed", "pushed_md5")

    def __init__(self, objects: set[ObjectId] | None = None,
                 manifests: set[ObjectId] | None = None, *,
                 manifest_paths: dict[ObjectId, str] | None = None,
                 unexpanded: set[ObjectId] | None = None,
                 sizes: dict[ObjectId, int] | None = None,
                 unreadable: list[str] | None = None,
                 unpushed: set[ObjectId] | None = None,
                 pushed_md5: set[ObjectId] | None = None) -> None:
        self.objects: set[ObjectId] = set() if objects is None else objects
        self.manifests: set[ObjectId] = set() if manifests is None else manifests
        # manifest -> the output path it describes (for include/exclude of its entries)
        self.manifest_paths: dict[ObjectId, str] = manifest_paths or {}
        self.unexpanded: set[ObjectId] = set() if unexpanded is None else unexpanded
        # as pointers and locks say
        self.sizes: dict[ObjectId, int] = {} if sizes is None else sizes
        # .dvc files that could not be read (the error, naming file and line), when not strict
        self.unreadable: list[str] = [] if unreadable is None else unreadable
        # md5 ids named by outputs marked ``push: false`` (DVC: never uploaded), and by the
        # others: an id only the first name is kept out of a push (:meth:`pushable`)
        self.unpushed: set[ObjectId] = set() if unpushed is None else unpushed
        self.pushed_md5: set[ObjectId] = set() if pushed_md5 is None else pushed_md5

    def all(self) -> set[ObjectId]:
        return self.objects | self.manifests

    def update(self, other: References) -> None:
        self.objects |= other.objects
        self.manifests |= other.manifests
        self.manifest_paths.update(other.manifest_paths)
        self.unexpanded |= other.unexpanded
        self.sizes.update(other.sizes)
        self.unreadable += [u for u in other.unreadable if u not in self.unreadable]
        self.unpushed |= other.unpushed
        self.pushed_md5 |= other.pushed_md5

    def pushable(self) -> References:
        """These references less the objects only ``push: false`` outputs name."""
        held = self.unpushed - self.pushed_md5
        if not held:
            return self
        return References(self.objects - held, self.manifests - held,
                          manifest_paths={m: p for m, p in self.manifest_paths.items()
                                          if m not in held},
                          unexpanded=self.unexpanded - held, sizes=self.sizes,
                          unreadable=list(self.unreadable))


def lock_outs(data: bytes, lock_dir: str, uncached: UncachedOutputs | None = None,
               ) -> list[tuple[str, str, int | None]]:
    """(path relative to the repository, md5 or ``<md5>.dir``, size) of every output in a
    lock that lives in a cache; outputs ``uncached`` names (``cache: false`` in dvc.yaml:
    committed to git) are left out."""
    from gitext.pipeline.lockfile import parse_lock

    try:
        lock = parse_lock(data.decode("utf-8"), file=f"{lock_dir}/{LOCK_NAME}".lstrip("/"))
    except (ArchivesError, UnicodeDecodeError):
        return []  # a broken lock is reported by the pipeline commands, not by transfers
    found: list[tuple[str, str, int | None]] = []
    for name, entry in lock.stages.items():
        for out in entry.outs:
            if out.md5 is None:
                continue
            if uncached is not None and (lock_dir, name, out.path) in uncached:
                continue
            path = out.path.strip("/")
            found.append((f"{lock_dir}/{path}" if lock_dir else path, out.md5, out.size))
    return found


def _lock_dir(path: str) -> str | None:
    """The folder of a ``dvc.lock`` blob path, or None if ``path`` is not a lock file."""
    if path == LOCK_NAME:
        return ""
    if path.endswith("/" + LOCK_NAME):
        return path[: -len(LOCK_NAME) - 1]
    return None


def add_lock(refs: References, data: bytes, lock_dir: str, keep: PathFilter,
             uncached: UncachedOutputs | None = None) -> None:
    for path, md5, size in lock_outs(data, lock_dir, uncached):
        add_output(refs, path, md5, size, keep)


def add_output(refs: References, path: str, md5: str, size: int | None,
               keep: PathFilter, *, push: bool = True) -> None:
    """One cached output (of a lock or a ``.dvc`` file): its object, or its manifest.
    ``push``: False for an output DVC never uploads (``push: false``)."""
    is_dir = md5.endswith(".dir")
    try:
        oid = ObjectId("md5", md5[:-4] if is_dir else md5)
    except ArchivesError:
        return  # not an id we can address; the pipeline commands report it
    (refs.pushed_md5 if push else refs.unpushed).add(oid)
    if is_dir:
        if keep.may_contain(path):
            refs.manifests.add(oid)
            refs.manifest_paths[oid] = path
    elif keep(path):
        refs.objects.add(oid)
        if size is not None:
            refs.sizes[oid] = size


def add_dvcfile(refs: References, data: bytes, path: str, keep: PathFilter, *,
                strict: bool = True) -> None:
    """The outputs of one ``.dvc`` file (``path``: where it is in the repository). A file
    DVC could not read either is an error naming it (skipping it could leave its data
    behind on a pull, or delete it in a gc); unless not ``strict``: then it is noted in
    ``refs.unreadable`` and skipped."""
    from gitext.pipeline.dvcfiles import parse_dvcfile

    try:
        parsed = parse_dvcfile(data, file=path)
    except ArchivesError as exc:
        if strict:
            raise
        if exc.message not in refs.unreadable:
            refs.unreadable.append(exc.message)
        return
    for out in parsed.outs:
        if out.addressable and out.md5 is not None:
            add_output(refs, out.path, out.md5, out.size, keep, push=out.push)


def _yaml_dir(path: str) -> str | None:
    """The folder of a ``dvc.yaml`` blob path, or None if ``path`` is not one."""
    if path == YAML_NAME:
        return ""
    if path.endswith("/" + YAML_NAME):
        return path[: -len(YAML_NAME) - 1]
    return None


def _blob_sizes(repo: Repo, shas: Sequence[str]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    out = repo.git("cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)",
                   input_bytes="".join(s + "\n" for s in shas).encode()).stdout
    for line in out.decode().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "blob":
            sizes[parts[0]] = int(parts[2])
    return sizes


def _read_yamls(repo: Repo, dirs: Iterable[str], revs: Sequence[str],
                uncached: UncachedOutputs) -> None:
    """The ``dvc.yaml`` of each folder in ``dirs`` at each of ``revs`` (one cat-file)."""
    names = [f"{rev}:{yaml_path(d)}" for d in sorted(dirs) for rev in dict.fromkeys(revs)
             if "\n" not in d]
    for name, data in repo.cat_blobs(names):
        if data:
            uncached.add_yaml(name.split(":", 1)[1].rpartition(YAML_NAME)[0].rstrip("/"),
                              data)


def resolve_blobs(repo: Repo, blobs: dict[str, str], keep: PathFilter,
                  sizes: dict[str, int] | None = None, *,
                  yaml_revs: Sequence[str] = (), strict: bool = True) -> References:
    """Pointer ids and lock and ``.dvc`` outputs among ``blobs`` (sha -> a path it appears
    at). A lock's ``cache: false`` outputs are read from the ``dvc.yaml`` beside it among
    ``blobs``, else from that folder's ``dvc.yaml`` at ``yaml_revs``. ``strict``: an
    unreadable ``.dvc`` file raises (else: ``unreadable``)."""
    refs = References()
    if not blobs:
        return refs
    if sizes is None:
        sizes = _blob_sizes(repo, list(blobs))
    lock_dirs = {d for d in map(_lock_dir, blobs.values()) if d is not None}
    yamls = {sha: d for sha, d in ((s, _yaml_dir(p)) for s, p in blobs.items())
             if d is not None and d in lock_dirs}
    wanted = []
    for sha, path in blobs.items():
        size = sizes.get(sha, -1)
        is_lock = _lock_dir(path) is not None and size > 0
        if is_lock or sha in yamls or (0 < size < ptr.MAX_POINTER_SIZE and keep(path)) \
                or (size > 0 and is_dvcfile(path)):
            wanted.append(sha)
    uncached = UncachedOutputs()
    locks: list[tuple[bytes, str]] = []
    for sha, data in repo.cat_blobs(wanted):
        path = blobs[sha]
        lock_dir = _lock_dir(path)
        if lock_dir is not None:
            locks.append((data, lock_dir))
        elif sha in yamls:
            uncached.add_yaml(yamls[sha], data)
        elif is_dvcfile(path):
            add_dvcfile(refs, data, path, keep, strict=strict)
        else:
            p = ptr.try_parse(data)
            if p is not None:
                refs.objects.add(p.oid)
                refs.sizes[p.oid] = p.size
    if locks and yaml_revs:
        _read_yamls(repo, lock_dirs - set(yamls.values()), yaml_revs, uncached)
    for data, lock_dir in locks:
        add_lock(refs, data, lock_dir, keep, uncached)
    return refs


def blobs_at(repo: Repo, rev: str) -> tuple[dict[str, str], dict[str, int]]:
    blobs: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for mode, typ, blob, size, path in repo.ls_tree(rev):
        if typ == "blob" and mode != "120000":
            blobs.setdefault(blob, path)
            sizes[blob] = size
    return blobs, sizes


def blobs_rev_list(repo: Repo, args: Sequence[str]) -> dict[str, str]:
    out = repo.git("rev-list", "--objects", *args).stdout
    blobs: dict[str, str] = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        sha, sep, path = line.partition(" ")
        if sep and path:  # commits have no path; trees and blobs do (trees dropped later)
            blobs.setdefault(sha, path)
    return blobs


def expand_manifests(store: LocalStore, refs: References, keep: PathFilter) -> None:
    """Add the entries of every manifest present in ``store`` to ``refs.objects``."""
    from gitext.store.manifests import parse_manifest

    for m in sorted(refs.manifests):
        path = store.key_path(m.key + ".dir")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            refs.unexpanded.add(m)
            continue
        entries = parse_manifest(data, where=f"manifest {m.digest}.dir")
        base = refs.manifest_paths.get(m, "")
        named_by = refs.pushed_md5 if m in refs.pushed_md5 or m not in refs.unpushed \
            else refs.unpushed
        for e in entries:
            if keep(f"{base}/{e.relpath}" if base else e.relpath):
                entry = ObjectId("md5", e.md5)
                refs.objects.add(entry)
                named_by.add(entry)
        refs.unexpanded.discard(m)


def find_references(repo: Repo, revs: Sequence[str] | None, *, all_commits: bool = False,
                    include: Sequence[str] = (), exclude: Sequence[str] = (),
                    store: LocalStore | None = None) -> References:
    """What ``revs`` (default HEAD; or every commit) need, manifests expanded from the cache.
    An unreadable ``.dvc`` file at ``revs`` raises; in the whole history it is noted in
    ``unreadable`` (a broken file committed once must not stop every later transfer)."""
    keep = PathFilter(include, exclude)
    refs = References()
    if all_commits:
        stashes = stash_commits(repo)
        args = ["--all", *stashes, *[f"{s}^{n}" for s in stashes for n in (2, 3)
                                     if rev_exists(repo, f"{s}^{n}")]]
        if rev_exists(repo, "HEAD") or len(args) > 1 or has_refs(repo):
            refs.update(resolve_blobs(repo, blobs_rev_list(repo, args), keep,
                                      yaml_revs=["HEAD"] if rev_exists(repo, "HEAD") else [],
                                      strict=False))
    else:
        for rev in revs or ["HEAD"]:
            sha = repo.resolve_rev(rev)
            blobs, sizes = blobs_at(repo, sha)
            refs.update(resolve_blobs(repo, blobs, keep, sizes, yaml_revs=[sha]))
    if store is None:
        from gitext.store.dvccache import open_store  # (the pre-push hook lists refs first)

        store = open_store(repo)
    expand_manifests(store, refs, keep)
    return refs


def referenced_objects(repo: Repo, revs: list[str] | None, *, all_commits: bool = False,
                       include: Sequence[str] = (), exclude: Sequence[str] = ()) -> set[ObjectId]:
    """Every object id (pointer oids, lock outputs, ``.dir`` manifests and the entries of those
    manifests already cached) that ``revs`` — default HEAD — or all commits need."""
    return find_references(repo, revs, all_commits=all_commits, include=include,
                           exclude=exclude).all()


def ref_tips(repo: Repo, *, branches: bool, tags: bool) -> list[str]:
    """The commits at the tip of every branch and/or tag (DVC's ``-a``/``-T``)."""
    kinds = [k for k, on in (("refs/heads", branches), ("refs/tags", tags)) if on]
    if not kinds:
        return []
    out = repo.git("for-each-ref", "--format=%(objectname)", *kinds).stdout.decode()
    # a tag may name a blob or a tree: it names no commit, so no data
    return [repo.resolve_rev(t) for t in dict.fromkeys(out.split()) if rev_exists(repo, t)]


def rev_exists(repo: Repo, rev: str) -> bool:
    return repo.git("rev-parse", "--verify", "--quiet", rev + "^{commit}",
                    check=False).returncode == 0


def has_refs(repo: Repo) -> bool:
    return bool(repo.git("for-each-ref", "--count=1", check=False).stdout.strip())


def stash_commits(repo: Repo) -> list[str]:
    proc = repo.git("stash", "list", "--format=%H", check=False)
    return [s for s in proc.stdout.decode().split() if s]


def is_zero_sha(sha: str) -> bool:
    return not sha.strip("0")


def object_exists(repo: Repo, sha: str) -> bool:
    return repo.git("cat-file", "-e", sha, check=False).returncode == 0

