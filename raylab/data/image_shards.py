"""Parquet shards of encoded images: the schema and the manifest's pixel statistics.

One row per image holds the original JPEG bytes (never re-encoded) with its label, class, split,
size and source path; parts are written by shards.ShardWriter with this schema (image_ingest.py)
and follow shards.py's conventions (parts per split, an empty split still gets one part, the
manifest last). The manifest's "pixel_stats" holds the mean colour and RGB eigenbasis; the mean
image, too large for readable JSON at 256 px, is an .npy file beside it that the manifest names.
Paths are local or URIs (shards.filesystem).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from raylab.config import ConfigError
from raylab.data import columns as C
from raylab.data.image_stats import PixelStats
from raylab.data.shards import filesystem, join

IMAGE_SCHEMA = pa.schema([
    pa.field(C.IMAGE_ID, pa.string(), nullable=False),
    pa.field(C.LABEL, pa.int32(), nullable=False),
    pa.field(C.CLASS_NAME, pa.string(), nullable=False),
    pa.field(C.SPLIT, pa.string(), nullable=False),
    pa.field(C.IMAGE_BYTES, pa.binary(), nullable=False),
    pa.field(C.WIDTH, pa.int32(), nullable=False),
    pa.field(C.HEIGHT, pa.int32(), nullable=False),
    pa.field(C.SOURCE_PATH, pa.string(), nullable=False),
])
# A row group is what one decode task of the pipeline reads: ~128 ILSVRC JPEGs (~14 MiB) keep
# tasks short and many, and the decoded 256 px images of one task near 25 MiB.
ROW_GROUP_IMAGES = 128
MEAN_IMAGE_FILE = "mean_image.npy"


def stats_to_manifest(stats: PixelStats, out: str | Path) -> dict[str, Any]:
    """Write the mean image beside the shards; the manifest entry that describes all stats."""
    fs, base = filesystem(out)
    buffer = io.BytesIO()
    np.save(buffer, stats.mean_image)
    with fs.open_output_stream(join(base, MEAN_IMAGE_FILE)) as f:
        f.write(buffer.getvalue())
    return {
        "units": "0-255 pixel values (eigenvalues: their squares)",
        "resize_px": stats.size_px,
        "num_images": stats.num_images,
        "mean_rgb": [float(v) for v in stats.mean_rgb],
        "rgb_eigval": [float(v) for v in stats.eigval],
        "rgb_eigvec": [[float(v) for v in row] for row in stats.eigvec],
        "mean_image_file": MEAN_IMAGE_FILE,
    }


def read_pixel_stats(shards_dir: str | Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """manifest["pixel_stats"] with "mean_image" loaded as float32 (S, S, 3)."""
    stats = manifest.get("pixel_stats")
    if not isinstance(stats, dict):
        raise ConfigError(f"{join(str(shards_dir), C.MANIFEST)}: expected 'pixel_stats' (written "
                          "by `raylab ingest imagenet`); this dataset has none")
    fs, base = filesystem(shards_dir)
    path = join(base, stats["mean_image_file"])
    try:
        with fs.open_input_stream(path) as f:
            mean_image = np.load(io.BytesIO(f.read()))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: expected the mean image .npy the manifest names ({err})") \
            from None
    size = stats["resize_px"]
    if mean_image.shape != (size, size, 3):
        raise ConfigError(f"{path}: expected shape ({size}, {size}, 3), got {mean_image.shape}")
    return {**stats, "mean_image": mean_image.astype(np.float32)}
