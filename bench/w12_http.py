"""W12HTTP: pulling through a read-only HTTP remote (issue 12), git-archives against DVC's
``http`` remote (dvc-http), each from the same server: a threaded loopback file server
(GET, HEAD, single ``Range``, ``sendfile``) over the folder the tool pushed to as a
directory remote. Rows:

* a fresh clone + pull of 1,000 x 200 KB files and one 256 MiB file (``--scale`` shrinks
  both), through the committed http remote;
* with 20 ms added to every request (run.py's LatencyProxy, as W6S3), a fetch of the same
  data into an empty cache with 16 parallel requests, then with one at a time (the remote's
  ``jobs 1`` / ``dvc fetch -j 1``): the one-object-at-a-time client.

Standard library only, like run.py, whose helpers it uses (run.py imports this module
lazily from its WORKLOADS table; the step names are repeated in its STEPS table).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

W12HTTP_PULL = "clone + pull over http (1,000 x 200 KB + 256 MiB)"
W12HTTP_FETCH = "fetch over http with 20 ms latency, 16 requests at a time"
W12HTTP_ONE = "same fetch, one request at a time (jobs 1)"
STEPS = (W12HTTP_PULL, W12HTTP_FETCH, W12HTTP_ONE)
FILES = 1000
BIG_BYTES = 256 << 20
LATENCY_MS = 20.0


def _harness() -> ModuleType:
    """run.py as loaded (``__main__`` when run as a script): its classes, not a copy's."""
    return sys.modules.get("run") or sys.modules["__main__"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = Path()

    def log_message(self, *args: Any) -> None:
        return

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError:
            self.close_connection = True

    def do_GET(self) -> None:
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        path = self.root / rel
        if ".." in Path(rel).parts or not path.is_file():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = path.stat().st_size
        start, end = 0, size - 1
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes=") and "," not in wanted:
            first, _, last = wanted[6:].partition("-")
            if first.isdigit():
                start, end = int(first), min(int(last), size - 1) if last.isdigit() else end
        ranged = (start, end) != (0, size - 1) or bool(wanted)
        self.send_response(206 if ranged else 200)
        self.send_header("Accept-Ranges", "bytes")
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if self.command == "GET" and end >= start:
            with open(path, "rb") as f:
                self.connection.sendfile(f, start, end - start + 1)

    do_HEAD = do_GET


@contextmanager
def file_server(root: Path) -> Iterator[str]:
    """Serve ``root`` on a free loopback port (threads of this process); yield its URL."""
    handler = type("Handler", (_Handler,), {"root": root})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _rmtree(path: Path) -> None:
    """Remove a cache (objects and folders may be read-only)."""
    if not path.exists():
        return
    for dirpath, _dirs, _files in os.walk(path):
        os.chmod(dirpath, stat.S_IRWXU)
    shutil.rmtree(path)


def _source(ctx: Any, h: ModuleType, count: int, big: int) -> Path:
    repo = ctx.fresh("w12http-src")
    h.write_big_csv(repo / "data" / "big.csv", big, seed=1)
    h.write_many_files(repo / "data" / "many", count, h.SMALL_FILE_BYTES, seed=2)
    return Path(repo)


def _publish(ctx: Any, repo: Path, store: Path, url: str, remote_git: Path) -> None:
    """Commit the data and the http remote (the default), push the data to ``store`` (a
    directory remote of this clone only) and the commits to ``remote_git``."""
    ctx.git_init(repo)
    ctx.run(["git", "remote", "add", "origin", str(remote_git)], repo)
    if ctx.tool.name == "dvc":
        for args in (["init", "-q"], ["config", "core.analytics", "false"],
                     ["add", "-q", "data/big.csv", "data/many"],
                     ["remote", "add", "-d", "mirror", url],
                     ["remote", "add", "--local", "store", str(store)]):
            ctx.run(["dvc", *args], repo)
        ctx.commit(repo, "data")
        ctx.run(["dvc", "push", "-q", "-r", "store"], repo)
    else:
        ctx.run(["git", "archives", "install"], repo)
        ctx.run(["git", "archives", "track", "data/**"], repo)
        ctx.run(["git", "archives", "remote", "add", "-d", "mirror", url], repo)
        ctx.run(["git", "archives", "remote", "add", "--local", "store", str(store)], repo)
        ctx.commit(repo, "data")
        ctx.run(["git", "archives", "push", "-r", "store"], repo)
    # --no-verify: the default remote is the read-only mirror; the data went to 'store'
    ctx.run(["git", "push", "-q", "--no-verify", "origin", "main"], repo)


def _check(h: ModuleType, dest: Path, count: int, big: int) -> None:
    many = list((dest / "data" / "many").iterdir())
    if len(many) != count or any(p.stat().st_size != h.SMALL_FILE_BYTES for p in many) or \
            (dest / "data" / "big.csv").stat().st_size != big:
        raise h.CommandFailed(["pull"], 1, f"the clone has {len(many)} of {count} files, or "
                              "one of the wrong size")


def w12_http(ctx: Any) -> None:
    h = _harness()
    tool = ctx.tool.name
    if tool not in ("archives", "dvc"):
        raise h.NotApplicable(f"{tool}: W12HTTP compares git-archives with DVC's http remote")
    count = max(1, round(FILES * ctx.scale))
    big = max(h.MIB, int(BIG_BYTES * ctx.scale))
    store = ctx.fresh("w12http-store", ctx.remote_root)
    remote_git = ctx.fresh("w12http-remote.git", ctx.remote_root)
    ctx.run(["git", "init", "-q", "--bare", "-b", "main"], remote_git)
    repo = _source(ctx, h, count, big)
    with file_server(store) as url:
        _publish(ctx, repo, store, url, remote_git)
        dest = ctx.root / "w12http-clone"
        clone = (["git", "clone", "-q", str(remote_git), str(dest)], ctx.root)
        steps = [clone, (["dvc", "pull", "-q"], dest)] if tool == "dvc" else \
            [clone, (["git", "archives", "install"], dest), (["git", "archives", "pull"], dest)]

        def pull() -> float:
            if dest.exists():
                _rmtree(dest)
            took = ctx.timed_in(steps)
            _check(h, dest, count, big)
            return float(took)

        ctx.record("W12HTTP", W12HTTP_PULL, lambda: [pull() for _ in range(ctx.repeat)])
        proxy = h.LatencyProxy(url, LATENCY_MS / 1000)
        try:
            _latency_rows(ctx, tool, dest, proxy.url)
        finally:
            proxy.close()


def _latency_rows(ctx: Any, tool: str, dest: Path, proxied: str) -> None:
    """Fetch into an empty cache through the latency proxy, 16 then 1 request at a time."""
    if tool == "dvc":
        ctx.run(["dvc", "remote", "modify", "--local", "mirror", "url", proxied], dest)
        cache = dest / ".dvc" / "cache"
        runs: list[tuple[str, list[str], list[str]]] = [
            (W12HTTP_FETCH, [], ["dvc", "fetch", "-q", "-j", "16"]),
            (W12HTTP_ONE, [], ["dvc", "fetch", "-q", "-j", "1"])]
    else:
        ctx.run(["git", "archives", "remote", "modify", "--local", "mirror", "url", proxied],
                dest)
        cache = dest / ".git" / "archives" / "files"
        one = ["git", "archives", "remote", "modify", "--local", "mirror", "jobs", "1"]
        runs = [(W12HTTP_FETCH, [], ["git", "archives", "fetch", "-j", "16"]),
                (W12HTTP_ONE, one, ["git", "archives", "fetch", "-j", "1"])]
    for step, setup, command in runs:
        if setup:
            ctx.run(setup, dest)

        def fetch(command: list[str] = command) -> float:
            _rmtree(cache)
            return float(ctx.timed([command], dest))

        ctx.record("W12HTTP", step, fetch)
