"""``git archives plots show|diff`` on real repositories through the installed console
script: dvc.yaml's plots (top level and stages'), the self-contained page, revisions read
from git objects and the cache, and the one-line errors for bad plot files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import archives, git
from tests.plots.test_data import PNG_1PX

DVC_YAML = """\
stages:
  evaluate:
    cmd: python3 evaluate.py
    plots:
    - plots/confusion_matrix.csv:
        template: confusion
        x: actual
        y: predicted
        cache: false
plots:
- plots/train.csv:
    x: epoch
    y: [loss, acc]
    title: Training
- ROC:
    template: simple
    x: fpr
    y:
      roc/train.json: tpr
      roc/test.json: tpr
- plots/importance.png
"""

CM = "actual,predicted\n" + "".join(f"{i % 3},{(i * 7) % 3}\n" for i in range(30))
TRAIN = "epoch,loss,acc\n1,0.9,0.5\n2,0.5,0.7\n3,0.3,0.8\n"


LIBS = ["vega", "vega-lite", "vega-interpreter", "vega-embed"]


def libs(page: str) -> list[str]:
    """The renderer's scripts a page inlines, in order."""
    return re.findall(r'<script data-lib="([^"]+)">', page)


def roc(points: list[tuple[float, float]]) -> str:
    return json.dumps({"roc": [{"fpr": f, "tpr": t} for f, t in points]})


