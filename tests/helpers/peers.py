"""Peer tools the tests judge compatibility with, installed once into the checkout's
``.cache`` (or reused from ``/work/dvcvenv``). A tool that cannot be installed (no network)
makes its tests skip with the reason."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
DVC_VENVS = [Path("/work/dvcvenv"), CHECKOUT / ".cache" / "dvc-venv"]


def _dvc_in(venv: Path) -> Path | None:
    exe = venv / "bin" / "dvc"
    if exe.is_file():
        proc = subprocess.run([str(exe), "--version"], capture_output=True, check=False)
        if proc.returncode == 0:
            return exe
    return None


def dvc_executable() -> Path:
    """DVC 3's ``dvc``, installing it from PyPI on first use. pytest-xdist workers may all
    ask at once: one installs under a file lock, the others wait and reuse it."""
    for venv in DVC_VENVS:
        found = _dvc_in(venv)
        if found is not None:
            return found
    import fcntl

    venv = DVC_VENVS[-1]
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / "dvc-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _dvc_in(venv)
        if found is not None:
            return found
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        proc = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "dvc>=3,<4"],
                              capture_output=True, text=True, check=False, timeout=900)
        found = _dvc_in(venv)
        if found is None:
            pytest.skip(f"DVC could not be installed from PyPI (offline?): {proc.stderr[-300:]}")
        return found


def dvc_plugin(exe: Path, module: str, package: str) -> None:
    """Make sure DVC's plugin ``package`` (imported as ``module``) is in the venv of ``exe``,
    pip-installing it on first use under the same lock; skip with the reason if it cannot
    be installed."""
    python = str(exe.parent / "python")

    def present() -> bool:
        return subprocess.run([python, "-c", f"import {module}"], capture_output=True,
                              check=False).returncode == 0

    if present():
        return
    import fcntl

    with open(CHECKOUT / ".cache" / "dvc-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if present():
            return
        proc = subprocess.run([python, "-m", "pip", "install", "-q", package],
                              capture_output=True, text=True, check=False, timeout=900)
        if not present():
            pytest.skip(f"{package} could not be installed beside {exe} (offline?): "
                        f"{proc.stderr[-300:]}")


@pytest.fixture(scope="session")
def dvc_exe() -> Path:
    """DVC's ``dvc`` (installed on first use; see :func:`dvc_executable`)."""
    return dvc_executable()


def run_dvc(exe: Path, cwd: Path, *args: str, check: bool = True,
            with_stderr: bool = False) -> str:
    """Run DVC (no analytics) in ``cwd``; its stdout (and stderr after it, with
    ``with_stderr``). On failure show its output."""
    import os

    env = dict(os.environ, DVC_NO_ANALYTICS="1",
               PATH=f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True,
                          env=env, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr if with_stderr else proc.stdout


NBSTRIPOUT_VENV = CHECKOUT / ".cache" / "nbstripout-venv"
NBSTRIPOUT_VERSION = "0.9.1"  # the version tests/data/conformance was taken from


def _nbstripout_in(venv: Path) -> Path | None:
    exe = venv / "bin" / "nbstripout"
    if exe.is_file():
        proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True,
                              check=False)
        if proc.returncode == 0 and proc.stdout.strip() == NBSTRIPOUT_VERSION:
            return exe
    return None


def nbstripout_executable() -> Path:
    """nbstripout from PyPI in its own venv under ``.cache`` (installed once, under a file
    lock for pytest-xdist); skips the test when it cannot be installed."""
    import fcntl

    found = _nbstripout_in(NBSTRIPOUT_VENV)
    if found is not None:
        return found
    NBSTRIPOUT_VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(NBSTRIPOUT_VENV.parent / "nbstripout-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _nbstripout_in(NBSTRIPOUT_VENV)
        if found is not None:
            return found
        shutil.rmtree(NBSTRIPOUT_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(NBSTRIPOUT_VENV)], check=True)
        proc = subprocess.run([str(NBSTRIPOUT_VENV / "bin" / "pip"), "install", "-q",
                               f"nbstripout=={NBSTRIPOUT_VERSION}"],
                              capture_output=True, text=True, check=False, timeout=600)
        found = _nbstripout_in(NBSTRIPOUT_VENV)
        if found is None:
            pytest.skip("nbstripout could not be installed from PyPI (offline?): "
                        f"{proc.stderr[-300:]}")
        return found
