"""The ``.dvc`` file codec (gitext.pipeline.dvcfiles) against what DVC 3 writes."""

from __future__ import annotations

import hashlib
import posixpath
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitext.errors import PipelineError
from gitext.pipeline.dvcfiles import is_dvcfile, parse_dvcfile
from gitext.pipeline.yamldump import dump_yaml
from gitext.store import manifests
from tests.helpers import DATA

PROJECT = DATA / "dvcfiles" / "project"
CONFORMANCE = DATA / "conformance" / "dvc"


def _dvcfiles(top: Path) -> list[Path]:
    return sorted(top.rglob("*.dvc"))


def _md5_of(path: Path) -> str:
    if path.is_file():
        return hashlib.md5(path.read_bytes()).hexdigest()
    entries = [manifests.ManifestEntry(p.relative_to(path).as_posix(),
                                       hashlib.md5(p.read_bytes()).hexdigest())
               for p in sorted(path.rglob("*")) if p.is_file()]
    return manifests.manifest_id(manifests.manifest_bytes(entries))


@pytest.mark.parametrize("dvc_file", _dvcfiles(PROJECT), ids=lambda p: p.name)
def test_what_dvc_wrote_parses_and_names_the_content_beside_it(dvc_file: Path) -> None:
    rel = dvc_file.relative_to(PROJECT).as_posix()
    parsed = parse_dvcfile(dvc_file.read_bytes(), file=rel)
    assert parsed.file == rel
    assert len(parsed.outs) == 1
    out = parsed.outs[0]
    assert out.path == rel[: -len(".dvc")]
    assert out.addressable and not out.legacy
    # DVC's md5 (of the raw bytes, CRLF kept; a directory's .dir manifest) is ours
    assert out.md5 == _md5_of(PROJECT / out.path)


def test_import_files_are_read_as_outputs_with_their_source() -> None:
    table = parse_dvcfile((PROJECT / "data/table.csv.dvc").read_bytes(),
                          file="data/table.csv.dvc")
    assert table.frozen and table.imported_from == "/tmp/dvcfiles-source"
    assert table.deps == ["shared/table.csv"]
    url = parse_dvcfile((PROJECT / "data/remote.txt.dvc").read_bytes(),
                        file="data/remote.txt.dvc")
    assert url.imported_from == "/tmp/dvcfiles-source/remote.txt"
    assert url.outs[0].path == "data/remote.txt"


@pytest.mark.parametrize("dvc_file", _dvcfiles(CONFORMANCE), ids=lambda p: p.parent.parent.name)
def test_example_projects_dvc_files_parse(dvc_file: Path) -> None:
    parsed = parse_dvcfile(dvc_file.read_bytes(), file="data/" + dvc_file.name)
    out = parsed.outs[0]
    assert out.path == "data/" + dvc_file.name[:-4]
    assert out.md5 is not None and len(out.md5.split(".")[0]) == 32
    # example-pokemon-classifier's external.dvc predates 'hash: md5' (DVC 2)
    assert out.legacy == (dvc_file.name == "external.dvc")


@pytest.mark.parametrize(("text", "where", "says"), [
    ("outs:\n- md5: b1946ac92492d2347c6235b4d2611184\n  path: x\n  colour: red\n",
     "d/x.dvc:4:3", "unknown key 'colour' in an output"),
    ("outz:\n- path: x\n", "d/x.dvc:1:1", "unknown key 'outz' in a .dvc file"),
    ("outs:\n- md5: 12345\n  hash: md5\n  path: x\n", "d/x.dvc:2:8", "bad md5 '12345'"),
    ("outs:\n- md5: b1946ac92492d2347c6235b4d261118.dir\n  path: x\n", "d/x.dvc:2:8",
     "bad md5"),
    ("outs:\n- path: ../../etc/passwd\n", "d/x.dvc:2:9", "leaves the repository"),
    ("outs:\n- path: /etc/passwd\n", "d/x.dvc:2:9", "is absolute"),
    ("outs:\n- path: C:/x\n", "d/x.dvc:2:9", "is absolute"),
    ("outs:\n- path: ../.git/hooks/pre-commit\n", "d/x.dvc:2:9", "inside .git"),
    ("wdir: ../..\nouts:\n- path: x\n", "d/x.dvc:1:7", "leaves the repository"),
    ("outs:\n- path: x\n  size: -1\n", "d/x.dvc:3:9", "non-negative integer"),
    ("outs:\n- path: x\n  cache: maybe\n", "d/x.dvc:3:10", "true or false"),
    ("outs:\n- md5: b1946ac92492d2347c6235b4d2611184\n", "d/x.dvc:2:3", "needs a 'path'"),
    ("deps:\n- path: a\n  repo:\n    url: u\n    branch: main\n", "d/x.dvc:5:5",
     "unknown key 'branch' in 'repo'"),
    ("outs:\n- path: ..\n", "d/x.dvc:2:9", "is the repository itself"),
    ("- a\n- b\n", "d/x.dvc:1:1", "a .dvc file is a mapping"),
    ("outs: [\n", "d/x.dvc:2:1", ""),
])
def test_bad_input_is_one_error_naming_file_line_and_column(text: str, where: str,
                                                            says: str) -> None:
    with pytest.raises(PipelineError) as exc:
        parse_dvcfile(text, file="d/x.dvc")
    assert exc.value.message.startswith(where + ":"), exc.value.message
    assert says in exc.value.message
    assert "\n" not in exc.value.message
    assert exc.value.hint


