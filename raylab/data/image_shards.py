"""Parquet shards of encoded images: the schema, the writer, and the manifest's pixel statistics.

One row per image holds the original JPEG bytes (never re-encoded) with its label, class, split,
size and source path; conventions follow shards.py (parts per split, an empty split still gets
one part, old parts and the old manifest removed first, manifest written last by the caller).
The manifest's "pixel_stats" holds the mean colour and RGB eigenbasis; the mean image, too large
for readable JSON at 256 px, is an .npy file beside it that the manifest names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from raylab.config import ConfigError
from raylab.data import columns as C
from raylab.data.image_stats import PixelStats

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


def write_image_shards(
    rows_by_split: Mapping[str, Iterable[dict[str, Any]]], out: Path,
    target_bytes: int = 256 * 2**20,
) -> dict[str, list[str]]:
    """Write out/<split>/part-NNNNN.parquet (a new part after ~target_bytes of JPEG bytes);
    returns {split: [paths relative to out]}. Removes the old manifest first."""
    out = Path(out)
    unknown = set(rows_by_split) - set(C.SHARD_SPLITS)
    if unknown:
        raise ValueError(f"unknown splits {sorted(unknown)}; expected {C.SHARD_SPLITS}")
    (out / C.MANIFEST).unlink(missing_ok=True)
    files: dict[str, list[str]] = {}
    for split, rows in rows_by_split.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("part-*.parquet"):
            old.unlink()
        files[split] = _write_split(rows, split, out, target_bytes)
    return files


def _write_split(rows: Iterable[dict[str, Any]], split: str, out: Path,
                 target_bytes: int) -> list[str]:
    files: list[str] = []
    writer: pq.ParquetWriter | None = None
    buffer: list[dict[str, Any]] = []
    file_bytes = 0

    def flush() -> None:
        nonlocal writer, file_bytes
        if writer is None:
            files.append(f"{split}/part-{len(files):05d}.parquet")
            writer = pq.ParquetWriter(out / files[-1], IMAGE_SCHEMA)
        writer.write_table(pa.Table.from_pylist(buffer, schema=IMAGE_SCHEMA))
        file_bytes += sum(len(r[C.IMAGE_BYTES]) for r in buffer)
        buffer.clear()
        if file_bytes >= target_bytes:
            writer.close()
            writer, file_bytes = None, 0

    for row in rows:
        if row.keys() != set(IMAGE_SCHEMA.names) or row[C.SPLIT] != split:
            raise ValueError(f"image row {row.get(C.IMAGE_ID)!r}: expected the columns "
                             f"{IMAGE_SCHEMA.names} and split {split!r}")
        buffer.append(row)
        if len(buffer) >= ROW_GROUP_IMAGES:
            flush()
    if buffer or not files:
        flush()
    if writer is not None:
        writer.close()
    return files


def stats_to_manifest(stats: PixelStats, out: Path) -> dict[str, Any]:
    """Write the mean image beside the shards; the manifest entry that describes all stats."""
    np.save(Path(out) / MEAN_IMAGE_FILE, stats.mean_image)
    return {
        "units": "0-255 pixel values (eigenvalues: their squares)",
        "resize_px": stats.size_px,
        "num_images": stats.num_images,
        "mean_rgb": [float(v) for v in stats.mean_rgb],
        "rgb_eigval": [float(v) for v in stats.eigval],
        "rgb_eigvec": [[float(v) for v in row] for row in stats.eigvec],
        "mean_image_file": MEAN_IMAGE_FILE,
    }


def read_pixel_stats(shards_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """manifest["pixel_stats"] with "mean_image" loaded as float32 (S, S, 3)."""
    stats = manifest.get("pixel_stats")
    if not isinstance(stats, dict):
        raise ConfigError(f"{Path(shards_dir) / C.MANIFEST}: expected 'pixel_stats' (written by "
                          "`raylab ingest imagenet`); this dataset has none")
    path = Path(shards_dir) / stats["mean_image_file"]
    try:
        mean_image = np.load(path)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: expected the mean image .npy the manifest names ({err})") \
            from None
    size = stats["resize_px"]
    if mean_image.shape != (size, size, 3):
        raise ConfigError(f"{path}: expected shape ({size}, {size}, 3), got {mean_image.shape}")
    return {**stats, "mean_image": mean_image.astype(np.float32)}
