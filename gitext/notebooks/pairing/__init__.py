"""Notebook ↔ text pairing (jupytext formats) with a content-based, three-way sync.

jupytext's own ``--sync`` trusts modification times: the newest file wins, so an edit made
on the other side in the meantime is silently overwritten. Here every pair remembers what
both sides looked like at the last sync (the cells' types and sources, in a small JSON file
under ``<git common dir>/archives/nbsync/``), and a sync propagates whichever side changed
since then. When both changed it merges cell by cell if the edits touch different cells,
and otherwise refuses, naming the files and the command that settles it.

Formats come, in this order, from the notebook's own metadata (``jupytext.formats``), the
text file's header, or the nearest ``jupytext.toml`` / ``.jupytext.toml`` / ``.jupytext`` /
``pyproject.toml [tool.jupytext]`` between the file and the top of the work tree. Python
configuration files (``jupytext.py``) are never read: a clone must not run code through us.

jupytext and nbformat are imported lazily: a pair whose two files have the bytes recorded at
the last sync is answered from the state file alone.

The modules, lowest first:

- :mod:`.formats` — which files are paired, in which formats (metadata, headers,
  ``jupytext.toml``), and finding pairs under a folder;
- :mod:`.cells` — a notebook or text file as cells: reading, writing, matching, rebuilding;
- :mod:`.merge` — the three-way decision: which side changed, ``--prefer``, the cell merge;
- :mod:`.state` — the record of the last sync (the one reader and writer of ``nbsync/``);
- :mod:`.sync` — :func:`~.sync.sync` and :func:`~.sync.sync_pair`, one pair step by step;
- :mod:`.pair` — ``git archives nb pair``: set formats and create the missing side.
"""
