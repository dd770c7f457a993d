"""Image input pipeline: images/s of raylab's Ray Data image pipeline against bare PIL loops.

The data: ImageNet-layout JPEGs of ILSVRC-2012's typical size (500x375, quality 90) with
photo-like content (smooth colour fields plus fine texture, so the entropy decode costs about
what a photo's does; an upscaled digit compresses to almost nothing and decodes too fast),
ingested into image shards by `ingest_imagenet`. Every method turns each JPEG into the same
uint8 RGB square of --size px (shorter side resized, centre kept):
(a) bare PIL, full decode: open, decode every pixel, convert, resize (the naive loop);
(b) bare PIL, draft decode: the same with JPEG draft mode (decode at 1/2..1/8 scale first while
    both sides stay >= --size), the decode limit of one core for what raylab's decode does (at
    --size 256 a 375 px side allows no reduction: (b) then does (a)'s work);
(c) raylab: shards -> `image_train_dataset` (Ray Data, --decode-cpus decode tasks), read by a
    consumer (no training), after one untimed pass that starts Ray's worker processes.
Prints images/s, images/s per decode core (median of --repeats, all in one run) and the ratios
c/b and c/a per core, and the load average (the machine may be shared: a busy machine slows
every row, and the per-core ratio is what compares).

    python bench/image_pipeline.py [--images 1000] [--size 256] [--decode-cpus 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from raylab.data import columns as C
from raylab.data.image_ingest import ingest_imagenet
from raylab.data.shards import read_manifest
from raylab.data.sources.imagenet import IMAGE_SUFFIX, MAPPING_FILE

WIDTH, HEIGHT = 500, 375
CLASSES = 4


def _photo_like(rng: np.random.Generator) -> Image.Image:
    """Smooth colour regions (a bilinearly upscaled 6x8 grid) plus per-pixel texture."""
    coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((WIDTH, HEIGHT),
                                                     Image.Resampling.BILINEAR), np.int16)
    texture = rng.normal(0, 18, size=(HEIGHT, WIDTH, 1)).astype(np.int16)
    return Image.fromarray(np.clip(base + texture, 0, 255).astype(np.uint8))


def write_images(root: Path, count: int, seed: int = 0) -> None:
    """`count` JPEGs in ILSVRC-2012's layout: train/<wnid>/ and val/<wnid>/ (a fifth in val)."""
    rng = np.random.default_rng(seed)
    wnids = [f"n{c:08d}" for c in range(CLASSES)]
    root.mkdir(parents=True, exist_ok=True)
    (root / MAPPING_FILE).write_text("".join(f"{w} class {c}\n" for c, w in enumerate(wnids)))
    for n in range(count):
        wnid = wnids[n % CLASSES]
        split = "val" if n % 5 == 4 else "train"
        folder = root / split / wnid
        folder.mkdir(parents=True, exist_ok=True)
        _photo_like(rng).save(folder / f"{wnid}_{n}{IMAGE_SUFFIX}", format="JPEG", quality=90)


def _jpegs(shards: Path) -> list[bytes]:
    import pyarrow.parquet as pq

    manifest = read_manifest(shards)
    files = manifest["files"]["train"] + manifest["files"]["test"]
    return [b for f in files
            for b in pq.read_table(shards / f, columns=[C.IMAGE_BYTES])[C.IMAGE_BYTES].to_pylist()]


def _square(image: Image.Image, size: int) -> np.ndarray:
    w, h = image.size
    side = min(w, h)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, box=box))


def bare_pil(jpegs: list[bytes], size: int, *, draft: bool) -> float:
    start = time.perf_counter()
    for data in jpegs:
        with Image.open(io.BytesIO(data)) as image:
            if draft:
                image.draft(None, (size, size))
            _square(image.convert("RGB"), size)
    return len(jpegs) / (time.perf_counter() - start)


def raylab_pipeline(shards: Path, size: int) -> float:
    from raylab.data.pipeline import image_train_dataset

    manifest = read_manifest(shards)
    files = [str(shards / f) for f in manifest["files"]["train"] + manifest["files"]["test"]]
    ds = image_train_dataset(files, size_px=size, copies_per_image=1, seed=0, epochs=range(1))
    start = time.perf_counter()
    n = sum(len(b[C.FRAMES]) for b in ds.iter_batches(batch_size=64, batch_format="numpy"))
    return n / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--decode-cpus", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()

    import ray

    # Ray Data gets exactly --decode-cpus CPUs: the per-core comparison is then fair.
    ray.init(num_cpus=a.decode_cpus, dashboard_host="127.0.0.1", include_dashboard=False,
             log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    with tempfile.TemporaryDirectory() as tmp:
        print(f"writing and ingesting {a.images} {WIDTH}x{HEIGHT} JPEGs ...", flush=True)
        write_images(Path(tmp) / "raw", a.images)
        shards = Path(tmp) / "shards"
        ingest_imagenet(Path(tmp) / "raw", shards, resize_px=a.size, progress=lambda _: None)
        jpegs = _jpegs(shards)
        load_before = os.getloadavg()
        raylab_pipeline(shards, a.size)  # warm-up: worker processes, imports
        methods = {"a": lambda: bare_pil(jpegs, a.size, draft=False),
                   "b": lambda: bare_pil(jpegs, a.size, draft=True),
                   "c": lambda: raylab_pipeline(shards, a.size)}
        res: dict[str, list[float]] = {k: [] for k in methods}
        for r in range(a.repeats):
            # Each repeat starts with the next method: none always runs first or last, when
            # the other load on a shared machine may differ.
            for k in list(methods)[r % 3:] + list(methods)[:r % 3]:
                res[k].append(methods[k]())
            print(f"repeat {r + 1}/{a.repeats}: " + "  ".join(
                f"{k} {v[-1]:.0f}/s" for k, v in res.items()), flush=True)
        load_after = os.getloadavg()
    ray.shutdown()
    med = {k: statistics.median(v) for k, v in res.items()}
    cores = {"a": 1, "b": 1, "c": a.decode_cpus}
    names = {"a": "bare PIL, full decode", "b": "bare PIL, draft decode",
             "c": "raylab Ray Data pipeline"}
    kib = statistics.mean(len(j) for j in jpegs) / 1024
    print(f"\n{len(jpegs)} JPEGs ({WIDTH}x{HEIGHT}, mean {kib:.0f} KiB) -> {a.size}x{a.size} RGB, "
          f"median of {a.repeats}, {a.decode_cpus} decode CPU(s) for (c)")
    print(f"{'':<28}{'images/s':>10}{'per core':>10}")
    for k in "abc":
        print(f"{names[k]:<28}{med[k]:>10.1f}{med[k] / cores[k]:>10.1f}")
    per_core = {k: med[k] / cores[k] for k in med}
    print(f"c/b per decode core: {per_core['c'] / per_core['b']:.2f} (pipeline overhead; "
          f"target >= 0.8)   c/a per core: {per_core['c'] / per_core['a']:.2f}")
    print(f"load average (1/5/15 min) before {', '.join(f'{x:.1f}' for x in load_before)}; "
          f"after {', '.join(f'{x:.1f}' for x in load_after)}; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
