"""Run with a DVC install: print what DVC resolves for a dvc.yaml project, as JSON.

Usage: python dvc_expect.py PROJECT_DIR > expected/NAME.json (see README.md). Not a test:
it needs DVC, which the test suite does not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any


def resolve(source: str) -> dict[str, Any]:
    from dvc.dependency.param import ParamsDependency
    from dvc.dvcfile import ProjectFile
    from dvc.repo import Repo

    tmp = tempfile.mkdtemp()
    try:
        work = os.path.join(tmp, "proj")
        shutil.copytree(source, work)
        subprocess.run(["git", "init", "-q"], cwd=work, check=True)
        subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=work, check=True)
        repo = Repo(work)

        def rel(path: str) -> str:
            return os.path.relpath(path, repo.root_dir).replace(os.sep, "/")

        stages = []
        for stage in repo.index.stages:
            if not getattr(stage, "name", None):
                continue
            deps, params = [], []
            for dep in stage.deps:
                if isinstance(dep, ParamsDependency):
                    params.append(
                        {
                            "file": dep.def_path,
                            "repo_path": rel(dep.fs_path),
                            "keys": list(dep.params) or None,
                        }
                    )
                else:
                    deps.append({"path": dep.def_path, "repo_path": rel(dep.fs_path)})
            outs = [
                {
                    "path": out.def_path,
                    "repo_path": rel(out.fs_path),
                    "kind": "metrics" if out.metric else "plots" if out.plot else "outs",
                    "cache": out.use_cache,
                    "persist": out.persist,
                }
                for out in stage.outs
            ]
            stages.append(
                {
                    "name": stage.name,
                    "cmd": stage.cmd if isinstance(stage.cmd, list) else [stage.cmd],
                    "wdir": rel(stage.wdir),
                    "deps": deps,
                    "params": params,
                    "outs": outs,
                    "frozen": stage.frozen,
                    "always_changed": stage.always_changed,
                    "desc": stage.desc,
                    "meta": stage.meta,
                }
            )
        top = ProjectFile(repo, os.path.join(work, "dvc.yaml"))
        return {
            "stages": stages,
            "metrics": top.metrics,
            "params": top.params,
            "plots": top.plots,
            "artifacts": top.artifacts,
        }
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    print(json.dumps(resolve(sys.argv[1]), indent=1))
