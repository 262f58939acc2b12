"""``git archives get URL PATH``: a file or folder of another repository, with its data
(the work is :mod:`gitext.sync.get`'s)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gitext.codec.shellquote import display


def register(sub: Any) -> None:
    _add_get(sub)


def _add_get(sub: Any) -> None:
    a = sub.add_parser(
        "get", help="copy a file or folder of another git repository, with its data",
        description="Copy PATH (a file or folder, pointer-tracked or a pipeline output) of "
                    "the git repository at URL into OUT, downloading its data from that "
                    "repository's data remote, as 'dvc get' does. Nothing of URL is "
                    "checked out or run; the copy is not tracked here.")
    a.add_argument("url", metavar="URL", help="the repository (anything git clone takes)")
    a.add_argument("path", metavar="PATH", help="relative to that repository's top")
    a.add_argument("-o", "--out", metavar="OUT",
                   help="where to write it (an existing folder: into it; default: PATH's "
                        "name in the current folder)")
    a.add_argument("--rev", metavar="REV", help="branch, tag or commit (default: its HEAD)")
    a.add_argument("-r", "--remote", metavar="NAME",
                   help="that repository's data remote to use (default: its default)")
    a.add_argument("-j", "--jobs", type=int, help="parallel downloads")
    a.set_defaults(func=lambda ns: cmd_get(url=ns.url, path=ns.path, out=ns.out, rev=ns.rev,
                                           remote=ns.remote, jobs=ns.jobs))


def cmd_get(*, url: str, path: str, out: str | None, rev: str | None, remote: str | None,
            jobs: int | None) -> int:
    from gitext.config import format_size
    from gitext.sync.get import get

    report = get(url, path, Path(out or "."), rev=rev, remote=remote, jobs=jobs)
    print(f"get: wrote {display(str(report.target))} ({report.files} file(s), "
          f"{format_size(report.bytes)}) from {url} at {report.rev[:12]}")
    for skipped in report.skipped[:20]:
        print(f"get: skipped {display(skipped)}: a symbolic link or submodule is not copied",
              file=sys.stderr)
    return 0
