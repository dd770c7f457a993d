"""Zeiler & Fergus 2014, sec. 5.2 (Caltech-101/256 few-shot transfer) in miniature.

Pre-train ZF-Net on scikit-learn's digits 0-4 (ILSVRC layout, `DigitsSpec.digits`), then train
on digits 5-9 with N = 1, 3, 5 images per class (seeded `raylab subset` cuts of one training
set; every run is scored on the same 5-9 val images, 10 views each) three ways: from scratch,
the classifier only on the frozen pre-trained net ("last layer", the paper's softmax on fixed
features), and every layer fine-tuned. The paper (PAPERS.md 2.8): pre-trained features beat
training from scratch by a wide margin at every N on Caltech-101 and -256.

ZF handles the digits' size: images are written 64 px tall, resized to 72 px, cropped to 64 px
(ZF's smallest crop with a non-empty pool5 is 47 px), width 0.25 as in alexnet_digits; its
filter RMS renormalisation runs after every step (PAPERS.md 2.2).

Run:      python jobs/experiments/zf_fewshot.py [--workdir work] [--smoke]
          (writes both digit sets, the three subsets, pre-trains, runs the 9 fine-tunings one
          after another with Ray Train and prints the top-1 error table)
Expected: last-layer and all-layer transfer well below scratch at every N (chance: 0.8).
Measured: one full run, 2 CPU cores shared with other jobs, 576 s wall ("finished in 576 s"):
          pre-training 12 epochs, 117 s, 10-view top-1 err 0.067 on digits 0-4; then per
          fine-tuning 8 epochs of 20 steps (batch 5; 100 val images of digits 5-9, chance 0.8):

              N per class      scratch  last_layer         all
              1                  0.790       0.670       0.800
              3                  0.770       0.590       0.680
              5                  0.770       0.630       0.800

          Last layer on the frozen pre-trained net beats scratch at every N (by 0.12-0.18), as
          in the paper, but every method is still far from fitting the new digits: 160 steps at
          lr 0.01 are few (pre-training itself needed ~300 steps to leave chance), and fine-tuning
          all layers at full rate from 5-25 images is no better than scratch here.
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
    MeanRemoval,
    ModelConfig,
    ModelName,
    OptimConfig,
    ScaleConfig,
    TrackConfig,
    TransferConfig,
)
from raylab.data import columns as C
from raylab.data.image_ingest import ingest_imagenet
from raylab.data.sources.synthetic_images import DigitsSpec, write_digits_imagenet
from raylab.data.subset import write_subset

NAME = "zf_fewshot"
SOURCE_DIGITS = (0, 1, 2, 3, 4)
TARGET_DIGITS = (5, 6, 7, 8, 9)
SHOTS = (1, 3, 5)
SMOKE_SHOTS = (1,)
METHODS = (FinetuneDepth.SCRATCH, FinetuneDepth.LAST_LAYER, FinetuneDepth.ALL)
# Clips per training epoch, whatever N: each image is repeated (fresh random crop, mirror and
# lighting each time) so every fine-tuning takes about the same number of steps.
CLIPS_PER_EPOCH = 100
# Digits written per class: the source set uses all (~180), the target 100 (80 train, 20 val:
# 100 val images x 10 views scored after every epoch of each of the 9 runs); smoke: 12 and 12.
TARGET_PER_CLASS = 100
SMOKE_PER_CLASS = 12


def _root(workdir: str) -> Path:
    return Path(workdir) / NAME


def _shards(workdir: str, part: str, *, smoke: bool) -> Path:
    return _root(workdir) / (f"{part}_smoke" if smoke else part) / "shards"


def pretrain_config(workdir: str = "work", *, smoke: bool = False) -> ExperimentConfig:
    """ZF on digits 0-4: the alexnet_digits recipe (mean image, PCA lighting, 10 views)."""
    name = f"{NAME}_pretrain" + ("_smoke" if smoke else "")
    return ExperimentConfig(
        name=name, workdir=workdir,
        data=DataConfig(shards_dir=str(_shards(workdir, "source", smoke=smoke)), resize_px=72,
                        crop_px=64, flip_p=0.5, batch_size=8,
                        pixel_scale=64.0, mean_removal=MeanRemoval.PER_PIXEL,
                        pca_lighting_std=0.1),
        model=ModelConfig(name=ModelName.ZF, width_mult=0.125 if smoke else 0.25, dropout=0.5),
        optim=OptimConfig(lr=0.01, num_epochs=1 if smoke else 12,
                          lr_decay_epochs=() if smoke else (9,)),
        scale=ScaleConfig(num_workers=2, decode_cpus=1),
        track=TrackConfig(experiment=name),
    )


def finetune_config(workdir: str = "work", *, per_class: int, method: FinetuneDepth,
                    smoke: bool = False) -> ExperimentConfig:
    """Digits 5-9 with `per_class` training images each, trained by `method`."""
    pre = pretrain_config(workdir, smoke=smoke)
    name = f"{NAME}_{per_class}shot_{method.value}" + ("_smoke" if smoke else "")
    shots = _shards(workdir, f"target_{per_class}shot", smoke=smoke)
    batch = 5  # one image per class per batch at N = 1
    return dataclasses.replace(
        pre, name=name,
        data=dataclasses.replace(pre.data, shards_dir=str(shots), batch_size=batch,
                                 train_clips_per_video=CLIPS_PER_EPOCH // (5 * per_class)),
        # Two-stream's fine-tuning schedule (PAPERS.md 4.4): /10 at 70% of the run.
        optim=OptimConfig(lr=0.01, num_epochs=1 if smoke else 8,
                          schedule=LrSchedule.TWO_STREAM_FINETUNE),
        scale=ScaleConfig(num_workers=1, decode_cpus=1),
        track=TrackConfig(experiment=NAME + ("_smoke" if smoke else "")),
        transfer=TransferConfig(
            init_from="" if method == FinetuneDepth.SCRATCH
            else str(Path(workdir) / "ray_results" / pre.name), depth=method),
    )


def config() -> ExperimentConfig:
    return finetune_config("work", per_class=SHOTS[0], method=FinetuneDepth.LAST_LAYER)


def smoke() -> ExperimentConfig:
    return finetune_config("work", per_class=SMOKE_SHOTS[0], method=FinetuneDepth.LAST_LAYER,
                           smoke=True)


def prepare_data(workdir: str, *, smoke: bool) -> None:
    """Digits 0-4 and 5-9 as two ILSVRC-layout sets, their shards, and the N-shot subsets."""
    pre = pretrain_config(workdir, smoke=smoke)
    target = _shards(workdir, "target", smoke=smoke)
    for digits, shards, per_class in (
            (SOURCE_DIGITS, _shards(workdir, "source", smoke=smoke), SMOKE_PER_CLASS * smoke),
            (TARGET_DIGITS, target, SMOKE_PER_CLASS if smoke else TARGET_PER_CLASS)):
        if not (shards / C.MANIFEST).is_file():
            raw = shards.with_name("raw")
            print(f"{NAME}: writing digits {digits} to {raw}", flush=True)
            write_digits_imagenet(raw, DigitsSpec(digits=digits, per_class=per_class))
            ingest_imagenet(raw, shards, resize_px=pre.data.resize_px)
    for n in SMOKE_SHOTS if smoke else SHOTS:
        write_subset(target, _shards(workdir, f"target_{n}shot", smoke=smoke), per_class=n,
                     seed=pre.seed)


def table(errors: dict[tuple[int, FinetuneDepth], float]) -> str:
    """Top-1 error (10 views) with N training images per class as rows, methods as columns."""
    shots = sorted({n for n, _ in errors})
    lines = [f"{'N per class':<12}" + "".join(f"{m.value:>12}" for m in METHODS)]
    for n in shots:
        lines.append(f"{n:<12}" + "".join(
            f"{errors[n, m]:>12.3f}" if (n, m) in errors else f"{'-':>12}" for m in METHODS))
    return "\n".join(lines)


def run(workdir: str = "work", *, smoke: bool = False) -> str:
    """Data, pre-training, the 3 x 3 fine-tunings; returns the printed table."""
    from raylab.train.stages import fit_experiment
    from raylab.train.trainer import connect, cpus_needed

    start = time.perf_counter()
    workdir = str(Path(workdir).resolve())
    prepare_data(workdir, smoke=smoke)
    pre = pretrain_config(workdir, smoke=smoke)
    connect(None, cpus_needed(pre))
    result = fit_experiment(pre, fresh=True)
    print(f"{NAME}: pre-trained on digits 0-4: top-1 err "
          f"{result.metrics.get('val/top1_err', float('nan')):.3f} ({result.seconds:.0f} s)",
          flush=True)
    errors: dict[tuple[int, FinetuneDepth], float] = {}
    for n in SMOKE_SHOTS if smoke else SHOTS:
        for method in METHODS:
            cfg = finetune_config(workdir, per_class=n, method=method, smoke=smoke)
            result = fit_experiment(cfg, fresh=True)
            errors[n, method] = result.metrics["val/top1_err"]
            print(f"{NAME}: {n}-shot {method.value}: top-1 err {errors[n, method]:.3f} "
                  f"({result.seconds:.0f} s)", flush=True)
    text = table(errors)
    print(text)
    print(f"{NAME}: finished in {time.perf_counter() - start:.0f} s")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="work")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    run(args.workdir, smoke=args.smoke)
    return 0


if __name__ == "__main__":
    sys.exit(main())
