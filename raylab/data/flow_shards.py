"""Parquet shards of optical flow: quantisation, schema, writer, reader and manifest.

One row per video holds every flow field (flow i goes from frame i to frame i + 1) as two uint8
JPEG images, x (right) and y (down), quantised as Simonyan & Zisserman 2014 (sec. 6): displacement
clipped to [-bound, bound] px (FlowConfig.bound_px, default 20) and rescaled linearly to [0, 255].
`manifest.json` is written last (atomically) and is the contract: method, bound, size, classes,
split counts, files, rejects.
This module does not compute flow (optical_flow.py) nor run the job (flow_job.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from raylab.config import ConfigError
from raylab.data import columns as C
from raylab.data.shards import write_manifest

FLOW_KIND = "flow"
# JPEG quality of OpenCV's imwrite default, which the common flow dumps use.
DEFAULT_JPEG_QUALITY = 95
FLOW_SCHEMA = pa.schema([
    pa.field(C.VIDEO_ID, pa.string(), nullable=False),
    pa.field(C.LABEL, pa.int32(), nullable=False),
    pa.field(C.CLASS_NAME, pa.string(), nullable=False),
    pa.field(C.SPLIT, pa.string(), nullable=False),
    pa.field(C.GROUP, pa.int32(), nullable=False),
    pa.field(C.NUM_FLOWS, pa.int32(), nullable=False),
    pa.field(C.HEIGHT, pa.int32(), nullable=False),
    pa.field(C.WIDTH, pa.int32(), nullable=False),
    pa.field(C.FLOW_X, pa.list_(pa.binary()), nullable=False),
    pa.field(C.FLOW_Y, pa.list_(pa.binary()), nullable=False),
])
# A row group is what a reader fetches at once: ~8 videos of flow at 256 px are a few tens of MiB.
ROW_GROUP_VIDEOS = 8
_REJECTS_KEY = "raylab.rejects"
MANIFEST_KEYS = ("kind", "method", "bound", "size", "classes", "source_shards", "splits",
                 "files", "rejects")


def quantise(
    flow: np.ndarray, bound: float, *, quality: int = DEFAULT_JPEG_QUALITY,
) -> tuple[bytes, bytes]:
    """float (H, W, 2) displacement in px -> (x JPEG bytes, y JPEG bytes) of uint8 levels.

    Level q = round((clip(d, -bound, bound) + bound) * 255 / (2 bound)); the map is symmetric, so
    a horizontal flip of the stored x field is 255 - q, exactly the level of -d."""
    levels = to_levels(flow, bound)
    return _jpeg(levels[..., 0], quality), _jpeg(levels[..., 1], quality)


def dequantise(x_bytes: bytes, y_bytes: bytes, bound: float) -> np.ndarray:
    """Inverse of `quantise`: float32 (H, W, 2) displacement in px (x right, y down)."""
    x, y = decode_levels(x_bytes), decode_levels(y_bytes)
    if x.shape != y.shape:
        raise ValueError(f"flow x field is {x.shape} but y field is {y.shape}")
    return from_levels(np.stack([x, y], axis=-1), bound)


def to_levels(flow: np.ndarray, bound: float) -> np.ndarray:
    """float (H, W, 2) px -> uint8 (H, W, 2) levels, clipped to [-bound, bound] first."""
    _check_bound(bound)
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[-1] != 2 or not np.issubdtype(flow.dtype, np.floating):
        raise ValueError(f"flow: expected a float (H, W, 2) array, got {flow.dtype} {flow.shape}")
    scaled = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2.0 * bound))
    return np.rint(scaled).astype(np.uint8)


def from_levels(levels: np.ndarray, bound: float) -> np.ndarray:
    """uint8 levels (any shape) -> float32 px: the centre of each level's bin."""
    _check_bound(bound)
    return (levels.astype(np.float32) * np.float32(2.0 * bound / 255.0) - np.float32(bound))


def decode_levels(data: bytes) -> np.ndarray:
    """One stored JPEG field -> uint8 (H, W) levels (for readers that keep uint8 until the GPU)."""
    levels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if levels is None:
        raise ValueError(f"flow field: not a JPEG image ({len(data)} bytes)")
    return levels


def _jpeg(field: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(field),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"flow field {field.shape}: JPEG encoding failed")
    return buf.tobytes()


def _check_bound(bound: float) -> None:
    if not bound > 0:
        raise ValueError(f"bound: expected a positive displacement in px, got {bound!r}")


def read_flow_rows(
    path: str | Path, *, columns: Sequence[str] | None = None, row_group: int | None = None,
) -> dict[str, list]:
    """Columns of one flow shard file (or one of its row groups) as {column: [value per video]}.

    Plain lists, so a Ray Data map_batches function or a test can use them directly; the JPEG
    fields stay encoded (dequantise them with `dequantise`, or `decode_levels` + `from_levels`)."""
    cols = list(columns) if columns is not None else None
    f = pq.ParquetFile(path)
    table = f.read(columns=cols) if row_group is None else f.read_row_group(row_group, cols)
    return table.to_pydict()


