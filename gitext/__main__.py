from __future__ import annotations

from gitext.cli import run

run()
