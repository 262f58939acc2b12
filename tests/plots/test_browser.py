"""The plots page in a real headless browser (Debian's ``chromium``): it loads with every
network request sent to a listener that must see none, the inlined renderer draws each
chart's marks, and a screenshot matches the reference picture (compared coarsely:
16-pixel blocks, so font anti-aliasing does not count). The reference is of the default
(live) page; regenerate it with ``PLOTS_UPDATE_REFERENCE=1``."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers import DATA, archives
from tests.helpers.listener import listening
from tests.plots.test_plots_repo import EVIL_CELL, FILES, write

CHART_SVG = re.compile(r'<svg [^>]*class="marks"')
REFERENCE = DATA / "plots" / "reference.png"
WINDOW = (1280, 1000)
BLOCK = 16


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    return found


def run_browser(exe: str, page: Path, profile: Path, proxy: str, *extra: str) -> str:
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            "--disable-features=NetworkTimeServiceQuerying", f"--user-data-dir={profile}",
            f"--proxy-server={proxy}", "--proxy-bypass-list=<-loopback>",
            f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=3000",
            *extra, page.as_uri()]
    proc = subprocess.run(args, capture_output=True, timeout=120, check=False,
                          env={**os.environ, "LANG": "C.UTF-8"})
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return proc.stdout.decode()


def page_host(url: str) -> str | None:
    """The host a request went to; None for the browser's own services (its clock and
    component updates, which no flag turns off entirely), which the page never names."""
    host = urlsplit(url).hostname or ""
    return None if host.endswith((".google.com", ".googleapis.com", ".gvt1.com")) else host


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows (RGB or RGBA, 8 bits, not interlaced)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows = zlib.decompress(idat), width * channels, []
    prev = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, cur = line[0], bytearray(line[1:])
        for i in range(stride):
            left = cur[i - channels] if i >= channels else 0
            up, ul = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                cur[i] = (cur[i] + left) & 255
            elif kind == 2:
                cur[i] = (cur[i] + up) & 255
            elif kind == 3:
                cur[i] = (cur[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - ul
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                cur[i] = (cur[i] + (left if pa <= pb and pa <= pc else up if pb <= pc
                                    else ul)) & 255
        rows.append(bytes(cur))
        prev = cur
    return width, height, [bytes(r[i] for i in range(len(r)) if i % channels < 3)
                           for r in rows]


def blocks(path: Path) -> list[list[float]]:
    """Mean brightness of each BLOCK x BLOCK square."""
    width, height, rows = read_png(path)
    grid = []
    for by in range(0, height - BLOCK + 1, BLOCK):
        line = []
        for bx in range(0, width - BLOCK + 1, BLOCK):
            total = sum(sum(rows[y][bx * 3:(bx + BLOCK) * 3]) for y in range(by, by + BLOCK))
            line.append(total / (BLOCK * BLOCK * 3))
        grid.append(line)
    return grid


def test_the_page_loads_offline_draws_its_marks_and_looks_like_the_reference(
        repo: Path, tmp_path: Path) -> None:
    exe = chromium()
    write(repo, FILES)
    archives(repo, "plots", "show")
    page = repo / "dvc_plots" / "index.html"
    control = tmp_path / "control.html"  # proves the listener sees what a page fetches
    control.write_text('<img src="http://plots-control.test/pixel.png">')
    with listening() as listener:
        run_browser(exe, control, tmp_path / "profile", listener.url, "--dump-dom")
        assert "plots-control.test" in {page_host(r.path) for r in listener.requests}
        listener.requests.clear()
        dom = run_browser(exe, page, tmp_path / "profile", listener.url, "--dump-dom")
        shot = tmp_path / "shot.png"
        run_browser(exe, page, tmp_path / "profile", listener.url, f"--screenshot={shot}")
        fetched = [r.path for r in listener.requests if page_host(r.path) is not None]
        assert fetched == []  # nothing fetched by the page
    assert len(CHART_SVG.findall(dom)) == 3  # drawn by the inlined renderer
    assert 'class="mark-line role-mark' in dom  # the training curve, the ROC curves
    assert 'class="mark-rect role-mark' in dom  # the confusion matrix' cells
    assert 'class="mark-text role-mark' in dom  # and their counts
    assert dom.count("<img src=\"data:") == 1
    if os.environ.get("PLOTS_UPDATE_REFERENCE"):
        REFERENCE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, REFERENCE)
    got, want = blocks(shot), blocks(REFERENCE)
    assert len(got) == len(want) and len(got[0]) == len(want[0])
    differ = sum(abs(a - b) > 24 for g, w in zip(got, want, strict=True)
                 for a, b in zip(g, w, strict=True))
    assert differ <= 0.02 * len(got) * len(got[0]), f"{differ} blocks differ"


def test_data_cannot_break_out_of_the_page_script(repo: Path, tmp_path: Path) -> None:
    exe = chromium()
    write(repo, {"dvc.yaml": "plots:\n- p.csv:\n    template: bar_horizontal\n"
                             "    x: v\n    y: name\n",
                 "p.csv": f"name,v\n{EVIL_CELL},1\n<!--,2\n"})
    archives(repo, "plots", "show", "-o", "evil")
    with listening() as listener:
        dom = run_browser(exe, repo / "evil" / "index.html", tmp_path / "profile",
                          listener.url, "--dump-dom")
    assert len(CHART_SVG.findall(dom)) == 1 and 'class="mark-rect role-mark' in dom  # drawn
    assert dom.lower().count("<script") == 5  # the page's own; none made of the data
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # a bar's label
