"""What to install for an optional remote kind (``pip install 'git-archives[gcs]'``).

The requirements come from the installed distribution's own metadata (``Requires-Dist: …;
extra == "gcs"``), so the command names exactly what ``pyproject.toml`` declares; it
installs into the Python running git-archives (an ``install.sh`` venv, a user's venv…).
"""

from __future__ import annotations

import re
import shlex
import sys
from importlib import metadata

DISTRIBUTION = "git-archives"
_EXTRA_RE = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def requirements(extra: str) -> list[str]:
    """The requirements the installed distribution declares for ``extra`` (its own other
    extras expanded); empty if the metadata cannot be read (a source checkout on sys.path)."""
    try:
        declared = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return []
    found: list[str] = []
    for line in declared:
        spec, _, marker = line.partition(";")
        match = _EXTRA_RE.search(marker)
        if match is None or match.group(1) != extra:
            continue
        spec = spec.strip()
        inner = re.fullmatch(rf"{re.escape(DISTRIBUTION)}\s*\[([^\]]+)\]", spec)
        if inner:
            for each in inner.group(1).split(","):
                found.extend(r for r in requirements(each.strip()) if r not in found)
        elif spec not in found:
            found.append(spec)
    return found


def install_command(extra: str) -> str:
    """The shell command that installs ``extra``'s requirements for this git-archives."""
    specs = requirements(extra) or [f"{DISTRIBUTION}[{extra}]"]
    python = shlex.quote(sys.executable or "python3")
    return f"{python} -m pip install " + " ".join(shlex.quote(s) for s in specs)
