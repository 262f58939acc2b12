"""What a ``git push`` needs on the data remote, and what push and fetch would move.

:func:`pre_push` implements git's pre-push hook protocol: it uploads the objects the pushed
commits need that the default data remote lacks. :func:`remote_status` /
:func:`remote_status_lines` compare the referenced objects with a remote
(``status --remote``).

Lower layer: never prints.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gitext import log
from gitext.codec.hashing import ObjectId
from gitext.config import Config
from gitext.errors import RemoteError
from gitext.git.repo import Repo
from gitext.record import Record
from gitext.remotes import Remote, open_remote
from gitext.remotes.backend import plan
from gitext.sync.patterns import PathFilter
from gitext.sync.references import (
    References,
    blobs_rev_list,
    expand_manifests,
    find_references,
    is_zero_sha,
    object_exists,
    resolve_blobs,
)

if TYPE_CHECKING:
    from gitext.store.objects import LocalStore

_REF_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def pushed_references(repo: Repo, remote_name: str, stdin_lines: list[str]
                      ) -> References | None:
    """What the commits of git's pre-push lines reference (``remote_name``'s own refs
    excluded); None when nothing is to be uploaded."""
    local_shas: list[str] = []
    exclude: list[str] = []
    for line in stdin_lines:
        parts = line.split()
        if len(parts) != 4:
            continue
        _lref, lsha, _rref, rsha = parts
        if not is_zero_sha(lsha):
            local_shas.append(lsha)
        if not is_zero_sha(rsha) and object_exists(repo, rsha):
            exclude.append(rsha)
    if not local_shas:
        return None
    args = [*dict.fromkeys(local_shas), "--not", *dict.fromkeys(exclude)]
    if _REF_NAME_RE.fullmatch(remote_name):
        args.append(f"--remotes={remote_name}")
    refs = resolve_blobs(repo, blobs_rev_list(repo, args), PathFilter(),
                         yaml_revs=list(dict.fromkeys(local_shas)), strict=False)
    for message in refs.unreadable[:5]:  # a fixed file's broken past must not trap a push
        log.warn(f"{message}; the data it names is not uploaded")
    if not refs.objects and not refs.manifests:
        return None
    return refs


def pre_push(repo: Repo, remote_name: str, remote_url: str, stdin_lines: list[str],
             cfg: Config | None = None) -> int:
    """git's pre-push hook: upload the objects the pushed commits need that the default data
    remote lacks. Returns 0; raises :class:`RemoteError` (push refused) if it cannot.
    ``cfg``: the configuration the hook has read (else it is read here).

    What is pushed is listed (git commands) before the store and the transfer code are
    imported: the hook imports those on a thread meanwhile (:func:`gitext.hooks.pre_push`)."""
    refs = pushed_references(repo, remote_name, stdin_lines)
    if refs is None:
        return 0
    from gitext.store.dvccache import open_store
    from gitext.sync.transfer import load_config, push

    store = open_store(repo)
    expand_manifests(store, refs, PathFilter())
    remote = open_remote(cfg or load_config(repo), root=repo.worktree, git_remote=remote_name)
    try:
        report = push(repo, remote, refs, store=store)
    finally:
        remote.close()
    if not report.ok:
        lines = [f"data remote '{remote.name}' ({remote.url}): {report.summary()}"]
        for oid in report.missing[:5]:
            lines.append(f"  not in the local cache: {oid}")
        for oid, why in report.failed[:5]:
            lines.append(f"  {oid}: {why}")
        raise RemoteError(
            "; ".join(lines) if len(lines) == 1 else "\n".join(lines),
            hint="fetch missing objects ('git archives fetch --all-commits') or retry; "
                 "'git push --no-verify' skips the upload (teammates will lack the data)",
        )
    return 0


# -- status ---------------------------------------------------------------------------------

class RemoteStatus(Record):
    _fields = ("remote", "total", "local_only", "remote_only", "nowhere")

    def __init__(self, remote: str, total: int, local_only: list[ObjectId],
                 remote_only: list[ObjectId], nowhere: list[ObjectId]) -> None:
        self.remote = remote
        self.total = total
        self.local_only = local_only    # in the cache, not on the remote: push would upload
        self.remote_only = remote_only  # on the remote, not in the cache: fetch would download
        self.nowhere = nowhere          # on neither side


def remote_status(repo: Repo, remote: Remote, refs: References, *,
                  store: LocalStore | None = None) -> RemoteStatus:
    from gitext.store.dvccache import open_store
    from gitext.sync.transfer import transfer_items

    store = store or open_store(repo)
    files, mans = transfer_items(refs, store)
    items = [*files, *mans]
    sizes = {i.key: refs.sizes.get(i.oid) or store.size(i.oid) for i in files}
    plan(remote.backend, "download", [(k, s) for k, s in sizes.items() if s])
    present = remote.backend.exists_many([i.key for i in items])
    # an object held as chunks on the remote: its recipe (gitext.sync.chunksync)
    from gitext.sync.chunkremote import present_as_recipes  # (not in the hook)

    present |= present_as_recipes(remote.backend, [i for i in files if i.key not in present])
    st = RemoteStatus(remote.name, len(items), [], [], [])
    for i in items:
        local = store.key_path(i.key).is_file() or (i.key == i.oid.key and store.has(i.oid))
        on_remote = i.key in present
        if local and not on_remote:
            st.local_only.append(i.oid)
        elif on_remote and not local:
            st.remote_only.append(i.oid)
        elif not local and not on_remote:
            st.nowhere.append(i.oid)
    return st


def remote_status_lines(repo: Repo, remote_name: str | None, *,
                        revs: list[str] | None = None, all_commits: bool = False) -> list[str]:
    """Human lines for ``status --remote``: what push and fetch would move."""
    from gitext.sync.transfer import load_config

    refs = find_references(repo, revs, all_commits=all_commits)
    remote = open_remote(load_config(repo), remote_name, root=repo.worktree)
    try:
        st = remote_status(repo, remote, refs)
    finally:
        remote.close()
    lines = [f"Remote '{st.remote}' ({remote.url}): {st.total} object(s) referenced"]
    if not (st.local_only or st.remote_only or st.nowhere):
        lines.append("  in sync: everything referenced is on both sides")
    if st.local_only:
        lines.append(f"  {len(st.local_only)} to push (only in the local cache)")
    if st.remote_only:
        lines.append(f"  {len(st.remote_only)} to fetch (only on the remote)")
    if st.nowhere:
        lines.append(f"  {len(st.nowhere)} missing on both sides")
        lines += [f"    {o}" for o in st.nowhere[:10]]
    if refs.unexpanded:
        lines.append(f"  {len(refs.unexpanded)} directory manifest(s) not cached: their "
                     "files are not counted")
    return lines