def test_paths_resolve_through_wdir_and_checksums_are_lowercased_as_dvc_does() -> None:
    text = ("wdir: ../other\nouts:\n- md5: B1946AC92492D2347C6235B4D2611184\n  hash: md5\n"
            "  path: sub/../file.csv\n- path: plain\n  cache: false\n- path: legacy\n"
            "  md5: b1946ac92492d2347c6235b4d2611184\n")
    parsed = parse_dvcfile(text, file="a/b/x.dvc")
    first, uncached, legacy = parsed.outs
    assert (first.path, first.md5, first.written) == (
        "a/other/file.csv", "b1946ac92492d2347c6235b4d2611184", "sub/../file.csv")
    assert uncached.path == "a/other/plain" and not uncached.addressable
    assert legacy.legacy and not legacy.addressable
    assert parse_dvcfile("", file="empty.dvc").outs == []


def test_is_dvcfile() -> None:
    assert is_dvcfile("data/raw.dvc") and is_dvcfile("x.dvc")
    assert not is_dvcfile(".dvc") and not is_dvcfile(".dvc/config")
    assert not is_dvcfile("data/.dvc") and not is_dvcfile("raw.dvc.txt")


# -- properties -----------------------------------------------------------------------------

_segment = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=8)
_md5 = st.text("0123456789abcdef", min_size=32, max_size=32)


@st.composite
def _outs(draw: st.DrawFn) -> dict[str, object]:
    out: dict[str, object] = {"md5": draw(_md5) + draw(st.sampled_from(["", ".dir"])),
                              "size": draw(st.integers(0, 2**40)), "hash": "md5",
                              "path": "/".join(draw(st.lists(_segment, min_size=1,
                                                            max_size=3)))}
    if draw(st.booleans()):
        out["nfiles"] = draw(st.integers(0, 10**6))
    return out


@settings(max_examples=150, deadline=None)
@given(folder=st.lists(_segment, max_size=3), outs=st.lists(_outs(), min_size=1, max_size=4),
       frozen=st.booleans())
def test_property_valid_files_round_trip(folder: list[str], outs: list[dict[str, object]],
                                         frozen: bool) -> None:
    file = "/".join([*folder, "x.dvc"])
    doc: dict[str, object] = {"outs": outs}
    if frozen:
        doc = {"md5": "0" * 32, "frozen": True,
               "deps": [{"path": "p", "repo": {"url": "https://example.com/r.git"}}], **doc}
    # written as DVC writes (YAML 1.2, ruamel's quoting: '0E0' is a float there)
    parsed = parse_dvcfile(dump_yaml(doc), file=file)
    assert [o.md5 for o in parsed.outs] == [o["md5"] for o in outs]
    assert [o.size for o in parsed.outs] == [o["size"] for o in outs]
    assert [o.path for o in parsed.outs] == [posixpath.join(*folder, str(o["path"]))
                                             for o in outs]
    assert parsed.frozen == frozen
    assert parsed.imported_from == ("https://example.com/r.git" if frozen else None)


@settings(max_examples=150, deadline=None)
@given(outs=st.lists(_outs(), min_size=1, max_size=3), key=_segment, index=st.integers(0, 2))
def test_property_an_unknown_key_anywhere_is_named(outs: list[dict[str, object]], key: str,
                                                   index: int) -> None:
    known = {"md5", "size", "nfiles", "hash", "path", "desc", "type", "meta", "cache", "remote",
             "push", "files", "persist", "cloud", "etag", "checksum", "isexec", "version_id",
             "fs_config", "labels"}
    if key in known:
        return
    outs[index % len(outs)][key] = 1
    with pytest.raises(PipelineError) as exc:
        parse_dvcfile(dump_yaml({"outs": outs}), file="k.dvc")
    assert exc.value.message.startswith("k.dvc:") and f"unknown key '{key}'" in exc.value.message


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_property_any_text_is_parsed_or_refused_with_a_located_error(text: str) -> None:
    try:
        parsed = parse_dvcfile(text, file="t.dvc")
    except PipelineError as exc:
        assert exc.message.startswith("t.dvc")
    else:
        for out in parsed.outs:
            assert not out.path.startswith(("/", "../")) and out.path != ".."
