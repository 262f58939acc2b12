"""Build a project inline: write dvc.yaml (JSON is YAML) and the matching model objects."""

from __future__ import annotations

import json
import posixpath
import subprocess
from pathlib import Path
from typing import Any

from gitext.pipeline.model import Dep, Out, ParamDep, Pipeline, Stage


def _repo_path(wdir: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(wdir, path))


def make_pipeline(root: Path, stages: dict[str, dict[str, Any]], *,
                  write: bool = True) -> list[Pipeline]:
    """``stages``: name -> {cmd, deps, outs, params, metrics, frozen, always_changed, wdir}
    where outs items are paths or {path: {cache: false, persist: true}}."""
    pipe = Pipeline(file=root / "dvc.yaml", root=root)
    for name, spec in stages.items():
        wdir = spec.get("wdir", ".")
        cmd = spec["cmd"]
        stage = Stage(name=name, cmd=[cmd] if isinstance(cmd, str) else list(cmd),
                      cmd_is_list=isinstance(cmd, list),
                      wdir=wdir, repo_wdir=posixpath.normpath(wdir),
                      frozen=spec.get("frozen", False),
                      always_changed=spec.get("always_changed", False))
        for d in spec.get("deps", []):
            stage.deps.append(Dep(d, _repo_path(wdir, d)))
        for kind in ("outs", "metrics", "plots"):
            for o in spec.get(kind, []):
                if isinstance(o, dict):
                    (path, flags), = o.items()
                else:
                    path, flags = o, {}
                stage.outs.append(Out(path, _repo_path(wdir, path), kind=kind,
                                      cache=flags.get("cache", kind == "outs"),
                                      persist=flags.get("persist", False)))
        for p in spec.get("params", []):
            if isinstance(p, dict):
                (file, keys), = p.items()
                stage.params.append(ParamDep(file, _repo_path(wdir, file),
                                             tuple(keys) if keys else None))
            else:
                stage.params.append(ParamDep("params.yaml", _repo_path(wdir, "params.yaml"),
                                             (p,)))
        pipe.stages[name] = stage
    if write:
        (root / "dvc.yaml").write_text(json.dumps({"stages": stages}, indent=2) + "\n")
    return [pipe]


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout
