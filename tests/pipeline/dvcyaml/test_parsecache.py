"""The parse cache: a cached dvc.yaml / dvc.lock / params file is exactly what parsing gives,
and any change to any file the parse read (or found missing) — including a racy same-size
edit that leaves the stat as it was — means parsing again."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitext.errors import PipelineError
from gitext.pipeline import lockfile, params, parsecache
from gitext.pipeline.dvcyaml import loader
from gitext.pipeline.lockfile import Lock, make_entry, write_lock
from gitext.store.state import StateCache
from tests.helpers import DATA as TEST_DATA

DATA = TEST_DATA / "pipeline"
OLD_NS = time.time_ns() - 3600 * 1_000_000_000

DVC_YAML = """\
vars:
  - conf.yaml
stages:
  prepare:
    foreach: ${sets}
    do:
      cmd: python prep.py ${item} --rate ${rate}
      deps:
      - data/${item}
      outs:
      - out/${item}.csv
  train:
    cmd: python train.py
    params:
    - train.lr
    metrics:
    - metrics.json:
        cache: false
"""


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateCache]:
    cache = StateCache(tmp_path / "state.db")
    yield cache
    cache.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / ".dvc").mkdir(parents=True)
    (root / ".dvc" / "config").write_text("[core]\n    remote = x\n", encoding="utf-8")
    (root / "conf.yaml").write_text("sets: [a, b]\nrate: 3\n", encoding="utf-8")
    (root / "dvc.yaml").write_text(DVC_YAML, encoding="utf-8")
    (root / "data").mkdir()
    age(root)
    return root


def age(root: Path) -> None:
    """Date every file and directory under ``root`` an hour back: out of the racy window."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            os.utime(Path(folder) / name, ns=(OLD_NS, OLD_NS))
        os.utime(folder, ns=(OLD_NS, OLD_NS))


