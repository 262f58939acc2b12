"""W5: five versions of data that change a little at a time (issue 15's figures).

A CSV (1 GiB at ``--scale 1``) and a "fine-tune" binary (256 MiB), made from a fixed seed,
committed version by version. Each CSV version: a corrected block of 0.5 % of the rows
(contiguous), 20 scattered single-row fixes, 2 % rows appended. Each binary version: 5 % of
its 4 KiB blocks, in runs of 64, rewritten. The CSV's rows are random text (digits, hex,
commas; ~85 bytes a row) made with ``randbytes`` + ``translate`` so that no part of it repeats
another: chunk deduplication inside one version would flatter chunking.

Per tool (git-archives with a directory data remote; git-lfs with a local Git LFS server,
giftless, as W10 uses; DVC with a directory remote): versions 1 to 4 are committed and pushed;
a clone checks out version 4; version 5 is committed and pushed (timed), then pulled into
the clone (timed). Figures:

* cache bytes in the working repository after five versions (git-archives:
  ``.git/archives``; git-lfs: ``.git/lfs/objects``; DVC: ``.dvc/cache``) — file sizes,
  a hard-linked file counted once;
* bytes uploaded by the push of version 5: the growth of the server's storage folder
  (giftless's) or of the remote directory, measured on disk, not from any tool's counter;
* bytes downloaded by the pull of version 5: the growth of the clone's cache, on disk.

Imported lazily by run.py's WORKLOADS table; it takes run.py's helpers from the module
that defines the context it is given (``__main__`` when run.py runs as a script).
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

W5_CACHE = "cache bytes after 5 versions (CSV + binary)"
W5_PUSH_BYTES = "bytes uploaded: push of v5 after v4"
W5_PUSH = "push of v5 after v4"
W5_PULL_BYTES = "bytes downloaded: pull of v5 into a clone at v4"
W5_PULL = "pull of v5 into a clone at v4"
STEPS = (W5_CACHE, W5_PUSH_BYTES, W5_PUSH, W5_PULL_BYTES, W5_PULL)
TARGETS = {
    W5_CACHE: "archives <= 0.25x lfs",
    W5_PUSH_BYTES: "archives <= 0.05x lfs",
    W5_PUSH: "archives <= 0.2x lfs",
    W5_PULL_BYTES: "archives <= 0.05x lfs",
    W5_PULL: "archives <= 0.2x lfs",
}
BYTE_STEPS = (W5_CACHE, W5_PUSH_BYTES, W5_PULL_BYTES)

CSV_BYTES = 1 << 30
BIN_BYTES = 256 << 20
VERSIONS = 5
BLOCK = 4096
RUN = 64
SEED = 15

# Random bytes -> CSV text: ~1/85 newlines, ~1/12 commas, the rest digits and hex letters.
_TABLE = bytes(
    (0x0A if v < 3 else 0x2C if v < 24 else b"0123456789abcdef.-"[v % 18]) for v in range(256))


def _random(rng: random.Random, size: int) -> bytes:
    """``size`` random bytes (``randbytes`` takes at most 256 MiB at once)."""
    step = 16 << 20
    return b"".join(rng.randbytes(min(step, size - at)) for at in range(0, size, step))


def _rows(rng: random.Random, size: int) -> bytes:
    """About ``size`` bytes of whole random rows (ending with a newline)."""
    text = _random(rng, size).translate(_TABLE)
    return text[: text.rfind(b"\n") + 1] if b"\n" in text else text + b"\n"


def _row_start(data: bytearray, at: int) -> int:
    return data.rfind(b"\n", 0, at) + 1


def next_csv(data: bytearray, rng: random.Random) -> None:
    """One revision in place: a corrected block of 0.5 % (rewritten rows, about the same
    size), 20 scattered single-row fixes, 2 % of the rows appended."""
    size = len(data)
    start = _row_start(data, rng.randrange(size))
    end = _row_start(data, min(size, start + size // 200))
    data[start:end] = _rows(rng, max(1, end - start))
    for _ in range(20):
        at = _row_start(data, rng.randrange(len(data)))
        stop = data.find(b"\n", at) + 1 or len(data)
        data[at:stop] = _rows(rng, max(8, stop - at))[: max(8, stop - at)].rstrip(b"\n") + b"\n"
    data += _rows(rng, size // 50)


def next_binary(data: bytearray, rng: random.Random) -> None:
    """5 % of the 4 KiB blocks rewritten, in runs of 64 blocks."""
    blocks = len(data) // BLOCK
    runs = max(1, blocks * 5 // 100 // RUN)
    for _ in range(runs):
        first = rng.randrange(max(1, blocks - RUN + 1))
        span = min(RUN, blocks - first) * BLOCK
        data[first * BLOCK: first * BLOCK + span] = rng.randbytes(span)


def write_versions(folder: Path, csv_bytes: int, bin_bytes: int) -> list[Path]:
    """Write the five versions once per bench run (``folder/v<N>/{table.csv,model.bin}``),
    shared by every tool; return the version folders."""
    out = [folder / f"v{n}" for n in range(1, VERSIONS + 1)]
    if all((v / "done").is_file() for v in out):
        return out
    rng = random.Random(SEED)
    table = bytearray(b"id,name,value,count,category,tag\n" + _rows(rng, csv_bytes))
    model = bytearray(_random(rng, bin_bytes))
    for n, v in enumerate(out):
        if n:
            next_csv(table, rng)
            next_binary(model, rng)
        v.mkdir(parents=True, exist_ok=True)
        (v / "table.csv").write_bytes(table)
        (v / "model.bin").write_bytes(model)
        (v / "done").write_text("ok\n")
    return out


def tree_bytes(path: Path) -> int:
    """Sum of file sizes under ``path``, each inode once (a hard link is not a copy)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def _place(version: Path, repo: Path) -> None:
    data = repo / "data"
    data.mkdir(exist_ok=True)
    for name in ("table.csv", "model.bin"):
        dst = data / name
        dst.unlink(missing_ok=True)
        dst.write_bytes((version / name).read_bytes())


