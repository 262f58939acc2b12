"""``--confirm VALUE`` of ``git archives push|fetch|pull``: a clone confirms its committed
remote's URL or endpoint and transfers in one command (docs/remotes.md, "Trust").

Imported by those commands only once they run.
"""

from __future__ import annotations

import sys
from typing import Any

from gitext.codec.shellquote import display, shell_arg
from gitext.config import Config
from gitext.errors import UsageError
from gitext.git.repo import run_git
from gitext.remotes import open_remote
from gitext.remotes.trust import UntrustedRemoteError


def open_confirmed(repo: Any, cfg: Any, name: str | None, confirm: str | None) -> Any:
    """``open_remote`` for push/fetch/pull ``--confirm VALUE``: the remote's committed URL or
    endpoint that is exactly VALUE is confirmed in this clone's git config first, as 'remote
    modify --local NAME KEY VALUE' would (a refused SSH host, directory or endpoint is then
    used; an http(s) URL, with the user's credentials). Any other VALUE confirms nothing."""
    try:
        remote = open_remote(cfg, name, root=repo.root)
    except UntrustedRemoteError as exc:
        if confirm is None:
            raise
        if exc.confirm is None or exc.confirm[2] != confirm:
            exc.hint = (f"--confirm {shell_arg(confirm)} is not what the committed file "
                        "names; nothing was confirmed")
            raise
        rname, key = exc.confirm[0], exc.confirm[1]
    else:
        if confirm is None:
            return remote
        remote.close()
        rname = remote.name
        key = "url" if confirm == remote.url else "endpointurl" \
            if confirm == remote.options.get("endpointurl") else ""
        if not key:
            raise UsageError(f"--confirm {display(confirm)}: remote '{display(rname)}' names "
                             "neither that URL nor that endpoint; nothing was confirmed",
                             hint="give the value its refusal printed, or leave --confirm out")
        if cfg.is_local(f"remote.{rname}.{key}"):
            return open_remote(cfg, name, root=repo.root)
    run_git(["config", "--replace-all", f"archives.remote.{rname}.{key}", confirm],
            cwd=repo.root)
    print(f"remote '{display(rname)}': {key} = {display(confirm)} confirmed (this clone)",
          file=sys.stderr)
    return open_remote(Config.load(repo.root), name, root=repo.root)
