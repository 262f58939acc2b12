"""push/fetch/pull ``--confirm VALUE``: the one command a clone types to confirm its
committed remote (a directory, SSH host or endpoint refused until confirmed) and pull; a
VALUE other than the one the committed file names confirms nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitext.config import Config
from gitext.remotes import open_remote
from gitext.remotes.trust import UntrustedRemoteError
from tests.helpers import archives, git
from tests.helpers.s3 import make_data_repo


def test_pull_confirm_confirms_only_the_directory_the_committed_file_names(
        tmp_path: Path) -> None:
    data = os.urandom(40_000)
    repo = make_data_repo(tmp_path / "r", {"big.bin": data})
    store = tmp_path / "store"
    store.mkdir()
    archives(repo, "remote", "add", "-d", "conf", str(store))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "remote")
    archives(repo, "push")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))

    refused = archives(clone, "pull", check=False)
    assert refused.returncode != 0 and b"the directory" in refused.stderr
    wrong = archives(clone, "pull", "--confirm", str(tmp_path / "elsewhere"), check=False)
    assert wrong.returncode != 0 and b"nothing was confirmed" in wrong.stderr
    assert git(clone, "config", "archives.remote.conf.url", check=False).returncode == 1

    done = archives(clone, "pull", "--confirm", str(store))
    assert b"url = " + str(store).encode() + b" confirmed (this clone)" in done.stderr
    assert (clone / "big.bin").read_bytes() == data
    assert git(clone, "config", "archives.remote.conf.url").stdout.strip() == str(store).encode()
    other = archives(clone, "fetch", "--confirm", str(tmp_path / "elsewhere"), check=False)
    assert other.returncode != 0 and b"names neither that URL nor that endpoint" in other.stderr
    assert b"confirmed" not in archives(clone, "fetch", "--confirm", str(store)).stderr


@pytest.mark.parametrize(("url", "key", "value"), [
    ("gs://bucket/p", "endpointurl", "http://127.0.0.1:4443"),
    ("ssh://me@lab.example:2222/srv/data", "url", "ssh://me@lab.example:2222/srv/data"),
])
def test_a_refusal_names_what_confirming_would_accept(tmp_path: Path, url: str, key: str,
                                                      value: str) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / ".archives").mkdir()
    endpoint = f"\tendpointurl = {value}\n" if key == "endpointurl" else ""
    (tmp_path / ".archives" / "config").write_text(
        f'[core]\n\tremote = lab\n[remote "lab"]\n\turl = {url}\n{endpoint}', encoding="utf-8")
    with pytest.raises(UntrustedRemoteError) as err:
        open_remote(Config.load(tmp_path), root=tmp_path)
    assert err.value.confirm == ("lab", key, value)
