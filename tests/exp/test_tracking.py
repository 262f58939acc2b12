"""The MLflow bridge: ``git archives repro --mlflow URI`` against a real MLflow tracking
server started here (``mlflow server`` on sqlite, a loopback port, one per module), the run
read back with ``MlflowClient``; a server that is down (warning, exit 0); a tracking URI
only the committed ``.archives/config`` names (never contacted: a loopback listener records
every connection); and the pure parts (names, batches, settings' precedence)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitext.exp import rundata, tracking
from gitext.git.repo import Repo
from tests.helpers import BIN_DIR, archives, git
from tests.helpers.lfs_server import free_port

DVC_YAML = """\
stages:
  train:
    cmd: python3 train.py
    deps: [train.py]
    params: [train.lr, train.epochs]
    outs: [models/model.bin]
    metrics:
    - metrics.json:
        cache: false
    plots:
    - plots/train.csv:
        cache: false
        x: step
        y: loss
"""

TRAIN_PY = """\
import json, os, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
os.makedirs("models", exist_ok=True); os.makedirs("plots", exist_ok=True)
open("models/model.bin", "wb").write(b"weights %r" % p["lr"])
rows = ["step,loss,acc"] + [f"{s},{1.0 / (s + 1) * p['lr'] * 100:.4f},{s / 10}"
                            for s in range(p["epochs"])]
open("plots/train.csv", "w").write("\\n".join(rows) + "\\n")
json.dump({"acc": 0.75, "eval": {"f1": 0.5}, "note": "text"}, open("metrics.json", "w"))
"""

PARAMS = "train:\n  lr: 0.01\n  epochs: 3\n  layers: [8, 4]\nseed: 7\n"


def _mlflow_exe() -> str:
    exe = BIN_DIR / "mlflow"
    if exe.is_file():
        return str(exe)
    found = shutil.which("mlflow")
    if found is None:
        pytest.skip("the mlflow server is not installed (pip install 'git-archives[test]')")
    return found


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server on a free loopback port (sqlite store, local artifacts),
    stopped by its pid; skips with the reason when it cannot start."""
    pytest.importorskip("mlflow", reason="the 'mlflow' extra is not installed")
    d = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = d / "server.log"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [_mlflow_exe(), "server", "--backend-store-uri", f"sqlite:///{d}/m.db",
             "--default-artifact-root", str(d / "art"), "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.skip(f"mlflow server did not start: {log.read_text()[-600:]}")
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.skip(f"mlflow server did not answer in 180 s: {log.read_text()[-600:]}")
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # its own group: the gunicorn/uvicorn workers too
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _project(root: Path) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q")
    for name, text in {"dvc.yaml": DVC_YAML, "train.py": TRAIN_PY, "params.yaml": PARAMS,
                       ".gitignore": "/models\n"}.items():
        (root / name).write_text(text)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "pipeline")
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _project(tmp_path_factory.mktemp("proj") / "tracked-proj")


def test_repro_logs_a_run_read_back_with_mlflow_client(mlflow_server: str,
                                                       project: Path) -> None:
    from mlflow.tracking import MlflowClient

    proc = archives(project, "repro", "--json", "--mlflow", mlflow_server)
    err = proc.stderr.decode()
    assert json.loads(proc.stdout)["ran"] == ["train"]  # stdout: the JSON alone
    assert "Logged MLflow run" in err and "warning" not in err, err
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("tracked-proj")  # the directory's name
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    head = git(project, "rev-parse", "HEAD").stdout.decode().strip()
    assert run.info.status == "FINISHED"
    assert run.info.run_name == head[:7]
    assert run.data.params == {"train.lr": "0.01", "train.epochs": "3",
                               "train.layers": "[8, 4]", "seed": "7"}
    # metrics.json's numbers (not its text), and each step series' last point
    assert run.data.metrics == {"acc": 0.75, "eval.f1": 0.5, "loss": 0.3333,
                                "plots/train.csv:acc": 0.2}
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 0.3333)]
    # the plot's "acc" column meets metrics.json's "acc": the series is named by its file
    steps = client.get_metric_history(run.info.run_id, "plots/train.csv:acc")
    assert [(m.step, m.value) for m in steps] == [(0, 0.0), (1, 0.1), (2, 0.2)]
    tags = run.data.tags
    assert tags["mlflow.source.git.commit"] == head
    assert tags["mlflow.source.type"] == "LOCAL"
    import hashlib

    lock = (project / "dvc.lock").read_bytes()
    assert tags["archives.lock.digest"] == hashlib.sha256(lock).hexdigest()
    art = client.download_artifacts(run.info.run_id, tracking.POINTERS_ARTIFACT,
                                    str(project.parent / "dl"))
    pointers = json.loads(Path(art).read_text())
    model = (project / "models" / "model.bin").read_bytes()
    assert {"path": "models/model.bin", "oid": "md5:" + hashlib.md5(model).hexdigest(),
            "size": len(model)} in pointers["outputs"]
    assert all("weights" not in json.dumps(o) for o in pointers["outputs"])  # not the bytes


