"""The loaded project one ``status`` or ``repro`` works on: every ``dvc.yaml`` (from the
parse cache), the stage graph, the store, the stat cache and the ``dvc.lock`` files, read
once; and the choice of stages a command's targets select.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitext.codec.hashing import ObjectId
from gitext.errors import ArchivesError
from gitext.fs.worktree import WorkTree
from gitext.pipeline import dag as dagmod
from gitext.pipeline.dvchash.md5 import MD5
from gitext.pipeline.dvchash.tree import Hasher, HashInfo
from gitext.pipeline.lockfile import Lock
from gitext.pipeline.model import Pipeline
from gitext.store import manifests
from gitext.store.dvccache import store_for
from gitext.store.state import StateCache

LockEntry = dict[str, Any]  # one stage of dvc.lock, as DVC's keys: cmd, deps, params, outs


def _load_pipelines(root: Path, state: StateCache | None = None) -> list[Pipeline]:
    """Every dvc.yaml under ``root``, from the parse cache in ``state`` when nothing it
    was read from has changed (see :mod:`gitext.pipeline.parsecache`)."""
    from gitext.pipeline import parsecache

    return parsecache.load_pipelines(root, state)


def _lock_entry_dict(entry: Any) -> LockEntry:
    data: LockEntry = entry.to_dict()
    return data


class Project:
    """Everything one ``status`` or ``repro`` needs, loaded once."""

    def __init__(self, root: Path, pipelines: list[Pipeline] | None = None,
                 archives_dir: Path | None = None) -> None:
        self.root = root
        if archives_dir is None:
            from gitext.git.repo import Repo

            archives_dir = Repo.discover(root).archives_dir
        self.archives_dir = archives_dir
        self.state = StateCache(archives_dir / "state.db")
        try:
            self.pipelines = (pipelines if pipelines is not None
                              else _load_pipelines(root, self.state))
            self.graph = dagmod.build_graph(self.pipelines)
            dagmod.detect_problems(self.graph)
        except BaseException:
            self.state.close()
            raise
        self.store = store_for(root, archives_dir, state=self.state)
        try:  # a DVC cache folder we must not write is refused before any stage runs
            self.store.root_for("md5")
        except BaseException:
            self.state.close()
            raise
        self.hasher = Hasher(self.state, root)
        self.wt = WorkTree(root)
        self.locks: dict[Path, Lock] = {}
        self._memo: dict[tuple[str, str], HashInfo | None] = {}
        self._params_memo: dict[str, Any] = {}

    def close(self) -> None:
        self.wt.close()
        self.state.close()

    def lock_for(self, pipeline: Pipeline) -> Lock:
        path = pipeline.lock_file
        if path not in self.locks:
            from gitext.pipeline import parsecache

            self.locks[path] = parsecache.read_lock(path, self.state)
        return self.locks[path]

    def entry(self, sid: str) -> LockEntry | None:
        """The stage's lock entry as DVC's keys (cmd, deps, params, outs), or None."""
        node = self.graph.nodes[sid]
        found = self.lock_for(node.pipeline).stages.get(node.stage.name)
        return None if found is None else _lock_entry_dict(found)

    def forget_hashes(self) -> None:
        """Files changed (a stage ran): hash again from the stat cache."""
        self._memo.clear()
        self._params_memo.clear()

    def hash_path(self, repo_path: str, hash_name: str = MD5) -> HashInfo | None:
        key = (repo_path, hash_name)
        if key not in self._memo:
            self._memo[key] = self.hasher.path(self.root / repo_path, hash_name)
        return self._memo[key]

    def params_data(self, repo_path: str) -> Any:
        """The parsed params file, or None when it does not exist."""
        if repo_path not in self._params_memo:
            from gitext.pipeline import parsecache

            self._params_memo[repo_path] = parsecache.load_params(self.root / repo_path,
                                                                  self.state)
        return self._params_memo[repo_path]

    def has_object(self, md5: str, *, deep: bool = True) -> bool:
        """True when ``md5`` (and, for a directory, every file in it) is in the store."""
        if not manifests.has_object(self.store, md5):
            return False
        if md5.endswith(".dir") and deep:
            try:
                entries = manifests.read_manifest(self.store, md5)
            except ArchivesError:
                return False
            return all(self.store.has(ObjectId(MD5, e.md5)) for e in entries)
        return True



def select_stages(project: Project, targets: Sequence[str] | None, *, downstream: bool = False,
            single_item: bool = False) -> list[str]:
    graph = project.graph
    ids = dagmod.resolve_targets(graph, targets, root=project.root) if targets else None
    if single_item:
        chosen = set(ids) if ids is not None else set(graph.nodes)
        return [s for s in dagmod.topological_order(graph) if s in chosen]
    return dagmod.topological_order(graph, ids, downstream=downstream)

