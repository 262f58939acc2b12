"""gitext.remotes.httpenv: the SDK sessions read the proxy and CA-bundle variables once, for
their one endpoint, and no longer per request (nor ~/.netrc)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from gitext.remotes.httpenv import pin_environment

PROXY = "http://proxy.example:3128"


def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUESTS_CA_BUNDLE",
                 "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_the_environment_proxy_is_kept_and_no_longer_looked_up(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".netrc").write_text("machine storage.googleapis.com login u password p\n")
    session = requests.Session()
    pin_environment(session, "https://storage.googleapis.com")
    assert session.trust_env is False
    assert session.proxies.get("https") == PROXY
    assert session.verify == str(tmp_path / "ca.pem")
    monkeypatch.setenv("HTTPS_PROXY", "http://changed.example:1")  # read once, not again
    request = session.prepare_request(requests.Request("GET", "https://storage.googleapis.com/x"))
    settings = session.merge_environment_settings(request.url or "", {}, None, None, None)
    assert settings["proxies"].get("https") == PROXY
    assert "Authorization" not in request.headers  # ~/.netrc is not read


def test_a_host_no_proxy_names_gets_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    session = requests.Session()
    pin_environment(session, "http://127.0.0.1:4443")
    assert session.proxies == {} and session.verify is True


def test_the_azure_transport_gets_the_bundle_it_passes_with_each_request(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tmp_path / "ca.pem"))
    from gitext.remotes.azurelogin import pin_transport, transport

    made = transport(4)
    pin_transport(made, "https://acct.blob.core.windows.net")
    assert made.session.trust_env is False
    assert made.connection_config.verify == str(tmp_path / "ca.pem")