def _repro(root: Path, monkeypatch: pytest.MonkeyPatch, mlflow: str | None = None) -> int:
    """``git archives repro [--mlflow URI]`` in this process (MLflow's client is imported
    once for the module, not once per command)."""
    from gitext.commands.pipeline import cmd_repro

    monkeypatch.chdir(root)
    return cmd_repro(targets=[], jobs=1, force=False, dry=False, downstream=False,
                     single_item=False, as_json=False, mlflow=mlflow)


def test_a_server_that_is_down_is_a_warning_and_repro_succeeds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("mlflow", reason="the 'mlflow' extra is not installed")
    root = _project(tmp_path / "down")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    assert _repro(root, monkeypatch, url) == 0
    out, err = capsys.readouterr()
    assert "Ran 1 stage(s)" in out
    assert err.count("\n") == 1, err
    assert err.startswith(f"git-archives: warning: MLflow at {url}: the run was not logged: ")
    assert (root / "dvc.lock").is_file()


def test_a_tracking_uri_only_the_committed_config_names_is_not_contacted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                seen.append(conn.recv(4096))
            except OSError:
                seen.append(b"")
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    root = _project(tmp_path / "cloned")
    url = f"http://127.0.0.1:{port}"
    (root / ".archives").mkdir()
    (root / ".archives" / "config").write_text(f"[mlflow]\n\ttrackingUri = {url}\n")
    env = {**os.environ, "MLFLOW_TRACKING_TOKEN": "s3cret-token"}
    env.pop("MLFLOW_TRACKING_URI", None)
    try:
        proc = archives(root, "repro", env=env)
        err = proc.stderr.decode()
        assert proc.returncode == 0, err
        assert f"MLflow tracking URI {url} comes only from" in err
        assert f"git config archives.mlflow.trackingUri {url}" in err
        assert seen == []
        # confirmed in the user's own config, the URI is used: the listener sees the token
        pytest.importorskip("mlflow", reason="the 'mlflow' extra is not installed")
        git(root, "config", "archives.mlflow.trackingUri", url)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cret-token")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        settings = tracking.tracking_settings(Repo.discover(root), None)
        assert settings is not None and settings.source == "git config"
        with pytest.raises(tracking.TrackingError, match="the run was not logged"):
            tracking.log_workspace_run(Repo.discover(root), settings)
        assert seen and b"s3cret-token" in b"".join(seen)
    finally:
        server.close()


# -- settings and the pure parts ---------------------------------------------------------------

