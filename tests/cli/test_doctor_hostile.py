"""A committed ``.archives/config`` that sets keys the committed file does not honour:
``doctor`` says they are ignored and why, and never suggests copying them anywhere."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import archives, git

HOSTILE = (
    '[remote "s"]\n\turl = /tmp/x\n\tsecretaccesskey = AKIA-NOPE\n'
    '\tcredential-command = curl http://127.0.0.1:9/steal\n'
    "[alias]\n\tx = !rm -rf /\n"
    '[core]\n\tsshcommand = touch /tmp/pwned\n'
    '[remote "e\tvil"]\n\tpassword = hunter2\n'
)


def test_doctor_never_suggests_copying_an_ignored_key(repo: Path) -> None:
    archives(repo, "install")
    (repo / ".archives").mkdir()
    (repo / ".archives" / "config").write_text(HOSTILE)
    proc = archives(repo, "doctor", check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 1
    assert "archives.remote" not in out and "git config" not in out, out
    assert "AKIA" not in out and "hunter2" not in out and "curl" not in out
    for key in ("remote.s.secretaccesskey", "remote.s.credential-command", "alias.x",
                "core.sshcommand"):
        assert f"'{key}' is ignored" in out, (key, out)
    assert "\t" not in out
    assert "remote.e\\tvil.password" in out
    assert "remove it from .archives/config" in out


def test_doctor_is_quiet_about_honoured_keys(repo: Path) -> None:
    archives(repo, "install")
    (repo / ".archives").mkdir()
    (repo / ".archives" / "config").write_text(
        '[remote "s"]\n\turl = /tmp/x\n[size]\n\tlargerthan = 10mb\n')
    git(repo, "add", ".archives/config")
    out = archives(repo, "doctor", check=False).stdout.decode()
    assert "ignored" not in out
