"""The git boundary: every call into git (the ``git`` executable, or pygit2 for object reads).

Only this module imports pygit2, and only inside the functions that read objects, so the
hooks' no-op path never pays for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from gitext.errors import ArchivesError, NotARepositoryError

if TYPE_CHECKING:
    import subprocess


class GitError(ArchivesError):
    """A git command failed."""


def run_git(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    check: bool = True,
    input_bytes: bytes | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git ARGS`` and return the completed process; raise :class:`GitError` on failure."""
    import subprocess  # not at the top: a hook with nothing to do runs no git at all

    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        input=input_bytes,
        capture_output=True,
        check=False,
        env=env,
    )
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {' '.join(args)} failed: {err[-1] if err else proc.returncode}")
    return proc


def git_text(args: Sequence[str], *, cwd: str | os.PathLike[str] | None = None) -> str:
    """Stdout of ``git ARGS`` as text without the trailing newline."""
    return run_git(args, cwd=cwd).stdout.decode("utf-8", "surrogateescape").rstrip("\n")


def config_get(key: str, *, cwd: str | os.PathLike[str] | None = None,
               file: str | os.PathLike[str] | None = None,
               options: Sequence[str] = ()) -> str | None:
    """``git config [-f FILE] [OPTIONS] --get KEY`` (None if unset). ``options`` are a
    scope (``--global``), a type (``--type=path``) or ``--show-scope``."""
    args = ["config"]
    if file is not None:
        args += ["-f", os.fspath(file)]
    proc = run_git([*args, *options, "--get", key], cwd=cwd, check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", "surrogateescape").rstrip("\n")


def config_values(*, cwd: str | os.PathLike[str] | None = None,
                  options: Sequence[str] = ()) -> dict[str, str]:
    """Every key of ``git config [OPTIONS] --list -z`` with the value ``--get`` would give
    (the last one; "" for a key written without a value), keys as git lists them (section
    and name lower case). {} where the scope has no file to read."""
    proc = run_git(["config", *options, "--list", "-z"], cwd=cwd, check=False)
    values: dict[str, str] = {}
    if proc.returncode != 0:
        return values
    for rec in proc.stdout.split(b"\0"):
        if rec:
            key, _, value = rec.partition(b"\n")
            values[key.decode("utf-8", "surrogateescape")] = value.decode(
                "utf-8", "surrogateescape")
    return values


# A hook reads the same configuration two or three times (ours, then the LFS settings, then
# again when it opens the remote) and writes none: it asks for the answers to be kept.
_kept_config_lists: dict[tuple[str | None, str | None],
                         subprocess.CompletedProcess[bytes]] = {}
_keeping: list[bool] = []  # non-empty once asked


def keep_config_lists() -> None:
    """From now on this process reads each ``git config --list`` once (for a hook, which
    never changes the configuration it reads)."""
    _keeping.append(True)


def config_list(*, file: str | os.PathLike[str] | None = None,
                cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """``git config [-f FILE] --list -z``, unchecked (the caller reads the failure)."""
    key = (None if file is None else os.fspath(file),
           None if cwd is None else os.path.abspath(cwd))
    if _keeping and key in _kept_config_lists:
        return _kept_config_lists[key]
    args = ["config"] if file is None else ["config", "-f", os.fspath(file)]
    proc = run_git([*args, "--list", "-z"], cwd=cwd, check=False)
    if _keeping:
        _kept_config_lists[key] = proc
    return proc


def color_wanted(slot: str) -> bool:
    """``git config --get-colorbool SLOT true``: whether git would colour ``slot`` on a
    terminal."""
    proc = run_git(["config", "--get-colorbool", slot, "true"], check=False)
    return proc.returncode == 0 and proc.stdout.strip() == b"true"


def _gitdir_file_target(dotgit: str) -> str | None:
    """The folder a ``.git`` file (``gitdir: PATH``) points to, absolute; None if
    ``dotgit`` is not such a file."""
    try:
        with open(dotgit, encoding="utf-8") as f:
            first = f.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return None
    if not first.startswith("gitdir: "):
        return None
    target = first[len("gitdir: "):]
    return os.path.normpath(os.path.join(os.path.dirname(dotgit), target))


class LsFilesEntry(NamedTuple):
    mode: str
    blob: str
    stage: int
    path: str


class Repo:
    """A git work tree (or bare repo) located by one ``git rev-parse`` call."""

    def __init__(self, worktree: Path | None, git_dir: Path, common_dir: Path) -> None:
        self.worktree = worktree
        self.git_dir = git_dir
        self.common_dir = common_dir

    @classmethod
    def discover(cls, start: str | os.PathLike[str] | None = None) -> Repo:
        proc = run_git(
            ["rev-parse", "--path-format=absolute", "--show-toplevel", "--git-dir",
             "--git-common-dir"],
            cwd=start,
            check=False,
        )
        if proc.returncode != 0:
            # A bare repository has no top level: ask again without it.
            proc = run_git(
                ["rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir"],
                cwd=start,
                check=False,
            )
            if proc.returncode != 0:
                where = os.fspath(start) if start is not None else os.getcwd()
                raise NotARepositoryError(
                    f"{where} is not inside a git repository",
                    hint="run this inside a clone, or 'git init' first",
                )
            git_dir, common = proc.stdout.decode().splitlines()[:2]
            return cls(None, Path(git_dir), Path(common))
        top, git_dir, common = proc.stdout.decode("utf-8", "surrogateescape").splitlines()[:3]
        return cls(Path(top), Path(git_dir), Path(common))

    @classmethod
    def for_hook(cls) -> Repo:
        """The repository of a hook that git runs. git starts a hook in the top folder of
        the work tree, so its ``.git`` (a folder, or a ``gitdir:`` file in a linked work
        tree) names the repository without running git. Anything else — ``GIT_DIR`` or
        ``GIT_WORK_TREE`` set, no ``.git`` here, a ``.git`` of another shape — asks git."""
        if any(k in os.environ for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR")):
            return cls.discover()
        top = os.getcwd()
        dotgit = os.path.join(top, ".git")
        git_dir = dotgit if os.path.isdir(dotgit) else _gitdir_file_target(dotgit)
        if git_dir is None or not os.path.isfile(os.path.join(git_dir, "HEAD")):
            return cls.discover()
        common = git_dir
        try:
            with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as f:
                common = os.path.normpath(os.path.join(git_dir, f.read().strip()))
        except FileNotFoundError:
            pass
        except (OSError, UnicodeDecodeError):
            return cls.discover()
        return cls(Path(top), Path(git_dir), Path(common))

    @property
    def root(self) -> Path:
        if self.worktree is None:
            raise NotARepositoryError(
                f"{self.git_dir} is a bare repository", hint="run this in a work tree"
            )
        return self.worktree

    @property
    def archives_dir(self) -> Path:
        """The local cache shared by all worktrees: ``<git common dir>/archives``."""
        return self.common_dir / "archives"

    def git(self, *args: str, check: bool = True,
            input_bytes: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return run_git(args, cwd=self.worktree or self.git_dir, check=check,
                       input_bytes=input_bytes)

    def git_text(self, *args: str) -> str:
        return self.git(*args).stdout.decode("utf-8", "surrogateescape").rstrip("\n")

    def config_get(self, key: str, *, file: Path | None = None,
                   options: Sequence[str] = ()) -> str | None:
        return config_get(key, cwd=self.worktree or self.git_dir, file=file, options=options)

    def hooks_dir(self) -> Path:
        """Where git looks for hooks, honouring ``core.hooksPath``."""
        return Path(self.git_text("rev-parse", "--path-format=absolute", "--git-path", "hooks"))

    def ls_files(self, *pathspec: str, stage: bool = True) -> Iterator[LsFilesEntry]:
        """Index entries (``git ls-files -s``), NUL-safe."""
        out = self.git("ls-files", "-s", "-z", "--", *pathspec).stdout
        for rec in out.split(b"\0"):
            if not rec:
                continue
            meta, _, path = rec.partition(b"\t")
            mode, blob, st = meta.decode().split(" ")
            yield LsFilesEntry(mode, blob, int(st), path.decode("utf-8", "surrogateescape"))

    def ls_tree(self, rev: str, *pathspec: str) -> Iterator[tuple[str, str, str, int, str]]:
        """``git ls-tree -r -l``: (mode, type, blob, size, path)."""
        out = self.git("ls-tree", "-r", "-l", "-z", rev, "--", *pathspec).stdout
        for rec in out.split(b"\0"):
            if not rec:
                continue
            meta, _, path = rec.partition(b"\t")
            mode, typ, blob, size = meta.decode().split()
            yield mode, typ, blob, int(size) if size != "-" else -1, path.decode(
                "utf-8", "surrogateescape")

    def cat_blobs(self, blobs: Sequence[str]) -> Iterator[tuple[str, bytes]]:
        """Read many blobs through one ``git cat-file --batch`` process."""
        if not blobs:
            return
        request = "".join(b + "\n" for b in blobs).encode()
        proc = self.git("cat-file", "--batch", input_bytes=request)
        data = proc.stdout
        pos = 0
        for blob in blobs:
            nl = data.index(b"\n", pos)
            header = data[pos:nl].split()
            pos = nl + 1
            if len(header) < 3 or header[1] == b"missing":
                yield blob, b""
                continue
            size = int(header[2])
            yield blob, data[pos:pos + size]
            pos += size + 1

    def cat_paths(self, specs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        """The bytes of many ``(commit, path)`` files through one ``git cat-file --batch``
        (``commit:path`` names); a path absent at its commit, or not a file, is left out.
        Paths with a newline cannot be named this way and are left out too."""
        asked = [(c, p) for c, p in specs if "\n" not in p and "\r" not in p]
        if not asked:
            return {}
        request = "".join(f"{c}:{p}\n" for c, p in asked).encode("utf-8", "surrogateescape")
        data = self.git("cat-file", "--batch", input_bytes=request).stdout
        found: dict[tuple[str, str], bytes] = {}
        pos = 0
        for spec in asked:
            nl = data.index(b"\n", pos)
            header = data[pos:nl]
            pos = nl + 1
            fields = header.split(b" ")
            if len(fields) != 3 or not fields[2].isdigit() or header.endswith(b" missing"):
                continue  # '<name> missing' / '<name> ambiguous': nothing follows
            size = int(fields[2])
            if fields[1] == b"blob":
                found[spec] = data[pos:pos + size]
            pos += size + 1
        return found

    @cached_property
    def _pygit2(self) -> Any:
        import pygit2

        return pygit2.Repository(os.fspath(self.git_dir))

    def read_blob_at(self, rev: str, path: str) -> bytes | None:
        """The bytes of ``path`` at revision ``rev`` without a checkout (None if absent)."""
        repo = self._pygit2
        try:
            commit = repo.revparse_single(rev).peel(_commit_type())
        except (KeyError, ValueError) as exc:
            raise GitError(f"unknown revision '{rev}'", hint="see 'git log --oneline'") from exc
        try:
            entry = commit.tree[path]
        except KeyError:
            return None
        obj = repo[entry.id]
        data: bytes = obj.data
        return data

    def resolve_rev(self, rev: str) -> str:
        proc = self.git("rev-parse", "--verify", "--quiet", rev + "^{commit}", check=False)
        if proc.returncode != 0:
            raise GitError(f"unknown revision '{rev}'", hint="see 'git log --oneline'")
        return proc.stdout.decode().strip()


def _commit_type() -> Any:
    import pygit2

    return pygit2.Commit


# -- credentials and ssh for HTTP remotes (Git LFS servers) ----------------------------------

def credential(action: str, fields: dict[str, str], *,
               cwd: str | os.PathLike[str] | None = None) -> dict[str, str] | None:
    """``git credential fill|approve|reject`` with ``fields`` (protocol, host, path,
    username, password). For ``fill``: the fields git's helpers (or the terminal prompt)
    gave, or None if they gave none. Nothing of the exchange is logged or kept; git's
    stderr (which never holds the secret) is dropped."""
    if action not in ("fill", "approve", "reject"):
        raise ValueError(action)
    text = "".join(f"{k}={v}\n" for k, v in fields.items()
                   if v and "\n" not in v and "\0" not in v) + "\n"
    # git asks its helpers, then prompts on /dev/tty (never on our stdin, which may be git's
    # protocol); GIT_TERMINAL_PROMPT=0 turns the prompt off, as for git itself.
    proc = run_git(["credential", action], cwd=cwd, check=False,
                   input_bytes=text.encode("utf-8", "surrogateescape"))
    if action != "fill":
        return None
    if proc.returncode != 0:
        return None
    out: dict[str, str] = {}
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out if out.get("password") or out.get("username") else None


def ssh_git_lfs_authenticate(user_host: str, port: str | None, path: str, operation: str, *,
                             cwd: str | os.PathLike[str] | None = None) -> bytes:
    """Run ``git-lfs-authenticate PATH OPERATION`` on an ssh host as git-lfs does, with
    git's own ssh command (``GIT_SSH_COMMAND``, ``core.sshCommand``, ``GIT_SSH``, else
    ``ssh``). Returns its stdout (JSON); raise :class:`GitError` with its last stderr line."""
    import shlex
    import subprocess

    command = os.environ.get("GIT_SSH_COMMAND") or config_get("core.sshCommand", cwd=cwd)
    argv = shlex.split(command) if command else [os.environ.get("GIT_SSH") or "ssh"]
    if port:
        argv += ["-p", port]
    remote_cmd = f"git-lfs-authenticate {shlex.quote(path)} {operation}"
    proc = subprocess.run([*argv, "--", user_host, remote_cmd], cwd=cwd, capture_output=True,
                          check=False, stdin=subprocess.DEVNULL, timeout=120)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"ssh {user_host} git-lfs-authenticate failed: "
                       f"{err[-1] if err else proc.returncode}")
    return proc.stdout
