"""Experiments: run (``exp run``), queue, and the ref layout they live under (names);
listing, the ``exp show`` table, apply/branch/remove/gc (manage) and push/pull (share)."""
