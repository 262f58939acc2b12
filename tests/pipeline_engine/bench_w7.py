"""W7: a 3-stage pipeline whose deps include a directory of 5,000 files; ours vs DVC.

    .venv/bin/python -m tests.pipeline_engine.bench_w7 [--dvc /work/dvcvenv/bin/dvc]

Times whole processes (startup included), median of several runs. Our side runs
``git-archives repro``/``status`` when the dvc.yaml parser is present, else the same engine
through ``python -m tests.pipeline_engine.bench_w7 --ours CMD`` with the stages built from
the (JSON) dvc.yaml.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
CHECKOUT = HERE.parents[2]
VENV_BIN = Path(sys.executable).parent
PYCACHE = os.path.join(tempfile.gettempdir(), "w7-pycache")

STAGES = {
    "count": {"cmd": "ls data | wc -l > count.txt", "deps": ["data"], "outs": ["count.txt"]},
    "digest": {"cmd": "cat count.txt data/f00001.txt > digest.txt",
               "deps": ["count.txt", "data"], "outs": ["digest.txt"]},
    "report": {"cmd": "wc -c digest.txt > report.txt", "deps": ["digest.txt"],
               "outs": ["report.txt"]},
}


def have_parser() -> bool:
    try:
        import gitext.pipeline.dvcyaml.loader  # noqa: F401
    except ImportError:
        return False
    return True


def ours_argv(verb: str) -> list[str]:
    if have_parser():
        return [str(VENV_BIN / "git-archives"), verb]
    return [sys.executable, "-m", "tests.pipeline_engine.bench_w7", "--ours", verb]


def make_project(root: Path, nfiles: int, dvc: str | None) -> None:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    data = root / "data"
    data.mkdir()
    for i in range(nfiles):
        (data / f"f{i:05d}.txt").write_text(f"row {i}\n" * 20)
    (root / "dvc.yaml").write_text(json.dumps({"stages": STAGES}, indent=2))
    if dvc:
        env = dict(os.environ, DVC_NO_ANALYTICS="1")
        subprocess.run([dvc, "init", "-q"], cwd=root, check=True, env=env)
        subprocess.run([dvc, "config", "core.analytics", "false"], cwd=root, check=True,
                       env=env)
    # Files older than the racy window, as in a real checkout.
    old = time.time() - 60
    for p in data.iterdir():
        os.utime(p, (old, old))


def run_once(argv: list[str], cwd: Path) -> float:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PYTHONPATH=str(CHECKOUT),
               PYTHONPYCACHEPREFIX=PYCACHE)
    # Byte-compiled like an installed package (and like DVC's venv), not re-compiled per run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{proc.stdout.decode()}{proc.stderr.decode()}")
    return elapsed


def change_one(root: Path, n: int) -> None:
    (root / "data" / "f00007.txt").write_text(f"changed {n}\n")


def touch_all(root: Path, _n: int) -> None:
    now = time.time()
    for p in (root / "data").iterdir():
        os.utime(p, (now, now))


def bench(dvc: str | None, nfiles: int, runs: int) -> None:
    """Each measure alternates the tools run by run, so load from other processes on the
    machine falls on both alike; the median of ``runs`` is reported."""
    base = Path(tempfile.mkdtemp(prefix="w7-"))
    tools: dict[str, str | None] = {"ours": None} | ({"dvc": dvc} if dvc else {})
    argv = {t: {"repro": ours_argv("repro") if exe is None else [exe, "repro"],
                "status": ours_argv("status") if exe is None else [exe, "status"]}
            for t, exe in tools.items()}
    measures: list[tuple[str, str, str, object]] = [
        ("no-op repro", "big", "repro", None),
        ("repro after 1 file changed", "big", "repro", change_one),
        ("status after touching 5,000 files", "big", "status", touch_all),
        ("status, small clean project", "small", "status", None),
    ]
    results: dict[str, dict[str, list[float]]] = {m[0]: {t: [] for t in tools}
                                                  for m in measures}
    try:
        for tool, exe in tools.items():
            make_project(base / tool / "big", nfiles, exe)
            make_project(base / tool / "small", 3, exe)
            for size in ("big", "small"):
                run_once(argv[tool]["repro"], base / tool / size)
        time.sleep(2.5)  # outputs written by the first runs are past the racy window
        for name, size, verb, before in measures:
            for n in range(runs):
                for tool in tools:
                    root = base / tool / size
                    if callable(before):
                        before(root, n)
                    results[name][tool].append(run_once(argv[tool][verb], root))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{'measure':36} {'ours':>9} {'dvc':>9} {'ratio':>7}")
    for name, per_tool in results.items():
        o = statistics.median(per_tool["ours"])
        d = statistics.median(per_tool["dvc"]) if "dvc" in per_tool else None
        ratio = f"{o / d:7.2f}" if d else "      -"
        dtext = f"{d:8.3f}s" if d else "        -"
        print(f"{name:36} {o:8.3f}s {dtext} {ratio}")


def ours_main(verb: str) -> int:
    from gitext.pipeline.repro import repro
    from gitext.pipeline.status import status
    from tests.pipeline_engine.helpers import make_pipeline

    root = Path.cwd()
    stages = json.loads((root / "dvc.yaml").read_text())["stages"]
    pl = make_pipeline(root, stages, write=False)
    if verb == "repro":
        return 0 if repro(root, pipelines=pl, out=lambda _l: None).ok else 1
    report = status(root, pipelines=pl)
    print("Data and pipelines are up to date." if report.up_to_date else
          "\n".join(f"{s.id}: {s.describe()}" for s in report.stale))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dvc", default="/work/dvcvenv/bin/dvc")
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ours", metavar="VERB")
    ns = ap.parse_args()
    if ns.ours:
        return ours_main(ns.ours)
    dvc = ns.dvc if ns.dvc and Path(ns.dvc).is_file() else None
    bench(dvc, ns.files, ns.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
