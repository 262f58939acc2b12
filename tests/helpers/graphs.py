"""Build pipelines in memory for graph and report tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitext.pipeline.model import Dep, Out, Pipeline, SourceLoc, Stage


def stage(name: str, deps: Sequence[str] = (), outs: Sequence[str] = (), *,
          line: int = 1) -> Stage:
    return Stage(name, ["true"], deps=[Dep(d, d) for d in deps],
                 outs=[Out(o, o) for o in outs], loc=SourceLoc("dvc.yaml", line, 3))


def pipeline(*stages: Stage, root: Path = Path("/r"), file: str = "dvc.yaml") -> Pipeline:
    return Pipeline(root / file, root, {s.name: s for s in stages})
