"""`raylab ingest imagenet`: an ILSVRC-2012-layout folder -> image Parquet shards + manifest.

List the layout (driver: sources/imagenet.py, stat sizes) -> the resumable Ray Data job of
part_job.py, whose tasks read every listed JPEG and decode it in full in a child process
(image_probe.py: a truncated, empty or non-JPEG file is rejected with its reason, never fatal; a
decoder that kills its process costs that one file), write its row, and sum a training part's
pixels at the training resize (image_stats.PixelSums, saved beside the part's done record) ->
the driver adds the training parts' sums into the pixel statistics -> the mean image, then the
manifest (last: its presence means the shards are complete). The ImageNet root and the output
are each a local path or an s3:// / gs:// / file:// URI; a task opens each image by its URI under
the root's (query included), so it reads on any node what the driver listed.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.fs as pafs

from raylab.config import ConfigError, IngestConfig, to_dict
from raylab.data import columns as C
from raylab.data.image_decode import ImageProbe
from raylab.data.image_probe import ImageSource, PrepareFn, prepare_image
from raylab.data.image_shards import IMAGE_SCHEMA, ROW_GROUP_IMAGES, stats_to_manifest
from raylab.data.image_stats import PixelSums, finish
from raylab.data.isolate import IsolatedPool
from raylab.data.part_job import (
    Plan,
    check_rejects,
    done_name,
    plan_parts,
    run_parts,
    start_output,
)
from raylab.data.shards import (
    SCHEMA_VERSION,
    DatasetKind,
    ShardWriter,
    as_uri,
    filesystem,
    join,
    join_uri,
    write_manifest,
)
from raylab.data.sources.imagenet import IMAGE_SUFFIX, ImageListing, read_imagenet

# Krizhevsky et al. 2012 sec. 2: shorter side 256, central 256x256 crop.
DEFAULT_RESIZE_PX = 256
# Images handed to the child process at once: enough to amortise the round trip, few enough
# that the bytes in flight (~110 kB JPEG + ~200 kB decoded at 256 px each) stay near 10 MB.
_WINDOW = 32
# ILSVRC's val set is the test split (its test labels are not public): no val split here.
_SPLITS = ("train", "test")


def ingest_imagenet(
    root: str | Path, out: str | Path, *, cfg: IngestConfig = IngestConfig(),
    resize_px: int = DEFAULT_RESIZE_PX, progress: Callable[[str], None] = print,
    prepare: PrepareFn = prepare_image, address: str | None = None,
) -> dict[str, Any]:
    """Shards of every usable train/ and val/ image under `root`; returns the manifest it wrote.

    Raises part_job.TooManyRejects after writing everything when too many listed images were
    rejected."""
    if resize_px < 1:
        raise ConfigError(f"--resize-px: expected a positive pixel count, got {resize_px}")
    listing = read_imagenet(root)
    start_output(out)
    listed_rejects = [{"path": p, "reason": r} for p, r in listing.rejected]
    progress(f"ingest: {len(listing.items)} images listed ({listing.val_layout} val/), "
             f"{len(listed_rejects)} entries rejected by the listing")
    plans = plan_parts(_plan_items(listing), _SPLITS,
                       target_bytes=cfg.shard_target_mb * 2**20, seed=cfg.seed,
                       fingerprint=partial(_fingerprint, resize_px), resize_px=resize_px)
    records = run_parts(plans, out, partial(_write_part, prepare=prepare), progress=progress,
                        address=address)
    counts = {s: sum(records[p["name"]]["rows"] for p in plans if p["split"] == s)
              for s in _SPLITS}
    rejected = sorted(listed_rejects + [r for p in plans for r in records[p["name"]]["rejected"]],
                      key=lambda r: r["path"])
    if not counts["train"]:
        why = (f"every one was rejected, e.g. {rejected[0]['path']}: {rejected[0]['reason']}"
               if rejected else "train/ holds none")
        raise ConfigError(f"{root}: expected usable training images, but {why}")
    sums = _training_sums(out, plans, records, resize_px)
    manifest = {
        "dataset": "imagenet",
        "kind": DatasetKind.IMAGE.value,
        "test_split": "ILSVRC val/ (" + listing.val_layout + ")",
        "classes": listing.classes,
        "class_names": listing.class_names,
        "counts": counts,
        "pixel_stats": stats_to_manifest(finish(sums), out),
        "rejected": rejected,
        "files": {s: [p["name"] for p in plans if p["split"] == s] for s in _SPLITS},
        "ingest": to_dict(cfg),
        "schema_version": SCHEMA_VERSION,
    }
    write_manifest(out, manifest)  # last: its presence means the shards are complete
    progress(f"ingest: wrote {counts['train']} train and {counts['test']} test images to {out} "
             f"({len(rejected)} rejected)")
    check_rejects(rejected, sum(counts.values()), cfg.max_reject_fraction, out, "images")
    return manifest


def _plan_items(listing: ImageListing) -> list[dict[str, Any]]:
    fs, base = filesystem(listing.image_dir)
    infos = fs.get_file_info([join(base, item.rel_path) for item in listing.items])
    image_dir = as_uri(listing.image_dir)
    return [{"rel_path": item.rel_path, "uri": join_uri(image_dir, item.rel_path),
             "split": item.split, "size": max(info.size or 0, 0), "label": item.label,
             "class_name": listing.classes[item.label]}
            for item, info in zip(listing.items, infos, strict=True)]


def _fingerprint(resize_px: int, items: list[dict[str, Any]]) -> list[Any]:
    # The resize is in it: a training part's pixel sums are taken at that size.
    return [resize_px, [[i["rel_path"], i["label"]] for i in items]]


def _sums_name(plan: Plan) -> str:
    return done_name(plan).removesuffix(".json") + ".sums.npz"


def _write_part(plan: Plan, pool: IsolatedPool, fs: pafs.FileSystem, base: str, *,
                prepare: PrepareFn) -> dict[str, Any]:
    """One part's rows, and a training part's pixel sums (runs in a part_job task; reading and
    decoding in `pool`'s child)."""
    writer = ShardWriter(fs, join(base, plan["name"]), schema=IMAGE_SCHEMA,
                         group_rows=ROW_GROUP_IMAGES, bytes_column=C.IMAGE_BYTES)
    stats_px = plan["resize_px"] if plan["split"] == "train" else None
    sums = PixelSums(plan["resize_px"])
    rejected = []
    items = plan["items"]
    for start in range(0, len(items), _WINDOW):
        window = items[start:start + _WINDOW]
        outcomes = pool.map(prepare, [ImageSource(i["uri"], stats_px) for i in window])
        for item, outcome in zip(window, outcomes, strict=True):
            if isinstance(outcome, str):
                rejected.append({"path": item["rel_path"], "reason": outcome})
                continue
            data, probe, pixels = outcome
            if pixels is not None:
                sums.add(pixels)
            writer.write(_row(item, plan["split"], data, probe))
    writer.close()
    files = []
    if sums.images:
        buffer = io.BytesIO()
        np.savez(buffer, **sums.to_arrays())
        with fs.open_output_stream(join(base, _sums_name(plan))) as f:
            f.write(buffer.getvalue())
        files.append(_sums_name(plan))
    return {"rows": writer.rows, "rejected": rejected, "files": files}


def _row(item: dict[str, Any], split: str, data: bytes, probe: ImageProbe) -> dict[str, Any]:
    return {
        C.IMAGE_ID: item["rel_path"].removesuffix(IMAGE_SUFFIX),
        C.LABEL: item["label"],
        C.CLASS_NAME: item["class_name"],
        C.SPLIT: split,
        C.IMAGE_BYTES: data,
        C.WIDTH: probe.width,
        C.HEIGHT: probe.height,
        C.SOURCE_PATH: item["rel_path"],
    }


def _training_sums(out: str | Path, plans: list[Plan], records: dict[str, dict[str, Any]],
                   resize_px: int) -> PixelSums:
    """The training parts' pixel sums added up (whole numbers: the order does not matter)."""
    fs, base = filesystem(out)
    total = PixelSums(resize_px)
    for plan in (p for p in plans if p["split"] == "train"):
        for name in records[plan["name"]].get("files", []):
            with fs.open_input_stream(join(base, name)) as f:
                with np.load(io.BytesIO(f.read())) as arrays:
                    total.merge(PixelSums.from_arrays(arrays))
    return total
