#!/usr/bin/env python3
"""Benchmark harness for git-archives and its peers (git-lfs, DVC, nbstripout, plain git).

Standard library only. Every workload builds its scratch repositories under a work
directory (default /tmp/archives-bench), times each step as wall-clock time with
``time.perf_counter`` around the subprocess calls, and prints a markdown table. With more
than one tool (``--tool archives,lfs``) the tools run one after the other in the same
invocation, and the table gets a ratio column: first tool / each other tool.

A failing command is never hidden: the row says FAILED with the last line of its stderr.

    python bench/run.py --tool lfs --only W1,W2,W3,W4
    python bench/run.py --tool archives,lfs --scale 0.1 --json out.json

See bench/README.md for what each workload does exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
PEERS = HERE / ".peers"
DEFAULT_WORKDIR = Path("/tmp/archives-bench")

GIB = 1 << 30
MIB = 1 << 20
SMALL_FILE_BYTES = 200 * 1000  # "200 KB" files of W2/W3/W6
BIG_FILE_BYTES = GIB  # the 1 GiB CSV of W1/W4/W6
MANY_FILES = 5000  # W2/W3/W6 and the W7 dependency directory
W7_FILE_BYTES = 10 * 1000  # the W7 dependency directory's files (see README)
NOTEBOOKS = 200  # W8
PNG_BYTES = 150 * 1000  # raw bytes of each notebook's image: ~200 KB once base64-encoded
COMMAND_TIMEOUT = 3600.0

ALL_TOOLS = ("archives", "lfs", "dvc", "nbstripout", "git")
# The hooks either tool installs; each gets a row "<hook> hook, nothing to do" in W4.
NOOP_HOOKS = ("pre-commit", "post-commit", "post-merge", "pre-push", "reference-transaction")


def hook_step(name: str) -> str:
    return f"{name} hook, nothing to do"


ALL_WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "W6S3", "W10", "W12GS",
                 "W12AZ", "W12SSH", "W12HTTP", "W13PLOTS", "W13EXPSHOW", "W16MERGE", "W16DIFF",
                 "W13EXP", "W15MEM")
# Not run unless asked for: W5 (five versions of 1.25 GiB); W6S3 starts an S3 server (moto,
# from PyPI), W10 an LFS server (giftless, from PyPI), the W12 rows a server of their kind.
NOT_BY_DEFAULT = ("W5", "W9", "W6S3", "W10", "W12GS", "W12AZ", "W12SSH", "W12HTTP", "W13EXP",
                  "W15MEM")

# What the (missing) shared bench measured on this machine, and the targets from the issues.
BASELINE: dict[tuple[str, str], str] = {
    ("W1", "git add 1 GiB CSV"): "lfs 5.4 s",
    ("W2", "git add many 200 KB files"): "lfs 11.8 s",
    ("W3", "git status after touching all files"): "lfs 6.3 s",
    ("W4", "git checkout other branch (1 GiB differs)"): "lfs 7.6 s",
    ("W6", "push data to local-dir remote"): "lfs 1.6 s; dvc 8.7 s",
    ("W6", "clone + setup + pull"): "dvc 12.4 s; lfs 23.4 s",
    ("W7", "repro, nothing changed"): "dvc 0.92 s",
    ("W7", "status after touching the 5,000 dep files"): "dvc 2.9 s",
    ("W8", "git add notebooks"): "nbstripout 55 s; git 1.8 s",
}
TARGET: dict[tuple[str, str], str] = {
    ("W1", "git add 1 GiB CSV"): "archives <= 0.5x lfs",
    ("W2", "git add many 200 KB files"): "archives <= 0.5x lfs",
    ("W3", "git status after touching all files"): "archives <= 0.1x lfs",
    ("W4", "git checkout other branch (1 GiB differs)"): "archives <= 0.3x lfs",
    ("W4", "post-checkout hook, nothing to do"): "<= 0.050 s",
    ("W4", "smudge from a warm cache, through git's filter (MB/s, higher is better)"):
        ">= 1000 MB/s",
    ("W4", "smudge from a warm cache, the tool's own smudge command (MB/s)"): ">= 1000 MB/s",
    **{("W4", hook_step(n)): "<= 0.050 s" for n in NOOP_HOOKS},
    ("W7", "status startup, clean small project"): "<= 0.150 s",
    ("W9", "clone + pull of a DVC project from DVC's remote"): "archives <= 0.5x dvc",
    ("W10", "git push to an LFS server (giftless)"): "archives <= 1.0x lfs",
    ("W10", "git clone from an LFS server (checkout fetches)"): "archives <= 1.0x lfs",
    ("W12HTTP", "clone + pull over http (1,000 x 200 KB + 256 MiB)"): "archives <= 0.5x dvc",
    ("W13PLOTS", "plots show (confusion matrix + training curve)"): "<= 1.0 s",
    ("W13EXPSHOW", "exp show over 100 experiments"): "<= 0.300 s",
    **{("W5", step): target for step, target in __import__("w5_chunks").TARGETS.items()},
    ("W16MERGE", "merge driver, 200-cell notebook (edits on both sides)"): "<= 0.200 s",
    ("W16DIFF", "nb diff --html, 200-cell notebook with images"): "<= 1.0 s",
    ("W13EXP", "4 queued experiments, exp run --run-all -j 2"):
        "archives <= 0.6x archives one after the other",
}


# --------------------------------------------------------------------------- results


@dataclass
class Row:
    workload: str
    step: str
    tool: str
    runs: list[float] = field(default_factory=list)
    status: str = "ok"  # ok | FAILED | n/a | skipped
    detail: str = ""
    # Each timed command of every run: (command, seconds), for breaking a total down.
    parts: list[tuple[str, float]] = field(default_factory=list)
    # The 1-minute load average when the step started: other work on the machine skews
    # wall times, and this says how much there was.
    load: float = field(default_factory=lambda: os.getloadavg()[0])

    # user + sys CPU seconds of the timed commands (and their children), summed per run.
    cpu_runs: list[float] = field(default_factory=list)
    # "s", "bytes" for a row whose runs are byte counts (W5's sizes), or "MB/s" for a rate
    # (W4's smudge throughput; higher is better): no CPU time then.
    unit: str = "s"

    @property
    def seconds(self) -> float | None:
        return statistics.median(self.runs) if self.runs and self.status == "ok" else None

    @property
    def cpu(self) -> float | None:
        if not self.cpu_runs or self.status != "ok":
            return None
        return statistics.median(self.cpu_runs)

    def value(self, metric: str) -> float | None:
        return self.cpu if metric == "cpu" and self.unit == "s" else self.seconds

    def to_json(self) -> dict[str, object]:
        return {
            "workload": self.workload,
            "step": self.step,
            "tool": self.tool,
            "seconds": self.seconds,
            "runs": [round(r, 4) for r in self.runs],
            "cpu_seconds": self.cpu,
            "cpu_runs": [round(r, 4) for r in self.cpu_runs],
            "status": self.status,
            "detail": self.detail,
            "parts": [[cmd, round(sec, 4)] for cmd, sec in self.parts],
            "load": round(self.load, 2),
            "unit": self.unit,
        }


class CommandFailed(Exception):
    """A command exited non-zero (or timed out): the row shows its stderr's last line."""

    def __init__(self, args: Sequence[str], code: int, stderr: str) -> None:
        lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
        self.last_line = lines[-1] if lines else f"exit code {code}, no stderr"
        super().__init__(f"{' '.join(args)}: {self.last_line}")
        self.command = " ".join(args)
        self.code = code


class NotApplicable(Exception):
    """The tool has no equivalent of this workload."""


# --------------------------------------------------------------------------- data


def _csv_pool(seed: int, size: int) -> bytes:
    """A block of CSV-looking rows (deterministic from ``seed``), about ``size`` bytes."""
    rng = random.Random(seed)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    rows: list[str] = []
    total = 0
    n = 0
    while total < size:
        row = (
            f"{n},{rng.choice(words)}-{rng.randrange(10**6)},{rng.random():.6f},"
            f"{rng.randrange(-(10**9), 10**9)},{rng.choice(words)},{rng.getrandbits(64):016x}\n"
        )
        rows.append(row)
        total += len(row)
        n += 1
    return "".join(rows).encode()[:size]


