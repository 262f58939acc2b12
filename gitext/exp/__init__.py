"""Experiments: run (``exp run``), queue, and the ref layout they live under."""
