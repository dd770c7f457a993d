"""MLflow tracking for raylab (the only module importing mlflow).

The driver creates the run (or the sweep's parent run) and hands its id to the workers; rank 0
logs into that run through `RunLogger`. Runs are found again by the tag `raylab.run_key`, so a
rerun of the same experiment name continues its unfinished run instead of opening a new one.
The client API is used (not the fluent one) so no process-global "active run" leaks anywhere.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from mlflow.artifacts import download_artifacts
from mlflow.entities import Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

RUN_KEY_TAG = "raylab.run_key"
PARENT_TAG = "mlflow.parentRunId"
_PARAM_VALUE_MAX = 500  # MLflow rejects longer param values


def tracking_uri(configured: str, workdir: Path) -> str:
    """configured URI, else MLFLOW_TRACKING_URI, else sqlite:///<workdir>/mlflow.db.

    Never the ./mlruns file store: MLflow >= 3.13 refuses it."""
    if configured:
        return configured
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(workdir / 'mlflow.db').resolve()}"


def artifact_root(workdir: Path) -> str:
    return (workdir / "mlartifacts").resolve().as_uri()


def ensure_experiment(uri: str, name: str, workdir: Path) -> str:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    # Artifacts beside the database (sqlite) unless a server decides where they go.
    location = None if uri.startswith("http") else artifact_root(workdir)
    return client.create_experiment(name, artifact_location=location)


def open_run(
    uri: str, experiment_id: str, *, run_key: str, run_name: str, params: dict[str, Any],
    parent_run_id: str | None = None, resume: bool = True,
) -> str:
    """Id of the unfinished run tagged `run_key` (resume) or of a new run with `params` logged."""
    client = MlflowClient(uri)
    if resume:
        found = client.search_runs(
            [experiment_id], filter_string=f"tags.`{RUN_KEY_TAG}` = '{run_key}'",
            order_by=["attributes.start_time DESC"], max_results=1,
        )
        if found and found[0].info.status != RunStatus.to_string(RunStatus.FINISHED):
            client.update_run(found[0].info.run_id, status="RUNNING")
            return found[0].info.run_id
    tags = {RUN_KEY_TAG: run_key}
    if parent_run_id:
        tags[PARENT_TAG] = parent_run_id
    run = client.create_run(experiment_id, run_name=run_name, tags=tags)
    client.log_batch(run.info.run_id, params=[
        Param(k, str(v)[:_PARAM_VALUE_MAX]) for k, v in sorted(params.items())
    ])
    return run.info.run_id


def end_run(uri: str, run_id: str, *, ok: bool, status: str | None = None) -> None:
    """FINISHED or FAILED (or the given status): a crashed run must never stay RUNNING."""
    MlflowClient(uri).set_terminated(run_id, status=status or ("FINISHED" if ok else "FAILED"))


def run_status(uri: str, run_id: str) -> str:
    return MlflowClient(uri).get_run(run_id).info.status


def run_data(uri: str, run_id: str):
    """(params, latest metrics, tags) of a run, for reports and tests."""
    data = MlflowClient(uri).get_run(run_id).data
    return data.params, data.metrics, data.tags


def child_runs(uri: str, experiment_id: str, parent_run_id: str) -> list[str]:
    runs = MlflowClient(uri).search_runs(
        [experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}'")
    return [r.info.run_id for r in runs]


def run_statuses(uri: str, experiment_id: str, *, run_key: str) -> list[str]:
    """Status of every run opened under `run_key`, newest first."""
    runs = MlflowClient(uri).search_runs(
        [experiment_id], filter_string=f"tags.`{RUN_KEY_TAG}` = '{run_key}'",
        order_by=["attributes.start_time DESC"])
    return [r.info.status for r in runs]


def metric_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) of every logged value of `key`, by step."""
    history = MlflowClient(uri).get_metric_history(run_id, key)
    return sorted((m.step, m.value) for m in history)


def list_artifacts(uri: str, run_id: str, path: str | None = None) -> list[str]:
    return [a.path for a in MlflowClient(uri).list_artifacts(run_id, path)]


def download(uri: str, artifact_uri: str, dst: Path) -> Path:
    """Fetch a runs:/<id>/<path> or models:/<name>/<version> (or models:/<name>@<alias>)
    artifact into `dst`; returns the local file or directory. One-line ValueError when the
    store does not have it."""
    dst.mkdir(parents=True, exist_ok=True)
    try:
        if artifact_uri.startswith("models:/"):
            # download_artifacts ignores its registry_uri argument for models:/ URIs (MLflow
            # 3.17), so look the version up with a client bound to this store instead.
            artifact_uri = _model_version_source(uri, artifact_uri.removeprefix("models:/"))
        return Path(download_artifacts(artifact_uri=artifact_uri, dst_path=str(dst),
                                       tracking_uri=uri))
    except (MlflowException, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{artifact_uri}: not found in the MLflow store {uri} ({first})") from None


def _model_version_source(uri: str, ref: str) -> str:
    client = MlflowClient(uri, registry_uri=uri)
    name, at, alias = ref.partition("@")
    if at:
        version = client.get_model_version_by_alias(name, alias).version
    else:
        name, _, version = ref.rpartition("/")
    return client.get_model_version_download_uri(name, version)


class RunLogger:
    """Logs into an existing run from a Ray Train worker (rank 0)."""

    def __init__(self, uri: str, run_id: str) -> None:
        self.client = MlflowClient(uri)
        self.run_id = run_id

    def metrics(self, values: dict[str, float], *, step: int) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[
            Metric(k, float(v), now, step) for k, v in sorted(values.items())
        ])

    def artifact(self, path: Path, artifact_path: str | None = None) -> None:
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def json(self, data: dict, name: str) -> None:
        self.client.log_dict(self.run_id, data, name)

    def figure(self, figure: Any, name: str) -> None:
        self.client.log_figure(self.run_id, figure, name)

    def tag(self, key: str, value: str) -> None:
        self.client.set_tag(self.run_id, key, value)
