"""Metrics and params: read them at the workspace or at any revision, compare, format.

:mod:`.snapshot` (what one version says), :mod:`.parse` (one file's content), :mod:`.sources`
(which files a project declares), :mod:`.read` (reading them at a version),
:mod:`.revisions` (which revisions), :mod:`.diff` (comparing), :mod:`.format` (printing).

A *snapshot* is what one version of the project says: ``{file: {flat.key: value}}``. At the
workspace files are read from disk; at a revision they are read from git objects (no
checkout), and a metric that is a cached pipeline output is read from the local store by the
md5 that revision's ``dvc.lock`` recorded for it.

Metric files are JSON, YAML (1.2, as DVC reads it), TOML, or CSV/TSV. Nested mappings are
flattened with dots (``train.loss``); lists are values. DVC 3 no longer reads CSV metrics;
we take a CSV's header as the metric names and its *last* row as the values, so a training
log that appends one row per epoch reports where it ended.

Comparisons follow ``dvc metrics diff``: only changed values unless ``all``; a change is
computed for numbers only (not booleans or strings), exactly in decimal (13.58 - 12.9 is
0.68, not 0.6799999999999997); rows sorted by file, then key.
"""