def test_settings_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q")
    repo = Repo.discover(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_settings(repo, None) is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert tracking.tracking_settings(repo, None) == tracking.TrackingSettings(
        "http://env:5000", "proj", "MLFLOW_TRACKING_URI")
    (root / ".archives").mkdir()
    (root / ".archives" / "config").write_text(
        "[mlflow]\n\ttrackingUri = http://team:5000\n\texperiment = churn\n")
    with pytest.raises(tracking.UntrustedTrackingError, match="comes only from"):
        tracking.tracking_settings(repo, None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://team:5000")  # the user chose it too
    assert tracking.tracking_settings(repo, None) == tracking.TrackingSettings(
        "http://team:5000", "churn", "MLFLOW_TRACKING_URI")
    git(root, "config", "archives.mlflow.trackingUri", "http://mine:5000")
    assert tracking.tracking_settings(repo, None) == tracking.TrackingSettings(
        "http://mine:5000", "churn", "git config")
    assert tracking.tracking_settings(repo, "http://cli:1") == tracking.TrackingSettings(
        "http://cli:1", "churn", "--mlflow")


def test_keys_are_file_qualified_only_when_two_files_share_them() -> None:
    merged = rundata.merge_files({"params.yaml": {"train.lr": 0.1, "seed": 1},
                                  "other.yaml": {"seed": 2}})
    assert merged == {"train.lr": 0.1, "other.yaml:seed": 2, "params.yaml:seed": 1}
    series = {"a.csv": rundata.step_series([{"step": 0, "loss": 1.0, "name": "x"},
                                            {"step": 1, "loss": 0.5, "name": "y"}]),
              "b.tsv": rundata.step_series([{"step": 0, "loss": 2.0, "auc": 0.6}]),
              "c.csv": rundata.step_series([{"epoch": 0, "loss": 9.0}])}
    assert series["c.csv"] == {}
    assert rundata.name_series(series, {"auc"}) == [
        ("a.csv:loss", 0, 1.0), ("a.csv:loss", 1, 0.5), ("b.tsv:loss", 0, 2.0),
        ("b.tsv:auc", 0, 0.6)]


def test_files_outside_the_clone_are_not_logged(tmp_path: Path) -> None:
    """Params, metrics and plot files that are symlinks out of a cloned repository (the
    loader already refuses ``..``): none of their values is sent, each is named in
    ``problems``."""
    outside = tmp_path / "home"
    outside.mkdir()
    (outside / "secret.json").write_text('{"token": "s3cret", "n": 1}')
    (outside / "curve.csv").write_text("step,loss\n0,1\n")
    root = tmp_path / "clone"
    root.mkdir()
    git(root, "init", "-q")
    (root / "dvc.yaml").write_text(
        "stages:\n  s:\n    cmd: 'true'\n    params:\n    - p.json:\n"
        "    metrics:\n    - m.json:\n        cache: false\n"
        "plots:\n- curve.csv\n")
    (root / "p.json").symlink_to(outside / "secret.json")
    (root / "m.json").symlink_to(outside / "secret.json")
    (root / "curve.csv").symlink_to(outside / "curve.csv")
    (root / "params.yaml").write_text("lr: 0.1\n")
    data = rundata.collect_run(Repo.discover(root))
    assert "s3cret" not in json.dumps([data.params, data.metrics, data.step_metrics])
    assert data.metrics == {} and data.step_metrics == []
    assert data.params == {"lr": 0.1}
    assert sorted(p.split(":")[0] for p in data.problems) == ["curve.csv", "m.json", "p.json"]
    assert all("outside the repository" in p for p in data.problems), data.problems


def test_batches_respect_mlflows_request_limits() -> None:
    batches = tracking._batches(list(range(2500)), list(range(150)), list(range(5)))
    assert all(len(p) <= 100 and len(t) <= 100 and len(m) + len(p) + len(t) <= 1000
               for m, p, t in batches)
    assert sum(len(m) for m, _, _ in batches) == 2500
    assert sum(len(p) for _, p, _ in batches) == 150
    assert tracking.param_value([1, 2]) == "[1, 2]" and tracking.param_value(0.5) == "0.5"
    assert len(tracking.param_value("x" * 7000)) == 6000


def test_a_uri_mlflow_cannot_use_is_one_error() -> None:
    pytest.importorskip("mlflow", reason="the 'mlflow' extra is not installed")
    settings = tracking.TrackingSettings("foo://bar", "x", "--mlflow")
    with pytest.raises(tracking.TrackingError, match=r"^MLflow at foo://bar: the run was not"):
        tracking.log_run(settings, run_name="r", params={}, metrics={}, step_metrics=[],
                         tags={}, artifacts_pointers=[])


def test_a_password_in_the_uri_is_never_shown() -> None:
    assert tracking.shown_uri("https://me:pa55@mlflow.example/x") == "https://me:***@mlflow.example/x"
    assert tracking.shown_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert tracking.shown_uri("http://h\n") == repr("http://h\n")
    failure = OSError("API request to https://me:pa55@h/api failed\nTraceback ...")
    assert tracking._message(failure) == "API request to https://me:***@h/api failed"


def test_mlflows_retry_settings_are_ours_only_while_logging(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "99")  # the user's own: kept
    with tracking._http_defaults():
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "99"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "99"


def test_without_the_extra_the_error_names_the_pip_command(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    settings = tracking.TrackingSettings("http://127.0.0.1:9", "x", "--mlflow")
    with pytest.raises(tracking.TrackingError, match="'mlflow' extra") as info:
        tracking.log_run(settings, run_name="r", params={}, metrics={}, step_metrics=[],
                         tags={}, artifacts_pointers=[])
    assert "pip install" in (info.value.hint or "")


def test_exp_run_logs_each_experiment_as_a_run(mlflow_server: str, project: Path) -> None:
    """``exp run --mlflow``: one run per experiment, named after it, with the -S value, the
    experiment's commit and its ref (read back with MlflowClient)."""
    from mlflow.tracking import MlflowClient

    proc = archives(project, "exp", "run", "-n", "lr-high", "-S", "train.lr=0.02",
                    "--mlflow", mlflow_server)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "Logged MLflow run" in proc.stderr.decode()
    ref = git(project, "for-each-ref", "--format=%(refname) %(objectname)",
              "refs/exps/").stdout.decode().split()
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("tracked-proj")
    assert experiment is not None
    runs = [r for r in client.search_runs([experiment.experiment_id])
            if r.info.run_name == "lr-high"]
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["train.lr"] == "0.02"
    assert run.data.tags["archives.exp.ref"] == ref[0] and ref[0].endswith("/lr-high")
    assert run.data.tags["mlflow.source.git.commit"] == ref[1]