def write_flow_part(
    rows: Iterable[dict[str, Any]], path: Path, *, rejects: Sequence[dict[str, str]] = (),
) -> int:
    """Write rows to one Parquet file, atomically (a temporary file renamed into place), so the
    file's presence means it is complete: the job's resume marker. `rejects` ({video_id, reason}
    of the videos this part lacks) ride in the file's metadata, so they are as durable as the rows.
    Returns the row count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    schema = FLOW_SCHEMA.with_metadata({_REJECTS_KEY: json.dumps(list(rejects))})
    count = 0
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            buffer: list[dict[str, Any]] = []
            for row in rows:
                _check_row(row)
                buffer.append(row)
                if len(buffer) == ROW_GROUP_VIDEOS:
                    writer.write_table(pa.Table.from_pylist(buffer, schema=FLOW_SCHEMA))
                    count += len(buffer)
                    buffer.clear()
            # An empty part still holds the schema, so a directory reader never finds a bare file.
            writer.write_table(pa.Table.from_pylist(buffer, schema=FLOW_SCHEMA))
            count += len(buffer)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return count


def read_part_rejects(path: str | Path) -> list[dict[str, str]]:
    """The rejects a part was written with (reads the footer only)."""
    metadata = pq.read_schema(path).metadata or {}
    return json.loads(metadata.get(_REJECTS_KEY.encode(), b"[]"))


def part_rows(path: str | Path) -> int:
    """Videos in a part (reads the footer only)."""
    return pq.ParquetFile(path).metadata.num_rows


def _check_row(row: dict[str, Any]) -> None:
    name = row.get(C.VIDEO_ID)
    if row.keys() != set(FLOW_SCHEMA.names):
        missing = sorted(set(FLOW_SCHEMA.names) - row.keys())
        extra = sorted(row.keys() - set(FLOW_SCHEMA.names))
        raise ValueError(f"flow row {name!r}: missing {missing}, extra {extra}")
    n = row[C.NUM_FLOWS]
    if len(row[C.FLOW_X]) != n or len(row[C.FLOW_Y]) != n:
        raise ValueError(f"flow row {name!r}: num_flows {n} but {len(row[C.FLOW_X])} x and "
                         f"{len(row[C.FLOW_Y])} y fields")
    if row[C.SPLIT] not in C.SHARD_SPLITS:
        raise ValueError(f"flow row {name!r}: split {row[C.SPLIT]!r}, expected {C.SHARD_SPLITS}")


def write_flow_shards(
    rows: Iterable[dict[str, Any]], out: Path, manifest: dict[str, Any],
) -> dict[str, Any]:
    """Write rows as out/<split>/part-00000.parquet, then the manifest; returns the manifest.

    `manifest` gives method, bound, size, classes, source_shards and rejects; kind, splits
    (row counts) and files are filled in here. (The Ray job writes its parts itself, one per input
    row group, and calls `write_flow_manifest`.)"""
    out = Path(out)
    (out / C.MANIFEST).unlink(missing_ok=True)
    by_split: dict[str, list[dict[str, Any]]] = {s: [] for s in C.SHARD_SPLITS}
    for row in rows:
        _check_row(row)
        by_split[row[C.SPLIT]].append(row)
    # train and test always (readers find the schema); val only where the rows have one.
    splits = [s for s in C.SHARD_SPLITS if s != "val" or by_split[s]]
    files = {s: [f"{s}/part-00000.parquet"] for s in splits}
    counts = {s: write_flow_part(by_split[s], out / files[s][0]) for s in splits}
    full = {**manifest, "kind": FLOW_KIND, "splits": counts, "files": files}
    write_flow_manifest(out, full)
    return full


def write_flow_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Write out/manifest.json atomically, after checking it has every contract key."""
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing or manifest["kind"] != FLOW_KIND:
        raise ValueError(f"flow manifest: missing keys {missing} or kind {manifest.get('kind')!r}"
                         f" is not {FLOW_KIND!r}")
    write_manifest(out, manifest)


def read_flow_manifest(flow_dir: Path) -> dict[str, Any]:
    """The manifest of a flow shards directory, checked for the keys every reader relies on."""
    path = Path(flow_dir) / C.MANIFEST
    expected = f"{path}: expected a manifest.json written by `raylab flow`"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{expected} (no such file)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{expected} ({type(err).__name__}: {err})") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != FLOW_KIND:
        raise ConfigError(f"{expected} (no \"kind\": \"{FLOW_KIND}\"; is it a video manifest?)")
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise ConfigError(f"{expected} (missing keys: {', '.join(missing)})")
    return manifest
