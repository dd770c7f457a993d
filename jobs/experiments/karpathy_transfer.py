"""Karpathy et al. 2014, sec. 4.2 (UCF-101 transfer) in miniature: how many layers to fine-tune.

Pre-train slow fusion on one synthetic motion set (Triangle/Cross/Ring x Left/Right/Up/Down,
12 classes), then fine-tune on a few-shot cut of the UCF-101-layout demo set (Disc/Box x the
same 4 directions, 8 new classes, 3 training videos per class via `raylab subset`), four ways:
from scratch, top layer only, top 3 layers (fc6, fc7, classifier), all layers. The paper
(PAPERS.md 3.8, 3-fold UCF-101): scratch 41.3, top layer 64.1, top 3 65.4, all 62.2.

Run:      python jobs/experiments/karpathy_transfer.py [--workdir work] [--smoke]
          (writes both datasets, the few-shot subset, pre-trains, then sweeps the four depths
          as nested MLflow runs and prints the table; afterwards `raylab sweep
          karpathy_transfer` reruns just the fine-tuning)
Expected: every pre-trained variant far above scratch on video hit@1: the motion features
          learnt on other shapes carry over to new shapes with only 24 training videos.
Measured: one full run, 2 CPU cores shared with other jobs (load average 40-80), 38 min 36 s
          wall ("finished in 2316 s"); pre-training 5 epochs, 1072 s, video hit@1 0.738 on its
          12 classes; then 8 epochs per depth (56 test videos, chance 0.125):

              depth        clip hit@1  video hit@1  video hit@5
              scratch           0.487        0.571        0.929
              last_layer        0.946        0.982        1.000
              top_k (3)         0.987        0.982        1.000
              all               0.996        1.000        1.000

          As in the paper, transfer beats scratch by a wide margin; unlike it, fine-tuning all
          layers does not lose here (a 12-class synthetic source, not Sports-1M, and a target
          whose directions are the source's).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from raylab.config import (
    DataConfig,
    ExperimentConfig,
    FinetuneDepth,
    LrSchedule,
    ModelConfig,
    ModelName,
    OptimConfig,
    ScaleConfig,
    SweepConfig,
    TrackConfig,
    TransferConfig,
)
from raylab.data import columns as C
from raylab.data.ingest import ingest_ucf101
from raylab.data.sources.synthetic import SyntheticSpec, write_ucf101
from raylab.data.subset import write_subset

NAME = "karpathy_transfer"
DEPTHS = tuple(d.value for d in (FinetuneDepth.SCRATCH, FinetuneDepth.LAST_LAYER,
                                 FinetuneDepth.TOP_K, FinetuneDepth.ALL))
# Same video length and speed as the demo set (raylab.experiments.DEMO_SPEC), other shapes.
PRETRAIN_SPEC = SyntheticSpec(shapes=("Triangle", "Cross", "Ring"), num_frames=24,
                              speed_px_per_frame=7.0, seed=11)
TARGET_SPEC = SyntheticSpec(num_frames=24, speed_px_per_frame=7.0, seed=0)
PER_CLASS = 3
# Smoke: 2 x 2 classes each, 9 groups (split 1 trains on g08-g09: 2 videos per class).
SMOKE_PRETRAIN_SPEC = SyntheticSpec(shapes=("Triangle", "Ring"), directions=("Left", "Right"),
                                    num_groups=9, num_frames=20, seed=11)
SMOKE_TARGET_SPEC = SyntheticSpec(directions=("Left", "Right"), num_groups=9, num_frames=20,
                                  seed=0)
SMOKE_PER_CLASS = 1


def _root(workdir: str) -> Path:
    return Path(workdir) / NAME


def pretrain_config(workdir: str = "work", *, smoke: bool = False) -> ExperimentConfig:
    """Slow fusion on the pre-training set: the karpathy_fusion recipe (narrow net, 64 px)."""
    name = f"{NAME}_pretrain" + ("_smoke" if smoke else "")
    return ExperimentConfig(
        name=name, workdir=workdir,
        # flip_p=0: a mirrored "moves left" clip moves right (label noise on this data).
        data=DataConfig(shards_dir=str(_root(workdir) / f"{name}_shards"), resize_px=72,
                        crop_px=64, flip_p=0.0, train_clips_per_video=2 if smoke else 8,
                        eval_clips_per_video=2 if smoke else 4, batch_size=8 if smoke else 16,
                        pixel_scale=64.0),
        model=ModelConfig(name=ModelName.SLOW_FUSION, width_mult=0.125, dropout=0.5),
        optim=OptimConfig(lr=0.01, num_epochs=1 if smoke else 5,
                          lr_decay_epochs=() if smoke else (4,)),
        scale=ScaleConfig(num_workers=2, decode_cpus=1),
        track=TrackConfig(experiment=name),
    )


def _finetune(workdir: str, *, smoke: bool) -> ExperimentConfig:
    pre = pretrain_config(workdir, smoke=smoke)
    name = NAME + ("_smoke" if smoke else "")
    per_class = SMOKE_PER_CLASS if smoke else PER_CLASS
    return dataclasses.replace(
        pre, name=name,
        data=dataclasses.replace(
            pre.data, shards_dir=str(_root(workdir) / f"{name}_target_{per_class}shot"),
            train_clips_per_video=4 if smoke else 16),
        # Two-stream's fine-tuning schedule (PAPERS.md 4.4): /10 at 70% of the run.
        optim=OptimConfig(lr=0.01, num_epochs=1 if smoke else 8,
                          schedule=LrSchedule.TWO_STREAM_FINETUNE),
        track=TrackConfig(experiment=name),
        transfer=TransferConfig(init_from=str(Path(workdir) / "ray_results" / pre.name),
                                depth=FinetuneDepth.TOP_K, top_k=3),
        # grace = all epochs: no early stopping, every depth gets its full table row
        sweep=SweepConfig(grid=(("transfer.depth", DEPTHS),),
                          grace_period_epochs=1 if smoke else 8),
    )


def config() -> ExperimentConfig:
    return _finetune("work", smoke=False)


def smoke() -> ExperimentConfig:
    return _finetune("work", smoke=True)


def prepare_data(pre: ExperimentConfig, tune: ExperimentConfig, *, smoke: bool) -> None:
    """Both synthetic sets in UCF-101 layout, their shards, and the few-shot target subset."""
    pre_spec, target_spec = ((SMOKE_PRETRAIN_SPEC, SMOKE_TARGET_SPEC) if smoke
                             else (PRETRAIN_SPEC, TARGET_SPEC))
    target_shards = Path(tune.data.shards_dir).with_name(f"{tune.name}_target_shards")
    for spec, shards in ((pre_spec, Path(pre.data.shards_dir)), (target_spec, target_shards)):
        if not (shards / C.MANIFEST).is_file():
            raw = shards.with_name(shards.name.replace("_shards", "_raw"))
            print(f"{NAME}: writing {len(spec.shapes) * len(spec.directions)} classes to {raw}")
            write_ucf101(raw, spec)
            ingest_ucf101(raw, 1, shards)
    write_subset(target_shards, Path(tune.data.shards_dir),
                 per_class=SMOKE_PER_CLASS if smoke else PER_CLASS, seed=tune.seed)


def run(workdir: str = "work", *, smoke: bool = False) -> str:
    """Data, pre-training, the four fine-tuning depths; returns the printed table."""
    from raylab.train.trainer import connect, cpus_needed, fit
    from raylab.tune.run import DRIVER_CPUS, run_sweep

    start = time.perf_counter()
    workdir = str(Path(workdir).resolve())  # Tune trials do not run in this directory
    pre, tune = pretrain_config(workdir, smoke=smoke), _finetune(workdir, smoke=smoke)
    prepare_data(pre, tune, smoke=smoke)
    # One local Ray big enough for the sweep's trial driver too (the pre-training needs less).
    connect(None, cpus_needed(tune) + DRIVER_CPUS)
    result = fit(pre, fresh=True)
    print(f"{NAME}: pre-trained {pre.name}: video hit@1 "
          f"{result.metrics.get('val/video_hit1', 0):.3f} ({result.seconds:.0f} s)")
    table = run_sweep(tune).table()
    print(table)
    print(f"{NAME}: finished in {time.perf_counter() - start:.0f} s")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="work")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    run(args.workdir, smoke=args.smoke)
    return 0


if __name__ == "__main__":
    sys.exit(main())
