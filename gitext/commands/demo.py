"""``git archives demo``: the tutorial, run for real in a scratch directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="walk the tutorial end to end in a scratch directory")
    p.add_argument("--dir", type=Path, default=None,
                   help="where to create the scratch directory (default: the system temp)")
    p.add_argument("--clean", action="store_true", help="delete the scratch directory after")
    p.set_defaults(func=lambda ns: cmd_demo(directory=ns.dir, keep=not ns.clean))


def cmd_demo(*, directory: Path | None, keep: bool) -> int:
    from gitext.demo import run_demo

    return run_demo(directory=directory, keep=keep)