class _Flow:
    """What one tool does at each point of W5."""

    def __init__(self, run: ModuleType, ctx: Any, base: Path) -> None:
        self.run, self.ctx, self.base = run, ctx, base
        self.name = ctx.tool.name
        self.repo = ctx.fresh("w5-src")
        self.clone = base / "w5-clone"
        self.remote_git = ctx.fresh("w5-remote.git", ctx.remote_root)
        self.store = ctx.fresh("w5-store", ctx.remote_root)
        ctx.run(["git", "init", "-q", "--bare", "-b", "main"], self.remote_git)
        self.server: Any = None

    def cache(self, repo: Path) -> Path:
        return {"archives": repo / ".git" / "archives", "lfs": repo / ".git" / "lfs" / "objects",
                "dvc": repo / ".dvc" / "cache"}[self.name]

    def remote_bytes(self) -> int:
        return tree_bytes(self.server.storage if self.server else self.store)

    def init(self) -> None:
        ctx, repo = self.ctx, self.repo
        ctx.git_init(repo)
        ctx.run(["git", "remote", "add", "origin", str(self.remote_git)], repo)
        if self.name == "archives":
            ctx.run(["git", "archives", "install"], repo)
            ctx.run(["git", "archives", "track", "data/**"], repo)
            ctx.run(["git", "archives", "remote", "add", "-d", "store", str(self.store)], repo)
        elif self.name == "lfs":
            url = f"{self.server.base}/bench/w5.git/info/lfs"
            ctx.run(["git", "config", "--global", "lfs.locksverify", "false"], ctx.root)
            ctx.run(["git", "lfs", "install", "--local"], repo)
            ctx.run(["git", "lfs", "track", "data/**"], repo)
            ctx.run(["git", "config", "-f", ".lfsconfig", "lfs.url", url], repo)
            ctx.run(["git", "config", "--global", "lfs.url", url], ctx.root)
        else:
            ctx.run(["dvc", "init", "-q"], repo)
            ctx.run(["dvc", "config", "core.analytics", "false"], repo)
            ctx.run(["dvc", "remote", "add", "-d", "store", str(self.store)], repo)
            (repo / "data").mkdir()
            (repo / "data" / ".gitignore").write_text("/table.csv\n/model.bin\n")

    def commit(self, version: Path, n: int) -> None:
        _place(version, self.repo)
        if self.name == "dvc":
            self.ctx.run(["dvc", "add", "-q", "data/table.csv", "data/model.bin"], self.repo)
        self.ctx.commit(self.repo, f"version {n}")

    def push(self) -> list[list[str]]:
        if self.name == "dvc":
            return [["dvc", "push", "-q"], ["git", "push", "-q", "origin", "main"]]
        return [["git", "push", "-q", "origin", "main"]]  # (each tool's pre-push uploads)

    def make_clone(self) -> None:
        ctx = self.ctx
        if self.name == "archives":
            ctx.run(["git", "archives", "install", "--global"], ctx.root)
        elif self.name == "lfs":
            ctx.run(["git", "lfs", "install", "--skip-repo"], ctx.root)
        ctx.run(["git", "clone", "-q", str(self.remote_git), str(self.clone)], self.base)
        if self.name == "archives":
            ctx.run(["git", "archives", "remote", "modify", "--local", "store", "url",
                     str(self.store)], self.clone)
            ctx.run(["git", "archives", "pull"], self.clone)
        elif self.name == "dvc":
            ctx.run(["dvc", "pull", "-q"], self.clone)

    def pull(self) -> list[list[str]]:
        if self.name == "dvc":
            return [["git", "pull", "-q", "--ff-only"], ["dvc", "pull", "-q"]]
        if self.name == "archives":
            return [["git", "pull", "-q", "--ff-only"], ["git", "archives", "pull"]]
        return [["git", "pull", "-q", "--ff-only"]]  # git-lfs's smudge fetches


