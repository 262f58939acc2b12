"""The one user-facing error family.

Library code raises these; only :mod:`gitext.cli` prints them and picks the exit code.
A message says what failed and where (file, line); ``hint`` says the command that fixes it.
"""

from __future__ import annotations


class ArchivesError(Exception):
    """A failure the user can act on; printed as one line plus an optional ``hint:`` line."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ArchivesWarning(UserWarning):
    """Something ignored or doubtful the user should know about; library code emits it with
    :func:`warnings.warn` and :mod:`gitext.cli` prints it as one ``git-archives: warning:``
    line on stderr."""


class UsageError(ArchivesError):
    """Bad arguments or bad input handed to a command."""

    exit_code = 2


class NotARepositoryError(ArchivesError):
    """The command needs a git work tree and is not inside one."""


class ConfigError(ArchivesError):
    """A configuration file or value is malformed or not allowed."""


class PointerError(ArchivesError):
    """Text that claims to be a Git LFS pointer but is malformed."""


class ProtocolError(ArchivesError):
    """The pkt-line stream from git is malformed or ended early."""


class ObjectMissingError(ArchivesError):
    """No object under this id where it was looked for: the local cache, or a remote."""


class StoreWriteError(ArchivesError):
    """The local cache could not take an object (disk full, permissions)."""


class CorruptObjectError(ArchivesError):
    """Bytes whose digest does not match the id they are stored under."""


class InvalidObjectIdError(ArchivesError):
    """An object id that is not ``sha256:``+64 hex or 32-hex md5."""


class NotebookError(ArchivesError):
    """A notebook that is not JSON, not a notebook, or not UTF-8."""


class PipelineError(ArchivesError):
    """A malformed dvc.yaml / params / lock file, or a pipeline that cannot run."""


class RemoteError(ArchivesError):
    """A remote that cannot be reached, lacks a bucket, or refuses the credentials."""
