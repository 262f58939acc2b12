"""A real SSH/SFTP server for the tests: OpenSSH's ``sshd`` (Debian's ``openssh-server``)
on loopback ports with keys generated for the session, stopped by its pid. A TCP proxy in
front of it (:class:`TcpProxy`) drops connections mid-transfer for the fault tests.

One sshd listens on two ports: the first serves SFTP read-write, the second (``ro_port``)
read-only (``internal-sftp -R``: every write is answered "permission denied" — the tests run
as root, for whom file modes deny nothing).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
HOST = "127.0.0.1"


@dataclass
class Sshd:
    directory: Path
    port: int
    ro_port: int
    host_key_line: str   # "ssh-ed25519 AAAA…" (the server's public host key)
    user_key: Path       # the private key authorised for ``user``
    user: str
    proc: subprocess.Popen[bytes] | None = None

    def store(self, name: str) -> Path:
        """A fresh folder on the 'server' for one remote."""
        path = self.directory / "stores" / name
        path.mkdir(parents=True, exist_ok=False)
        return path

    def url(self, path: Path | str, *, port: int | None = None, user: bool = True) -> str:
        who = f"{self.user}@" if user else ""
        return f"ssh://{who}{HOST}:{port or self.port}{path}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path)],
                   check=True, capture_output=True)


def start_sshd(directory: Path) -> Sshd:
    """Generate keys and a config in ``directory`` and start sshd in the foreground."""
    if not SSHD.is_file():
        pytest.skip(f"OpenSSH's sshd is not installed ({SSHD}): apt-get install openssh-server")
    directory.mkdir(parents=True, exist_ok=True)
    _keygen(directory / "host_key")
    _keygen(directory / "user_key")
    shutil.copyfile(directory / "user_key.pub", directory / "authorized_keys")
    port, ro_port = _free_port(), _free_port()
    (directory / "sshd_config").write_text(
        f"Port {port}\nPort {ro_port}\nListenAddress {HOST}\n"
        f"HostKey {directory / 'host_key'}\n"
        f"AuthorizedKeysFile {directory / 'authorized_keys'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        f"PidFile {directory / 'sshd.pid'}\n"
        "MaxSessions 64\nMaxStartups 64:30:128\nLogLevel DEBUG1\n"
        "Subsystem sftp internal-sftp\n"
        f"Match LocalPort {ro_port}\n  ForceCommand internal-sftp -R\n", encoding="utf-8")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
    proc = subprocess.Popen([str(SSHD), "-D", "-f", str(directory / "sshd_config"),
                             "-E", str(directory / "sshd.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")
            log = (directory / "sshd.log").read_text(errors="replace") \
                if (directory / "sshd.log").exists() else ""
            pytest.skip(f"sshd did not start: {err.strip() or log.strip()}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.05)
    host_line = " ".join((directory / "host_key.pub").read_text().split()[:2])
    return Sshd(directory, port, ro_port, host_line, directory / "user_key",
                getpass.getuser(), proc)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """One sshd for the session (see :func:`start_sshd`)."""
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


def trust_host(home: Path, port: int, host_key_line: str) -> Path:
    """What ``ssh-keyscan -p PORT 127.0.0.1 >> ~/.ssh/known_hosts`` would write."""
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    known = ssh / "known_hosts"
    with open(known, "a", encoding="utf-8") as f:
        f.write(f"[{HOST}]:{port} {host_key_line}\n")
    return known


# -- a TCP proxy that can cut the connection ---------------------------------------------------

@dataclass
class TcpProxy:
    """Forwards loopback TCP to ``target_port``. :meth:`cut_live_after`: the connection that
    moves the next ``n`` bytes (client to server, or back) is closed both ways there.
    ``down``: the server is gone (every new connection is closed at once)."""

    target_port: int
    port: int = 0
    cuts: int = 0
    accepted: int = 0
    down: bool = False
    _then_down: bool = False
    budget: dict[bool, int] = field(default_factory=dict)  # downstream? -> bytes left
    lock: threading.Lock = field(default_factory=threading.Lock)
    _sock: socket.socket | None = None
    _live: list[socket.socket] = field(default_factory=list)

    def start(self) -> TcpProxy:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((HOST, 0))
        self._sock.listen(32)
        self.port = int(self._sock.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def cut_live_after(self, nbytes: int, *, downstream: bool = False,
                       then_down: bool = False) -> None:
        """``then_down``: the server stays gone after the cut (until ``down`` is reset)."""
        with self.lock:
            self.budget[downstream] = nbytes
            self._then_down = then_down

    def _accept(self) -> None:
        assert self._sock is not None
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.down:
                client.close()
                continue
            upstream = socket.create_connection((HOST, self.target_port))
            with self.lock:
                self._live += [client, upstream]
            for src, dst, down in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(src, dst, down), daemon=True).start()

    def _allow(self, down: bool, n: int) -> int | None:
        """How many of ``n`` bytes may pass before the cut (None: all, no cut)."""
        with self.lock:
            left = self.budget.get(down)
            if left is None:
                return None
            if n < left:
                self.budget[down] = left - n
                return None
            del self.budget[down]
            self.cuts += 1
            self.down = self.down or self._then_down
            return left

    def _pump(self, src: socket.socket, dst: socket.socket, down: bool) -> None:
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                allowed = self._allow(down, len(data))
                if allowed is not None:
                    dst.sendall(data[:allowed])
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        with self.lock:
            for s in self._live:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