def write_big_csv(path: Path, size: int, seed: int) -> None:
    """Write ``size`` bytes of CSV: a 4 MiB random block repeated, each 1 MiB chunk made
    unique by a chunk-number line, so the content is distinct everywhere but cheap to make."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pool = _csv_pool(seed, 4 * MIB)
    written = 0
    chunk_no = 0
    with path.open("wb") as fh:
        fh.write(b"id,name,value,count,category,tag\n")
        written = fh.tell()
        while written < size:
            head = f"#chunk {seed} {chunk_no}\n".encode()
            start = (chunk_no * 7919 * 131) % (len(pool) - MIB)
            body = pool[start : start + MIB - len(head)]
            piece = (head + body)[: size - written]
            fh.write(piece)
            written += len(piece)
            chunk_no += 1


def write_many_files(directory: Path, count: int, size: int, seed: int) -> None:
    """``count`` distinct CSV-ish files of ``size`` bytes each, sliced from one shared pool."""
    directory.mkdir(parents=True, exist_ok=True)
    pool = _csv_pool(seed, 8 * MIB)
    span = len(pool) - size
    for i in range(count):
        head = f"file,{seed},{i}\n".encode()
        start = (i * 104729) % span
        (directory / f"f{i:05d}.csv").write_bytes(head + pool[start : start + size - len(head)])


def write_notebooks(directory: Path, count: int, seed: int) -> None:
    """``count`` valid nbformat-4.5 notebooks, each with one ~200 KB base64 PNG output."""
    import base64

    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for i in range(count):
        png = b"\x89PNG\r\n\x1a\n" + rng.randbytes(PNG_BYTES - 8)
        nb = {
            "cells": [
                {
                    "cell_type": "markdown",
                    "id": f"md{i:05d}",
                    "metadata": {},
                    "source": [f"# Notebook {i}\n", "A plot of the data."],
                },
                {
                    "cell_type": "code",
                    "execution_count": i + 1,
                    "id": f"code{i:05d}",
                    "metadata": {"scrolled": True},
                    "outputs": [
                        {
                            "name": "stdout",
                            "output_type": "stream",
                            "text": [f"rows: {rng.randrange(10**6)}\n"],
                        },
                        {
                            "data": {
                                "image/png": base64.b64encode(png).decode(),
                                "text/plain": ["<Figure size 640x480 with 1 Axes>"],
                            },
                            "metadata": {},
                            "output_type": "display_data",
                        },
                    ],
                    "source": [
                        "import pandas as pd\n",
                        f"df = pd.read_csv('data/f{i:05d}.csv')\n",
                        "df.plot()",
                    ],
                },
            ],
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                "language_info": {"name": "python", "version": "3.11.7"},
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        (directory / f"nb{i:04d}.ipynb").write_text(text, encoding="utf-8")


def touch_all(paths: Sequence[Path], round_no: int) -> None:
    """Change every file's mtime (content unchanged) to a fresh time in the past, so git
    sees a stat change but the entries are not "racily clean" after a refresh."""
    when = time.time_ns() - (3600 - round_no) * 1_000_000_000
    for p in paths:
        os.utime(p, ns=(when, when))


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- running


class Ctx:
    """One tool's run: its environment, scratch root, sizes and result rows."""

    def __init__(
        self,
        tool: Tool,
        root: Path,
        scale: float,
        repeat: int,
        verbose: bool,
        remote_root: Path | None = None,
    ) -> None:
        self.tool = tool
        self.root = root
        # Where W6 puts its remotes (bare git repo and data store): by default beside the
        # work repos; another filesystem defeats hard-linking (git-lfs's local remotes).
        self.remote_root = remote_root or root
        self.s3_latency_ms = S3_LATENCY_MS
        self.scale = scale
        self.repeat = repeat
        self.verbose = verbose
        self.rows: list[Row] = []
        self.shared: dict[str, Path] = {}
        self.parts: list[tuple[str, float]] = []
        self.cpu_acc: list[float] = []
        home = root / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(
            {
                "HOME": str(home),
                "XDG_CONFIG_HOME": str(home / ".config"),
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_TERMINAL_PROMPT": "0",
                "DVC_NO_ANALYTICS": "1",
                "LC_ALL": "C",
            }
        )
        env.pop("GIT_DIR", None)
        env.pop("GIT_WORK_TREE", None)
        # A user's Python caches compiled modules; without that every start of a Python
        # tool (ours, DVC, nbstripout) recompiles its modules, which is not what users see.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        path = [*tool.path_entries(), env.get("PATH", "/usr/bin:/bin"), *tool.fallback_path()]
        env["PATH"] = os.pathsep.join(path)
        self.env = env
        gitconfig = home / ".gitconfig"
        gitconfig.write_text(
            "[user]\n\tname = Bench\n\temail = bench@example.com\n"
            "[init]\n\tdefaultBranch = main\n"
            "[advice]\n\tdetachedHead = false\n"
            "[gc]\n\tauto = 0\n",
            encoding="utf-8",
        )

    # sizes
    @property
    def big_bytes(self) -> int:
        return max(MIB, int(BIG_FILE_BYTES * self.scale))

    @property
    def many_count(self) -> int:
        return max(1, round(MANY_FILES * self.scale))

    @property
    def notebook_count(self) -> int:
        return max(1, round(NOTEBOOKS * self.scale))

    def run(
        self,
        args: Sequence[str],
        cwd: Path,
        *,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        full_env = self.env if env is None else {**self.env, **env}
        if self.verbose:
            print(f"    $ (cd {cwd}) {' '.join(args)}", file=sys.stderr)
        try:
            proc = subprocess.run(
                list(args),
                check=False,
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=COMMAND_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise CommandFailed(args, -1, f"timed out after {COMMAND_TIMEOUT:.0f} s") from None
        except FileNotFoundError as exc:
            raise CommandFailed(args, 127, f"command not found: {exc.filename}") from None
        if check and proc.returncode != 0:
            raise CommandFailed(args, proc.returncode, proc.stderr or proc.stdout)
        return proc

    def timed(self, steps: Sequence[Sequence[str]], cwd: Path, **kw: object) -> float:
        """Wall time of running ``steps`` one after the other (all must succeed)."""
        return self.timed_in([(list(args), cwd) for args in steps], **kw)

    def timed_in(self, plan: Sequence[tuple[Sequence[str], Path]], **kw: object) -> float:
        """Wall time of running each command of ``plan`` in its directory, in order."""
        os.sync()
        total = 0.0
        cpu = 0.0
        for args, cwd in plan:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            self.run(args, cwd, **kw)  # type: ignore[arg-type]
            took = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            self.parts.append((" ".join(args), took))
            total += took
        self.cpu_acc.append(cpu)
        return total

    def record(self, workload: str, step: str, fn: Callable[[], list[float] | float],
               unit: str = "s") -> None:
        """Run one measured step; a failure marks the row FAILED and propagates so the rest
        of the workload (which depends on this step) is skipped."""
        row = Row(workload, step, self.tool.name, unit=unit)
        self.rows.append(row)
        self.parts = row.parts
        self.cpu_acc = row.cpu_runs
        try:
            got = fn()
            row.runs = got if isinstance(got, list) else [got]
            print(f"  {workload} {step} [{self.tool.name}]: {fmt_seconds(row)}", file=sys.stderr)
        except CommandFailed as exc:
            row.status = "FAILED"
            row.detail = f"`{exc.command}`: {exc.last_line}"
            print(f"  {workload} {step} [{self.tool.name}]: FAILED {row.detail}", file=sys.stderr)
            raise
        except NotApplicable as exc:
            row.status = "n/a"
            row.detail = str(exc)
            raise

    def record_bytes(self, workload: str, step: str, nbytes: int) -> None:
        """A row whose figure is a byte count measured on disk (not a time)."""
        row = Row(workload, step, self.tool.name, runs=[float(nbytes)], unit="bytes")
        self.rows.append(row)
        print(f"  {workload} {step} [{self.tool.name}]: {fmt_seconds(row)}", file=sys.stderr)

    def fresh(self, name: str, under: Path | None = None) -> Path:
        path = (under or self.root) / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def git_init(self, repo: Path) -> None:
        self.run(["git", "init", "-q", "-b", "main"], repo)

    def commit(self, repo: Path, message: str) -> None:
        self.run(["git", "add", "-A"], repo)
        self.run(["git", "commit", "-q", "--no-verify", "--allow-empty", "-m", message], repo)

    def head(self, repo: Path) -> str:
        return self.run(["git", "rev-parse", "HEAD"], repo).stdout.strip()


def median_of(n: int, once: Callable[[int], float]) -> list[float]:
    return [once(i) for i in range(n)]


# --------------------------------------------------------------------------- tools


def which(name: str, path: str | None = None) -> str | None:
    return shutil.which(name, path=path)


class Tool:
    name = "?"

    def install(self) -> list[str]:
        """Make the tool available (idempotently); return lines saying what was done."""
        return []

    def path_entries(self) -> list[str]:
        return []

    def fallback_path(self) -> list[str]:
        return []

    def version(self, ctx: Ctx) -> str:
        return ctx.run(["git", "--version"], ctx.root).stdout.strip()

    # large files -------------------------------------------------------------
    def init_large(self, ctx: Ctx, repo: Path, pattern: str) -> None:
        raise NotApplicable(f"{self.name} does not track large files through git add")

    def setup_clone_tools(self, ctx: Ctx) -> None:
        """Per-user setup done once before clones (e.g. `git lfs install`)."""

    def add_remote(self, ctx: Ctx, repo: Path, remote_git: Path, store: Path) -> None:
        raise NotApplicable(f"{self.name} has no data remote")

    def push_data(self, ctx: Ctx, repo: Path) -> list[list[str]]:
        raise NotApplicable(f"{self.name} has no data remote")

    def clone_and_pull(self, remote_git: Path, dest: Path) -> list[tuple[list[str], Path]]:
        raise NotApplicable(f"{self.name} has no data remote")

    def clone_with_checkout(self, remote_git: Path, dest: Path) -> list[tuple[list[str], Path]]:
        raise NotApplicable(f"{self.name} cannot fetch objects during checkout")

    def clone_one_at_a_time(self, remote_git: Path, dest: Path) -> list[tuple[list[str], Path]]:
        """The same checkout with each object fetched when git asks for its file (the
        reference for "batched fetch at most half the time of one at a time")."""
        raise NotApplicable(f"{self.name} has no one-at-a-time mode to compare with")

    def noop_hook(self, ctx: Ctx, repo: Path, name: str = "post-checkout") -> list[str]:
        raise NotApplicable(f"{self.name} has no {name} hook")

    # pipelines ---------------------------------------------------------------
    def init_pipeline(self, ctx: Ctx, repo: Path) -> None:
        raise NotApplicable(f"{self.name} has no pipelines")

    def repro(self) -> list[str]:
        raise NotApplicable(f"{self.name} has no pipelines")

    def pipeline_status(self) -> list[str]:
        raise NotApplicable(f"{self.name} has no pipelines")

    def plots_show(self, out: str) -> list[str]:
        raise NotApplicable(f"{self.name} has no plots")

    # notebooks ---------------------------------------------------------------
    def init_notebooks(self, ctx: Ctx, repo: Path) -> None:
        raise NotApplicable(f"{self.name} has no notebook filter")


class GitTool(Tool):
    """Plain git, no filter: reference rows."""

    name = "git"

    def init_large(self, ctx: Ctx, repo: Path, pattern: str) -> None:
        ctx.git_init(repo)

    def init_notebooks(self, ctx: Ctx, repo: Path) -> None:
        ctx.git_init(repo)


class LfsTool(Tool):
    name = "lfs"

    def install(self) -> list[str]:
        probe = subprocess.run(
            ["git", "lfs", "version"], check=False, capture_output=True, text=True
        )
        if probe.returncode == 0:
            return [f"git-lfs present: {probe.stdout.strip()}"]
        done = []
        for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "git-lfs"]):
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
            if proc.returncode != 0:
                raise CommandFailed(cmd, proc.returncode, proc.stderr)
            done.append(f"ran {' '.join(cmd)}")
        return [*done, "installed git-lfs from Debian"]

    def version(self, ctx: Ctx) -> str:
        return ctx.run(["git", "lfs", "version"], ctx.root).stdout.strip()

    def init_large(self, ctx: Ctx, repo: Path, pattern: str) -> None:
        ctx.git_init(repo)
        ctx.run(["git", "lfs", "install", "--local"], repo)
        ctx.run(["git", "lfs", "track", pattern], repo)

    def setup_clone_tools(self, ctx: Ctx) -> None:
        ctx.run(["git", "lfs", "install", "--skip-repo"], ctx.root)

    def add_remote(self, ctx: Ctx, repo: Path, remote_git: Path, store: Path) -> None:
        # A local-path git remote: git-lfs 3.x stores objects in <remote>/lfs/objects with
        # its built-in standalone-file transfer adapter; the `store` directory is unused.
        ctx.run(["git", "remote", "add", "origin", str(remote_git)], repo)

    def push_data(self, ctx: Ctx, repo: Path) -> list[list[str]]:
        return [["git", "lfs", "push", "origin", "main"]]

    def clone_and_pull(self, remote_git: Path, dest: Path) -> list[tuple[list[str], Path]]:
        return [
            (
                [
                    "git",
                    "-c",
                    "filter.lfs.smudge=git-lfs smudge --skip",
                    "-c",
                    "filter.lfs.process=git-lfs filter-process --skip",
                    "clone",
                    "-q",
                    str(remote_git),
                    str(dest),
                ],
                dest.parent,
            ),
            (["git", "lfs", "pull"], dest),
        ]

    def clone_with_checkout(self, remote_git: Path, dest: Path) -> list[tuple[list[str], Path]]:
        # `git lfs install` was run for the user: the checkout smudges each file; git-lfs
        # answers "delayed" and fetches the missing objects through its transfer queue
        # (git-lfs PR #2511), as git-archives does.
        return [(["git", "clone", "-q", str(remote_git), str(dest)], dest.parent)]

    def noop_hook(self, ctx: Ctx, repo: Path, name: str = "post-checkout") -> list[str]:
        return installed_hook(ctx, repo, name) or super().noop_hook(ctx, repo, name)


