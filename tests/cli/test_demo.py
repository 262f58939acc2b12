"""The README's main job: the tutorial demo runs end to end and checks its own figures."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import archives


def test_the_demo_walks_the_whole_tutorial(tmp_path: Path) -> None:
    proc = archives(tmp_path, "demo", "--dir", str(tmp_path))
    out = proc.stdout.decode()
    for expected in (
        "$ git archives init --template ml",
        "created  params.yaml",
        "tracked: data/**",
        "✓ the committed blob is a Git LFS pointer",
        "✓ metrics are {'total_adventurers': 10, 'avg_level': 12.9",
        "✓ a second repro runs nothing",
        "total_adventurers    10         12      +2",
        "+# Exploring the adventurers",  # the staged notebook's diff: its text, no outputs
        "✓ the staged notebook has no outputs and no execution count",
        "✓ git diff shows no change: outputs and counts are not what git stores",
        "✓ staged again, there is nothing to commit",
        "✓ dvc_plots/index.html carries the renderer and the chart's data",
        "✓ exp show lists both experiments beside the baseline",
        "✓ nothing in the work tree changed",
        "✓ metrics/analysis.json is identical in the clone",
        "✓ the clone has nothing to re-run",
        "The demo finished.",
    ):
        assert expected in out, expected
    diff_output = out.split("$ git archives metrics diff")[1].split("✓")[0]
    assert "total_adventurers" in diff_output and "max_level" not in diff_output
