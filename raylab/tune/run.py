"""Ray Tune sweeps: a function trainable per grid point, each running one TorchTrainer.

The driver opens the sweep's parent MLflow run; each trial opens a nested run under it (tag
mlflow.parentRunId) through the same `fit_experiment` as `raylab train`. Without a configured
tracking server, a loopback `mlflow server` is started for the sweep's duration, because concurrent
trials cannot share a SQLite file. ASHA stops weak trials on epochs; `--resume` restores an
interrupted sweep without rerunning finished trials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import ray.tune
from ray.tune.integration.ray_train import TuneReportCallback
from ray.tune.schedulers import ASHAScheduler

from raylab.config import ExperimentConfig, apply_overrides, flatten, from_dict, to_dict
from raylab.data.shards import DatasetKind, dataset_kind, read_manifest
from raylab.eval.aggregate import EVALUATIONS
from raylab.track import mlflow as track
from raylab.track.server import LocalServer
from raylab.train.stages import fit_experiment
from raylab.train.trainer import connect, cpus_needed
from raylab.tune.space import grid_points, trial_name

DRIVER_CPUS = 1.0  # every Tune trial's driver (it runs the TorchTrainer) holds a CPU


@dataclass(frozen=True)
class SweepSummary:
    name: str
    parent_run_id: str
    tracking_uri: str
    rows: list[dict]
    dataset_kind: str = DatasetKind.VIDEO.value

    def table(self) -> str:
        evaluation = EVALUATIONS[DatasetKind(self.dataset_kind)]
        lines = [f"sweep {self.name} (MLflow parent run {self.parent_run_id})"]
        lines += [f"{r['trial']:<48} {evaluation.line(r)}" for r in self.rows]
        return "\n".join(lines)


def _trial(config: dict) -> None:
    base = from_dict(ExperimentConfig, config["base"])
    cfg = apply_overrides(base, config["point"])
    cfg = dataclasses.replace(cfg, name=trial_name(base.name, config["point"]))
    fit_experiment(cfg, parent_run_id=config["parent_run_id"],
                   callbacks=[TuneReportCallback()], fresh=config["fresh"])


def _scheduler(cfg: ExperimentConfig) -> ASHAScheduler | None:
    """ASHA on epochs, with rungs only before the last epoch; None (run all) when too short.

    A rung at the last epoch (or stop_last_trials) would kill a trial the moment it reports its
    final epoch, cutting off its final logging: max_t is one epoch earlier and trials that
    survive the last rung simply run to the end."""
    if cfg.sweep.grace_period_epochs >= cfg.optim.num_epochs:
        return None
    return ASHAScheduler(time_attr="training_iteration", max_t=cfg.optim.num_epochs - 1,
                         grace_period=cfg.sweep.grace_period_epochs, stop_last_trials=False)


def run_sweep(cfg: ExperimentConfig, *, address: str | None = None, resume: bool = False
              ) -> SweepSummary:
    points = grid_points(cfg)
    kind = dataset_kind(read_manifest(Path(cfg.data.shards_dir)))
    evaluation = EVALUATIONS[kind]
    concurrent = min(cfg.sweep.max_concurrent_trials, len(points))
    connect(address, concurrent * (cpus_needed(cfg) + DRIVER_CPUS))
    workdir = Path(cfg.workdir).resolve()
    configured = cfg.track.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    with contextlib.ExitStack() as stack:
        uri = configured or stack.enter_context(LocalServer(workdir))
        cfg = dataclasses.replace(cfg, track=dataclasses.replace(cfg.track, tracking_uri=uri))
        experiment_id = track.ensure_experiment(uri, cfg.track.experiment, workdir)
        parent = track.open_run(uri, experiment_id, run_key=f"{cfg.name}-sweep",
                                run_name=f"{cfg.name}-sweep", params=flatten(cfg))
        print(f"sweep {cfg.name}: {len(points)} trials, {concurrent} at a time, "
              f"MLflow parent run {parent} at {uri}", flush=True)
        trainable = ray.tune.with_resources(_trial, {"cpu": DRIVER_CPUS})
        storage = workdir / "ray_results"
        path = storage / f"{cfg.name}-sweep"
        if resume and ray.tune.Tuner.can_restore(str(path)):
            tuner = ray.tune.Tuner.restore(str(path), trainable, resume_unfinished=True,
                                           resume_errored=True)
        else:
            tuner = ray.tune.Tuner(
                trainable,
                param_space={"base": to_dict(cfg), "parent_run_id": parent, "fresh": True,
                             "point": ray.tune.grid_search(points)},
                tune_config=ray.tune.TuneConfig(
                    metric=evaluation.metric, mode=evaluation.mode,
                    max_concurrent_trials=concurrent,
                    scheduler=_scheduler(cfg)),
                run_config=ray.tune.RunConfig(name=f"{cfg.name}-sweep", storage_path=str(storage)),
            )
        try:
            grid = tuner.fit()
        except BaseException:
            track.end_run(uri, parent, ok=False)
            raise
        # Trials ASHA stopped early were killed mid-run: close their MLflow runs as KILLED.
        for run_id in track.child_runs(uri, experiment_id, parent):
            if track.run_status(uri, run_id) == "RUNNING":
                track.end_run(uri, run_id, ok=False, status="KILLED")
        rows = []
        for result in grid:
            row = {"trial": trial_name(cfg.name, result.config["point"]),
                   "error": str(result.error) if result.error else ""}
            row.update({k: v for k, v in (result.metrics or {}).items()
                        if isinstance(v, float)})
            rows.append(row)
        track.end_run(uri, parent, ok=not grid.errors)
    return SweepSummary(cfg.name, parent, uri, rows, kind.value)
