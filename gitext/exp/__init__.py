"""Experiments: commits under ``refs/exps`` (DVC's layout) and ``refs/archives/exps``
(failed and queued ones). See ``docs/experiments.md``."""
