"""What ``git archives install`` did: the record it keeps to undo itself, and its report.

:class:`Manifest` is ``<git common dir>/archives/install.json`` (``--global``:
:func:`global_manifest_path`): the config values install replaced, the user's hooks it moved
aside, the shims it wrote. :class:`InstallReport` collects the lines install and uninstall
print.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from gitext.codec.shellquote import display
from gitext.errors import ArchivesError
from gitext.git.shims import CHAINED_SUFFIX


@dataclass
class Manifest:
    config: dict[str, str | None] = field(default_factory=dict)  # key → value before us
    hooks: dict[str, bool] = field(default_factory=dict)  # hook path → had a user hook
    attributes_file: str | None = None
    shims: dict[str, str] = field(default_factory=dict)  # hook path → sha256 of what we wrote
    lfs: bool = False  # we serve filter=lfs in this clone
    set_aside: dict[str, str] = field(default_factory=dict)  # git-lfs hook path → where it is

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise ArchivesError(f"{path}: unreadable install record ({exc})",
                                hint="delete it and run 'git archives install' again") from exc
        return cls(raw.get("config", {}), raw.get("hooks", {}), raw.get("attributes_file"),
                   raw.get("shims", {}), bool(raw.get("lfs", False)), raw.get("set_aside", {}))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"config": self.config, "hooks": self.hooks,
                                   "attributes_file": self.attributes_file,
                                   "shims": self.shims, "lfs": self.lfs,
                                   "set_aside": self.set_aside}, indent=1))
        os.replace(tmp, path)


def global_manifest_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "git-archives" / "global-install.json"


@dataclass
class InstallReport:
    lines: list[str] = field(default_factory=list)
    shared_hooks: Path | None = None  # --global: the folder every repository's hooks are in
    hooks_installed: list[str] = field(default_factory=list)
    hooks_chained: list[str] = field(default_factory=list)  # the user's, kept as *.pre-archives
    hooks_folder: Path | None = None

    def summarise_hooks(self) -> None:
        """One line for the shims written (and the user's hooks they chain)."""
        if not self.hooks_installed:
            return
        where = display(str(self.hooks_folder)) if self.hooks_folder else "the hooks folder"
        line = f"hooks: {', '.join(self.hooks_installed)} installed in {where}"
        if self.hooks_chained:
            line += (f"; yours still run first ({', '.join(self.hooks_chained)}, "
                     f"kept as *{CHAINED_SUFFIX})")
        self.lines.append(line)