class DvcTool(Tool):
    name = "dvc"

    def venv(self) -> Path:
        own = PEERS / "dvc"
        shared = Path("/work/dvcvenv")
        if not (own / "bin" / "dvc").exists() and (shared / "bin" / "dvc").exists():
            return shared  # reuse a DVC venv that already exists on this machine
        return own

    def install(self) -> list[str]:
        done = install_venv(self.venv(), "dvc", "dvc")
        # W12's rows compare with DVC's own plugins for each kind of remote.
        probe = subprocess.run([str(self.venv() / "bin" / "python"), "-c",
                                "import dvc_gs, dvc_azure, dvc_ssh"],
                               check=False, capture_output=True)
        if probe.returncode != 0:
            cmd = [str(self.venv() / "bin" / "pip"), "install", "-q", *DVC_PLUGINS]
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
            if proc.returncode != 0:
                raise CommandFailed(cmd, proc.returncode, proc.stderr)
            done.append("pip-installed " + " ".join(DVC_PLUGINS))
        return done

    def path_entries(self) -> list[str]:
        return [str(self.venv() / "bin")]

    def version(self, ctx: Ctx) -> str:
        return "dvc " + ctx.run(["dvc", "--version"], ctx.root).stdout.strip()

    def _init(self, ctx: Ctx, repo: Path) -> None:
        ctx.git_init(repo)
        ctx.run(["dvc", "init", "-q"], repo)
        ctx.run(["dvc", "config", "core.analytics", "false"], repo)
        ctx.run(["dvc", "config", "core.autostage", "true"], repo)

    def init_dvc_data(self, ctx: Ctx, repo: Path, targets: Sequence[str]) -> None:
        self._init(ctx, repo)
        ctx.run(["dvc", "add", "-q", *targets], repo)

    def add_remote(self, ctx: Ctx, repo: Path, remote_git: Path, store: Path) -> None:
        ctx.run(["git", "remote", "add", "origin", str(remote_git)], repo)
        ctx.run(["dvc", "remote", "add", "-d", "store", str(store)], repo)

    def push_data(self, ctx: Ctx, repo: Path) -> list[list[str]]:
        return [["dvc", "push", "-q"]]

    def clone_and_pull(self, remote_git: Path, dest: Path) -> list[tuple[list[str], Path]]:
        return [
            (["git", "clone", "-q", str(remote_git), str(dest)], dest.parent),
            (["dvc", "pull", "-q"], dest),
        ]

    def init_pipeline(self, ctx: Ctx, repo: Path) -> None:
        self._init(ctx, repo)

    def repro(self) -> list[str]:
        return ["dvc", "repro", "-q"]

    def pipeline_status(self) -> list[str]:
        return ["dvc", "status", "-q"]

    def plots_show(self, out: str) -> list[str]:
        return ["dvc", "plots", "show", "-q", "-o", out]


class NbstripoutTool(Tool):
    name = "nbstripout"

    def venv(self) -> Path:
        return PEERS / "nbstripout"

    def install(self) -> list[str]:
        return install_venv(self.venv(), "nbstripout==0.9.1", "nbstripout")

    def path_entries(self) -> list[str]:
        return [str(self.venv() / "bin")]

    def version(self, ctx: Ctx) -> str:
        return "nbstripout " + ctx.run(["nbstripout", "--version"], ctx.root).stdout.strip()

    def init_notebooks(self, ctx: Ctx, repo: Path) -> None:
        ctx.git_init(repo)
        ctx.run(["nbstripout", "--install"], repo)


class ArchivesTool(Tool):
    name = "archives"

    def fallback_path(self) -> list[str]:
        return [str(PROJECT / ".venv" / "bin")]

    def install(self) -> list[str]:
        found = which("git-archives") or which("git-archives", path=str(PROJECT / ".venv" / "bin"))
        if not found:
            raise CommandFailed(["git-archives"], 127, "git-archives not on PATH nor in .venv/bin")
        return [f"git-archives found at {found}"]

    def version(self, ctx: Ctx) -> str:
        return ctx.run(["git-archives", "--version"], ctx.root).stdout.strip()

    def init_large(self, ctx: Ctx, repo: Path, pattern: str) -> None:
        ctx.git_init(repo)
        ctx.run(["git", "archives", "install"], repo)
        ctx.run(["git", "archives", "track", pattern], repo)

    # What a clone must confirm before using the committed remote (docs/threat-model.md:
    # a directory remote or a non-AWS endpoint named only by .archives/config): the key and
    # value of 'git archives remote modify --local store KEY VALUE', one timed step.
    confirm: tuple[str, str] | None = None

    def add_remote(self, ctx: Ctx, repo: Path, remote_git: Path, store: Path) -> None:
        ctx.run(["git", "remote", "add", "origin", str(remote_git)], repo)
        ctx.run(["git", "archives", "remote", "add", "-d", "store", str(store)], repo)
        self.confirm = ("url", str(store))

    def _confirm(self, dest: Path) -> tuple[list[str], Path]:
        assert self.confirm is not None
        return (["git", "archives", "remote", "modify", "--local", "store", *self.confirm], dest)

    def push_data(self, ctx: Ctx, repo: Path) -> list[list[str]]:
        return [["git", "archives", "push"]]

    def clone_and_pull(self, remote_git: Path, dest: Path) -> list[tuple[list[str], Path]]:
        # 'pull --confirm VALUE' confirms the committed value (as the _confirm command
        # does) and pulls: one command the user types instead of two
        assert self.confirm is not None
        return [
            (["git", "clone", "-q", str(remote_git), str(dest)], dest.parent),
            (["git", "archives", "install"], dest),
            (["git", "archives", "pull", "--confirm", self.confirm[1]], dest),
        ]

    def clone_with_checkout(self, remote_git: Path, dest: Path) -> list[tuple[list[str], Path]]:
        return [
            (["git", "clone", "-q", "--no-checkout", str(remote_git), str(dest)], dest.parent),
            (["git", "archives", "install"], dest),
            self._confirm(dest),
            (["git", "checkout", "-q", "main"], dest),
        ]

    def clone_one_at_a_time(self, remote_git: Path, dest: Path) -> list[tuple[list[str], Path]]:
        # git is not offered the delay capability: smudge fetches each object in turn
        return [
            (["git", "clone", "-q", "--no-checkout", str(remote_git), str(dest)], dest.parent),
            (["git", "archives", "install"], dest),
            self._confirm(dest),
            (["env", "GIT_ARCHIVES_NO_DELAY=1", "git", "checkout", "-q", "main"], dest),
        ]

    def noop_hook(self, ctx: Ctx, repo: Path, name: str = "post-checkout") -> list[str]:
        return installed_hook(ctx, repo, name) or super().noop_hook(ctx, repo, name)

    def init_pipeline(self, ctx: Ctx, repo: Path) -> None:
        ctx.git_init(repo)
        ctx.run(["git", "archives", "install"], repo)

    def repro(self) -> list[str]:
        return ["git", "archives", "repro"]

    def pipeline_status(self) -> list[str]:
        return ["git", "archives", "status"]

    def plots_show(self, out: str) -> list[str]:
        return ["git", "archives", "plots", "show", "-o", out]

    def init_notebooks(self, ctx: Ctx, repo: Path) -> None:
        ctx.git_init(repo)
        ctx.run(["git", "archives", "install"], repo)
        (repo / ".gitattributes").write_text(
            "*.ipynb filter=archives-nb diff=archives-nb\n", encoding="utf-8"
        )


