"""W12SSH: an SSH/SFTP data remote (issue 12), git-archives beside DVC with dvc-ssh, against
the same kind of server in the same run: OpenSSH's sshd on a loopback port with keys made for
the run (Debian's ``openssh-server``; the workload is n/a without it).

Rows (sizes shrink with ``--scale`` like W9's): push, then clone + pull, of 1,000 x 200 KB
files and one 256 MiB file; then, through run.py's latency proxy (20 ms held per burst of
client bytes, i.e. per request round trip), the same push to a fresh folder, and again with
one request at a time (the remote's ``jobs 1``; DVC: ``-j 1``).
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

# run.py runs as __main__: its classes (the tools isinstance checks) are that module's.
if "run" not in sys.modules and Path(getattr(sys.modules["__main__"], "__file__", "")).name \
        == "run.py":
    sys.modules["run"] = sys.modules["__main__"]

from run import (
    MIB,
    SMALL_FILE_BYTES,
    ArchivesTool,
    CommandFailed,
    Ctx,
    DvcTool,
    LatencyProxy,
    NotApplicable,
    wait_for_port,
    write_big_csv,
    write_many_files,
)

W12_FILES = 1000
W12_BIG_BYTES = 256 * MIB
LATENCY_S = 0.020
SSHD = Path("/usr/sbin/sshd")
# The same strings as run.py's STEPS["W12SSH"].
PUSH = "push over SSH"
PULL = "clone + pull over SSH"
LATENT = "push over SSH, 20 ms latency"
ONE = "same, one request at a time (jobs 1)"


class Sshd:
    """sshd in the foreground on a free loopback port; keys and config in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> Sshd:
        if not SSHD.is_file():
            raise NotApplicable(f"{SSHD} is not installed (apt-get install openssh-server)")
        for name in ("host_key", "user_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            str(self.dir / name)], check=True, capture_output=True)
        shutil.copyfile(self.dir / "user_key.pub", self.dir / "authorized_keys")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        (self.dir / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.dir / 'host_key'}\n"
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}\nPasswordAuthentication no\n"
            "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nMaxSessions 64\n"
            f"PidFile {self.dir / 'sshd.pid'}\nSubsystem sftp internal-sftp\n",
            encoding="utf-8")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.proc = subprocess.Popen([str(SSHD), "-D", "-f", str(self.dir / "sshd_config"),
                                      "-E", str(self.dir / "sshd.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.proc, 15, "sshd", "sshd did not start")
        return self

    def trust(self, home: Path, port: int) -> None:
        """What 'ssh-keyscan -p PORT 127.0.0.1 >> ~/.ssh/known_hosts' writes."""
        key = " ".join((self.dir / "host_key.pub").read_text().split()[:2])
        (home / ".ssh").mkdir(mode=0o700, exist_ok=True)
        with open(home / ".ssh" / "known_hosts", "a", encoding="utf-8") as f:
            f.write(f"[127.0.0.1]:{port} {key}\n")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


class _Proxy(LatencyProxy):
    """run.py's latency proxy, as a link with a fixed delay: every chunk of client bytes is
    passed on ``delay`` seconds after it arrived, in order, without holding back the ones
    behind it (so each request's round trip grows by ``delay``, pipelined requests stay
    pipelined). The burst heuristic of the parent misses SFTP's back-to-back requests (the
    next one follows an answer within its 2 ms), and Nagle is off on both legs as ssh and
    sshd set it (else a delayed ACK adds ~40 ms per round trip)."""

    def _pump(self, src: socket.socket, dst: socket.socket, slow: bool,
              answered: threading.Event) -> None:
        for sock in (src, dst):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not slow:
            super()._pump(src, dst, slow, answered)
            return
        line: queue.Queue[tuple[float, bytes]] = queue.Queue()
        threading.Thread(target=self._deliver, args=(line, dst), daemon=True).start()
        try:
            while data := src.recv(1 << 20):
                line.put((time.monotonic() + self.delay, data))
        except OSError:
            pass
        line.put((0.0, b""))

    @staticmethod
    def _deliver(line: queue.Queue[tuple[float, bytes]], dst: socket.socket) -> None:
        try:
            while True:
                due, data = line.get()
                if not data:
                    break
                time.sleep(max(0.0, due - time.monotonic()))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _url(port: int, store: Path) -> str:
    return f"ssh://{os.environ.get('USER') or 'root'}@127.0.0.1:{port}{store}"


def _remote(ctx: Ctx, repo: Path, name: str, url: str, key: Path, *, default: bool = False,
            jobs1: bool = False) -> None:
    """Add remote ``name`` with the tool's own commands; the key file is local config."""
    if isinstance(ctx.tool, DvcTool):
        ctx.run(["dvc", "remote", "add", *(["-d"] if default else []), name, url], repo)
        ctx.run(["dvc", "remote", "modify", "--local", name, "keyfile", str(key)], repo)
        return
    ctx.run(["git", "archives", "remote", "add", *(["-d"] if default else []), name, url], repo)
    # A committed ssh:// host is used once the user confirms it (docs/remotes.md, Trust).
    ctx.run(["git", "archives", "remote", "modify", "--local", name, "url", url], repo)
    ctx.run(["git", "archives", "remote", "modify", "--local", name, "keyfile", str(key)], repo)
    if jobs1:
        ctx.run(["git", "archives", "remote", "modify", name, "jobs", "1"], repo)


def _push(ctx: Ctx, name: str, jobs1: bool = False) -> list[str]:
    if isinstance(ctx.tool, DvcTool):
        return ["dvc", "push", "-q", "-r", name, *(["-j", "1"] if jobs1 else [])]
    return ["git", "archives", "push", "-r", name]


def w12ssh(ctx: Ctx) -> None:
    tool = ctx.tool
    if not isinstance(tool, ArchivesTool | DvcTool):
        raise NotApplicable("W12SSH compares git-archives with DVC (dvc-ssh)")
    count = max(1, round(W12_FILES * ctx.scale))
    big = max(MIB, int(W12_BIG_BYTES * ctx.scale))
    home = Path(ctx.env["HOME"])
    with Sshd(ctx.fresh("w12ssh-server")) as server:
        key = server.dir / "user_key"
        server.trust(home, server.port)
        stores = ctx.fresh("w12ssh-stores", ctx.remote_root)
        repo = ctx.fresh("w12ssh-src")
        write_big_csv(repo / "data" / "big.csv", big, seed=1)
        write_many_files(repo / "data" / "many", count, SMALL_FILE_BYTES, seed=2)
        if isinstance(tool, DvcTool):
            tool.init_dvc_data(ctx, repo, ["data/many", "data/big.csv"])
        else:
            tool.init_large(ctx, repo, "data/**")
        url = _url(server.port, stores / "main")
        _remote(ctx, repo, "store", url, key, default=True)
        remote_git = ctx.fresh("w12ssh-remote.git", ctx.remote_root)
        ctx.run(["git", "init", "-q", "--bare", "-b", "main"], remote_git)
        ctx.run(["git", "remote", "add", "origin", str(remote_git)], repo)
        ctx.commit(repo, "data")
        ctx.record("W12SSH", PUSH, lambda: ctx.timed([_push(ctx, "store")], repo))
        ctx.run(["git", "push", "-q", "origin", "main"], repo)
        dest = ctx.root / "w12ssh-clone"

        def pull() -> float:
            shutil.rmtree(dest, ignore_errors=True)
            took = ctx.timed_in(_clone(ctx, remote_git, dest, key, url))
            _check(dest, count, big)
            return took

        ctx.record("W12SSH", PULL, lambda: [pull() for _ in range(ctx.repeat)])
        proxy = _Proxy(f"tcp://127.0.0.1:{server.port}", LATENCY_S)
        try:
            port = int(proxy.url.rsplit(":", 1)[1])
            server.trust(home, port)
            _remote(ctx, repo, "lat", _url(port, stores / "lat"), key)
            _remote(ctx, repo, "lat1", _url(port, stores / "lat1"), key, jobs1=True)
            ctx.record("W12SSH", LATENT, lambda: ctx.timed([_push(ctx, "lat")], repo))
            ctx.record("W12SSH", ONE, lambda: ctx.timed([_push(ctx, "lat1", True)], repo))
        finally:
            proxy.close()


def _clone(ctx: Ctx, remote_git: Path, dest: Path, key: Path,
           url: str) -> list[tuple[list[str], Path]]:
    """Clone, set the key file (both tools), confirm the host and pull (ours: one command,
    'pull --confirm URL')."""
    clone = (["git", "clone", "-q", str(remote_git), str(dest)], dest.parent)
    if isinstance(ctx.tool, DvcTool):
        return [clone, (["dvc", "remote", "modify", "--local", "store", "keyfile", str(key)],
                        dest), (["dvc", "pull", "-q"], dest)]
    return [clone, (["git", "archives", "install"], dest),
            (["git", "archives", "remote", "modify", "--local", "store", "keyfile", str(key)],
             dest), (["git", "archives", "pull", "--confirm", url], dest)]


def _check(dest: Path, count: int, big: int) -> None:
    many = list((dest / "data" / "many").iterdir())
    if len(many) != count or (dest / "data" / "big.csv").stat().st_size != big:
        raise CommandFailed(["pull"], 1, f"the clone has {len(many)} of {count} files")
