"""A stage's command: the form ``dvc.lock`` records, the lines that run, and running them —
each line in its own shell (the user's, without rc files, as DVC) with ``DVC_ROOT`` and
``DVC_STAGE`` set, its output captured line by line (or inherited), killable from the main
thread.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from gitext.pipeline.model import Stage

Emit = Callable[[str], None]


def cmd_value(stage: Stage) -> str | list[str]:
    """The command as dvc.yaml wrote it (one string, or a list) — what the lock records."""
    return stage.lock_cmd


def cmd_lines(stage: Stage) -> list[str]:
    """What runs, each in its own shell: a list's items; a string's lines (DVC's rule)."""
    if len(stage.cmd) == 1 and not stage.cmd_is_list:  # a list's item is one script
        return [line for line in stage.cmd[0].splitlines() if line.strip()]
    return [c for c in stage.cmd if c.strip()]



def _shell_argv(cmd: str) -> list[str]:
    """The user's shell without rc files, as DVC runs a command."""
    shell = os.environ.get("SHELL") or "/bin/sh"
    name = Path(shell).name.lower()
    opts = {"zsh": ["--no-rcs"], "bash": ["--noprofile", "--norc"]}.get(name, [])
    return [shell, *opts, "-c", cmd]


class RunOutcome(NamedTuple):
    exit_code: int
    command: str | None  # the failing line
    seconds: float


class Runner:
    """Runs one stage's command lines; killable from the main thread."""

    def __init__(self, root: Path, sid: str, stage: Stage, *, emit: Emit, prefix: str,
                 inherit: bool) -> None:
        self.root = root
        self.sid = sid
        self.stage = stage
        self.emit = emit
        self.prefix = prefix
        self.inherit = inherit
        self.proc: subprocess.Popen[bytes] | None = None
        self.cancelled = False

    def run(self) -> RunOutcome:
        start = time.monotonic()
        env = dict(os.environ)
        env.setdefault("DVC_ROOT", os.fspath(self.root))
        env["DVC_STAGE"] = self.sid
        cwd = self.root / self.stage.repo_wdir
        for line in cmd_lines(self.stage):
            if self.cancelled:
                return RunOutcome(130, line, time.monotonic() - start)
            self.emit(f"{self.prefix}> {line}")
            try:
                if self.inherit:
                    self.proc = subprocess.Popen(_shell_argv(line), cwd=cwd, env=env)
                else:
                    self.proc = subprocess.Popen(
                        _shell_argv(line), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                    assert self.proc.stdout is not None
                    for raw in self.proc.stdout:
                        text = raw.decode("utf-8", "replace").rstrip("\r\n")
                        self.emit(f"{self.prefix}{text}")
                code = self.proc.wait()
            except OSError as exc:
                self.emit(f"{self.prefix}cannot start the shell: {exc}")
                return RunOutcome(127, line, time.monotonic() - start)
            if code != 0:
                return RunOutcome(code, line, time.monotonic() - start)
        return RunOutcome(0, None, time.monotonic() - start)

    def kill(self) -> None:
        self.cancelled = True
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.terminate()

