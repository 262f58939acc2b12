"""The verb table that lets a command build only its own area's parser, and how the
program ends."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from gitext.cli import COMMAND_MODULES, VERB_MODULES, build_parser, main


def test_the_verb_table_names_the_module_that_registers_each_verb() -> None:
    registered = {}
    for name in COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers(dest="verb")
        importlib.import_module(name).register(sub)
        registered.update(dict.fromkeys(sub.choices, name))
    assert registered == VERB_MODULES


def test_one_area_parser_parses_its_verbs_like_the_full_one() -> None:
    only = build_parser(VERB_MODULES["push"]).parse_args(["push", "--jobs", "3"])
    full = build_parser().parse_args(["push", "--jobs", "3"])
    assert vars(only).keys() == vars(full).keys()
    assert {k: v for k, v in vars(only).items() if k != "func"} == {
        k: v for k, v in vars(full).items() if k != "func"}


def test_an_unknown_verb_still_gets_the_full_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-verb"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "repro" in err


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)


def test_a_quick_exit_runs_the_atexit_functions_and_flushes_what_was_printed() -> None:
    """Hooks and the filter process end without the interpreter's teardown, but as a
    normal exit would otherwise: atexit functions run, buffered output is written."""
    proc = _run_python(
        "import atexit, sys\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "print('printed', end=' ')\n"
        "sys.stderr.write('on stderr')\n"
        "from gitext.cli import _exit_without_teardown\n"
        "_exit_without_teardown(3)\n"
        "print('not reached')\n")
    assert proc.returncode == 3
    assert proc.stdout == "printed atexit ran\n"
    assert proc.stderr == "on stderr"


def test_no_quick_exit_while_a_thread_that_is_not_a_daemon_works() -> None:
    """The interpreter would wait for such a thread: so does the exit (it falls back to
    the normal one), and the thread's work is not cut short."""
    proc = _run_python(
        "import sys, threading, time\n"
        "def work():\n"
        "    time.sleep(0.3)\n"
        "    print('thread finished', flush=True)\n"
        "threading.Thread(target=work).start()\n"
        "from gitext.cli import _exit_without_teardown\n"
        "_exit_without_teardown(3)\n"
        "print('normal exit', flush=True)\n"
        "sys.exit(5)\n")
    assert proc.returncode == 5
    assert proc.stdout == "normal exit\nthread finished\n"


def test_git_archives_hook_ends_with_its_own_exit_code(tmp_path: Path) -> None:
    """The installed program's quick exit keeps the hook's exit code (an unknown hook: 2)."""
    proc = subprocess.run([sys.executable, "-m", "gitext", "hook", "no-such-hook"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          check=False)
    assert proc.returncode == 2
    assert "unknown hook 'no-such-hook'" in proc.stderr
