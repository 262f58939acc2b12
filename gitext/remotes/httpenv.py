"""What ``requests`` would read from the environment for every request, read once.

A ``requests.Session`` that trusts the environment looks up the proxy variables (walking
all of ``os.environ``, twice), ``~/.netrc`` and the CA-bundle variables again for each
request: about a millisecond of CPU every time, which a pull of a thousand small objects
pays a thousand times over (measured: an eighth of a ``gs://`` pull's CPU). The SDK
clients of :mod:`.gcsclient` and :mod:`.azurelogin` talk to one endpoint, so the answer
never changes: :func:`pin_environment` reads it once for that endpoint and turns the
per-request lookup off. ``~/.netrc`` is not read at all: its password would replace the
SDK's own credential (or go to an endpoint with anonymous access), which no one wants.
"""

from __future__ import annotations

import os
from typing import Any


def pin_environment(session: Any, url: str) -> str | None:
    """Give ``session`` (a ``requests.Session``) the proxies the environment sets for
    ``url`` (none when ``no_proxy`` names its host) and the CA bundle of
    ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, then stop it re-reading them per request.
    Returns that bundle (or None), for a caller that passes ``verify`` with each request."""
    from requests.utils import get_environ_proxies  # noqa: PLC0415 - only with an SDK

    session.proxies.update(get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
    if bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False
    return bundle