def w5(ctx: Any) -> None:
    run = sys.modules[type(ctx).__module__]
    tool = ctx.tool
    if tool.name not in ("archives", "lfs", "dvc"):
        raise run.NotApplicable(f"{tool.name} does not version large files")
    csv_bytes = max(run.MIB, int(CSV_BYTES * ctx.scale))
    bin_bytes = max(run.MIB, int(BIN_BYTES * ctx.scale))
    data = write_versions(ctx.root.parent / f"w5-data-{csv_bytes}-{bin_bytes}", csv_bytes,
                          bin_bytes)
    flow = _Flow(run, ctx, ctx.root)
    if tool.name == "lfs":
        with run.GiftlessServer(ctx.fresh("w5-server") / "storage") as server:
            flow.server = server
            _measure(run, ctx, flow, data)
    else:
        _measure(run, ctx, flow, data)


def _measure(run: ModuleType, ctx: Any, flow: _Flow, data: list[Path]) -> None:
    flow.init()
    for n, version in enumerate(data[:-1], 1):
        flow.commit(version, n)
        for cmd in flow.push():
            ctx.run(cmd, flow.repo)
    flow.make_clone()
    flow.commit(data[-1], len(data))
    ctx.record_bytes("W5", W5_CACHE, tree_bytes(flow.cache(flow.repo)))
    before = flow.remote_bytes()
    ctx.record("W5", W5_PUSH, lambda: ctx.timed(flow.push(), flow.repo))
    ctx.record_bytes("W5", W5_PUSH_BYTES, flow.remote_bytes() - before)
    before = tree_bytes(flow.cache(flow.clone))
    ctx.record("W5", W5_PULL, lambda: ctx.timed(flow.pull(), flow.clone))
    ctx.record_bytes("W5", W5_PULL_BYTES, tree_bytes(flow.cache(flow.clone)) - before)
    got = (flow.clone / "data" / "table.csv").read_bytes()
    if got != (data[-1] / "table.csv").read_bytes():
        raise run.CommandFailed(["pull"], 1, "the clone does not hold version 5's CSV")
