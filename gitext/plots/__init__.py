"""Plots, as DVC declares them in ``dvc.yaml``: :mod:`.definitions` (which plots, which
files and columns), :mod:`.data` (reading CSV, TSV, JSON, YAML and images), :mod:`.templates`
(the Vega-Lite templates), :mod:`.collect` (one or more versions' data into a spec) and
:mod:`.render` (the self-contained HTML page, charts drawn to inline SVG)."""
