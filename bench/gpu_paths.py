"""What a GPU train worker gains: decode, augmentation and training steps on the GPU against the
CPU (or fp32) way of doing the same work, measured in one run on one machine.

Rows (median of --repeats; each GPU timing synchronises before the clock stops):
  JPEG decode     PIL with draft mode on one core (what a pipeline decode task does per image)
                  vs decode_jpegs on the GPU (nvJPEG batch + resize, data.decode_on=worker);
                  500x375 photo-like JPEGs (smooth colour fields + texture), quality 90.
  clip augment    TrainClipAugment (kornia crop + flip per clip) on the CPU vs on the GPU,
                  32 clips of 10 frames 200x200 -> 170.
  train step      forward + backward + SGD step of CNN-M-2048 (224 crops, batch 128) and slow
                  fusion (170 crops, 10 frames, batch 32): fp32 vs bf16 autocast vs bf16 with
                  channels_last (scale.precision, scale.channels_last).
Needs a CUDA GPU; torch, torchvision, kornia and PyAV only (no Ray).

    python bench/gpu_paths.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from raylab.config import ModelConfig, ModelName, OptimConfig, Precision
from raylab.data.augment import TrainClipAugment
from raylab.data.image_decode import decode_image
from raylab.data.worker_decode import decode_jpegs
from raylab.models.build import build_model
from raylab.train.optim import make_optimizer
from raylab.train.precision import compute_for

GPU = torch.device("cuda")
CPU = torch.device("cpu")


def _photo_jpeg(rng: np.random.Generator) -> bytes:
    coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((500, 375), Image.Resampling.BILINEAR),
                      np.int16)
    texture = rng.normal(0, 18, size=(375, 500, 1)).astype(np.int16)
    out = io.BytesIO()
    Image.fromarray(np.clip(base + texture, 0, 255).astype(np.uint8)).save(out, "JPEG",
                                                                          quality=90)
    return out.getvalue()


def _median_s(fn: Callable[[], object], repeats: int, *, sync: bool) -> float:
    fn()  # warm-up: cuDNN autotuning, nvJPEG handles, allocator
    times = []
    for _ in range(repeats):
        if sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def jpeg_rows(repeats: int) -> list[tuple[str, str, float]]:
    rng = np.random.default_rng(0)
    jpegs = [_photo_jpeg(rng) for _ in range(256)]
    cpu = _median_s(lambda: [decode_image(j, 256) for j in jpegs], repeats, sync=False)
    gpu = _median_s(lambda: decode_jpegs(jpegs, 256, GPU), repeats, sync=True)
    n = len(jpegs)
    return [("JPEG decode", "PIL draft, 1 core", n / cpu),
            ("JPEG decode", "nvJPEG batch + resize", n / gpu)]


def augment_rows(repeats: int) -> list[tuple[str, str, float]]:
    clips = torch.randint(0, 256, (32, 10, 200, 200, 3), dtype=torch.uint8)
    aug = TrainClipAugment(crop_px=170, flip_p=0.5, pixel_mean=117.0, pixel_scale=1.0)
    cpu = _median_s(lambda: aug(clips), repeats, sync=False)
    on_gpu, clips_gpu = aug.to(GPU), clips.to(GPU)
    gpu = _median_s(lambda: on_gpu(clips_gpu), repeats, sync=True)
    return [("clip augment", "kornia on CPU", 32 / cpu), ("clip augment", "kornia on GPU",
                                                          32 / gpu)]


def step_rows(name: ModelName, crop: int, frames: int, batch: int,
              repeats: int) -> list[tuple[str, str, float]]:
    rows = []
    x = torch.randn(batch, 3, frames, crop, crop, device=GPU)
    y = torch.randint(0, 100, (batch,), device=GPU)
    for label, precision, channels_last in (("fp32", Precision.FP32, False),
                                            ("bf16", Precision.BF16, False),
                                            ("bf16 + channels_last", Precision.BF16, True)):
        torch.manual_seed(0)
        model = build_model(ModelConfig(name=name), num_classes=100, crop_px=crop).to(GPU)
        compute = compute_for(GPU, precision, channels_last)
        compute.apply_layout_(model)
        opt = make_optimizer(model, OptimConfig(lr=0.01))

        def step(model=model, compute=compute, opt=opt):
            with compute.autocast():
                loss = torch.nn.functional.cross_entropy(model(compute.layout(x)).float(), y)
            opt.zero_grad(set_to_none=True)
            compute.backward_step(loss, opt)

        rows.append((f"train step {name.value}", label, batch / _median_s(step, repeats,
                                                                         sync=True)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench/gpu_paths.py: needs a CUDA GPU (torch.cuda.is_available() is False)")
    torch.backends.cudnn.benchmark = True
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"median of {args.repeats}")
    rows = (jpeg_rows(args.repeats) + augment_rows(args.repeats)
            + step_rows(ModelName.CNN_M_2048, 224, 1, 128, args.repeats)
            + step_rows(ModelName.SLOW_FUSION, 170, 10, 32, args.repeats))
    print(f"{'what':<28} {'how':<24} {'items/s':>10} {'x first row':>12}")
    baseline: dict[str, float] = {}
    for what, how, rate in rows:
        base = baseline.setdefault(what, rate)
        print(f"{what:<28} {how:<24} {rate:>10.1f} {rate / base:>12.2f}")


if __name__ == "__main__":
    main()
