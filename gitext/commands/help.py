"""``git archives help``: manual pages made from the argparse definitions, and opening them.

``git archives --help`` (which git itself turns into ``git help archives``), ``git archives
VERB --help`` and ``git archives help [VERB]`` open the page ``git-archives[-VERB](1)`` with
``man``, as git does for its own commands; where ``man`` or the page is missing, the
argparse help is printed instead. The pages are written by ``git archives help --man-dir
DIR`` (``install.sh`` puts them in ``~/.local/share/man/man1``) with argparse-manpage, so
they never drift from the parser.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PAGE = "git-archives"
# Plumbing git and the hook shims call: no page of their own (the main page lists them).
NO_PAGE = frozenset({"filter-process", "hook"})


def register(sub: Any) -> None:
    p = sub.add_parser(
        "help", help="open the manual page of git-archives or of one verb",
        description="Open the manual page git-archives(1), or git-archives-VERB(1), with "
                    "man (the argparse help where man or the page is missing); with "
                    "--man-dir, write every page into DIR instead.")
    p.add_argument("verb", nargs="?", metavar="VERB", help="the verb whose page to open")
    p.add_argument("--man-dir", metavar="DIR",
                   help="write the manual pages (roff, section 1) into DIR and exit")
    p.set_defaults(func=lambda ns: cmd_help(verb=ns.verb, man_dir=ns.man_dir))


def cmd_help(*, verb: str | None, man_dir: str | None) -> int:
    from gitext.errors import UsageError

    parser, verbs = _parsers()
    if verb is not None and verb not in verbs:
        raise UsageError(f"'{verb}' is not a git-archives verb",
                         hint="see 'git archives -h' for the list")
    if man_dir is not None:
        if verb is not None:
            raise UsageError("--man-dir writes every page: give no VERB with it")
        written = write_pages(Path(man_dir))
        print(f"wrote {len(written)} manual pages to {man_dir}")
        return 0
    if open_manual(page_name(verb)):
        return 0
    (verbs[verb] if verb is not None else parser).print_help()
    return 0


def page_name(verb: str | None) -> str:
    return PAGE if verb is None else f"{PAGE}-{verb}"


def _parsers() -> tuple[Any, dict[str, Any]]:
    """The whole parser and its verbs' parsers (name -> parser), in --help order."""
    import argparse

    from gitext.commands import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return parser, dict(action.choices)
    return parser, {}  # pragma: no cover - the parser always has verbs


def _verb_help(parser: Any) -> dict[str, str]:
    """Each verb's one-line help (what ``git archives -h`` lists)."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help or "" for a in action._choices_actions}
    return {}  # pragma: no cover


def render_pages() -> dict[str, str]:
    """``{file name: roff text}``: ``git-archives.1`` and one ``git-archives-VERB.1`` per
    verb (the plumbing verbs excepted)."""
    from gitext import __version__

    parser, verbs = _parsers()
    helps = _verb_help(parser)
    names = [v for v in verbs if v not in NO_PAGE]
    see_also = ", ".join(rf"\fB{_roff(page_name(v))}\fR(1)" for v in names)
    pages = {f"{PAGE}.1": _render(parser, PAGE, "version large files, notebooks and "
                                  "pipelines with plain git", __version__,
                                  see_also + r", \fBgit\fR(1)")}
    for verb in names:
        sub = verbs[verb]
        if not sub.description:
            sub.description = helps.get(verb, "")
        pages[f"{page_name(verb)}.1"] = _render(sub, page_name(verb), helps.get(verb, ""),
                                                __version__, rf"\fB{PAGE}\fR(1)")
    return pages


def _roff(text: str) -> str:
    return text.replace("\\", "\\\\").replace("-", "\\-")


def _render(parser: Any, name: str, summary: str, version: str, see_also: str) -> str:
    from argparse_manpage.manpage import Manpage

    page = Manpage(parser, _data={"project_name": "git-archives", "version": version,
                                  "manual_title": "Git Archives Manual",
                                  "description": summary})
    # The page is named as man finds it (git-archives-push), the synopsis as one types it.
    page.prog = name
    usage = parser.format_usage().split(":", 1)[-1].split()
    words = parser.prog.split()
    page.synopsis = [" ".join(words), *usage[len(words):]]
    page.add_section("see also", "=", see_also)
    return str(page)


def write_pages(folder: Path) -> list[Path]:
    """Write every page into ``folder`` (made if missing), atomically each; pages of verbs
    that no longer exist are removed. Returns the pages written."""
    from gitext.fs.atomic import atomic_write

    folder.mkdir(parents=True, exist_ok=True)
    pages = render_pages()
    written = []
    for fname, text in pages.items():
        target = folder / fname
        atomic_write(target, text.encode("utf-8"))
        written.append(target)
    for old in folder.glob(f"{PAGE}-*.1"):
        if old.name not in pages:
            old.unlink()
    return written


def man_available(page: str) -> bool:
    """``man`` is installed and finds ``page``."""
    import shutil

    man = shutil.which("man")
    if man is None:
        return False
    try:
        found = subprocess.run([man, "-w", page], stdout=subprocess.DEVNULL,  # noqa: S603
                               stderr=subprocess.DEVNULL, check=False)
    except OSError:
        return False
    return found.returncode == 0


def open_manual(page: str) -> bool:
    """Show ``page`` with ``man`` (its pager when on a terminal); False when ``man`` or the
    page is missing, so the caller prints the argparse help instead."""
    if os.environ.get("GIT_ARCHIVES_HELP") == "text" or not man_available(page):
        return False
    sys.stdout.flush()
    try:
        shown = subprocess.run(["man", page], check=False)  # noqa: S603, S607
    except OSError:
        return False
    return shown.returncode == 0


def help_from_argv(args: list[str]) -> int | None:
    """``git-archives [VERB] --help``: open the page and return 0, or None when the argparse
    help should be printed (no ``--help`` before ``--``, an unknown verb, no man page)."""
    head = args[: args.index("--")] if "--" in args else args
    if "--help" not in head:
        return None
    if head[0] == "--help":
        page = page_name(None)
    else:
        from gitext.commands import VERB_MODULES

        if head[0] not in VERB_MODULES or head[0] in NO_PAGE:
            return None
        page = page_name(head[0])
    return 0 if open_manual(page) else None
