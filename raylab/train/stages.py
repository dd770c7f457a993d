"""Two-stage fine-tuning as one experiment: two Ray Train fits under one MLflow parent run.

Stage 1 trains only the new classifier on top of the frozen pre-trained layers (pre-trained LR
multiplier 0) for transfer.stage1_epochs; stage 2 starts from stage 1's last checkpoint and
trains transfer.depth for optim.num_epochs, pre-trained layers at transfer.pretrained_lr_mult
(PAPERS.md 7.2: linear probe, then joint fine-tuning at a lower rate). Each stage is a child run
(`<name>-stage1`, `<name>-stage2`) of a parent run `<name>` that also gets stage 2's final
metrics. `fit_experiment` is what `raylab train` and sweep trials call.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

from raylab.config import ExperimentConfig, FinetuneDepth, LrSchedule, flatten
from raylab.track import mlflow as track
from raylab.train.trainer import FitResult, completed_epochs, fit


def fit_experiment(
    cfg: ExperimentConfig, *, address: str | None = None, parent_run_id: str | None = None,
    callbacks: Sequence[object] = (), fresh: bool = False,
) -> FitResult:
    """One fit, or both stages when transfer.stage1_epochs > 0 (callbacks see stage 2 only)."""
    if cfg.transfer.stage1_epochs == 0:
        return fit(cfg, address=address, parent_run_id=parent_run_id, callbacks=callbacks,
                   fresh=fresh)
    return fit_two_stage(cfg, address=address, parent_run_id=parent_run_id,
                         callbacks=callbacks, fresh=fresh)


def stage_configs(cfg: ExperimentConfig) -> tuple[ExperimentConfig, ExperimentConfig]:
    """(stage 1, stage 2) configs; stage 2 reads stage 1's Ray Train run dir (its checkpoint
    with the most epochs), which is known before stage 1 runs."""
    t = cfg.transfer
    # Stage 1 at a constant rate: the head starts from random init, nothing to anneal yet.
    stage1 = dataclasses.replace(
        cfg, name=f"{cfg.name}-stage1",
        optim=dataclasses.replace(cfg.optim, num_epochs=t.stage1_epochs, lr_decay_epochs=(),
                                  schedule=LrSchedule.STEP, warmup_epochs=0.0),
        transfer=dataclasses.replace(t, depth=FinetuneDepth.LAST_LAYER, pretrained_lr_mult=0.0,
                                     stage1_epochs=0))
    stage1_run = Path(cfg.workdir).resolve() / "ray_results" / stage1.name
    stage2 = dataclasses.replace(
        cfg, name=f"{cfg.name}-stage2",
        transfer=dataclasses.replace(t, init_from=str(stage1_run), stage1_epochs=0))
    return stage1, stage2


def fit_two_stage(
    cfg: ExperimentConfig, *, address: str | None = None, parent_run_id: str | None = None,
    callbacks: Sequence[object] = (), fresh: bool = False,
) -> FitResult:
    start = time.perf_counter()
    workdir = Path(cfg.workdir).resolve()
    uri = track.tracking_uri(cfg.track.tracking_uri, workdir)
    experiment_id = track.ensure_experiment(uri, cfg.track.experiment, workdir)
    parent = track.open_run(uri, experiment_id, run_key=cfg.name, run_name=cfg.name,
                            params=flatten(cfg), parent_run_id=parent_run_id, resume=not fresh)
    stage1, stage2 = stage_configs(cfg)
    try:
        if fresh or completed_epochs(stage1) < stage1.optim.num_epochs:
            print(f"[{cfg.name}] stage 1: classifier only, {stage1.optim.num_epochs} epochs",
                  flush=True)
            fit(stage1, address=address, parent_run_id=parent, fresh=fresh)
        else:
            print(f"[{cfg.name}] stage 1 already trained; going on with stage 2", flush=True)
        print(f"[{cfg.name}] stage 2: {cfg.transfer.depth.value}, pre-trained layers at "
              f"{cfg.transfer.pretrained_lr_mult:g} x lr, {cfg.optim.num_epochs} epochs",
              flush=True)
        result = fit(stage2, address=address, parent_run_id=parent, callbacks=callbacks,
                     fresh=fresh)
    except BaseException:
        track.end_run(uri, parent, ok=False)
        raise
    # The parent row of the MLflow table shows where the experiment ended.
    track.RunLogger(uri, parent).metrics(result.metrics, step=int(result.metrics.get("epoch", 0)))
    track.end_run(uri, parent, ok=True)
    return dataclasses.replace(result, name=cfg.name, run_id=parent,
                               seconds=time.perf_counter() - start)
