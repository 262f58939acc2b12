"""DVC's configuration as DVC reads it: ConfigObj's INI, four files merged option by option
(local > repo > global > system), paths relative to their file's folder, and who chose what."""

from __future__ import annotations

from pathlib import Path

import pytest
from configobj import ConfigObj  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitext.dvcconfig import LEVELS, load, parse
from gitext.errors import ConfigError
from tests.helpers import git

NAMES = st.text("abcdefghij_-", min_size=1, max_size=6).filter(lambda s: s[0].isalpha())
# Values as users write them: anything printable on one line (ConfigObj's writer quotes).
VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E,
                               blacklist_characters="'\"\\%"), max_size=12).map(str.strip)
SECTIONS = st.one_of(st.sampled_from(["core", "cache", "state"]),
                     NAMES.map(lambda n: f'remote "{n}"'))
CONFIGS = st.dictionaries(SECTIONS, st.dictionaries(NAMES.filter(
    lambda n: n not in ("dir", "url", "credentialpath", "configpath")), VALUES,
    min_size=1, max_size=3), max_size=4)


def dvc_text(data: dict[str, dict[str, str]]) -> str:
    """The file as DVC writes it (DVC saves its config with ConfigObj's writer)."""
    obj = ConfigObj()
    for section, opts in data.items():
        obj[section] = dict(opts)
    return "\n".join(obj.write()) + "\n"


def env_for(tmp: Path) -> dict[str, str]:
    return {"DVC_SYSTEM_CONFIG_DIR": str(tmp / "system"),
            "DVC_GLOBAL_CONFIG_DIR": str(tmp / "global"), "HOME": str(tmp)}


def project(tmp: Path) -> Path:
    root = tmp / "proj"
    (root / ".dvc").mkdir(parents=True)
    git(root, "init", "-q")
    return root


def level_file(root: Path, tmp: Path, level: str) -> Path:
    return {"system": tmp / "system" / "config", "global": tmp / "global" / "config",
            "repo": root / ".dvc" / "config", "local": root / ".dvc" / "config.local"}[level]


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)  # not about time
@given(CONFIGS)
def test_parse_reads_what_dvcs_writer_wrote(data: dict[str, dict[str, str]]) -> None:
    parsed = parse(dvc_text(data), Path("config"))
    assert parsed == {s: dict(o) for s, o in data.items() if o}


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(CONFIGS, min_size=4, max_size=4))
def test_later_files_win_option_by_option(tmp_path: Path,
                                          layers: list[dict[str, dict[str, str]]]) -> None:
    root = project(tmp_path) if not (tmp_path / "proj").exists() else tmp_path / "proj"
    expected: dict[tuple[str, str], tuple[str, str]] = {}
    for level, data in zip(LEVELS, layers, strict=True):
        path = level_file(root, tmp_path, level)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dvc_text(data))
        for section, opts in data.items():
            for key, value in opts.items():
                expected[(section, key)] = (value, level)
    cfg = load(root, env_for(tmp_path))
    got: dict[tuple[str, str], tuple[str, str]] = {}
    for section, found in cfg.sections.items():
        got.update({(section, k): (s.value, s.level) for k, s in found.items()})
    for name, found in cfg.remotes.items():
        got.update({(f'remote "{name}"', k): (s.value, s.level) for k, s in found.items()})
    assert got == expected
    for section, found in cfg.sections.items():
        assert all(s.user == (s.level != "repo") for s in found.values()), section


def test_paths_are_relative_to_their_files_folder(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / ".dvc" / "config").write_text(
        "[core]\n    remote = store\n['remote \"store\"']\n    url = ../../storage\n"
        "['remote \"s3\"']\n    url = s3://bucket/p\n    endpointurl = http://x\n")
    glob = tmp_path / "global" / "config"
    glob.parent.mkdir()
    glob.write_text("[cache]\n    dir = cache\n")
    cfg = load(root, env_for(tmp_path))
    assert cfg.remotes["store"]["url"].value == str(tmp_path / "storage")
    assert cfg.remotes["s3"]["url"].value == "s3://bucket/p"
    assert cfg.core_remote is not None and cfg.core_remote.value == "store"
    cache = cfg.cache_dir
    assert cache is not None and cache.value == str(tmp_path / "global" / "cache")
    assert cache.user and not cfg.remotes["store"]["url"].user


def test_names_are_case_insensitive_as_in_dvc(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / ".dvc" / "config").write_text("['remote \"MyStore\"']\n    URL = /d\n[Core]\n"
                                          "    Remote = MyStore\n")
    cfg = load(root, env_for(tmp_path))
    assert cfg.remotes["mystore"]["url"].value == "/d"
    assert cfg.core_remote is not None and cfg.core_remote.value == "MyStore"


@pytest.mark.parametrize(("text", "line"), [
    ("[core]\n    remote = a\n[cache\n", 3),
    ("[core]\n    remote = a\n    remote = b\n", 3),
    ("remote = a\n[core]\nbogus\n", 3),
])
def test_a_malformed_file_is_one_error_naming_file_and_line(tmp_path: Path, text: str,
                                                             line: int) -> None:
    root = project(tmp_path)
    (root / ".dvc" / "config").write_text(text)
    with pytest.raises(ConfigError) as info:
        load(root, env_for(tmp_path))
    msg = info.value.message
    assert msg.startswith(f"{root / '.dvc' / 'config'}:") and "\n" not in msg
    if "outside any" not in msg:
        assert msg.startswith(f"{root / '.dvc' / 'config'}:{line}:"), msg


def test_a_committed_config_local_is_the_repositorys_word_not_the_users(tmp_path: Path) -> None:
    root = project(tmp_path)
    local = root / ".dvc" / "config.local"
    local.write_text("[cache]\n    dir = /somewhere\n")
    cfg = load(root, env_for(tmp_path))
    assert cfg.cache_dir is not None and cfg.cache_dir.user
    git(root, "add", "-f", ".dvc/config.local")
    cfg = load(root, env_for(tmp_path))
    assert cfg.cache_dir is not None and not cfg.cache_dir.user
