"""The package's import graph: no cycle, and no module importing a higher layer (even lazily
inside a function). ``if TYPE_CHECKING:`` imports are annotations only and do not count."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gitext"

# Lowest first. A module may import its own layer and those below it.
LAYERS: list[tuple[str, ...]] = [
    ("gitext", "gitext.errors", "gitext.log", "gitext.codec", "gitext.remotekinds",
     "gitext.record"),
    ("gitext.fs", "gitext.git"),
    ("gitext.config", "gitext.dvcconfig", "gitext.store", "gitext.progress"),
    ("gitext.remotes", "gitext.notebooks", "gitext.pipeline", "gitext.plots"),
    ("gitext.sync", "gitext.filters", "gitext.scaffold", "gitext.exp"),
    ("gitext.hooks", "gitext.doctor", "gitext.commands", "gitext.cli", "gitext.demo",
     "gitext.__main__"),
]


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = list(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _resolve(name: str, mods: dict[str, Path]) -> str:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def _imports(mod: str, path: Path, mods: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    skip = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(_resolve(a.name, mods) for a in node.names if a.name.startswith("gitext"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            if base.startswith("gitext"):
                for a in node.names:
                    full = f"{base}.{a.name}"
                    found.add(full if full in mods else _resolve(base, mods))
    found.discard(mod)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(m, p, mods) for m, p in mods.items()}


def _layer(mod: str) -> int:
    best, rank = "", -1
    for i, names in enumerate(LAYERS):
        for name in names:
            if (mod == name or mod.startswith(name + ".")) and len(name) > len(best):
                best, rank = name, i
    return rank


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in _modules() if _layer(m) < 0)
    assert not unplaced, f"add these modules to LAYERS: {unplaced}"


def test_no_module_imports_a_higher_layer() -> None:
    upward = sorted(f"{m} -> {t}" for m, targets in _graph().items() for t in targets
                    if _layer(t) > _layer(m))
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
