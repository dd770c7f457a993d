"""Ray Train overhead: the same model, batches and steps in a plain PyTorch loop and in Ray Train.

Both sides run raylab's own `train_epoch` on the same in-memory uint8 clips (so the input
pipeline is not measured here, see bench/input_pipeline.py), with the same torch thread count.
Prints steps/s of each (median of --repeats runs) and the ratio; target: Ray >= 0.95x.

    python bench/train_overhead.py [--model slow_fusion] [--steps 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from raylab.config import (
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    ModelName,
    OptimConfig,
    Precision,
)
from raylab.data.shards import DatasetKind
from raylab.models.build import build_model, clip_shape
from raylab.train.inputs import input_modules
from raylab.train.loop import train_epoch
from raylab.train.optim import make_optimizer
from raylab.train.precision import compute_for


def _batches(model: ModelName, batch: int, count: int, resize: int) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    frames = clip_shape(model).num_frames
    return [{
        "video_id": [f"v{i}" for i in range(batch)],
        "label": torch.randint(0, 8, (batch,), generator=g),
        "frames": torch.randint(0, 256, (batch, frames, resize, resize, 3), generator=g,
                                dtype=torch.uint8),
        "decode_ok": torch.ones(batch, dtype=torch.bool),
    } for _ in range(count)]


def timed_steps(args: dict) -> float:
    """Steps/s of `steps` SGD steps after `warmup` untimed ones (runs anywhere)."""
    torch.set_num_threads(args["threads"])
    torch.manual_seed(0)
    name = ModelName(args["model"])
    model_cfg = ModelConfig(name=name, width_mult=args["width_mult"])
    model = build_model(model_cfg, num_classes=8, crop_px=args["crop"])
    opt = make_optimizer(model, OptimConfig(lr=0.01))
    data_cfg = DataConfig(resize_px=args["crop"] + 8, crop_px=args["crop"], pixel_scale=64)
    aug, _ = input_modules(DatasetKind.VIDEO, ExperimentConfig(model=model_cfg, data=data_cfg),
                           stats=None)
    data = _batches(name, args["batch"], args["steps"] + args["warmup"], args["crop"] + 8)
    cpu = torch.device("cpu")
    same = {"augment": aug, "optimizer": opt, "device": cpu, "lr_at_step": lambda _: 0.01,
            "first_step": 0, "compute": compute_for(cpu, Precision.FP32, channels_last=False)}
    train_epoch(model, data[: args["warmup"]], num_steps=args["warmup"], **same)
    start = time.perf_counter()
    train_epoch(model, data[args["warmup"]:], num_steps=args["steps"], **same)
    return args["steps"] / (time.perf_counter() - start)


def _ray_worker(args: dict) -> None:
    import tempfile

    import ray.train

    steps = timed_steps(args)
    # Train V2 keeps only metrics reported with a checkpoint (free-floating ones are dropped).
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report({"steps_per_s": steps}, checkpoint=checkpoint)


def ray_steps(args: dict) -> tuple[float, float]:
    """(steps/s inside the worker, wall seconds of the whole fit including startup)."""
    import ray.train
    from ray.train.torch import TorchTrainer

    start = time.perf_counter()
    trainer = TorchTrainer(
        _ray_worker, train_loop_config=args,
        scaling_config=ray.train.ScalingConfig(
            num_workers=1, resources_per_worker={"CPU": args["threads"]}),
        run_config=ray.train.RunConfig(name=f"bench-overhead-{time.time_ns()}",
                                       storage_path="/tmp/raylab-bench"),
    )
    result = trainer.fit()
    return result.metrics["steps_per_s"], time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="slow_fusion", choices=[m.value for m in ModelName])
    p.add_argument("--width-mult", type=float, default=0.125)
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    args = {"model": a.model, "width_mult": a.width_mult, "crop": a.crop, "batch": a.batch,
            "steps": a.steps, "warmup": a.warmup, "threads": a.threads}

    import ray

    ray.init(num_cpus=max(2, a.threads), dashboard_host="127.0.0.1", log_to_driver=False)
    plain, inside, wall = [], [], []
    for r in range(a.repeats):  # interleaved so drift on a shared machine hits both sides
        plain.append(timed_steps(args))
        steps, seconds = ray_steps(args)
        inside.append(steps)
        wall.append(seconds)
        print(f"repeat {r + 1}/{a.repeats}: plain {plain[-1]:.2f} steps/s, "
              f"Ray Train {inside[-1]:.2f} steps/s ({seconds:.1f} s with startup)", flush=True)
    ray.shutdown()
    p_med, r_med = statistics.median(plain), statistics.median(inside)
    print(f"\n{a.model} width {a.width_mult} crop {a.crop} batch {a.batch}, {a.steps} steps, "
          f"{a.threads} thread(s), median of {a.repeats}")
    print(f"{'':<28}{'steps/s':>10}{'ratio':>8}")
    print(f"{'plain PyTorch loop':<28}{p_med:>10.2f}{1.0:>8.3f}")
    print(f"{'Ray Train, 1 worker':<28}{r_med:>10.2f}{r_med / p_med:>8.3f}")
    print(f"Ray Train wall time incl. worker startup: median {statistics.median(wall):.1f} s "
          f"for {a.steps + a.warmup} steps")


if __name__ == "__main__":
    main()