FILES: dict[str, str | bytes] = {
    "dvc.yaml": DVC_YAML,
    "plots/confusion_matrix.csv": CM,
    "plots/train.csv": TRAIN,
    "roc/train.json": roc([(0.0, 0.0), (0.5, 0.9), (1.0, 1.0)]),
    "roc/test.json": roc([(0.0, 0.0), (0.5, 0.7), (1.0, 1.0)]),
    "plots/importance.png": PNG_1PX,
}


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def commit(root: Path, message: str, files: dict[str, str | bytes]) -> None:
    write(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def specs(root: Path, *args: str) -> dict[str, Any]:
    out = archives(root, "plots", *args, "--json").stdout
    loaded: dict[str, Any] = json.loads(out)
    return loaded


def values(spec: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = spec["data"]["values"]
    return rows


def test_show_json_draws_every_declared_plot_with_its_columns(repo: Path) -> None:
    write(repo, FILES)
    found = specs(repo, "show")
    assert list(found) == ["plots/train.csv", "ROC", "plots/importance.png",
                           "plots/confusion_matrix.csv"]
    train = found["plots/train.csv"]
    assert train["title"]["text"] == "Training"
    assert train["encoding"]["x"]["field"] == "epoch"
    assert train["encoding"]["y"]["field"] == "dvc_inferred_y_value"  # two columns
    assert train["encoding"]["y"]["title"] == "loss, acc"
    assert [(r["epoch"], r["field"], r["dvc_inferred_y_value"]) for r in values(train)] == [
        (1, "loss", 0.9), (2, "loss", 0.5), (3, "loss", 0.3),
        (1, "acc", 0.5), (2, "acc", 0.7), (3, "acc", 0.8)]
    assert {r["series"] for r in values(train)} == {"loss", "acc"}
    rocs = found["ROC"]
    assert rocs["mark"]["type"] == "line"
    assert {r["series"] for r in values(rocs)} == {"roc/train.json", "roc/test.json"}
    assert rocs["encoding"]["y"]["field"] == "tpr"
    cm = found["plots/confusion_matrix.csv"]
    assert len(values(cm)) == 30 and cm["encoding"]["x"]["field"] == "actual"
    assert found["plots/importance.png"] == {"images": [
        {"rev": "workspace", "path": "plots/importance.png", "type": "image/png"}]}


def test_a_target_that_dvc_yaml_does_not_declare_is_drawn_with_the_defaults(
        repo: Path) -> None:
    write(repo, {"logs/loss.tsv": "loss\n0.5\n0.25\n"})
    spec = specs(repo, "show", "logs/loss.tsv")["logs/loss.tsv"]
    assert spec["encoding"]["x"]["field"] == "step"  # DVC's row number
    assert [(r["step"], r["loss"]) for r in values(spec)] == [(0, 0.5), (1, 0.25)]
    over = specs(repo, "show", "logs/loss.tsv", "-t", "scatter", "--title", "L")
    assert over["logs/loss.tsv"]["mark"]["type"] == "point"
    assert over["logs/loss.tsv"]["title"]["text"] == "L"


def page_specs(page: str) -> dict[str, Any]:
    """The charts' specs a live page carries, by the id of the element each is drawn in."""
    found = re.search(r"var specs = (\{.*?\});\n", page)
    assert found is not None
    loaded: dict[str, Any] = json.loads(found.group(1))
    return loaded


def test_show_writes_one_self_contained_page_carrying_the_renderer(repo: Path) -> None:
    write(repo, FILES)
    out = archives(repo, "plots", "show", "-o", "report")
    assert out.stdout.decode().strip() == "wrote report/index.html"
    page = (repo / "report" / "index.html").read_text()
    assert libs(page) == LIBS and page.count("<script") == 5  # once each, and the call
    assert not re.search(r"<script[^>]*\ssrc|<link|(src|href)=\"?https?:", page, re.I)
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None and "connect-src" not in csp.group(1)
    assert "'unsafe-eval'" not in csp.group(1) and "script-src 'unsafe-inline'" in csp.group(1)
    assert page.count('src="data:image/png;base64,') == 1
    charts = page_specs(page)
    assert list(charts) == ["chart-0", "chart-1", "chart-3"]  # train, ROC, (image), confusion
    assert all(f'<div class="chart" id="{c}"></div>' in page for c in charts)
    assert charts["chart-0"]["title"]["text"] == "Training"
    assert charts["chart-0"] == specs(repo, "show")["plots/train.csv"]  # as --json says
    for plot_id in ("plots/train.csv", "ROC", "plots/confusion_matrix.csv"):
        assert f'data-plot="{plot_id}"' in page


def test_show_static_draws_svg_here_and_the_page_has_no_script(repo: Path) -> None:
    pytest.importorskip("vl_convert", reason="the [plots] extra is not installed")
    write(repo, FILES)
    archives(repo, "plots", "show", "--static", "-o", "report")
    page = (repo / "report" / "index.html").read_text()
    assert page.count("<svg") == 3  # train, ROC, confusion: drawn here, inline
    assert page.count('src="data:image/png;base64,') == 1
    assert not re.search(r"<script|<link|(src|href)=\"?https?:", page, re.I)
    assert "default-src 'none'" in page and "script-src" not in page
    assert ">Training<" in page  # the chart's title, drawn as SVG text


def test_diff_overlays_two_commits_read_from_git_objects(repo: Path) -> None:
    commit(repo, "v1", FILES)
    commit(repo, "v2", {"plots/train.csv": TRAIN.replace("0.3,0.8", "0.1,0.95")})
    found = specs(repo, "diff", "HEAD~1", "HEAD", "--targets", "plots/train.csv")
    rows = values(found["plots/train.csv"])
    assert {r["rev"] for r in rows} == {"HEAD~1", "HEAD"}
    last = {(r["rev"], r["field"]): r["dvc_inferred_y_value"] for r in rows if r["epoch"] == 3}
    assert last == {("HEAD~1", "loss"): 0.3, ("HEAD~1", "acc"): 0.8,
                    ("HEAD", "loss"): 0.1, ("HEAD", "acc"): 0.95}
    assert {r["series"] for r in rows} == {"HEAD~1 · loss", "HEAD~1 · acc", "HEAD · loss",
                                           "HEAD · acc"}
    # No revision: HEAD and the workspace when the work tree has changes.
    write(repo, {"plots/train.csv": TRAIN})
    rows = values(specs(repo, "diff", "--targets", "plots/train.csv")["plots/train.csv"])
    assert {r["rev"] for r in rows} == {"HEAD", "workspace"}
    assert (repo / "plots/train.csv").read_text() == TRAIN  # nothing checked out


def test_diff_page_shows_both_revisions_and_their_images(repo: Path) -> None:
    commit(repo, "v1", FILES)
    commit(repo, "v2", {"plots/train.csv": TRAIN.replace("0.3,0.8", "0.1,0.95")})
    git(repo, "tag", "v2")
    archives(repo, "plots", "diff", "main~1", "v2", "-o", "out")
    page = (repo / "out" / "index.html").read_text()
    rows = page_specs(page)["chart-0"]["data"]["values"]
    assert {r["rev"] for r in rows} == {"main~1", "v2"}  # both drawn by the same writer
    assert page.count("<figcaption>") == 2  # the image at each revision
    assert libs(page) == LIBS


EVALUATE = """\
import pathlib
pathlib.Path("plots").mkdir(exist_ok=True)
pathlib.Path("plots/cm.csv").write_text("actual,predicted\\n" + "{rows}")
"""
CACHED_DVC_YAML = """\
stages:
  evaluate:
    cmd: python3 evaluate.py
    deps:
    - evaluate.py
    plots:
    - plots/cm.csv:
        template: confusion
        x: actual
        y: predicted
"""


def test_diff_reads_a_cached_plot_output_from_the_cache_by_the_lock(repo: Path) -> None:
    commit(repo, "pipeline", {"dvc.yaml": CACHED_DVC_YAML,
                              "evaluate.py": EVALUATE.format(rows="0,0\\n1,1\\n")})
    archives(repo, "repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "run 1")
    write(repo, {"evaluate.py": EVALUATE.format(rows="0,1\\n1,1\\n1,0\\n")})
    archives(repo, "repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "run 2")
    assert git(repo, "ls-files", "plots/cm.csv").stdout == b""  # not in git
    rows = values(specs(repo, "diff", "HEAD~1", "HEAD")["plots/cm.csv"])
    assert sorted((r["rev"], r["actual"], r["predicted"]) for r in rows) == [
        ("HEAD", 0, 1), ("HEAD", 1, 0), ("HEAD", 1, 1),
        ("HEAD~1", 0, 0), ("HEAD~1", 1, 1)]


@pytest.mark.parametrize(("files", "message"), [
    ({"plots/train.csv": "epoch,loss,acc\n1,0.9,0.5\n2,0.5\n"},
     r"plots/train\.csv:3: this row has 2 fields but the header has 3"),
    ({"plots/train.csv": "epoch,los,acc\n1,0.9,0.5\n"},
     r"plots/train\.csv: no column 'loss' \(its columns: epoch, los, acc\); "
     r"did you mean 'los'\?"),
    ({"plots/importance.png": b"not a picture"},
     r"plots/importance\.png: not a PNG image"),
    ({"dvc.yaml": DVC_YAML.replace("template: simple", "template: simpel")},
     r"dvc\.yaml: plot 'ROC': unknown plot template 'simpel'; did you mean 'simple'\?"),
])
def test_bad_plot_input_is_one_line_and_a_non_zero_exit(
        repo: Path, files: dict[str, str | bytes], message: str) -> None:
    write(repo, {**FILES, **files})
    proc = archives(repo, "plots", "show", "-o", "out", check=False)
    assert proc.returncode != 0
    assert re.search(message, proc.stderr.decode().splitlines()[0])
    assert not (repo / "out").exists()


EVIL_CELL = "</script><script>alert(1)</script>"


def test_markup_in_data_and_names_is_escaped_and_svg_images_stay_inert(repo: Path) -> None:
    evil_svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    write(repo, {"dvc.yaml": "plots:\n- p.csv:\n    template: bar_horizontal\n"
                             "    x: v\n    y: name\n    title: '<!--<script>t()</script>'\n"
                             "- e.svg\n",
                 "p.csv": f"name,v\n{EVIL_CELL},1\n<b>x</b>,2\n<!--,3\n",
                 "e.svg": evil_svg})
    archives(repo, "plots", "show")
    page = (repo / "dvc_plots" / "index.html").read_text()
    # the only script elements are the renderer's and the one call: the data is inside it
    assert page.lower().count("<script") == 5 and page.lower().count("</script") == 5
    assert EVIL_CELL not in page and "\\u003c/script\\u003e" in page
    assert "<b>" not in page and "<!--" not in page
    rows = page_specs(page)["chart-0"]["data"]["values"]
    assert [r["name"] for r in rows] == [EVIL_CELL, "<b>x</b>", "<!--"]  # kept, as text
    assert page_specs(page)["chart-0"]["title"]["text"] == "<!--<script>t()</script>"
    assert '<img src="data:image/svg+xml;base64,' in page  # inert as an image


def test_without_the_extra_static_says_what_to_install_and_the_rest_works(
        repo: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "vl_convert.py").write_text("raise ImportError('blocked for the test')\n")
    import os

    env = {**os.environ, "PYTHONPATH": str(blocker)}
    write(repo, FILES)
    proc = archives(repo, "plots", "show", "--static", env=env, check=False)
    assert proc.returncode != 0
    lines = proc.stderr.decode().splitlines()
    assert "--static needs git-archives' [plots] extra" in lines[0]
    assert re.search(r"pip install .*vl-convert-python", proc.stderr.decode())
    assert not (repo / "dvc_plots").exists()
    archives(repo, "plots", "show", env=env)
    assert (repo / "dvc_plots" / "index.html").exists()
    assert archives(repo, "plots", "show", "--json", env=env).stdout.startswith(b"{")


def test_a_plot_path_leaving_the_clone_is_refused_and_nothing_of_it_is_shown(
        repo: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("token,value\nsecret-token-1234,1\n")
    (repo / "plots").mkdir()
    (repo / "plots" / "leak.csv").symlink_to(secret)
    for entry in ("../secret.csv", str(secret), "plots/leak.csv"):
        write(repo, {"dvc.yaml": f"plots:\n- {entry}:\n    x: value\n"})
        proc = archives(repo, "plots", "show", "--json", check=False)
        assert proc.returncode != 0, entry
        assert b"secret-token" not in proc.stdout + proc.stderr
        assert "outside the repository" in proc.stderr.decode().splitlines()[0], entry


def test_a_directory_is_one_plot_per_file_and_stage_options_apply(repo: Path) -> None:
    write(repo, {
        "dvc.yaml": "stages:\n  train:\n    cmd: 'true'\n    plots:\n    - logs/raw.csv:\n"
                    "        header: false\n        x: '0'\n        y: '1'\n"
                    "        template: scatter\n        cache: false\n"
                    "plots:\n- curves\n",
        "logs/raw.csv": "1,10\n2,20\n",
        "curves/loss.yaml": "loss:\n- {epoch: 1, value: 0.5}\n- {epoch: 2, value: 0.25}\n",
        "curves/acc.tsv": "epoch\tacc\n1\t0.5\n",
        "curves/notes.txt": "not a plot file\n",
    })
    found = specs(repo, "show")
    assert list(found) == ["curves/acc.tsv", "curves/loss.yaml", "logs/raw.csv"]
    loss = values(found["curves/loss.yaml"])  # no y: the last column; no x: the row number
    assert [(r["step"], r["value"]) for r in loss] == [(0, 0.5), (1, 0.25)]
    raw = found["logs/raw.csv"]
    assert raw["mark"]["type"] == "point"
    assert [(r["0"], r["1"]) for r in values(raw)] == [(1, 10), (2, 20)]
    assert list(specs(repo, "show", "curves")) == ["curves/acc.tsv", "curves/loss.yaml"]


def test_open_hands_the_page_to_the_browser(repo: Path, tmp_path: Path) -> None:
    import os
    import sys

    seen = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f"#!{sys.executable}\nimport sys\n"
                       f"open({str(seen)!r}, 'w').write(sys.argv[1])\n")
    browser.chmod(0o755)
    write(repo, {"t.csv": TRAIN})
    archives(repo, "plots", "show", "t.csv", "--open",
             env={**os.environ, "BROWSER": str(browser)})
    assert seen.read_text() == (repo / "dvc_plots" / "index.html").resolve().as_uri()


def test_each_chart_keeps_its_own_svg_ids(repo: Path) -> None:
    pytest.importorskip("vl_convert", reason="the [plots] extra is not installed")
    write(repo, {"dvc.yaml": "plots:\n- a.csv:\n    template: confusion\n    x: actual\n"
                             "    y: predicted\n- b.csv:\n    template: confusion_normalized\n"
                             "    x: actual\n    y: predicted\n",
                 "a.csv": CM, "b.csv": CM})
    archives(repo, "plots", "show", "--static")
    page = (repo / "dvc_plots" / "index.html").read_text()
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert ids and len(ids) == len(set(ids))
    for ref in re.findall(r"url\(#([^)]+)\)", page):
        assert ref in ids


def test_a_stage_plot_with_a_list_of_options_is_one_plot_per_mapping(repo: Path) -> None:
    write(repo, {"dvc.yaml": "stages:\n  train:\n    cmd: 'true'\n    plots:\n"
                             "    - t.csv:\n      - {x: epoch, y: loss}\n"
                             "      - {x: epoch, y: acc, template: scatter}\n",
                 "t.csv": TRAIN})
    found = specs(repo, "show")
    assert list(found) == ["t.csv", "t.csv (2)"]
    assert {r["field"] for r in values(found["t.csv"])} == {"loss"}
    assert found["t.csv (2)"]["mark"]["type"] == "point"


def test_a_committed_dvc_plots_symlink_does_not_lead_the_page_out_of_the_clone(
        repo: Path, tmp_path: Path) -> None:
    """The default output folder is a path in the clone: a repository that commits
    ``dvc_plots -> /somewhere/else`` must not make ``plots show`` write there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(repo, FILES)
    (repo / "dvc_plots").symlink_to(elsewhere)
    proc = archives(repo, "plots", "show", check=False)
    assert proc.returncode != 0
    assert not (elsewhere / "index.html").exists()
    assert "dvc_plots" in proc.stderr.decode()
