"""Moving objects between the work tree, the cache and a remote.

* :mod:`~gitext.sync.references` — which objects some revisions need (pointers, dvc.lock
  outputs, ``.dir`` manifests expanded);
* :mod:`~gitext.sync.patterns` — the ``--include``/``--exclude`` path selection;
* :mod:`~gitext.sync.transfer` — push / fetch of the missing objects, verified on fetch;
* :mod:`~gitext.sync.runcache` — the pipeline's run-cache entries to and from a remote;
* :mod:`~gitext.sync.fill` — writing pulled pointer files in place, index patched;
* :mod:`~gitext.sync.pointers` — pointer files in the work tree and their fill by git;
* :mod:`~gitext.sync.prepush` — git's pre-push hook, and ``status --remote``;
* :mod:`~gitext.sync.gc` — what the cache or a remote may delete, and deleting it;
* :mod:`~gitext.sync.gcroots` — what gc keeps (worktrees, indexes, stashes, unpushed commits);
* :mod:`~gitext.sync.stagecheck` — pre-commit: staged pointers whose content is nowhere;
* :mod:`~gitext.sync.badpointers` — index entries that look like pointers but are not.
"""
