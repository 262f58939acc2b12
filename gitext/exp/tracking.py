"""The MLflow bridge: where a run is logged (:func:`tracking_settings`) and the logging of
one run (:func:`log_run`), through MLflow's own client (the optional extra ``[mlflow]``).

Where the tracking URI comes from, first found wins:

1. ``--mlflow URI`` on the command line;
2. ``mlflow.trackingUri`` in the user's git config (``git config archives.mlflow.trackingUri
   URI``, the clone's or the global one), or in the committed ``.archives/config``;
3. MLflow's own ``MLFLOW_TRACKING_URI``.

A URI that only the committed file names is a server a cloned repository chose: the user's
MLflow credentials (``MLFLOW_TRACKING_TOKEN``/``USERNAME``/``PASSWORD``) and the run's
params and metrics would go there. As for the remotes' committed URLs
(:mod:`gitext.remotes.trust`), it is used only once the user confirmed it in their own
config (or set the same URI in ``MLFLOW_TRACKING_URI``); otherwise nothing is sent and
:class:`UntrustedTrackingError` says how to confirm it.

Library code: nothing here prints; a server that is down or refuses raises
:class:`TrackingError` (one line), which the commands turn into a warning.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitext.errors import ArchivesError

if TYPE_CHECKING:
    from gitext.git.repo import Repo

EXTRA = "mlflow"
URI_KEY = "mlflow.trackinguri"
EXPERIMENT_KEY = "mlflow.experiment"
ENV_URI = "MLFLOW_TRACKING_URI"
POINTERS_ARTIFACT = "archives/pointers.json"
# MLflow's limits for one log_batch request (REST API docs, "Request Limits").
_BATCH_METRICS, _BATCH_PARAMS, _BATCH_TAGS, _BATCH_TOTAL = 1000, 100, 100, 1000
_PARAM_VALUE_MAX = 6000
# MLflow retries a failed request 7 times with back-off (minutes when the server is down);
# a repro waits at most a few seconds unless the user set these themselves.
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
                  "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                  "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
# redirect_stdout and the environment are the process's: runs logged from several threads
# (exp run -j) take turns.
_ONE_AT_A_TIME = threading.Lock()
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_PASSWORD_IN_URL_RE = re.compile(r"(://[^/\s:@]+):[^/\s@]+@")
_NOT_IN_KEY_RE = re.compile(r"[^/\w.\- :]")  # what MLflow refuses in a param/metric name


class TrackingError(ArchivesError):
    """The run could not be logged (no client, server down or refusing, bad settings)."""


class UntrustedTrackingError(TrackingError):
    """A tracking URI that only the committed ``.archives/config`` names."""


@dataclass(frozen=True)
class TrackingSettings:
    uri: str
    experiment: str
    source: str  # where the URI came from: "--mlflow", "git config", ENV_URI


@dataclass(frozen=True)
class Pointer:
    """One output as the lock records it: its path, object id (``md5:…``) and size."""

    path: str
    oid: str
    size: int | None


def _shown(text: str) -> str:
    return repr(text) if _CONTROL_RE.search(text) else text


def shown_uri(uri: str) -> str:
    """``uri`` for a message: a password in it (``https://user:PASSWORD@host``) masked,
    control characters escaped."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(uri)
        if parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            uri = urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
    except ValueError:
        pass  # not a URL MLflow could use either: shown as given
    return _shown(uri)


def default_experiment(repo: Repo) -> str:
    """The repository's directory name (the main work tree's, also from a linked one)."""
    common = repo.common_dir
    return common.parent.name if common.name == ".git" else repo.root.name


def tracking_wanted(root: Path, cli_uri: str | None) -> bool:
    """Whether anything names a tracking server (cheap: MLflow is not imported)."""
    if cli_uri is not None or os.environ.get(ENV_URI):
        return True
    from gitext.config import Config

    return bool(Config.load(root).get(URI_KEY))


def tracking_settings(repo: Repo, cli_uri: str | None) -> TrackingSettings | None:
    """Where to log runs of ``repo``; None when nothing names a tracking server. Raises
    :class:`UntrustedTrackingError` for a URI only the committed file chose."""
    from gitext.config import Config

    cfg = Config.load(repo.root)
    experiment = (cfg.get(EXPERIMENT_KEY) or "").strip() or default_experiment(repo)
    env_uri = os.environ.get(ENV_URI, "").strip()
    if cli_uri is not None and cli_uri.strip():
        return TrackingSettings(cli_uri.strip(), experiment, "--mlflow")
    configured = (cfg.get(URI_KEY) or "").strip()
    if configured:
        if cfg.is_local(URI_KEY):
            return TrackingSettings(configured, experiment, "git config")
        if configured == env_uri:
            return TrackingSettings(configured, experiment, ENV_URI)
        raise _untrusted(configured)
    if env_uri:
        return TrackingSettings(env_uri, experiment, ENV_URI)
    return None


def _untrusted(uri: str) -> UntrustedTrackingError:
    from gitext.config import PROJECT_CONFIG

    where = PROJECT_CONFIG.as_posix()  # the committed file, at the top of the work tree
    if _CONTROL_RE.search(uri):
        confirm = "the URI holds control characters: do not use it"
    else:
        confirm = ("if you trust that server: git config archives.mlflow.trackingUri "
                   + shlex.quote(uri))
    return UntrustedTrackingError(
        f"MLflow tracking URI {shown_uri(uri)} comes only from {_shown(where)}, not from your "
        "own config: no run was logged there (your MLflow credentials and the run's params "
        f"and metrics would go to it); {confirm}",
        hint="or log elsewhere: git archives repro --mlflow URI")


def _client_class() -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        from gitext.remotes.extras import install_command

        raise TrackingError("logging to MLflow needs the 'mlflow' extra, which is not "
                            "installed", hint=f"install it: {install_command(EXTRA)}") from None
    return MlflowClient


@contextlib.contextmanager
def _http_defaults() -> Iterator[None]:
    """MLflow reads its retry and timeout settings from the environment at each request:
    ours for the requests of one :func:`log_run` (where the user set none), removed after,
    so the stages and experiments run later see the user's environment unchanged."""
    added = [name for name in _HTTP_DEFAULTS if name not in os.environ]
    for name in added:
        os.environ[name] = _HTTP_DEFAULTS[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _errors() -> tuple[type[BaseException], ...]:
    """What MLflow raises when the server is down, refuses, or answers nonsense."""
    from mlflow.exceptions import MlflowException
    from requests import RequestException

    return (MlflowException, RequestException, OSError, ValueError)


def _message(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc) or type(exc).__name__
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    first = _PASSWORD_IN_URL_RE.sub(r"\1:***@", first)
    return first if len(first) <= 300 else first[:297] + "..."


def _experiment_id(client: Any, name: str, errors: tuple[type[BaseException], ...]) -> str:
    """The id of experiment ``name``, created if absent (another run may create it at the
    same moment: then read it again)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except errors:
        again = client.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)


def mlflow_key(name: str) -> str:
    """``name`` as MLflow accepts a param or metric name: other characters become ``_``."""
    return _NOT_IN_KEY_RE.sub("_", name) or "_"


def param_value(value: Any) -> str:
    """A param as MLflow stores it: text (lists and mappings as JSON), cut to its limit."""
    text = value if isinstance(value, str) else (
        json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else str(value))
    return text if len(text) <= _PARAM_VALUE_MAX else text[:_PARAM_VALUE_MAX - 3] + "..."


def pointers_json(pointers: Sequence[tuple[str, str, int | None]]) -> str:
    """The outputs' pointers artifact: paths, object ids and sizes, never the bytes."""
    rows = [{"path": p, "oid": o, "size": s} for p, o, s in sorted(pointers)]
    return json.dumps({"version": 1, "outputs": rows}, indent=1) + "\n"


def _batches(metrics: list[Any], params: list[Any], tags: list[Any],
             ) -> list[tuple[list[Any], list[Any], list[Any]]]:
    """Split into requests within MLflow's per-request limits."""
    out: list[tuple[list[Any], list[Any], list[Any]]] = []
    while metrics or params or tags:
        p, params = params[:_BATCH_PARAMS], params[_BATCH_PARAMS:]
        t, tags = tags[:_BATCH_TAGS], tags[_BATCH_TAGS:]
        room = _BATCH_TOTAL - len(p) - len(t)
        m, metrics = metrics[:min(room, _BATCH_METRICS)], metrics[min(room, _BATCH_METRICS):]
        out.append((m, p, t))
    return out


def log_run(settings: TrackingSettings, *, run_name: str, params: Mapping[str, Any],
            metrics: Mapping[str, float],
            step_metrics: Sequence[tuple[str, int, float]],
            tags: Mapping[str, str],
            artifacts_pointers: Sequence[tuple[str, str, int | None]]) -> str:
    """Log one finished run to ``settings``' server and return its id.

    ``params`` are flat (``train.lr``), ``metrics`` the final values (step 0),
    ``step_metrics`` ``(key, step, value)`` rows (a plot file's ``step`` column),
    ``tags`` e.g. ``mlflow.source.git.commit``, ``archives.exp.ref``,
    ``archives.lock.digest``; ``artifacts_pointers`` ``(path, oid, size)`` of the outputs,
    logged as one small JSON artifact (:data:`POINTERS_ARTIFACT`). The values go in
    ``log_batch`` requests; the run ends FINISHED. Raises :class:`TrackingError`."""
    client_class = _client_class()
    errors = _errors()
    run_id = None
    # MLflow's client prints the run's URL on stdout (``set_terminated``): library code
    # never prints, and ``repro --json``'s stdout is the JSON alone.
    with _ONE_AT_A_TIME, contextlib.redirect_stdout(io.StringIO()), _http_defaults():
        try:
            client = client_class(tracking_uri=settings.uri)  # may refuse the URI's scheme
            experiment_id = _experiment_id(client, settings.experiment, errors)
            run = client.create_run(experiment_id, run_name=run_name)
            run_id = str(run.info.run_id)
            _log_values(client, run_id, params=params, metrics=metrics,
                        step_metrics=step_metrics, tags=tags)
            if artifacts_pointers:
                client.log_text(run_id, pointers_json(artifacts_pointers), POINTERS_ARTIFACT)
            client.set_terminated(run_id, "FINISHED")
        except errors as exc:
            if run_id is not None:
                _mark_failed(client, run_id, errors)
            raise TrackingError(
                f"MLflow at {shown_uri(settings.uri)}: the run was not logged: {_message(exc)}",
                hint="check that the server runs and the URI is right") from exc
    return run_id


def _mark_failed(client: Any, run_id: str, errors: tuple[type[BaseException], ...]) -> None:
    with contextlib.suppress(*errors):  # the server went away: the run stays RUNNING there
        client.set_terminated(run_id, "FAILED")


def _log_values(client: Any, run_id: str, *, params: Mapping[str, Any],
                metrics: Mapping[str, float], step_metrics: Sequence[tuple[str, int, float]],
                tags: Mapping[str, str]) -> None:
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    metric_rows = [Metric(mlflow_key(k), float(v), now, 0) for k, v in sorted(metrics.items())]
    metric_rows += [Metric(mlflow_key(k), float(v), now, int(step))
                    for k, step, v in step_metrics]
    param_rows = [Param(mlflow_key(k), param_value(v)) for k, v in sorted(params.items())]
    tag_rows = [RunTag(k, str(v)) for k, v in sorted(tags.items())]
    for m, p, t in _batches(metric_rows, param_rows, tag_rows):
        client.log_batch(run_id, metrics=m, params=p, tags=t)


def log_workspace_run(repo: Repo, settings: TrackingSettings, *, run_name: str | None = None,
                      source_name: str = "git archives repro", commit: str | None = None,
                      exp_ref: str | None = None) -> tuple[str, list[str]]:
    """Read what the work tree of ``repo`` holds after a repro
    (:func:`gitext.exp.rundata.collect_run`) and log it as one run; returns the run's id
    and the files that could not be read. ``exp run`` passes its worktree's repo, the
    experiment's commit, ref and name. Raises :class:`TrackingError`."""
    from gitext.exp.rundata import collect_run, run_tags

    data = collect_run(repo)
    tags = run_tags(repo, source_name=source_name, commit=commit, exp_ref=exp_ref,
                    lock_digest=data.lock_digest)
    name = run_name or (tags.get("mlflow.source.git.commit", "")[:7] or "workspace")
    run_id = log_run(settings, run_name=name, params=data.params, metrics=data.metrics,
                     step_metrics=data.step_metrics, tags=tags,
                     artifacts_pointers=data.pointers)
    return run_id, data.problems
