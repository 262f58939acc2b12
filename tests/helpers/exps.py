"""Experiments made with git plumbing (one ``git fast-import``), in the layout
``docs/experiments.md`` describes, for tests of reading and managing them without running
``exp run``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gitext.exp.names import exp_ref, failed_ref, queue_ref
from tests.helpers import git

__all__ = ["Spec", "exp_ref", "failed_ref", "make_experiments", "queue_ref", "ref_of"]


@dataclass
class Spec:
    """One experiment: its name, status, and files replaced in (or ``None``: deleted from)
    the baseline's tree. A value given as ``("blob", sha)`` reuses an existing blob."""

    name: str
    files: Mapping[str, bytes | tuple[str, str] | None] = field(default_factory=dict)
    status: str = "success"
    when: int = 1_700_000_000


def ref_of(baseline: str, spec: Spec) -> str:
    if spec.status == "failed":
        return failed_ref(baseline, spec.name)
    if spec.status == "queued":
        return queue_ref(spec.name)
    return exp_ref(baseline, spec.name)


def make_experiments(repo: Path, baseline: str, specs: Sequence[Spec]) -> dict[str, str]:
    """Create the experiments as commits whose only parent is ``baseline``;
    returns name -> commit id."""
    stream = bytearray()
    for mark, spec in enumerate(specs, start=1):
        msg = (f"archives exp: {spec.name}\n\nArchives-Exp-Name: {spec.name}\n"
               f"Archives-Exp-Baseline: {baseline}\nArchives-Exp-Status: {spec.status}\n")
        data = msg.encode()
        stream += (f"commit {ref_of(baseline, spec)}\nmark :{mark}\n"
                   f"committer Test <test@example.invalid> {spec.when} +0000\n"
                   f"data {len(data)}\n").encode() + data + f"from {baseline}\n".encode()
        for path, content in spec.files.items():
            if content is None:
                stream += f"D {path}\n".encode()
            elif isinstance(content, tuple):
                stream += f"M 100644 {content[1]} {path}\n".encode()
            else:
                stream += f"M 100644 inline {path}\ndata {len(content)}\n".encode()
                stream += content + b"\n"
        stream += b"\n"
    git(repo, "fast-import", "--quiet", "--force", input_bytes=bytes(stream))
    found = {}
    for spec in specs:
        found[spec.name] = git(repo, "rev-parse", ref_of(baseline, spec)).stdout.decode().strip()
    return found


def cached_blob(repo: Path, path: str, data: bytes) -> str:
    """The pointer blob of ``data`` at ``path`` (a tracked large-file path of an installed
    repository), its object put in the local cache by the clean filter; the work tree and
    index are left as they were. For experiments whose outputs only the cache has."""
    target = repo / path
    before = target.read_bytes() if target.exists() else None
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    git(repo, "add", "--", path)
    blob = git(repo, "rev-parse", f":{path}").stdout.decode().strip()
    git(repo, "reset", "-q", "--", path)
    if before is None:
        target.unlink()
    else:
        git(repo, "checkout", "--", path)
    return blob
