"""`raylab ingest imagenet`: an ILSVRC-2012-layout folder -> image Parquet shards + manifest.

List the layout (sources/imagenet.py), decode every listed JPEG in full (a truncated, empty or
non-JPEG file is rejected with its reason, never fatal), accumulate the training split's pixel
statistics at the training resize, shuffle each split's rows with a seed, write the shards, the
mean image, then the manifest (last: its presence means the shards are complete).
Decoding runs in this process with progress lines; it does not parallelise (a Ray Data job would
for the full 1.28 M-image set).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from raylab.config import ConfigError
from raylab.data import columns as C
from raylab.data.decode import DecodeError
from raylab.data.image_decode import BadImage, ImageProbe, decode_image, probe_jpeg
from raylab.data.image_shards import stats_to_manifest, write_image_shards
from raylab.data.image_stats import PixelSums, finish
from raylab.data.shards import SCHEMA_VERSION, DatasetKind, write_manifest
from raylab.data.sources.imagenet import IMAGE_SUFFIX, ImageItem, read_imagenet

# Krizhevsky et al. 2012 sec. 2: shorter side 256, central 256x256 crop.
DEFAULT_RESIZE_PX = 256


def ingest_imagenet(
    root: Path, out: Path, *, resize_px: int = DEFAULT_RESIZE_PX, seed: int = 0,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Shards of every usable train/ and val/ image under `root`; returns the manifest."""
    if resize_px < 1:
        raise ConfigError(f"--resize-px: expected a positive pixel count, got {resize_px}")
    listing = read_imagenet(Path(root))
    out = Path(out)
    rejected = [{"path": p, "reason": r} for p, r in listing.rejected]
    progress(f"ingest: {len(listing.items)} images listed ({listing.val_layout} val/), "
             f"{len(rejected)} entries rejected by the listing")
    # ILSVRC's val set is the test split (its test labels are not public): no val split here.
    rows: dict[str, list[dict[str, Any]]] = {"train": [], "test": []}
    sums = PixelSums(resize_px)
    step = max(1, len(listing.items) // 10)
    for n, item in enumerate(listing.items, 1):
        outcome = _check(listing.image_dir / item.rel_path, item, sums, resize_px)
        if isinstance(outcome, str):
            rejected.append({"path": item.rel_path, "reason": outcome})
        else:
            rows[item.split].append(_row(item, outcome, listing.classes))
        if n % step == 0 or n == len(listing.items):
            progress(f"ingest: {n}/{len(listing.items)} images decoded")
    rejected.sort(key=lambda r: r["path"])
    if not rows["train"]:
        why = (f"every one was rejected, e.g. {rejected[0]['path']}: {rejected[0]['reason']}"
               if rejected else "train/ holds none")
        raise ConfigError(f"{root}: expected usable training images, but {why}")
    rng = np.random.default_rng(seed)  # seeded: the same inputs give byte-identical shards
    shuffled = {s: [r[i] for i in rng.permutation(len(r))] for s, r in rows.items()}
    files = write_image_shards(
        {s: _with_bytes(r, listing.image_dir) for s, r in shuffled.items()}, out)
    manifest = {
        "dataset": "imagenet",
        "kind": DatasetKind.IMAGE.value,
        "test_split": "ILSVRC val/ (" + listing.val_layout + ")",
        "classes": listing.classes,
        "class_names": listing.class_names,
        "counts": {s: len(r) for s, r in rows.items()},
        "pixel_stats": stats_to_manifest(finish(sums), out),
        "rejected": rejected,
        "files": files,
        "schema_version": SCHEMA_VERSION,
    }
    write_manifest(out, manifest)
    progress(f"ingest: wrote {len(rows['train'])} train and {len(rows['test'])} test images "
             f"to {out} ({len(rejected)} rejected)")
    return manifest


def _check(path: Path, item: ImageItem, sums: PixelSums, resize_px: int) -> ImageProbe | str:
    """The image's probe (adding a training image to the sums), or the reason to reject it."""
    try:
        data = path.read_bytes()
        probe = probe_jpeg(data)
        if item.split == "train":
            sums.add(decode_image(data, resize_px))
        return probe
    except BadImage as err:
        return err.reason
    except DecodeError as err:
        return f"cannot decode: {err}"
    except OSError as err:
        return f"unreadable: {err.strerror or err}"


def _row(item: ImageItem, probe: ImageProbe, classes: list[str]) -> dict[str, Any]:
    """A shard row without its bytes (read only when written, so memory stays flat)."""
    return {
        C.IMAGE_ID: item.rel_path.removesuffix(IMAGE_SUFFIX),
        C.LABEL: item.label,
        C.CLASS_NAME: classes[item.label],
        C.SPLIT: item.split,
        C.WIDTH: probe.width,
        C.HEIGHT: probe.height,
        C.SOURCE_PATH: item.rel_path,
    }


def _with_bytes(rows: list[dict[str, Any]], image_dir: Path) -> Iterator[dict[str, Any]]:
    for row in rows:
        yield {**row, C.IMAGE_BYTES: (image_dir / row[C.SOURCE_PATH]).read_bytes()}
