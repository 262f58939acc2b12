"""Experiments: run (``exp run``), queue, and the ref layout they live under (names);
listing, the ``exp show`` table, apply/branch/remove/gc (manage), push/pull (share), and
their logging to MLflow (tracking)."""