def installed_hook(ctx: Ctx, repo: Path, name: str = "post-checkout") -> list[str] | None:
    """The ``name`` hook script git would run (honouring core.hooksPath), called as git
    calls it when there is nothing to do (stdin is empty: no refs pushed or moved); None if
    the tool installed no such hook."""
    rel = ctx.run(["git", "rev-parse", "--git-path", f"hooks/{name}"], repo).stdout.strip()
    script = (repo / rel).resolve()
    if not (script.is_file() and os.access(script, os.X_OK)):
        return None
    head = ctx.head(repo)
    if name == "pre-push":  # git-lfs checks that the remote it is told about exists
        ctx.run(["git", "remote", "add", "origin", str(repo)], repo, check=False)
    args = {"post-checkout": [head, head, "1"], "post-merge": ["0"],
            "pre-push": ["origin", str(repo)], "reference-transaction": ["committed"]}
    return [str(script), *args.get(name, [])]



def wait_for_port(port: int, proc: subprocess.Popen[bytes], seconds: float, name: str,
                  why: str) -> None:
    """Until a server started as ``proc`` accepts connections on loopback ``port``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise CommandFailed([name], 1, why) from None
            time.sleep(0.1)


DVC_PLUGINS = ("dvc-gs", "dvc-azure", "dvc-ssh")


def install_venv(venv: Path, requirement: str, exe: str) -> list[str]:
    if (venv / "bin" / exe).exists():
        return [f"{exe} present in {venv}"]
    venv.parent.mkdir(parents=True, exist_ok=True)
    for cmd in (
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", requirement],
    ):
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            raise CommandFailed(cmd, proc.returncode, proc.stderr)
    return [f"created venv {venv} and pip-installed {requirement}"]


TOOLS: dict[str, Callable[[], Tool]] = {
    "archives": ArchivesTool,
    "lfs": LfsTool,
    "dvc": DvcTool,
    "nbstripout": NbstripoutTool,
    "git": GitTool,
}


# --------------------------------------------------------------------------- workloads

W1_ADD = "git add 1 GiB CSV"
W2_ADD = "git add many 200 KB files"
W3_STATUS = "git status after touching all files"
W4_CHECKOUT = "git checkout other branch (1 GiB differs)"
W4_HOOK = "post-checkout hook, nothing to do"
W4_SMUDGE = "smudge from a warm cache, through git's filter (MB/s, higher is better)"
W4_SMUDGE1 = "smudge from a warm cache, the tool's own smudge command (MB/s)"
# The one-file smudge command of each tool that has one (pointer on stdin, content out).
SMUDGE_COMMAND = {"archives": "git-archives filter-smudge -- data/big.csv",
                  "lfs": "git-lfs smudge -- data/big.csv"}


W6_PUSH = "push data to local-dir remote"
W6_PULL = "clone + setup + pull"
W6_CHECKOUT = "clone whose checkout fetches every object"
W6_ONE = "same checkout, each object fetched one at a time"
W7_NOOP = "repro, nothing changed"
W7_ONE = "repro after changing one dep file"
W7_TOUCH = "status after touching the 5,000 dep files"
W7_START = "status startup, clean small project"
W8_ADD = "git add notebooks"
W8_STATUS = "git status after touching notebooks"


def big_repo(ctx: Ctx, *, timed_add: bool) -> Path:
    """A repo whose data/big.csv is committed (the add timed for W1)."""
    if "big" in ctx.shared:
        return ctx.shared["big"]
    repo = ctx.fresh("big")
    ctx.tool.init_large(ctx, repo, "data/**")
    ctx.commit(repo, "setup")
    write_big_csv(repo / "data" / "big.csv", ctx.big_bytes, seed=1)

    def add() -> float:
        took = ctx.timed([["git", "add", "data/big.csv"]], repo)
        ctx.commit(repo, "big file")
        check_committed_small(ctx, repo, "data/big.csv")
        return took

    if timed_add:
        ctx.record("W1", W1_ADD, add)
    else:
        add()
    ctx.shared["big"] = repo
    return repo


def many_repo(ctx: Ctx, *, timed_add: bool) -> Path:
    if "many" in ctx.shared:
        return ctx.shared["many"]
    repo = ctx.fresh("many")
    ctx.tool.init_large(ctx, repo, "data/**")
    ctx.commit(repo, "setup")
    write_many_files(repo / "data" / "many", ctx.many_count, SMALL_FILE_BYTES, seed=2)

    def add() -> float:
        took = ctx.timed([["git", "add", "data"]], repo)
        ctx.commit(repo, "many files")
        check_committed_small(ctx, repo, "data/many/f00000.csv")
        return took

    if timed_add:
        ctx.record("W2", W2_ADD, add)
    else:
        add()
    ctx.shared["many"] = repo
    return repo


def check_committed_small(ctx: Ctx, repo: Path, rel: str) -> None:
    """A tool that tracks large files must have committed a pointer, not the content."""
    if isinstance(ctx.tool, GitTool):
        return
    blob = ctx.run(["git", "cat-file", "-p", f"HEAD:{rel}"], repo).stdout
    if len(blob) >= 1024 or "oid sha256:" not in blob:
        raise CommandFailed(
            ["git", "cat-file", "-p", f"HEAD:{rel}"],
            1,
            f"{rel} was committed as {len(blob)} bytes of content, not as a pointer",
        )


def w1(ctx: Ctx) -> None:
    big_repo(ctx, timed_add=True)


def w2(ctx: Ctx) -> None:
    many_repo(ctx, timed_add=True)


def w3(ctx: Ctx) -> None:
    repo = many_repo(ctx, timed_add=False)
    files = files_under(repo / "data")

    def once(i: int) -> float:
        touch_all(files, i)
        return ctx.timed([["git", "status", "--porcelain"]], repo)

    def rounds() -> list[float]:
        runs = median_of(ctx.repeat, once)
        dirty = ctx.run(["git", "status", "--porcelain"], repo).stdout.strip()
        if dirty:
            raise CommandFailed(["git", "status"], 1, f"tree not clean after touch: {dirty[:200]}")
        return runs

    ctx.record("W3", W3_STATUS, rounds)


def w4(ctx: Ctx) -> None:
    repo = big_repo(ctx, timed_add=False)
    ctx.run(["git", "checkout", "-q", "-b", "other"], repo)
    write_big_csv(repo / "data" / "big.csv", ctx.big_bytes, seed=3)
    ctx.commit(repo, "other big file")
    ctx.run(["git", "checkout", "-q", "main"], repo)

    def once(i: int) -> float:
        target = "other" if i % 2 == 0 else "main"
        return ctx.timed([["git", "checkout", "-q", target]], repo)

    def switches() -> list[float]:
        runs = median_of(2 * ctx.repeat, once)
        ctx.run(["git", "checkout", "-q", "other"], repo)
        check_big(ctx, repo, seed=3)
        ctx.run(["git", "checkout", "-q", "main"], repo)
        check_big(ctx, repo, seed=1)
        return runs

    ctx.record("W4", W4_CHECKOUT, switches)
    try:
        ctx.record("W4", W4_SMUDGE, lambda: smudge_rate(ctx, repo), unit="MB/s")
        ctx.record("W4", W4_SMUDGE1, lambda: smudge_rate(ctx, repo, alone=True), unit="MB/s")
    except (NotApplicable, CommandFailed):
        pass  # the row says n/a or FAILED; the hook rows do not depend on it
    for name, step in [("post-checkout", W4_HOOK), *((n, hook_step(n)) for n in NOOP_HOOKS)]:
        try:
            ctx.record("W4", step, lambda name=name: median_of(  # type: ignore[misc]
                max(5, 3 * ctx.repeat),
                lambda _i: ctx.timed([ctx.tool.noop_hook(ctx, repo, name)], repo)))
        except (NotApplicable, CommandFailed):
            continue  # no such hook (n/a), or it failed (FAILED): the row says so; go on


def smudge_rate(ctx: Ctx, repo: Path, *, alone: bool = False) -> list[float]:
    """MB/s of ``git cat-file --filters`` of the big file: git asks the tool's filter process
    to smudge its pointer from a warm cache (the object is local, and was just checked out)
    and throws the content away; what a checkout of that file costs but writing it. With
    ``alone``: the tool's one-file smudge command reads the pointer and writes the content
    to /dev/null, without git in between (git's own share of the first is its memory)."""
    if ctx.tool.name not in SMUDGE_COMMAND:
        raise NotApplicable(f"{ctx.tool.name} has no smudge filter")
    blob = ctx.run(["git", "cat-file", "blob", "HEAD:data/big.csv"], repo).stdout
    if "oid sha256:" not in blob:
        raise NotApplicable("data/big.csv is not stored as a pointer")
    script = "git cat-file --filters HEAD:data/big.csv >/dev/null"
    if alone:
        (repo / ".git" / "big.ptr").write_text(blob, encoding="utf-8")
        script = f"{SMUDGE_COMMAND[ctx.tool.name]} <.git/big.ptr >/dev/null"
    show = ["sh", "-c", script]
    return median_of(ctx.repeat, lambda _i: ctx.big_bytes / ctx.timed([show], repo) / 1e6)


def check_big(ctx: Ctx, repo: Path, seed: int) -> None:
    """The checked-out big file must be the real content, not a pointer."""
    path = repo / "data" / "big.csv"
    size = path.stat().st_size
    if size != ctx.big_bytes:
        raise CommandFailed(
            ["git", "checkout"], 1, f"{path} has {size} bytes, expected {ctx.big_bytes}"
        )
    with path.open("rb") as fh:
        fh.seek(len(b"id,name,value,count,category,tag\n"))
        head = fh.read(32)
    if not head.startswith(f"#chunk {seed} ".encode()):
        raise CommandFailed(["git", "checkout"], 1, f"{path} does not hold the expected branch")


def w6(ctx: Ctx) -> None:
    tool = ctx.tool
    repo = ctx.fresh("w6-src")
    write_big_csv(repo / "data" / "big.csv", ctx.big_bytes, seed=1)
    write_many_files(repo / "data" / "many", ctx.many_count, SMALL_FILE_BYTES, seed=2)
    if isinstance(tool, DvcTool):
        tool.init_dvc_data(ctx, repo, ["data/big.csv", "data/many"])
    else:
        if isinstance(tool, GitTool):
            raise NotApplicable("plain git has no data remote")
        tool.init_large(ctx, repo, "data/**")
    ctx.commit(repo, "data")
    remote_git = ctx.fresh("w6-remote.git", ctx.remote_root)
    ctx.run(["git", "init", "-q", "--bare", "-b", "main"], remote_git)
    store = ctx.fresh("w6-store", ctx.remote_root)
    tool.add_remote(ctx, repo, remote_git, store)
    if has_changes(ctx, repo):
        ctx.commit(repo, "remote")
    push = tool.push_data(ctx, repo)
    ctx.record("W6", W6_PUSH, lambda: ctx.timed(push, repo))
    ctx.run(["git", "push", "-q", "origin", "main"], repo)
    tool.setup_clone_tools(ctx)

    dest = ctx.root / "w6-clone"
    ctx.record("W6", W6_PULL, lambda: clone_run(ctx, tool.clone_and_pull, remote_git, dest))
    ctx.record("W6", W6_CHECKOUT,
               lambda: clone_run(ctx, tool.clone_with_checkout, remote_git, dest))
    ctx.record("W6", W6_ONE, lambda: clone_run(ctx, tool.clone_one_at_a_time, remote_git, dest))


def clone_run(ctx: Ctx, steps: Callable[[Path, Path], list[tuple[list[str], Path]]],
              remote_git: Path, dest: Path) -> float:
    """Time ``steps`` (a clone of ``remote_git`` into a fresh ``dest``, then whatever fills
    it) and check that the clone holds W6's data."""
    if dest.exists():
        shutil.rmtree(dest)
    elapsed = ctx.timed_in(steps(remote_git, dest))
    check_clone(ctx, dest)
    return elapsed


W6S3_PUSH = "push to S3 (moto on loopback behind a latency proxy)"
W6S3_CHECKOUT = "clone whose checkout fetches every object from S3"
W6S3_ONE = "same checkout from S3, each object fetched one at a time"
MOTO_VENV = PEERS / "moto"
S3_BENCH_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


class MotoServer:
    """moto's S3 server as its own process on a loopback port, with one bucket."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    def __enter__(self) -> MotoServer:
        for line in install_venv(MOTO_VENV, "moto[server]", "moto_server"):
            print(f"  setup: {line}", file=sys.stderr)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        py = str(MOTO_VENV / "bin" / "python")
        self.proc = subprocess.Popen([py, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.endpoint = f"http://127.0.0.1:{port}"
        wait_for_port(port, self.proc, 30, "moto.server", "the S3 server did not start")
        make = ("import boto3, sys; boto3.client('s3', endpoint_url=sys.argv[1])"
                ".create_bucket(Bucket=sys.argv[2])")
        subprocess.run([py, "-c", make, self.endpoint, self.bucket], check=True,
                       env={**os.environ, **S3_BENCH_ENV}, capture_output=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


class LatencyProxy:
    """A TCP forwarder that holds each request for ``delay`` seconds before passing it on:
    moto on loopback answers in about a millisecond, where a real object store is tens of
    milliseconds away; this gives every request a round trip like a nearby cloud region's.
    (A burst of bytes from the client after a quiet moment, or after the server answered
    on that connection, counts as a new request: a client quick enough to send its next
    request on a kept-alive connection within the quiet moment would otherwise skip the
    delay.)"""

    def __init__(self, target: str, delay: float) -> None:
        self.delay = delay
        host, port = target.rsplit("//", 1)[1].split(":")
        self.target = (host, int(port))
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            answered = threading.Event()  # the server sent bytes since the client last did
            for a, b, slow in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(a, b, slow, answered),
                                 daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, slow: bool,
              answered: threading.Event) -> None:
        last = 0.0
        try:
            while True:
                data = src.recv(1 << 20)
                if not data:
                    break
                if not slow:
                    answered.set()
                else:
                    now = time.monotonic()
                    if now - last > 0.002 or answered.is_set():
                        answered.clear()
                        time.sleep(self.delay)
                    last = time.monotonic()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


# Seconds added to every S3 request. AWS's performance guidance puts the median latency of
# small requests "in the tens of milliseconds"; --s3-latency-ms changes it.
S3_LATENCY_MS = 30.0


def w6s3(ctx: Ctx) -> None:
    """W6's data through an S3 remote: the delayed, parallel checkout against the same
    checkout with each object fetched when git asks for its file (git-archives only: the
    peers have no such switch)."""
    tool = ctx.tool
    if not isinstance(tool, ArchivesTool):
        raise NotApplicable(f"{tool.name}: W6S3 compares git-archives with its own "
                            "one-at-a-time mode")
    saved = dict(ctx.env)
    ctx.env.update(S3_BENCH_ENV)
    try:
        with MotoServer("bench") as s3:
            proxy = LatencyProxy(s3.endpoint, ctx.s3_latency_ms / 1000)
            repo = ctx.fresh("w6s3-src")
            write_big_csv(repo / "data" / "big.csv", ctx.big_bytes, seed=1)
            write_many_files(repo / "data" / "many", ctx.many_count, SMALL_FILE_BYTES, seed=2)
            tool.init_large(ctx, repo, "data/**")
            ctx.commit(repo, "data")
            remote_git = ctx.fresh("w6s3-remote.git", ctx.remote_root)
            ctx.run(["git", "init", "-q", "--bare", "-b", "main"], remote_git)
            ctx.run(["git", "remote", "add", "origin", str(remote_git)], repo)
            ctx.run(["git", "archives", "remote", "add", "-d", "store", "s3://bench/w6"], repo)
            for key, value in (("endpointurl", proxy.url), ("pathstyle", "true"),
                               ("region", "us-east-1")):
                ctx.run(["git", "archives", "remote", "modify", "store", key, value], repo)
            if isinstance(tool, ArchivesTool):
                tool.confirm = ("endpointurl", proxy.url)
            ctx.commit(repo, "remote")
            ctx.record("W6S3", W6S3_PUSH, lambda: ctx.timed([["git", "archives", "push"]], repo))
            ctx.run(["git", "push", "-q", "origin", "main"], repo)
            dest = ctx.root / "w6s3-clone"
            ctx.record("W6S3", W6S3_CHECKOUT,
                       lambda: clone_run(ctx, tool.clone_with_checkout, remote_git, dest))
            ctx.record("W6S3", W6S3_ONE,
                       lambda: clone_run(ctx, tool.clone_one_at_a_time, remote_git, dest))
    finally:
        ctx.env.clear()
        ctx.env.update(saved)


W10_PUSH = "git push to an LFS server (giftless)"
W10_CLONE = "git clone from an LFS server (checkout fetches)"
W10_FILES = 200  # x 200 KB, plus one W10_BIG_BYTES file (issue 11's figure)
W10_BIG_BYTES = 64 * MIB
GIFTLESS_VENV = PEERS / "giftless"
# giftless 0.6.2 declares no dependencies; PyJWT >= 2.10 refuses its tokens (sub: null).
GIFTLESS_PACKAGES = ["giftless==0.6.2", "flask", "flask-classful", "flask-marshmallow",
                     "marshmallow", "webargs", "figcan", "python-dotenv", "pyyaml",
                     "cachetools", "pyjwt<2.10", "python-dateutil", "requests",
                     "typing-extensions"]
GIFTLESS_KEY = "a-bench-key-of-at-least-32-bytes-0123456789"


class GiftlessServer:
    """giftless (a Git LFS server from PyPI, in bench/.peers/giftless) on a loopback port,
    storing in ``storage``. Uploads need its JWT pre-authorised actions (anonymous access
    alone does not pass its per-object check on PUT)."""

    def __init__(self, storage: Path) -> None:
        self.storage = storage
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""

    def __enter__(self) -> GiftlessServer:
        if not (GIFTLESS_VENV / "bin" / "flask").exists():
            GIFTLESS_VENV.parent.mkdir(parents=True, exist_ok=True)
            for cmd in ([sys.executable, "-m", "venv", str(GIFTLESS_VENV)],
                        [str(GIFTLESS_VENV / "bin" / "pip"), "install", "-q",
                         *GIFTLESS_PACKAGES]):
                proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise CommandFailed(cmd, proc.returncode, proc.stderr)
        self.storage.mkdir(parents=True, exist_ok=True)
        auth = f"{{algorithm: HS256, private_key: {GIFTLESS_KEY}}}"
        cfg = self.storage.parent / "giftless.yaml"
        cfg.write_text(
            f"AUTH_PROVIDERS:\n  - factory: giftless.auth.jwt:factory\n    options: {auth}\n"
            "  - giftless.auth.allow_anon:read_write\n"
            "PRE_AUTHORIZED_ACTION_PROVIDER:\n  factory: giftless.auth.jwt:factory\n"
            f"  options: {{algorithm: HS256, private_key: {GIFTLESS_KEY}, "
            "default_lifetime: 600}\n"
            "TRANSFER_ADAPTERS:\n  basic:\n    factory: giftless.transfer.basic_streaming:factory\n"
            "    options:\n      storage_class: giftless.storage.local_storage:LocalStorage\n"
            f"      storage_options: {{path: {self.storage}}}\n", encoding="utf-8")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.proc = subprocess.Popen(
            [str(GIFTLESS_VENV / "bin" / "python"), "-m", "flask", "--app",
             "giftless.wsgi_entrypoint", "run", "--host", "127.0.0.1", "-p", str(port),
             "--with-threads"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "GIFTLESS_CONFIG_FILE": str(cfg)})
        self.base = f"http://127.0.0.1:{port}"
        wait_for_port(port, self.proc, 60, "giftless", "the LFS server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def w10(ctx: Ctx) -> None:
    """Push and clone the same data through one local Git LFS server (giftless), with
    plain git commands: git-archives serving its own filter with the server as its default
    remote, against git-lfs."""
    tool = ctx.tool
    if not isinstance(tool, (ArchivesTool, LfsTool)):
        raise NotApplicable(f"{tool.name} does not speak the Git LFS batch API")
    count = max(1, round(W10_FILES * ctx.scale))
    big = max(MIB, int(W10_BIG_BYTES * ctx.scale))
    with GiftlessServer(ctx.fresh("w10-server") / "storage") as server:
        url = f"{server.base}/bench/w10.git/info/lfs"
        ctx.run(["git", "config", "--global", "lfs.locksverify", "false"], ctx.root)
        repo = ctx.fresh("w10-src")
        write_big_csv(repo / "data" / "big.csv", big, seed=1)
        write_many_files(repo / "data" / "many", count, SMALL_FILE_BYTES, seed=2)
        tool.init_large(ctx, repo, "data/**")
        ctx.run(["git", "config", "-f", ".lfsconfig", "lfs.url", url], repo)
        # The server is on another host than the git remote (a folder): the user confirms it
        # (git-lfs reads lfs.url too).
        ctx.run(["git", "config", "lfs.url", url], repo)
        ctx.commit(repo, "data")
        remote_git = ctx.fresh("w10-remote.git", ctx.remote_root)
        ctx.run(["git", "init", "-q", "--bare", "-b", "main"], remote_git)
        ctx.run(["git", "remote", "add", "origin", str(remote_git)], repo)

        def pushes() -> list[float]:
            # giftless's CPU is most of a push and varies from run to run: the median of
            # --repeat pushes, the first ones each to a server of their own (fresh storage,
            # a git remote of another name, so nothing counts as pushed already), the last
            # to the server the clone then reads.
            runs = [_w10_push_elsewhere(ctx, repo, n) for n in range(1, ctx.repeat)]
            ctx.run(["git", "config", "lfs.url", url], repo)
            return [*runs, ctx.timed([["git", "push", "-q", "origin", "main"]], repo)]

        ctx.record("W10", W10_PUSH, pushes)
        if isinstance(tool, ArchivesTool):
            ctx.run(["git", "archives", "install", "--global"], ctx.root)
        else:
            tool.setup_clone_tools(ctx)
        dest = ctx.root / "w10-clone"

        def clone() -> float:
            if dest.exists():
                shutil.rmtree(dest)
            took = ctx.timed([["git", "clone", "-q", "-c", f"lfs.url={url}", str(remote_git),
                               str(dest)]], ctx.root)
            sizes = sorted(p.stat().st_size for p in (dest / "data" / "many").iterdir())
            if len(sizes) != count or set(sizes) != {SMALL_FILE_BYTES} or \
                    (dest / "data" / "big.csv").stat().st_size != big:
                raise CommandFailed(["git", "clone"], 1, "the clone does not hold W10's data")
            return took

        ctx.record("W10", W10_CLONE, clone)


def _w10_push_elsewhere(ctx: Ctx, repo: Path, n: int) -> float:
    """One timed ``git push`` of W10's data to a giftless server and bare repository of its
    own (the remote ``w10-<n>``), as the last push does to the main one."""
    with GiftlessServer(ctx.fresh(f"w10-server-{n}") / "storage") as server:
        ctx.run(["git", "config", "lfs.url", f"{server.base}/bench/w10.git/info/lfs"], repo)
        bare = ctx.fresh(f"w10-remote-{n}.git", ctx.remote_root)
        ctx.run(["git", "init", "-q", "--bare", "-b", "main"], bare)
        ctx.run(["git", "remote", "add", f"w10-{n}", str(bare)], repo)
        return ctx.timed([["git", "push", "-q", f"w10-{n}", "main"]], repo)


def has_changes(ctx: Ctx, repo: Path) -> bool:
    return bool(ctx.run(["git", "status", "--porcelain"], repo).stdout.strip())


def check_clone(ctx: Ctx, dest: Path) -> None:
    check_big(ctx, dest, seed=1)
    many = sorted((dest / "data" / "many").iterdir())
    bad = [p.name for p in many if p.stat().st_size != SMALL_FILE_BYTES]
    if len(many) != ctx.many_count or bad:
        raise CommandFailed(
            ["clone"], 1, f"clone has {len(many)} small files, {len(bad)} of the wrong size"
        )


PIPELINE_YAML = """\
stages:
  count:
    cmd: python3 src/count.py
    deps:
    - src/count.py
    - data/raw
    outs:
    - out/count.txt
  summarize:
    cmd: python3 src/summarize.py
    deps:
    - src/summarize.py
    - out/count.txt
    params:
    - summarize.factor
    outs:
    - out/summary.txt
  report:
    cmd: python3 src/report.py
    deps:
    - src/report.py
    - out/summary.txt
    metrics:
    - metrics.json:
        cache: false
"""

PIPELINE_SCRIPTS = {
    "src/count.py": (
        "import os\n"
        "os.makedirs('out', exist_ok=True)\n"
        "lines = 0\n"
        "for name in sorted(os.listdir('data/raw')):\n"
        "    with open(os.path.join('data/raw', name), 'rb') as fh:\n"
        "        lines += fh.read().count(b'\\n')\n"
        "with open('out/count.txt', 'w') as fh:\n"
        "    fh.write(f'{lines}\\n')\n"
    ),
    "src/summarize.py": (
        "factor = 2\n"
        "for line in open('params.yaml'):\n"
        "    if line.strip().startswith('factor:'):\n"
        "        factor = int(line.split(':')[1])\n"
        "n = int(open('out/count.txt').read())\n"
        "open('out/summary.txt', 'w').write(f'{n * factor}\\n')\n"
    ),
    "src/report.py": (
        "import json\n"
        "n = int(open('out/summary.txt').read())\n"
        "json.dump({'total': n}, open('metrics.json', 'w'), indent=2)\n"
    ),
}

SMALL_PIPELINE_YAML = """\
stages:
  double:
    cmd: python3 src/double.py
    deps:
    - src/double.py
    - data/small.csv
    outs:
    - out/double.csv
"""


def w7(ctx: Ctx) -> None:
    tool = ctx.tool
    tool.pipeline_status()  # n/a check before building anything
    repo = ctx.fresh("w7")
    tool.init_pipeline(ctx, repo)
    write_many_files(repo / "data" / "raw", ctx.many_count, W7_FILE_BYTES, seed=7)
    for rel, text in PIPELINE_SCRIPTS.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text, encoding="utf-8")
    (repo / "params.yaml").write_text("summarize:\n  factor: 2\n", encoding="utf-8")
    (repo / "dvc.yaml").write_text(PIPELINE_YAML, encoding="utf-8")
    (repo / ".gitignore").write_text("/data/raw/\n", encoding="utf-8")
    ctx.run(tool.repro(), repo)
    ctx.commit(repo, "pipeline")
    ctx.record(
        "W7", W7_NOOP, lambda: median_of(ctx.repeat, lambda _i: ctx.timed([tool.repro()], repo))
    )
    raw = files_under(repo / "data" / "raw")

    def change_one(i: int) -> float:
        with raw[i % len(raw)].open("ab") as fh:
            fh.write(f"{i},changed\n".encode())
        return ctx.timed([tool.repro()], repo)

    ctx.record("W7", W7_ONE, lambda: median_of(ctx.repeat, change_one))

    def touch_status(i: int) -> float:
        touch_all(raw, i)
        return ctx.timed([tool.pipeline_status()], repo)

    ctx.record("W7", W7_TOUCH, lambda: median_of(ctx.repeat, touch_status))

    small = ctx.fresh("w7-small")
    tool.init_pipeline(ctx, small)
    (small / "data").mkdir()
    (small / "data" / "small.csv").write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    (small / "src").mkdir()
    (small / "src" / "double.py").write_text(
        "import os\nos.makedirs('out', exist_ok=True)\n"
        "rows = open('data/small.csv').read().splitlines()\n"
        "open('out/double.csv', 'w').write('\\n'.join(rows + rows[1:]) + '\\n')\n",
        encoding="utf-8",
    )
    (small / "dvc.yaml").write_text(SMALL_PIPELINE_YAML, encoding="utf-8")
    ctx.run(tool.repro(), small)
    ctx.commit(small, "small pipeline")
    ctx.run(tool.pipeline_status(), small)  # warm the page cache
    ctx.record(
        "W7",
        W7_START,
        lambda: median_of(
            max(5, 3 * ctx.repeat), lambda _i: ctx.timed([tool.pipeline_status()], small)
        ),
    )


def w8(ctx: Ctx) -> None:
    repo = ctx.fresh("w8")
    ctx.tool.init_notebooks(ctx, repo)
    if has_changes(ctx, repo):
        ctx.commit(repo, "setup")
    write_notebooks(repo / "nb", ctx.notebook_count, seed=8)

    def add() -> float:
        took = ctx.timed([["git", "add", "nb"]], repo)
        ctx.commit(repo, "notebooks")
        if not isinstance(ctx.tool, GitTool):
            # The filter must have stripped the outputs from what was committed.
            blob = ctx.run(["git", "cat-file", "-p", "HEAD:nb/nb0000.ipynb"], repo).stdout
            if "image/png" in blob:
                raise CommandFailed(
                    ["git", "cat-file", "-p", "HEAD:nb/nb0000.ipynb"],
                    1,
                    f"nb/nb0000.ipynb was committed with its outputs ({len(blob)} bytes)",
                )
        return took

    ctx.record("W8", W8_ADD, add)
    notebooks = files_under(repo / "nb")

    def once(i: int) -> float:
        touch_all(notebooks, i)
        return ctx.timed([["git", "status", "--porcelain"]], repo)

    ctx.record("W8", W8_STATUS, lambda: median_of(ctx.repeat, once))


W9_PULL = "clone + pull of a DVC project from DVC's remote"
W9_FILES = 1000  # "1,000 x 200 KB files + one 256 MiB file" (issue 11's figure)
W9_BIG_BYTES = 256 * MIB
W9_YAML = """\
stages:
  import:
    cmd: mkdir -p data && cp -r {src}/many data/many && cp {src}/big.csv data/big.csv
    outs:
    - data/many
    - data/big.csv
"""


def w9(ctx: Ctx) -> None:
    """A DVC project built, reproduced and pushed by DVC itself (its data modelled as the
    output of an import stage: .dvc files are not read here), then a fresh clone pulled by
    each tool from DVC's directory remote."""
    tool = ctx.tool
    if not isinstance(tool, ArchivesTool | DvcTool):
        raise NotApplicable("W9 compares git-archives with DVC on DVC's own project")
    dvc_bin = DvcTool().venv() / "bin"
    if not (dvc_bin / "dvc").exists():
        raise NotApplicable("W9 needs DVC to build the project: run the dvc tool first")
    env = {"PATH": f"{dvc_bin}{os.pathsep}{ctx.env['PATH']}"}
    count = max(1, round(W9_FILES * ctx.scale))
    big = max(MIB, int(W9_BIG_BYTES * ctx.scale))
    src = ctx.fresh("w9-source")
    write_big_csv(src / "big.csv", big, seed=1)
    write_many_files(src / "many", count, SMALL_FILE_BYTES, seed=2)
    repo = ctx.fresh("w9-src")
    ctx.git_init(repo)
    ctx.run(["dvc", "init", "-q"], repo, env=env)
    ctx.run(["dvc", "config", "core.analytics", "false"], repo, env=env)
    (repo / "dvc.yaml").write_text(W9_YAML.format(src=src), encoding="utf-8")
    ctx.run(["dvc", "repro", "-q"], repo, env=env)
    remote_git = ctx.fresh("w9-remote.git", ctx.remote_root)
    ctx.run(["git", "init", "-q", "--bare", "-b", "main"], remote_git)
    store = ctx.fresh("w9-store", ctx.remote_root)
    ctx.run(["git", "remote", "add", "origin", str(remote_git)], repo)
    ctx.run(["dvc", "remote", "add", "-d", "store", str(store)], repo, env=env)
    ctx.commit(repo, "dvc project")
    ctx.run(["dvc", "push", "-q"], repo, env=env)
    ctx.run(["git", "push", "-q", "origin", "main"], repo)
    dest = ctx.root / "w9-clone"
    if isinstance(tool, DvcTool):
        steps = [(["git", "clone", "-q", str(remote_git), str(dest)], dest.parent),
                 (["dvc", "pull", "-q"], dest)]
    else:  # the committed DVC remote is a directory: confirmed once, as for ours
        steps = [(["git", "clone", "-q", str(remote_git), str(dest)], dest.parent),
                 (["git", "archives", "install"], dest),
                 (["git", "archives", "remote", "modify", "--local", "store", "url",
                   str(store)], dest),
                 (["git", "archives", "pull"], dest)]

    def pull() -> float:
        if dest.exists():
            shutil.rmtree(dest)
        took = ctx.timed_in(steps)
        many = list((dest / "data" / "many").iterdir())
        if len(many) != count or (dest / "data" / "big.csv").stat().st_size != big:
            raise CommandFailed(["pull"], 1, f"the clone has {len(many)} of {count} files")
        return took

    ctx.record("W9", W9_PULL, lambda: median_of(ctx.repeat, lambda _i: pull()))


W13_SHOW = "plots show (confusion matrix + training curve)"
W13_ROWS = 5000  # the confusion matrix's rows: one per test example, 10 classes
W13_EPOCHS = 200
W13_YAML = """\
plots:
- plots/confusion_matrix.csv:
    template: confusion
    x: actual
    y: predicted
- plots/train.csv:
    x: epoch
    y: [loss, accuracy]
"""


def w13plots(ctx: Ctx) -> None:
    """Issue 13's figure: the tutorial's plots (a confusion matrix of a few thousand rows
    and a training curve) drawn into one HTML page."""
    tool = ctx.tool
    tool.plots_show("out")  # n/a check before building anything
    repo = ctx.fresh("w13plots")
    tool.init_pipeline(ctx, repo)
    rng = random.Random(13)
    rows = []
    for _ in range(max(10, round(W13_ROWS * ctx.scale))):
        actual = rng.randrange(10)
        rows.append(f"{actual},{actual if rng.random() < 0.8 else rng.randrange(10)}\n")
    (repo / "plots").mkdir()
    (repo / "plots" / "confusion_matrix.csv").write_text(
        "actual,predicted\n" + "".join(rows), encoding="utf-8")
    curve = "".join(f"{e},{1 / e:.5f},{1 - 0.5 / e:.5f}\n" for e in range(1, W13_EPOCHS + 1))
    (repo / "plots" / "train.csv").write_text("epoch,loss,accuracy\n" + curve,
                                              encoding="utf-8")
    (repo / "dvc.yaml").write_text(W13_YAML, encoding="utf-8")
    ctx.commit(repo, "plots")

    def show(_i: int) -> float:
        took = ctx.timed([tool.plots_show("out")], repo)
        page = (repo / "out" / "index.html").read_text(encoding="utf-8")
        if page.count("<svg") < 2 and "vega" not in page.lower():
            raise CommandFailed(tool.plots_show("out"), 1, "the page holds no charts")
        return took

    ctx.record("W13PLOTS", W13_SHOW, lambda: median_of(ctx.repeat, show))


WORKLOADS: dict[str, Callable[[Ctx], None]] = {
    "W1": w1,
    "W2": w2,
    "W3": w3,
    "W4": w4,
    "W5": lambda ctx: __import__("w5_chunks").w5(ctx),  # bench/w5_chunks.py
    "W6": w6,
    "W7": w7,
    "W8": w8,
    "W9": w9,
    "W6S3": w6s3,
    "W10": w10,
    "W12GS": lambda ctx: __import__("w12_gcs").w12_gcs(ctx),  # bench/w12_gcs.py
    "W12HTTP": lambda ctx: __import__("w12_http").w12_http(ctx),  # bench/w12_http.py
    "W12AZ": lambda ctx: __import__("w12_azure").w12_azure(ctx),  # bench/w12_azure.py
    "W12SSH": lambda ctx: __import__("w12_ssh").w12ssh(ctx),  # bench/w12_ssh.py: sshd
    "W13PLOTS": w13plots,
    "W13EXPSHOW": lambda ctx: __import__("w13_expshow").w13_expshow(ctx),  # bench/w13_expshow.py
    "W16MERGE": lambda ctx: __import__("w16_nb").w16merge(ctx),  # bench/w16_nb.py
    "W16DIFF": lambda ctx: __import__("w16_nb").w16diff(ctx),
    "W13EXP": lambda ctx: __import__("w13_exp").w13exp(ctx),  # bench/w13_exp.py
    "W15MEM": lambda ctx: __import__("w15_mem").w15mem(ctx),  # bench/w15_mem.py
}
# Which (workload, step) rows a workload produces, for n/a and skipped rows.
STEPS: dict[str, tuple[str, ...]] = {
    "W1": (W1_ADD,),
    "W2": (W2_ADD,),
    "W3": (W3_STATUS,),
    "W4": (W4_CHECKOUT, W4_SMUDGE, W4_SMUDGE1, W4_HOOK, *(hook_step(n) for n in NOOP_HOOKS)),
    "W5": __import__("w5_chunks").STEPS,
    "W6": (W6_PUSH, W6_PULL, W6_CHECKOUT, W6_ONE),
    "W7": (W7_NOOP, W7_ONE, W7_TOUCH, W7_START),
    "W8": (W8_ADD, W8_STATUS),
    "W9": (W9_PULL,),
    "W6S3": (W6S3_PUSH, W6S3_CHECKOUT, W6S3_ONE),
    "W10": (W10_PUSH, W10_CLONE),
    "W12GS": __import__("w12_gcs").STEPS,
    "W12HTTP": ("clone + pull over http (1,000 x 200 KB + 256 MiB)",  # w12_http.STEPS
                "fetch over http with 20 ms latency, 16 requests at a time",
                "same fetch, one request at a time (jobs 1)"),
    "W12AZ": __import__("w12_azure").STEPS,  # (stdlib only at import)
    "W12SSH": ("push over SSH", "clone + pull over SSH", "push over SSH, 20 ms latency",
               "same, one request at a time (jobs 1)"),
    "W13PLOTS": (W13_SHOW,),
    "W13EXPSHOW": __import__("w13_expshow").STEPS,
    "W16MERGE": __import__("w16_nb").MERGE_STEPS,  # (stdlib only at import)
    "W16DIFF": __import__("w16_nb").DIFF_STEPS,
    "W13EXP": __import__("w13_exp").STEPS,  # (stdlib only at import)
    "W15MEM": __import__("w15_mem").STEPS,
}


def run_tool(
    tool: Tool, workloads: Sequence[str], root: Path, args: argparse.Namespace
) -> tuple[list[Row], str]:
    print(f"== {tool.name}", file=sys.stderr)
    try:
        for line in tool.install():
            print(f"  setup: {line}", file=sys.stderr)
    except CommandFailed as exc:
        rows = [
            Row(w, s, tool.name, status="FAILED", detail=f"setup: {exc}")
            for w in workloads
            for s in STEPS[w]
        ]
        return rows, "unavailable"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    remote_root = args.remote_dir / tool.name if args.remote_dir else None
    ctx = Ctx(tool, root, args.scale, args.repeat, args.verbose, remote_root)
    ctx.s3_latency_ms = args.s3_latency_ms
    try:
        version = tool.version(ctx)
    except CommandFailed as exc:
        version = f"version unknown ({exc.last_line})"
    print(f"  version: {version}", file=sys.stderr)
    for w in workloads:
        before = len(ctx.rows)
        try:
            WORKLOADS[w](ctx)
        except NotApplicable as exc:
            seen = {r.step for r in ctx.rows[before:]}
            for step in STEPS[w]:
                if step not in seen:
                    ctx.rows.append(Row(w, step, tool.name, status="n/a", detail=str(exc)))
        except CommandFailed as exc:
            # record() already wrote a FAILED row if a timed step failed; otherwise the
            # failure was in preparing the first step that has no row yet.
            seen = {r.step for r in ctx.rows[before:]}
            reported = any(r.status == "FAILED" for r in ctx.rows[before:])
            if not reported and set(STEPS[w]) <= seen:
                # Every step has a row: the failure came after the last one, in a check.
                last = ctx.rows[-1]
                last.status = "FAILED"
                last.detail = f"`{exc.command}`: {exc.last_line}"
                continue
            for step in STEPS[w]:
                if step in seen:
                    continue
                if reported:
                    ctx.rows.append(
                        Row(w, step, tool.name, status="skipped", detail="an earlier step failed")
                    )
                else:
                    detail = f"`{exc.command}`: {exc.last_line}"
                    ctx.rows.append(Row(w, step, tool.name, status="FAILED", detail=detail))
                    reported = True
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
        if remote_root:
            shutil.rmtree(remote_root, ignore_errors=True)
    return ctx.rows, version


# --------------------------------------------------------------------------- report


def fmt_seconds(row: Row | None, metric: str = "wall") -> str:
    if row is None:
        return ""
    s = row.value(metric)
    if row.status == "ok" and s is not None and row.unit == "bytes":
        return f"{s / 1e6:.1f} MB"
    if row.status == "ok" and s is not None and row.unit == "MB/s":
        return f"{s:.0f} MB/s"
    if row.status == "ok" and s is not None:
        return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"
    if row.status == "FAILED":
        return f"FAILED: {row.detail}".replace("|", "\\|")
    return row.status


def render(
    rows: list[Row], tools: Sequence[str], workloads: Sequence[str], metric: str = "wall"
) -> str:
    index = {(r.workload, r.step, r.tool): r for r in rows}
    first, others = tools[0], list(tools[1:])
    header = ["workload", "step", *tools]
    header += [f"{first}/{o}" for o in others]
    header += ["target", "baseline (shared bench, this machine)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for w in workloads:
        for step in STEPS[w]:
            cells = [w, step]
            cells += [fmt_seconds(index.get((w, step, t)), metric) for t in tools]
            a = index.get((w, step, first))
            for o in others:
                b = index.get((w, step, o))
                av = a.value(metric) if a else None
                bv = b.value(metric) if b else None
                if av is not None and bv:
                    cells.append(f"{av / bv:.2f}x")
                else:
                    cells.append("")
            cells += [TARGET.get((w, step), ""), BASELINE.get((w, step), "")]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_list(text: str, allowed: Sequence[str], what: str) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    wrong = [x for x in items if x not in allowed]
    if wrong or not items:
        raise SystemExit(
            f"bench: unknown {what} {', '.join(wrong) or '(none)'}; "
            f"choose from {', '.join(allowed)}"
        )
    return items


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tool", required=True, help="comma list of: " + ", ".join(ALL_TOOLS))
    parser.add_argument(
        "--only",
        default=",".join(w for w in ALL_WORKLOADS if w not in NOT_BY_DEFAULT),
        help="comma list of workloads (default: all but W5 and W6S3)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="size factor: 1.0 = 1 GiB file, 5,000 files, 200 notebooks",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per cheap step (median reported); adds run once"
    )
    parser.add_argument(
        "--metric",
        choices=("wall", "cpu"),
        default="wall",
        help="what the table shows: wall time (default) or user+sys CPU time of the commands; "
        "the JSON has both",
    )
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument(
        "--remote-dir",
        type=Path,
        help="put W6's remotes here instead of under --workdir (e.g. another filesystem, "
        "so a tool cannot hard-link its objects into the remote)",
    )
    parser.add_argument("--s3-latency-ms", type=float, default=S3_LATENCY_MS,
                        help="W6S3: milliseconds added to every S3 request (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch repositories")
    parser.add_argument("-v", "--verbose", action="store_true", help="echo every command")
    args = parser.parse_args(argv)
    if args.scale <= 0 or args.repeat < 1:
        parser.error("--scale must be > 0 and --repeat >= 1")
    tools = parse_list(args.tool, ALL_TOOLS, "tool")
    workloads = parse_list(args.only, ALL_WORKLOADS, "workload")
    workloads = [w for w in ALL_WORKLOADS if w in workloads]

    rows: list[Row] = []
    versions: dict[str, str] = {}
    started = time.time()
    for name in tools:
        tool_rows, versions[name] = run_tool(TOOLS[name](), workloads, args.workdir / name, args)
        rows += tool_rows
    table = render(rows, tools, workloads, args.metric)
    print(
        f"{'CPU (user+sys)' if args.metric == 'cpu' else 'wall'} seconds, "
        f"scale {args.scale}, repeat {args.repeat}, {os.cpu_count()} CPUs; "
        + "; ".join(f"{k}: {v}" for k, v in versions.items())
    )
    busiest = max((r.load for r in rows if r.status == "ok"), default=0.0)
    cpus = os.cpu_count() or 1
    print()
    print(table)
    print()
    print(f"Highest 1-minute load average when a step started: {busiest:.2f} on {cpus} CPUs.")
    if busiest > cpus:
        print("The machine was busy with other work: wall times are inflated and noisy.")
    if args.json:
        doc = {
            "scale": args.scale,
            "repeat": args.repeat,
            "cpus": os.cpu_count(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started)),
            "versions": versions,
            "max_load": busiest,
            "rows": [r.to_json() for r in rows],
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    failed = any(r.status == "FAILED" for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