def rewrite_keeping_mtime(path: Path, text: str) -> None:
    """Change the file's bytes in place, then put its mtime back (as an edit in the same
    timestamp tick would leave it)."""
    before = path.stat()
    with path.open("r+", encoding="utf-8") as fh:
        fh.write(text)
        fh.truncate()
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.fixture
def coarse_ctime(monkeypatch: pytest.MonkeyPatch) -> None:
    """A filesystem whose ctime does not tell edits apart (only mtime and size do): then
    only the racy rule stands between an edit and a stale answer."""
    real = parsecache.stat_key

    def without_ctime(path: str | os.PathLike[str]) -> Any:
        key = real(path)
        return None if key is None else (key[0], key[1], key[2], 0, key[4])

    monkeypatch.setattr(parsecache, "stat_key", without_ctime)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts real parses of each kind (the cache answering adds nothing)."""
    seen: list[str] = []

    def counting(kind: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            seen.append(kind)
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(loader, "load_all_pipelines",
                        counting("pipelines", loader.load_all_pipelines))
    monkeypatch.setattr(lockfile, "read_lock", counting("lock", lockfile.read_lock))
    monkeypatch.setattr(params, "load_params_file", counting("params", params.load_params_file))
    return seen


def test_a_cached_load_is_exactly_what_parsing_gives(project: Path, state: StateCache,
                                                     parses: list[str]) -> None:
    fresh = loader.load_all_pipelines(project)
    first = parsecache.load_pipelines(project, state)
    second = parsecache.load_pipelines(project, state)
    assert parses == ["pipelines", "pipelines"]  # the direct call, then the first load
    assert first == fresh
    assert second == fresh
    assert list(second[0].stages) == ["prepare@a", "prepare@b", "train"]
    assert second[0].stages["train"].loc == fresh[0].stages["train"].loc


def test_the_conformance_projects_come_back_from_the_cache_unchanged(
    tmp_path: Path, state: StateCache, data_dir: Path
) -> None:
    for source in (DATA / "templated", DATA / "templated2", DATA / "lockproj"):
        root = tmp_path / source.name
        shutil.copytree(source, root)
        age(root)
        fresh = loader.load_all_pipelines(root)
        parsecache.load_pipelines(root, state)
        assert parsecache.load_pipelines(root, state) == fresh, source.name
    conformance = data_dir / "conformance" / "dvc"
    for source in sorted(p for p in conformance.iterdir() if (p / "dvc.yaml").is_file())[:3]:
        root = tmp_path / ("c-" + source.name)
        shutil.copytree(source, root, symlinks=True)
        age(root)
        try:
            fresh = loader.load_all_pipelines(root)
        except PipelineError:
            continue
        parsecache.load_pipelines(root, state)
        assert parsecache.load_pipelines(root, state) == fresh, source.name


@pytest.mark.parametrize(
    ("rel", "text"),
    [
        ("dvc.yaml", DVC_YAML.replace("--rate", "--speed")),
        ("conf.yaml", "sets: [a, c]\nrate: 3\n"),
        (".dvc/config", "[parsing]\n    bool = boolean_optional\n"),
        (".dvc/config.local", "[core]\n    autostage = true\n"),
        ("sub/dvc.yaml", "stages:\n  more:\n    cmd: echo more\n"),
    ],
)
def test_an_edit_to_any_file_the_parse_read_is_seen(
    project: Path, state: StateCache, parses: list[str], rel: str, text: str
) -> None:
    parsecache.load_pipelines(project, state)
    parsecache.load_pipelines(project, state)
    assert parses == ["pipelines"]
    (project / rel).parent.mkdir(exist_ok=True)
    (project / rel).write_text(text, encoding="utf-8")
    got = parsecache.load_pipelines(project, state)
    assert parses == ["pipelines", "pipelines"]
    assert got == loader.load_all_pipelines(project)


def test_a_missing_default_params_yaml_that_appears_is_seen(
    project: Path, state: StateCache, parses: list[str], coarse_ctime: None
) -> None:
    parsecache.load_pipelines(project, state)
    assert parsecache.load_pipelines(project, state)[0].stages["prepare@a"].cmd == [
        "python prep.py a --rate 3"
    ]
    # Put the directory's mtime back too: only the recorded "params.yaml is missing" can
    # tell that it now exists.
    (project / "params.yaml").write_text("rate: 4\n", encoding="utf-8")
    os.utime(project, ns=(OLD_NS, OLD_NS))
    with pytest.raises(PipelineError, match="rate"):
        parsecache.load_pipelines(project, state)  # conf.yaml may not redefine 'rate'
    assert parses == ["pipelines", "pipelines"]


def test_a_racy_same_size_edit_of_dvc_yaml_is_seen(
    project: Path, state: StateCache, parses: list[str], coarse_ctime: None
) -> None:
    dvc_yaml = project / "dvc.yaml"
    dvc_yaml.write_text(DVC_YAML, encoding="utf-8")  # mtime: now, as an editor leaves it
    parsecache.load_pipelines(project, state)
    rewrite_keeping_mtime(dvc_yaml, DVC_YAML.replace("train.py", "tests.py"))
    got = parsecache.load_pipelines(project, state)
    assert got[0].stages["train"].cmd == ["python tests.py"]
    assert parses == ["pipelines", "pipelines"]


def test_a_new_directory_with_a_dvc_yaml_is_found(
    project: Path, state: StateCache
) -> None:
    assert len(parsecache.load_pipelines(project, state)) == 1
    (project / "more").mkdir()
    (project / "more" / "dvc.yaml").write_text("stages:\n  m:\n    cmd: echo\n",
                                               encoding="utf-8")
    assert [p.file.parent.name for p in parsecache.load_pipelines(project, state)] == [
        "proj", "more"
    ]


def test_a_virtualenv_marker_appearing_hides_its_directory(
    project: Path, state: StateCache
) -> None:
    (project / "env").mkdir()
    (project / "env" / "dvc.yaml").write_text("stages:\n  m:\n    cmd: echo\n",
                                              encoding="utf-8")
    age(project)
    assert len(parsecache.load_pipelines(project, state)) == 2
    (project / "env" / "pyvenv.cfg").write_text("home = /usr\n", encoding="utf-8")
    assert len(parsecache.load_pipelines(project, state)) == 1


def test_a_damaged_or_foreign_entry_means_parsing_again(
    project: Path, state: StateCache, parses: list[str]
) -> None:
    key = os.fspath(project.resolve())
    state.put_blob(key, parsecache.PIPELINES_KIND, b"\x00not marshal", time.time_ns())
    assert parsecache.load_pipelines(project, state) == loader.load_all_pipelines(project)
    import marshal

    foreign = marshal.dumps((("other", "version"), ((), [])))
    state.put_blob(key, parsecache.PIPELINES_KIND, foreign, time.time_ns())
    assert parsecache.load_pipelines(project, state) == loader.load_all_pipelines(project)
    assert parses.count("pipelines") == 4


def _lock_with(cmd: str) -> Lock:
    lock = Lock()
    lock.set("train", make_entry(cmd, [lockfile.LockedFile("data.csv", "0" * 32, 10)],
                                 {"params.yaml": {"lr": 0.1}},
                                 [lockfile.LockedFile("model.pkl", "1" * 32, 20)]))
    return lock


def test_dvc_lock_is_cached_and_an_edit_is_seen(
    tmp_path: Path, state: StateCache, parses: list[str]
) -> None:
    path = tmp_path / "dvc.lock"
    write_lock(path, _lock_with("python train.py"))
    age(tmp_path)
    first = parsecache.read_lock(path, state)
    assert parsecache.read_lock(path, state) == first == lockfile.read_lock(path)
    assert parses == ["lock", "lock"]
    write_lock(path, _lock_with("python train.py --all"))
    assert parsecache.read_lock(path, state).stages["train"].cmd == "python train.py --all"


def test_a_racy_same_size_edit_of_dvc_lock_is_seen(
    tmp_path: Path, state: StateCache, coarse_ctime: None
) -> None:
    path = tmp_path / "dvc.lock"
    write_lock(path, _lock_with("python train.py"))
    assert parsecache.read_lock(path, state).stages["train"].cmd == "python train.py"
    rewrite_keeping_mtime(path, path.read_text(encoding="utf-8").replace("train", "tests"))
    assert set(parsecache.read_lock(path, state).stages) == {"tests"}


def test_a_missing_lock_is_empty_and_a_corrupt_one_is_still_an_error(
    tmp_path: Path, state: StateCache
) -> None:
    path = tmp_path / "dvc.lock"
    assert parsecache.read_lock(path, state) == Lock()
    path.write_text("schema: '2.0'\nstages: [\n", encoding="utf-8")
    age(tmp_path)
    for _ in range(2):
        with pytest.raises(PipelineError, match=r"dvc\.lock"):
            parsecache.read_lock(path, state)


def test_params_files_are_cached_and_edits_are_seen(
    tmp_path: Path, state: StateCache, parses: list[str], coarse_ctime: None
) -> None:
    path = tmp_path / "params.yaml"
    assert parsecache.load_params(path, state) is None
    path.write_text("train:\n  lr: 0.1\n  layers: [1, 2]\n", encoding="utf-8")
    age(tmp_path)
    assert parsecache.load_params(path, state) == {"train": {"lr": 0.1, "layers": [1, 2]}}
    assert parsecache.load_params(path, state) == {"train": {"lr": 0.1, "layers": [1, 2]}}
    assert parses == ["params"]
    path.write_text("train:\n  lr: 0.2\n  layers: [1, 2]\n", encoding="utf-8")
    assert parsecache.load_params(path, state)["train"]["lr"] == 0.2
    rewrite_keeping_mtime(path, "train:\n  lr: 0.3\n  layers: [1, 2]\n")
    assert parsecache.load_params(path, state)["train"]["lr"] == 0.3
    path.unlink()
    assert parsecache.load_params(path, state) is None


def test_values_marshal_cannot_keep_exactly_are_not_cached(
    tmp_path: Path, state: StateCache, parses: list[str]
) -> None:
    path = tmp_path / "params.toml"
    path.write_text("when = 1979-05-27\nn = 1\n", encoding="utf-8")
    age(tmp_path)
    first = parsecache.load_params(path, state)
    assert parsecache.load_params(path, state) == first
    assert parses == ["params", "params"]


def test_without_a_state_nothing_is_cached(project: Path, parses: list[str]) -> None:
    parsecache.load_pipelines(project, None)
    parsecache.load_pipelines(project, None)
    assert parses == ["pipelines", "pipelines"]
