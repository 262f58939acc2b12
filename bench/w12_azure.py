"""W12AZ: an Azure Blob Storage remote (issue 12), git-archives beside DVC with dvc-azure,
both against Azurite (Microsoft's emulator, from npm into ``bench/.peers/azurite``) on a
loopback port, started the same way for each tool: in memory (a real store does not write
through one local disk) and without its telemetry (nothing leaves 127.0.0.1). Azurite is
one node process on the measured machine: its CPU is part of every row, for both tools.

Rows: (a) push, then clone + pull, of 1,000 x 200 KB files and one 256 MiB file (scaled by
``--scale``), for archives and dvc; (b) archives only: the same push through a proxy that adds
20 ms to every request, with the default parallelism and with ``jobs 1`` (one request at a
time), whose ratio is the issue's "<= 0.3x a one-object-at-a-time client".

The harness's helpers are taken from the module that defines the running ``Ctx`` (run.py,
whether it runs as ``__main__`` or was imported as ``run``), so its exceptions are the ones
``run_tool`` catches."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

VERSION = "3.37.0"
ACCOUNT = "devstoreaccount1"
# Azurite's development account key, published by Microsoft (not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
FILES = 1000
BIG_BYTES = 256 << 20
LATENCY_S = 0.020

PUSH = "push 1,000 x 200 KB + 256 MiB to Azurite"
PULL = "clone + pull from Azurite"
LAT_PUSH = "push through +20 ms/request (default jobs)"
LAT_ONE = "same push, one request at a time (jobs 1)"
STEPS = (PUSH, PULL, LAT_PUSH, LAT_ONE)


def connection_string(endpoint: str) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={endpoint}/{ACCOUNT};")


class Azurite:
    """Azurite's blob service on a free loopback port, in memory (run from ``folder``)."""

    def __init__(self, harness: ModuleType, folder: Path) -> None:
        self.h = harness
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    def _install(self) -> Path:
        prefix = self.h.PEERS / "azurite"
        exe = prefix / "node_modules" / ".bin" / "azurite-blob"
        if not exe.exists():
            npm = shutil.which("npm")
            if npm is None:
                raise self.h.CommandFailed(["npm"], 127, "Azurite needs node and npm")
            cmd = [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
                   f"azurite@{VERSION}"]
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
            if proc.returncode != 0:
                raise self.h.CommandFailed(cmd, proc.returncode, proc.stderr)
            print(f"  setup: npm-installed azurite@{VERSION} in {prefix}", file=sys.stderr)
        return Path(exe)

    def __enter__(self) -> Azurite:
        exe = self._install()
        self.folder.mkdir(parents=True, exist_ok=True)
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.proc = subprocess.Popen(
            [str(exe), "--silent", "--inMemoryPersistence", "--blobHost", "127.0.0.1",
             "--blobPort", str(port), "--skipApiVersionCheck", "--disableTelemetry"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.folder)
        self.endpoint = f"http://127.0.0.1:{port}"
        self.h.wait_for_port(port, self.proc, 60, "azurite", "Azurite did not start")
        return self

    def create_container(self, name: str) -> None:
        """With the project's Python, which has azure-storage-blob (the [azure] extra)."""
        python = self.h.PROJECT / ".venv" / "bin" / "python"
        code = ("import sys; from azure.storage.blob import BlobServiceClient as S; "
                "S.from_connection_string(sys.argv[1]).create_container(sys.argv[2])")
        cmd = [str(python if python.exists() else sys.executable), "-c", code,
               connection_string(self.endpoint), name]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            raise self.h.CommandFailed(cmd[:2], proc.returncode, proc.stderr)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()  # its data is scratch; SIGTERM waits for idle connections
            self.proc.wait(timeout=30)


def _remote_steps(tool: Any, name: str, url: str, conn: str) -> list[list[str]]:
    """Commands that make ``name`` the default remote ``url`` with connection string
    ``conn`` kept local (never committed), in each tool's own words."""
    if tool.name == "dvc":
        return [["dvc", "remote", "add", "-f", "-d", name, url],
                ["dvc", "remote", "modify", "--local", name, "connection_string", conn]]
    return [["git", "archives", "remote", "add", "--force", "-d", name, url],
            ["git", "archives", "remote", "modify", "--local", name, "connectionstring", conn]]


def _source(ctx: Any, h: ModuleType, count: int, big: int) -> Path:
    repo = ctx.fresh("w12az-src")
    h.write_big_csv(repo / "data" / "big.csv", big, seed=1)
    h.write_many_files(repo / "data" / "many", count, h.SMALL_FILE_BYTES, seed=2)
    if ctx.tool.name == "dvc":
        ctx.tool.init_dvc_data(ctx, repo, ["data/big.csv", "data/many"])
    else:
        ctx.tool.init_large(ctx, repo, "data/**")
    ctx.commit(repo, "data")
    return Path(repo)


def _check_clone(h: ModuleType, dest: Path, count: int, big: int) -> None:
    sizes = sorted(p.stat().st_size for p in (dest / "data" / "many").iterdir())
    if len(sizes) != count or set(sizes) != {h.SMALL_FILE_BYTES} or \
            (dest / "data" / "big.csv").stat().st_size != big:
        raise h.CommandFailed(["pull"], 1, "the clone does not hold W12AZ's data")


def w12_azure(ctx: Any) -> None:
    h = sys.modules[type(ctx).__module__]
    tool = ctx.tool
    if tool.name not in ("archives", "dvc"):
        raise h.NotApplicable(f"{tool.name} has no Azure remote")
    count = max(1, round(FILES * ctx.scale))
    big = max(h.MIB, int(BIG_BYTES * ctx.scale))
    with Azurite(h, ctx.fresh("w12az-server")) as server:
        container = f"bench-{uuid.uuid4().hex[:12]}"
        server.create_container(container)
        conn = connection_string(server.endpoint)
        repo = _source(ctx, h, count, big)
        remote_git = ctx.fresh("w12az-remote.git", ctx.remote_root)
        ctx.run(["git", "init", "-q", "--bare", "-b", "main"], remote_git)
        ctx.run(["git", "remote", "add", "origin", str(remote_git)], repo)
        url = f"azure://{container}/w12"
        for cmd in _remote_steps(tool, "store", url, conn):
            ctx.run(cmd, repo)
        ctx.commit(repo, "remote")
        push = ["dvc", "push", "-q"] if tool.name == "dvc" else ["git", "archives", "push"]
        ctx.record("W12AZ", PUSH, lambda: ctx.timed([push], repo))
        ctx.run(["git", "push", "-q", "origin", "main"], repo)
        dest = ctx.root / "w12az-clone"

        def clone_pull() -> float:
            if dest.exists():
                shutil.rmtree(dest)
            plan = [(["git", "clone", "-q", str(remote_git), str(dest)], ctx.root)]
            if tool.name == "archives":
                plan.append((["git", "archives", "install"], dest))
            plan += [(cmd, dest) for cmd in _remote_steps(tool, "store", url, conn)[1:]]
            plan.append((["dvc", "pull", "-q"] if tool.name == "dvc"
                         else ["git", "archives", "pull"], dest))
            took = float(ctx.timed_in(plan))
            _check_clone(h, dest, count, big)
            return took

        ctx.record("W12AZ", PULL, lambda: [clone_pull() for _ in range(ctx.repeat)])
        if tool.name != "archives":
            raise h.NotApplicable("the latency rows compare git-archives with its own jobs 1")
        proxy = h.LatencyProxy(server.endpoint, LATENCY_S)
        try:
            slow = connection_string(proxy.url)
            for name, jobs, step in (("lat", None, LAT_PUSH), ("one", "1", LAT_ONE)):
                cmds = _remote_steps(tool, name, f"azure://{container}/{name}", slow)
                if jobs is not None:
                    cmds.append(["git", "archives", "remote", "modify", name, "jobs", jobs])
                for cmd in cmds:
                    ctx.run(cmd, repo)
                ctx.record("W12AZ", step,
                           lambda name=name: ctx.timed([["git", "archives", "push", "-r",
                                                         name]], repo))
        finally:
            proxy.close()
