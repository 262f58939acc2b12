"""The stage graph of one or more ``dvc.yaml`` files, its checks, order and drawings.

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
from typing import NamedTuple

from gitext.errors import PipelineError
from gitext.pipeline.model import Pipeline, Stage, _Frozen, _Record


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


# --- the terminal drawing ------------------------------------------------------------------

_UP, _DOWN, _LEFT, _RIGHT = 1, 2, 4, 8

_UNICODE_LINES = {
    _UP | _DOWN: "│", _LEFT | _RIGHT: "─", _DOWN | _RIGHT: "┌", _DOWN | _LEFT: "┐",
    _UP | _RIGHT: "└", _UP | _LEFT: "┘", _UP | _DOWN | _RIGHT: "├", _UP | _DOWN | _LEFT: "┤",
    _LEFT | _RIGHT | _DOWN: "┬", _LEFT | _RIGHT | _UP: "┴",
    _UP | _DOWN | _LEFT | _RIGHT: "┼", _UP: "│", _DOWN: "│", _LEFT: "─", _RIGHT: "─",
}


class _Charset(_Frozen):
    _fields = ("box", "tee_down", "arrow")
    box: tuple[str, str, str, str, str, str]  # ┌ ┐ └ ┘ ─ │
    tee_down: str  # where an edge leaves a box's bottom
    arrow: str

    def __init__(self, box: tuple[str, str, str, str, str, str], tee_down: str,
                 arrow: str) -> None:
        self._init(box=box, tee_down=tee_down, arrow=arrow)

    def line(self, dirs: int) -> str:
        if self.box[4] == "─":
            return _UNICODE_LINES[dirs]
        if dirs in (_UP | _DOWN, _UP, _DOWN):
            return "|"
        if dirs in (_LEFT | _RIGHT, _LEFT, _RIGHT):
            return "-"
        return "+"


_UNICODE = _Charset(("┌", "┐", "└", "┘", "─", "│"), "┬", "▼")
_ASCII = _Charset(("+", "+", "+", "+", "-", "|"), "+", "v")

_GAP = 3  # spaces between neighbouring boxes
_STRAIGHT_WEIGHT = 1000.0  # a long edge's line (and the box it ends in) all but never moves


class _Item(_Record):
    """A box in a layer, or a dummy: one column an edge passes through on its way down."""

    _fields = ("key", "label", "width", "x")

    def __init__(self, key: str, label: str | None, width: int, x: int = 0) -> None:
        self.key = key
        self.label = label  # None for a dummy
        self.width = width
        self.x = x  # left column

    @property
    def center(self) -> int:
        return self.x + self.width // 2


def _layers(graph: Graph, comp: list[str]) -> dict[str, int]:
    order = topological_order(subgraph(graph, comp))
    layer: dict[str, int] = {}
    for sid in order:
        preds = graph.predecessors[sid]
        layer[sid] = max((layer[p] + 1 for p in preds), default=0)
    # A stage nothing depends on upstream sits just above its first consumer, not at the
    # top with a long line down.
    for sid in order:
        succ = graph.successors[sid]
        if not graph.predecessors[sid] and succ:
            layer[sid] = min(layer[s] for s in succ) - 1
    return layer


def _place(items: list[_Item], desired: list[float], weight: list[float]) -> None:
    """Left-to-right placement near the desired centres without overlap: blocks of boxes
    that would collide are merged and centred on the weighted mean of what their members
    want (a heavy member — a long edge's line — barely moves)."""
    blocks: list[tuple[list[int], float]] = []  # (member indices, left x)

    def block_width(members: list[int]) -> int:
        return sum(items[i].width for i in members) + _GAP * (len(members) - 1)

    def block_left(members: list[int]) -> float:
        total = 0.0
        offset = 0
        for i in members:
            total += weight[i] * (desired[i] - (offset + items[i].width // 2))
            offset += items[i].width + _GAP
        return total / sum(weight[i] for i in members)

    for i in range(len(items)):
        members = [i]
        left = block_left(members)
        while blocks:
            prev_members, prev_left = blocks[-1]
            if prev_left + block_width(prev_members) + _GAP <= left:
                break
            blocks.pop()
            members = prev_members + members
            left = block_left(members)
        blocks.append((members, left))
    for members, left in blocks:
        x = round(left)
        for i in members:
            items[i].x = x
            x += items[i].width + _GAP


def _draw_component(graph: Graph, comp: list[str], cs: _Charset) -> list[str]:
    layer_of = _layers(graph, comp)
    depth = max(layer_of.values()) + 1
    rows: list[list[_Item]] = [[] for _ in range(depth)]
    items: dict[str, _Item] = {}
    # Edges between adjacent layers; longer edges go through dummies.
    links: list[tuple[str, str]] = []
    for sid in comp:
        label = sid
        item = _Item(sid, label, len(label) + 4)
        items[sid] = item
        rows[layer_of[sid]].append(item)
    for sid in comp:
        for nxt in graph.successors[sid]:
            prev = sid
            for lay in range(layer_of[sid] + 1, layer_of[nxt]):
                key = f"\0{sid}\0{nxt}\0{lay}"
                dummy = _Item(key, None, 1)
                items[key] = dummy
                rows[lay].append(dummy)
                links.append((prev, key))
                prev = key
            links.append((prev, nxt))
    parents: dict[str, list[str]] = {k: [] for k in items}
    children: dict[str, list[str]] = {k: [] for k in items}
    for a, b in links:
        parents[b].append(a)
        children[a].append(b)

    # Order within layers: declaration order, then barycentre sweeps down, up, down.
    decl = {sid: graph.nodes[sid].index for sid in comp}

    def tie(item: _Item) -> float:
        if item.label is not None:
            return decl[item.key]
        _, src, dst, _ = item.key.split("\0")
        return (decl[src] + decl[dst]) / 2

    for row in rows:
        row.sort(key=tie)

    def sweep(row: list[_Item], neighbours: dict[str, list[str]], pos: dict[str, int]) -> None:
        def bary(item: _Item) -> tuple[float, float]:
            ns = [pos[n] for n in neighbours[item.key] if n in pos]
            return (sum(ns) / len(ns) if ns else float("inf"), tie(item))
        row.sort(key=bary)

    for direction in ("down", "up", "down"):
        indices = range(1, depth) if direction == "down" else range(depth - 2, -1, -1)
        for lay in indices:
            ref = rows[lay - 1] if direction == "down" else rows[lay + 1]
            pos = {it.key: i for i, it in enumerate(ref)}
            sweep(rows[lay], parents if direction == "down" else children, pos)

    # Horizontal placement: each box under the mean of its parents; lines of long edges
    # (and the box they end in) are kept straight in preference.
    for lay, row in enumerate(rows):
        desired: list[float] = []
        weight: list[float] = []
        running = 0.0
        for it in row:
            ps = [items[p] for p in parents[it.key]]
            from_line = any(p.label is None for p in ps)
            if lay > 0 and ps:
                # A line continuing down stays straight; a box a long edge ends in sits
                # under the mean of its parents and does not give way to its neighbours.
                want = sum(p.center for p in ps) / len(ps)
                heavy = from_line
            else:
                want, heavy = running + it.width // 2, False
            desired.append(want)
            weight.append(_STRAIGHT_WEIGHT if heavy else 1.0)
            running = want + it.width - it.width // 2 + _GAP
        _place(row, desired, weight)
    shift = -min(it.x for row in rows for it in row)
    for it in items.values():
        it.x += shift
    width = max(it.x + it.width for row in rows for it in row)

    out: list[str] = []
    for lay, row in enumerate(rows):
        out.extend(_draw_layer(row, children, width, cs))
        if lay + 1 < depth:
            out.extend(_draw_band(row, rows[lay + 1], children=children,
                                  width=width, cs=cs))
    return [line.rstrip() for line in out]


def _draw_layer(row: list[_Item], children: dict[str, list[str]], width: int,
                cs: _Charset) -> list[str]:
    lines = [[" "] * width for _ in range(3)]
    tl, tr, bl, br, h, v = cs.box
    for it in row:
        if it.label is None:
            for line in lines:
                line[it.x] = v
            continue
        inner = it.width - 2
        top = tl + h * inner + tr
        mid = f"{v} {it.label} {v}"
        bottom = list(bl + h * inner + br)
        if children[it.key]:
            bottom[it.width // 2] = cs.tee_down
        for line, text in zip(lines, (top, mid, "".join(bottom)), strict=True):
            line[it.x:it.x + it.width] = list(text)
    return ["".join(line) for line in lines]


class _Span(NamedTuple):
    """A horizontal bus: the columns that come down into it and the columns it feeds."""

    sources: frozenset[int]
    targets: frozenset[int]

    @property
    def lo(self) -> int:
        return min(self.sources | self.targets)

    @property
    def hi(self) -> int:
        return max(self.sources | self.targets)


def _spans_fit(a: _Span, b: _Span) -> bool:
    """Two buses may share a row when a gap separates them, or when they only meet at a
    column both drop into (the same target) and neither starts there."""
    if a.hi + 1 < b.lo or b.hi + 1 < a.lo:
        return True
    if a.hi == b.lo:
        x = a.hi
    elif b.hi == a.lo:
        x = b.hi
    else:
        return False
    return x in a.targets and x in b.targets and x not in a.sources | b.sources


def _band_buses(upper: list[_Item], lower_center: dict[str, int],
                children: dict[str, list[str]]) -> tuple[list[int], list[_Span]]:
    """Straight drops (a source right above its only target) and buses. Sources with one
    target share that target's bus, so a fan-in is drawn as one line."""
    straight: list[int] = []
    buses: list[_Span] = []
    fan_in: dict[int, set[int]] = {}
    for it in upper:
        targets = frozenset(lower_center[c] for c in children[it.key] if c in lower_center)
        if len(targets) > 1:
            buses.append(_Span(frozenset({it.center}), targets))
        elif targets:
            fan_in.setdefault(next(iter(targets)), set()).add(it.center)
    for tx, sources in fan_in.items():
        if sources == {tx}:
            straight.append(tx)
        else:
            buses.append(_Span(frozenset(sources), frozenset({tx})))
    return straight, buses


def _assign_rows(buses: list[_Span]) -> list[int]:
    """A row for each bus: as high as possible, sharing rows where spans allow. A bus whose
    source column is another bus's drop (into a different target) must sit above it, or the
    two lines would merge."""
    above: list[set[int]] = [set() for _ in buses]  # i -> buses that must be above i
    for i, bus in enumerate(buses):
        for j, other in enumerate(buses):
            if i != j and any(sx in bus.targets and sx not in other.targets
                              for sx in other.sources):
                above[i].add(j)
    pending = sorted(range(len(buses)), key=lambda i: (buses[i].lo, buses[i].hi))
    row_of: dict[int, int] = {}
    rows: list[list[_Span]] = []
    while pending:
        pick = next((i for i in pending if above[i] <= row_of.keys()), pending[0])
        pending.remove(pick)
        r = max((row_of[j] + 1 for j in above[pick] if j in row_of), default=0)
        while True:
            if r >= len(rows):
                rows.append([])
            if all(_spans_fit(buses[pick], other) for other in rows[r]):
                break
            r += 1
        rows[r].append(buses[pick])
        row_of[pick] = r
    return [row_of[i] for i in range(len(buses))]


def _draw_band(upper: list[_Item], lower: list[_Item], *, children: dict[str, list[str]],
               width: int, cs: _Charset) -> list[str]:
    """The lines between two layers: sources drop to a horizontal bus, which runs across
    and drops to its targets; the last row carries the arrow heads."""
    lower_center = {it.key: it.center for it in lower}
    straight, buses = _band_buses(upper, lower_center, children)
    row_of = _assign_rows(buses)
    height = max(row_of, default=0) + 2
    dirs = [[0] * width for _ in range(height)]
    for x in straight:
        for r in range(height):
            dirs[r][x] |= _UP | _DOWN
    for bus, row in zip(buses, row_of, strict=True):
        for sx in bus.sources:
            for r in range(row):
                dirs[r][sx] |= _UP | _DOWN
            dirs[row][sx] |= _UP
        for x in range(bus.lo, bus.hi + 1):
            dirs[row][x] |= (_LEFT if x > bus.lo else 0) | (_RIGHT if x < bus.hi else 0)
        for tx in bus.targets:
            dirs[row][tx] |= _DOWN
            for r in range(row + 1, height):
                dirs[r][tx] |= _UP | _DOWN
    lines = [[cs.line(d) if d else " " for d in row] for row in dirs]
    for it in lower:
        if it.label is not None and dirs[-1][it.center]:
            lines[-1][it.center] = cs.arrow
    return ["".join(line) for line in lines]


def render_ascii(graph: Graph, *, unicode: bool = True) -> str:
    """The graph as boxes joined by arrows, top to bottom, one block per connected part.

    ``unicode`` draws with box-drawing characters; without it, plain ASCII for terminals
    that cannot show them.
    """
    cs = _UNICODE if unicode else _ASCII
    blocks = ["\n".join(_draw_component(graph, comp, cs)) for comp in components(graph)]
    return "\n\n".join(blocks) + ("\n" if blocks else "")
