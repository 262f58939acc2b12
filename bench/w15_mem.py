"""W15MEM: memory of ``git add`` of one 10 GiB file (issue 15: the filter process stays at
most 150 MB RSS while it chunks a 10 GiB file). ``--scale`` shrinks the file.

The file is random bytes from a fixed seed (every chunk distinct, nothing compresses: the
most chunks and index entries a file of that size can make). The ``git add`` runs under a
small Python wrapper that reports ``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the peak RSS of
the largest process below it (git, or the filter git started). The row's time is the
``git add``; the peak RSS is printed and kept in the row's ``detail`` (``--json``).

Imported lazily by run.py's WORKLOADS table; it takes run.py's helpers from the module
that defines the context it is given (``__main__`` when run.py runs as a script).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

W15_ADD = "git add of a 10 GiB file (peak RSS in detail)"
STEPS = (W15_ADD,)
SIZE = 10 << 30
BLOCK = 64 << 20
TARGET_MB = 150

WRAP = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(rc)\n"
)


def write_random(path: Path, size: int, seed: int) -> None:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        left = size
        while left > 0:
            n = min(BLOCK, left)
            fh.write(rng.randbytes(n))
            left -= n


def w15mem(ctx: Any) -> None:
    run = sys.modules[type(ctx).__module__]
    repo = ctx.fresh("mem")
    ctx.tool.init_large(ctx, repo, "data/**")
    ctx.commit(repo, "setup")
    size = max(run.MIB, int(SIZE * ctx.scale))
    write_random(repo / "data" / "big.bin", size, seed=15)
    report = ctx.root / "w15-maxrss"

    def add() -> float:
        took: float = ctx.timed([[sys.executable, "-c", WRAP, str(report),
                                  "git", "add", "data/big.bin"]], repo)
        peak_mb = int(report.read_text()) / 1024
        row = ctx.rows[-1]
        row.detail = f"peak RSS {peak_mb:.0f} MB (target <= {TARGET_MB} MB, {size >> 20} MiB)"
        print(f"  W15MEM [{ctx.tool.name}]: {row.detail}", file=sys.stderr)
        (repo / "data" / "big.bin").unlink()  # 10 GiB: do not keep two copies around
        return took

    ctx.record("W15MEM", W15_ADD, add)
