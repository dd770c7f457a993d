"""`raylab demo`: the whole system on this machine with embedded defaults, in a few minutes.

Synthetic UCF-101-layout videos -> Parquet shards -> Ray Data -> Ray Train (2 CPU workers, DDP
over gloo) for Karpathy's single-frame and slow-fusion nets, one after the other -> video-level
evaluation -> MLflow. Prints both side by side, where the runs are and how to open the UI.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from raylab import experiments
from raylab.config import ModelName
from raylab.data.shards import read_manifest
from raylab.train.trainer import fit

MODELS = (ModelName.SINGLE_FRAME, ModelName.SLOW_FUSION)


def run_demo(workdir: Path, *, smoke: bool = False) -> list:
    start = time.perf_counter()
    cfg = experiments.load("karpathy_fusion", smoke=smoke, overrides={"workdir": str(workdir)})
    cfg = experiments.ensure_data(cfg)
    classes = read_manifest(Path(cfg.data.shards_dir))["classes"]
    results = []
    for model in MODELS:
        run_cfg = dataclasses.replace(
            cfg, name=f"demo-{model.value}", model=dataclasses.replace(cfg.model, name=model))
        print(f"\n== training {model.value} ({run_cfg.optim.num_epochs} epochs, "
              f"{run_cfg.scale.num_workers} Ray Train workers) ==", flush=True)
        results.append(fit(run_cfg, fresh=True))
    chance = 1 / len(classes)
    print(f"\nKarpathy et al. 2014 on synthetic motion ({len(classes)} classes = shape x "
          f"direction; chance {chance:.3f}):")
    print(f"{'model':<14} {'clip hit@1':>10} {'video hit@1':>11} {'video hit@5':>11} {'time':>7}")
    for model, r in zip(MODELS, results):
        m = r.metrics
        print(f"{model.value:<14} {m['val/clip_hit1']:>10.3f} {m['val/video_hit1']:>11.3f} "
              f"{m['val/video_hit5']:>11.3f} {r.seconds:>6.0f}s")
    print(f"\nMLflow: experiment '{cfg.track.experiment}' in {results[0].tracking_uri}")
    print(f"  runs: {', '.join(r.run_id for r in results)}")
    print(f"  open the UI: raylab ui --workdir {workdir}   (http://127.0.0.1:5000)")
    print(f"demo finished in {time.perf_counter() - start:.0f} s")
    return results
