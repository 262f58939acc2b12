"""The terminal drawing of the stage graph (``render_ascii``): boxes joined by arrows, top to
bottom, one block per connected part, laid out by hand (layers, barycentre ordering, then
placement that keeps long edges straight), in box-drawing characters or plain ASCII.
"""

from __future__ import annotations

from typing import NamedTuple

from gitext.pipeline.dag import Graph, components, subgraph, topological_order
from gitext.pipeline.model import _Frozen, _Record

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
    rows, items, parents, children = _build_rows(graph, comp)
    _order_rows(graph, comp, rows, parents, children)
    width = _place_rows(rows, items, parents)
    out: list[str] = []
    for lay, row in enumerate(rows):
        out.extend(_draw_layer(row, children, width, cs))
        if lay + 1 < len(rows):
            out.extend(_draw_band(row, rows[lay + 1], children=children,
                                  width=width, cs=cs))
    return [line.rstrip() for line in out]


def _build_rows(graph: Graph, comp: list[str]) -> tuple[
        list[list[_Item]], dict[str, _Item], dict[str, list[str]], dict[str, list[str]]]:
    """The layers' items (boxes, and a dummy where a longer edge crosses a layer) and the
    links between adjacent layers: (rows, items by key, parents, children)."""
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
    return rows, items, parents, children


def _order_rows(graph: Graph, comp: list[str], rows: list[list[_Item]],
                parents: dict[str, list[str]], children: dict[str, list[str]]) -> None:
    """Order within layers: declaration order, then barycentre sweeps down, up, down."""
    depth = len(rows)
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


def _place_rows(rows: list[list[_Item]], items: dict[str, _Item],
                parents: dict[str, list[str]]) -> int:
    """Horizontal placement: each box under the mean of its parents; lines of long edges
    (and the box they end in) are kept straight in preference. Returns the drawing's width."""
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
    return max(it.x + it.width for row in rows for it in row)


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
