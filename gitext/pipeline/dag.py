"""The stage graph of one or more ``dvc.yaml`` files, its checks, order and machine-readable
drawings (DOT, Mermaid); the terminal drawing is :mod:`gitext.pipeline.dag_ascii`.

A stage ``A`` comes before ``B`` when an output of ``A`` is a dependency of ``B``: the same
path, or one inside the other (a directory output feeding a file in it, or a file output
inside a directory dependency), as DVC decides it.

Stages are addressed the way DVC addresses them: by name in the root ``dvc.yaml``, as
``sub/dir/dvc.yaml:name`` in other files. Everything here is deterministic: ties are broken by
the order stages are declared (files in the order given, stages in file order).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from pathlib import Path

from gitext.errors import PipelineError
from gitext.pipeline.model import Out, Pipeline, Stage, _Frozen, _Record


# Plain records, not dataclasses (see gitext.pipeline.model): cheaper to import.
class StageNode(_Frozen):
    _fields = ("id", "stage", "pipeline", "index")
    id: str  # "name" in the root dvc.yaml, "sub/dvc.yaml:name" elsewhere
    stage: Stage
    pipeline: Pipeline
    index: int  # declaration order over all pipelines

    def __init__(self, id: str, stage: Stage, pipeline: Pipeline, index: int) -> None:
        self._init(id=id, stage=stage, pipeline=pipeline, index=index)


class Graph(_Record):
    _fields = ("nodes", "successors", "predecessors")

    def __init__(self, nodes: dict[str, StageNode] | None = None,
                 successors: dict[str, list[str]] | None = None,
                 predecessors: dict[str, list[str]] | None = None) -> None:
        self.nodes: dict[str, StageNode] = {} if nodes is None else nodes  # declaration order
        # id -> ids of the stages that depend on it, in declaration order.
        self.successors: dict[str, list[str]] = {} if successors is None else successors
        self.predecessors: dict[str, list[str]] = {} if predecessors is None else predecessors

    def edges(self) -> list[tuple[str, str]]:
        return [(a, b) for a in self.nodes for b in self.successors[a]]


def stage_id(pipeline: Pipeline, stage: Stage) -> str:
    """How a user names ``stage`` on the command line (DVC's address)."""
    try:
        rel = pipeline.file.relative_to(pipeline.root).as_posix()
    except ValueError:
        rel = pipeline.file.as_posix()
    return stage.name if rel == "dvc.yaml" else f"{rel}:{stage.name}"


def _overlaps(a: str, b: str) -> bool:
    """The same path, or one inside the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _norm(path: str) -> str:
    return path.rstrip("/") or "."


def build_graph(pipelines: Iterable[Pipeline]) -> Graph:
    """Every stage of ``pipelines`` and the edges between them (no checks: see
    :func:`detect_problems`)."""
    graph = Graph()
    for pipeline in pipelines:
        for stage in pipeline.stages.values():
            sid = stage_id(pipeline, stage)
            if sid in graph.nodes:
                raise PipelineError(
                    f"{pipeline.file}: stage '{stage.name}' is defined twice",
                    hint="give each stage a unique name",
                )
            graph.nodes[sid] = StageNode(sid, stage, pipeline, len(graph.nodes))
            graph.successors[sid] = []
            graph.predecessors[sid] = []
    outs = [(_norm(out.repo_path), sid) for sid, node in graph.nodes.items()
            for out in node.stage.outs]
    for sid, node in graph.nodes.items():
        deps = {_norm(dep.repo_path) for dep in node.stage.deps}
        deps.update(_norm(p.repo_path) for p in node.stage.params)
        producers = {src for path, src in outs if src != sid
                     and any(_overlaps(path, dep) for dep in deps)}
        for src in sorted(producers, key=lambda s: graph.nodes[s].index):
            graph.successors[src].append(sid)
            graph.predecessors[sid].append(src)
    for ids in graph.successors.values():
        ids.sort(key=lambda s: graph.nodes[s].index)
    return graph


def add_data_sources(graph: Graph, dvc_files: Sequence[str], root: Path) -> Graph:
    """``graph`` with one node per ``.dvc`` file (``data/raw.csv.dvc``, a repository path),
    as ``dvc dag`` draws them: an arrow to every stage that depends on its data (the file's
    path without ``.dvc``: only the names are read, never the files). Each such node's
    ``stage`` is a stand-in with no command whose one output is that data, so
    :func:`outs_graph` draws the data itself (``data/raw.csv``). Drawing only: ``repro``
    never sees these nodes."""
    out = Graph(dict(graph.nodes), {k: list(v) for k, v in graph.successors.items()},
                {k: list(v) for k, v in graph.predecessors.items()})
    host = Pipeline(file=root / "dvc.yaml", root=root)
    for name in dvc_files:
        if name in out.nodes or not name.endswith(".dvc"):
            continue
        data = _norm(name[: -len(".dvc")])
        stand_in = Stage(name=name, cmd=[], outs=[Out(data, data)])
        out.nodes[name] = StageNode(name, stand_in, host, len(out.nodes))
        out.successors[name] = [sid for sid, node in graph.nodes.items() if any(
            _overlaps(data, _norm(dep.repo_path)) for dep in node.stage.deps)]
        out.predecessors[name] = []
        for sid in out.successors[name]:
            out.predecessors[sid].append(name)
    for ids in out.predecessors.values():
        ids.sort(key=lambda s: out.nodes[s].index)
    return out


def outs_graph(graph: Graph) -> Graph:
    """The graph of outputs (``dag --outs``): one node per output, id its repository path,
    and an arrow from an output to each output of a stage that depends on it. Outputs are
    in declaration order; a node's ``stage`` is the stage that writes it."""
    outs = Graph()
    for node in graph.nodes.values():
        for out in node.stage.outs:
            path = _norm(out.repo_path)
            if path not in outs.nodes:
                outs.nodes[path] = StageNode(path, node.stage, node.pipeline, len(outs.nodes))
                outs.successors[path] = []
                outs.predecessors[path] = []
    for sid, node in graph.nodes.items():
        deps = {_norm(dep.repo_path) for dep in node.stage.deps}
        deps.update(_norm(p.repo_path) for p in node.stage.params)
        mine = [_norm(out.repo_path) for out in node.stage.outs]
        for src in graph.predecessors[sid]:
            for out in graph.nodes[src].stage.outs:
                upstream = _norm(out.repo_path)
                if not any(_overlaps(upstream, dep) for dep in deps):
                    continue
                for path in mine:
                    if path != upstream and path not in outs.successors[upstream]:
                        outs.successors[upstream].append(path)
                        outs.predecessors[path].append(upstream)
    for table in (outs.successors, outs.predecessors):
        for ids in table.values():
            ids.sort(key=lambda o: outs.nodes[o].index)
    return outs


def collapse_groups(graph: Graph) -> Graph:
    """``dag --collapse-foreach-matrix``: the stages a ``foreach`` or ``matrix`` generates
    (``train@1``, ``train@2``) drawn as one node named by the group (``train``), with the
    edges of its members; edges among members of one group are dropped."""
    def group_id(node: StageNode) -> str:
        if node.stage.group is None:
            return node.id
        return node.id.removesuffix(node.stage.name) + node.stage.group

    ids = {sid: group_id(node) for sid, node in graph.nodes.items()}
    collapsed = Graph()
    for sid, node in graph.nodes.items():
        new_id = ids[sid]
        if new_id not in collapsed.nodes:
            collapsed.nodes[new_id] = StageNode(new_id, node.stage, node.pipeline,
                                                len(collapsed.nodes))
            collapsed.successors[new_id] = []
            collapsed.predecessors[new_id] = []
    for a, b in graph.edges():
        src, dst = ids[a], ids[b]
        if src != dst and dst not in collapsed.successors[src]:
            collapsed.successors[src].append(dst)
            collapsed.predecessors[dst].append(src)
    for table in (collapsed.successors, collapsed.predecessors):
        for found in table.values():
            found.sort(key=lambda n: collapsed.nodes[n].index)
    return collapsed


def stage_outputs(graph: Graph, stage_ids: Iterable[str]) -> list[str]:
    """The output node ids (see :func:`outs_graph`) of the given stages, in order."""
    found: list[str] = []
    for sid in stage_ids:
        for out in graph.nodes[sid].stage.outs:
            path = _norm(out.repo_path)
            if path not in found:
                found.append(path)
    return found


def _where(node: StageNode) -> str:
    loc = node.stage.loc
    return f" ({loc})" if loc is not None else ""


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None; the first found in declaration order."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(graph.nodes, white)
    for start in graph.nodes:
        if color[start] != white:
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            sid, i = stack.pop()
            if i == 0:
                color[sid] = grey
                path.append(sid)
            succ = graph.successors[sid]
            if i < len(succ):
                stack.append((sid, i + 1))
                nxt = succ[i]
                if color[nxt] == grey:
                    return [*path[path.index(nxt):], nxt]
                if color[nxt] == white:
                    stack.append((nxt, 0))
            else:
                color[sid] = black
                path.pop()
    return None


def detect_problems(graph: Graph) -> None:
    """Raise :class:`PipelineError` for outputs written by two stages, or for a cycle."""
    seen: list[tuple[str, str]] = []
    for sid, node in graph.nodes.items():
        for out in node.stage.outs:
            path = _norm(out.repo_path)
            for other_path, other in seen:
                if not _overlaps(path, other_path):
                    continue
                first, second = graph.nodes[other], node
                if other == sid:
                    what = f"stage '{sid}'{_where(node)} lists output '{path}' twice"
                    if other_path != path:
                        what = (f"stage '{sid}'{_where(node)} has overlapping outputs "
                                f"'{other_path}' and '{path}'")
                    raise PipelineError(what, hint="list each output once")
                if other_path == path:
                    what = f"output '{path}' is written by two stages"
                else:
                    what = f"outputs '{other_path}' and '{path}' overlap"
                raise PipelineError(
                    f"{what}: '{first.id}'{_where(first)} and '{second.id}'{_where(second)}",
                    hint="each output must come from exactly one stage: rename one output "
                         "or merge the two stages",
                )
            seen.append((path, sid))
    cycle = find_cycle(graph)
    if cycle is not None:
        first = graph.nodes[cycle[0]]
        raise PipelineError(
            f"the pipeline has a cycle: {' -> '.join(cycle)}{_where(first)}",
            hint="a stage cannot depend, directly or through others, on its own output: "
                 "remove one of these dependencies",
        )


def resolve_targets(graph: Graph, targets: Sequence[str], *, root: Path | None = None,
                    ) -> list[str]:
    """Node ids for what a user typed: a stage id, a stage name when it is unique, a
    ``foreach`` group name, or a ``dvc.yaml`` path (all its stages)."""
    found: list[str] = []
    for target in targets:
        hits = _resolve_one(graph, target, root)
        if not hits:
            raise PipelineError(
                f"no stage named '{target}'",
                hint="see 'git archives dag' for the stages; in another dvc.yaml write "
                     "path/to/dvc.yaml:stage",
            )
        found.extend(h for h in hits if h not in found)
    return found


def _resolve_one(graph: Graph, target: str, root: Path | None) -> list[str]:
    if target in graph.nodes:
        return [target]
    file_part, sep, name = target.rpartition(":")
    if sep and file_part:
        want = _norm(Path(file_part).as_posix().removeprefix("./"))
        if not want.endswith("dvc.yaml"):
            want = f"{want}/dvc.yaml" if want != "." else "dvc.yaml"
        return [sid for sid, n in graph.nodes.items()
                if _rel_file(n, root) == want and name in (n.stage.name, n.stage.group)]
    if target.endswith("dvc.yaml"):
        want = _norm(Path(target).as_posix().removeprefix("./"))
        return [sid for sid, n in graph.nodes.items() if _rel_file(n, root) == want]
    by_name = [sid for sid, n in graph.nodes.items() if target in (n.stage.name, n.stage.group)]
    if len({graph.nodes[s].pipeline.file for s in by_name}) > 1:
        files = ", ".join(sorted({_rel_file(graph.nodes[s], root) for s in by_name}))
        raise PipelineError(f"stage name '{target}' is ambiguous: it is in {files}",
                            hint="write path/to/dvc.yaml:stage")
    return by_name


def _rel_file(node: StageNode, root: Path | None) -> str:
    base = root if root is not None else node.pipeline.root
    try:
        return node.pipeline.file.relative_to(base).as_posix()
    except ValueError:
        return node.pipeline.file.as_posix()


def _closure(graph: Graph, start: Iterable[str], *, down: bool) -> set[str]:
    nxt = graph.successors if down else graph.predecessors
    seen: set[str] = set()
    todo = list(start)
    while todo:
        sid = todo.pop()
        if sid in seen:
            continue
        seen.add(sid)
        todo.extend(nxt[sid])
    return seen


def topological_order(graph: Graph, targets: Sequence[str] | None = None,
                      downstream: bool = False) -> list[str]:
    """Stage ids in an order where every stage comes after the stages it depends on.

    Without ``targets``: every stage. With targets (node ids): the targets and what they
    depend on, or with ``downstream`` the targets and everything that depends on them.
    Among stages free to go next, the one declared first goes first. A cycle raises
    :class:`PipelineError` naming its stages.
    """
    if targets is None:
        keep = set(graph.nodes)
    else:
        for t in targets:
            if t not in graph.nodes:
                raise PipelineError(f"no stage named '{t}'",
                                    hint="see 'git archives dag' for the stages")
        keep = _closure(graph, targets, down=downstream)
    indegree = {sid: sum(1 for p in graph.predecessors[sid] if p in keep) for sid in keep}
    ready = [(graph.nodes[s].index, s) for s, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, sid = heapq.heappop(ready)
        order.append(sid)
        for nxt in graph.successors[sid]:
            if nxt in keep:
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    heapq.heappush(ready, (graph.nodes[nxt].index, nxt))
    if len(order) != len(keep):
        sub = subgraph(graph, keep - set(order))
        cycle = find_cycle(sub) or sorted(keep - set(order))
        raise PipelineError(f"the pipeline has a cycle: {' -> '.join(cycle)}",
                            hint="remove one of these dependencies")
    return order


def subgraph(graph: Graph, keep: Iterable[str]) -> Graph:
    """The stages in ``keep`` and the edges among them (declaration order kept)."""
    wanted = set(keep)
    sub = Graph()
    for sid, node in graph.nodes.items():
        if sid in wanted:
            sub.nodes[sid] = node
            sub.successors[sid] = [s for s in graph.successors[sid] if s in wanted]
            sub.predecessors[sid] = [s for s in graph.predecessors[sid] if s in wanted]
    return sub


def ancestors_graph(graph: Graph, targets: Sequence[str], *, full: bool = False) -> Graph:
    """What ``dag TARGET`` draws: the targets and their ancestors, or with ``full`` every
    stage connected to them."""
    if not full:
        return subgraph(graph, _closure(graph, targets, down=False))
    comps = components(graph)
    keep: set[str] = set()
    for comp in comps:
        if any(t in comp for t in targets):
            keep.update(comp)
    return subgraph(graph, keep)


def components(graph: Graph) -> list[list[str]]:
    """Weakly connected components, each in declaration order, ordered by first stage."""
    seen: set[str] = set()
    result: list[list[str]] = []
    for sid in graph.nodes:
        if sid in seen:
            continue
        comp: set[str] = set()
        todo = [sid]
        while todo:
            cur = todo.pop()
            if cur in comp:
                continue
            comp.add(cur)
            todo.extend(graph.successors[cur])
            todo.extend(graph.predecessors[cur])
        seen |= comp
        result.append(sorted(comp, key=lambda s: graph.nodes[s].index))
    return result


# --- machine-readable drawings -------------------------------------------------------------

def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_dot(graph: Graph) -> str:
    """Graphviz source (``dot -Tsvg``)."""
    lines = ["strict digraph pipeline {"]
    lines.extend(f"    {_dot_quote(sid)};" for sid in graph.nodes)
    lines.extend(f"    {_dot_quote(a)} -> {_dot_quote(b)};" for a, b in graph.edges())
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_mermaid(graph: Graph) -> str:
    """A Mermaid ``flowchart TD`` (renders in GitHub/GitLab markdown)."""
    names = {sid: f"node{i}" for i, sid in enumerate(graph.nodes, 1)}
    lines = ["flowchart TD"]
    for sid, key in names.items():
        label = sid.replace('"', "#quot;")
        lines.append(f'    {key}["{label}"]')
    lines.extend(f"    {names[a]} --> {names[b]}" for a, b in graph.edges())
    return "\n".join(lines) + "\n"
