"""Parquet shards of encoded videos: the schema, the probe that fills it, the part writer (of
videos and, with image_shards.IMAGE_SCHEMA, of images), the manifest.

One row per video (or keyframe-aligned segment, segments.py) holds the original bytes (never
re-encoded) plus the sorted frame timestamps, so the pipeline can seek to any frame without probing
again. `manifest.json` is written last and is the dataset's contract (classes, counts, rejects,
files). Paths are local or URIs of any pyarrow filesystem (s3://, gs://). This module does not
list datasets (sources/) nor decode clips (decode.py).
"""

from __future__ import annotations

import enum
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import av
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raylab.config import ConfigError
from raylab.data import columns as C

# 2: a row may be a segment of a video (segment), labels (multi-label), a val split.
SCHEMA_VERSION = 2
SHARD_SCHEMA = pa.schema([
    pa.field(C.VIDEO_ID, pa.string(), nullable=False),
    pa.field(C.SEGMENT, pa.int32(), nullable=False),
    pa.field(C.LABEL, pa.int32(), nullable=False),
    pa.field(C.LABELS, pa.list_(pa.int32()), nullable=False),
    pa.field(C.CLASS_NAME, pa.string(), nullable=False),
    pa.field(C.SPLIT, pa.string(), nullable=False),
    pa.field(C.GROUP, pa.int32(), nullable=False),
    pa.field(C.VIDEO_BYTES, pa.binary(), nullable=False),
    pa.field(C.NUM_FRAMES, pa.int32(), nullable=False),
    pa.field(C.FRAME_PTS, pa.list_(pa.int64()), nullable=False),
    pa.field(C.TIME_BASE, pa.float64(), nullable=False),
    pa.field(C.FPS, pa.float32(), nullable=False),
    pa.field(C.WIDTH, pa.int32(), nullable=False),
    pa.field(C.HEIGHT, pa.int32(), nullable=False),
    pa.field(C.CODEC, pa.string(), nullable=False),
    pa.field(C.SOURCE_PATH, pa.string(), nullable=False),
])
# A row group is the unit a reader fetches; a few tens of MiB keeps reads efficient and memory flat.
_ROW_GROUP_BYTES = 32 * 2**20
# A row group is what one decode task of the pipeline reads: few videos -> many small tasks,
# spread over the cluster, each holding little decoded data in the object store.
ROW_GROUP_VIDEOS = 8


class BadVideo(Exception):
    """A file ingest must reject; `reason` is short and goes into the manifest."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VideoProbe:
    num_frames: int
    frame_pts: list[int]
    """Sorted presentation timestamps of every frame, in `time_base` units."""
    time_base: float
    """Seconds per pts unit."""
    fps: float
    width: int
    height: int
    codec: str
    """FFmpeg codec name, e.g. "mpeg4"."""


def probe_video(data: bytes) -> VideoProbe:
    """Frame timestamps and stream facts from demuxing (not decoding) the first video stream.

    Only the first frame is decoded, to prove the stream decodes. Raises BadVideo.
    """
    if not data:
        raise BadVideo("empty file")
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except av.FFmpegError as err:
        reason = _truncated_riff(data) or f"not a video container: {err.strerror or err}"
        raise BadVideo(reason) from None
    with container:
        if not container.streams.video:
            raise BadVideo("no video stream")
        stream = container.streams.video[0]
        pts, stamped = _demux_pts(container, stream)
        declared = stream.frames  # from the container header; 0 when it does not say
        if declared and stamped < declared:
            raise BadVideo(f"truncated: {stamped} of {declared} frames present")
        if len(pts) < 2:
            raise BadVideo("fewer than 2 frames")
        if len(set(pts)) != len(pts):
            raise BadVideo("duplicate frame timestamps")  # frame i must map to one pts
        ctx = stream.codec_context
        time_base = float(stream.time_base)
        rate = stream.average_rate or stream.guessed_rate
        span_s = (max(pts) - min(pts)) * time_base
        return VideoProbe(
            num_frames=len(pts), frame_pts=sorted(pts), time_base=time_base,
            fps=float(rate) if rate else (len(pts) - 1) / span_s,
            width=ctx.width, height=ctx.height, codec=ctx.name,
        )


def _truncated_riff(data: bytes) -> str | None:
    """A reason when an AVI's RIFF header promises more bytes than the file has. Used only to
    explain a file FFmpeg cannot open: FFmpeg tolerates wrong RIFF sizes, so must we."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"AVI ":
        return None
    promised = int.from_bytes(data[4:8], "little") + 8
    return f"truncated: {len(data)} of {promised} bytes" if len(data) < promised else None


def _demux_pts(container: Any, stream: Any) -> tuple[list[int], int]:
    """(pts of the packets holding a picture, count of timestamped packets); decodes until the
    first picture comes out, and raises BadVideo when none does."""
    pts: list[int] = []
    stamped = 0
    decoded = False
    try:
        for packet in container.demux(stream):
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None:
                continue  # the demuxer's end-of-stream flush packet
            # AVI stores a dropped frame as an empty chunk: it counts towards the header's frame
            # total (the truncation check) but holds no picture, so it gets no frame index.
            stamped += 1
            if packet.size == 0:
                continue
            pts.append(int(stamp))
            if not decoded:
                decoded = _decodes(packet)
        if pts and not decoded:  # a decoder with delay may hold the first picture until flushed
            decoded = bool(stream.codec_context.decode(None))
    except av.FFmpegError as err:
        raise BadVideo(f"cannot demux: {err.strerror or err}") from None
    if pts and not decoded:
        raise BadVideo("cannot decode first frame: the decoder produced no picture")
    return pts, stamped


def _decodes(packet: av.Packet) -> bool:
    """True once a packet yields a picture; a decoder error on the first frames rejects the file."""
    try:
        return bool(packet.decode())
    except av.FFmpegError as err:
        raise BadVideo(f"cannot decode first frame: {err.strerror or err}") from None


def as_uri(location: str | Path) -> str:
    """`location` as a URI: a local path becomes an absolute file:// URI (so a process with
    another working directory, e.g. a Ray task, finds the same file); a URI stays as it is."""
    text = str(location)
    return text if "://" in text else Path(text).resolve().as_uri()


def join_uri(location: str | Path, *parts: str) -> str:
    """`location/part/...`, of the same kind as `location`: a local path stays a path; in a URI
    the parts are percent-encoded (real file names hold '#', '?', '%') and its query, such as
    s3's ?endpoint_override=..., stays last, so the result opens with the same options."""
    text = str(location)
    if "://" not in text:
        return join(text, *parts)
    head, mark, query = text.partition("?")
    return join(head, *(quote(p) for p in parts)) + mark + query


def filesystem(uri: str | Path) -> tuple[pafs.FileSystem, str]:
    """(pyarrow filesystem, path inside it) for a local path, file://, s3:// or gs:// URI."""
    text = as_uri(uri)  # from_uri takes absolute local paths only as URIs
    try:
        return pafs.FileSystem.from_uri(text)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise ConfigError(f"{uri}: expected a local path or a file://, s3:// or gs:// URI "
                          f"({err})") from None


def join(base: str, *parts: str) -> str:
    """`base/part/...` for a path inside a pyarrow filesystem (always '/', never os.sep)."""
    return "/".join([base.rstrip("/"), *parts])


class ShardWriter:
    """Writes one Parquet part of `schema` (SHARD_SCHEMA: videos; image_shards.IMAGE_SCHEMA:
    images) in row groups of `group_rows` rows (or _ROW_GROUP_BYTES of `bytes_column`).

    The part is complete only once `close` returns; ingest records completion separately (a
    done record), so a part a crash left half written is rewritten, never read."""

    def __init__(self, fs: pafs.FileSystem, path: str, *, schema: pa.Schema = SHARD_SCHEMA,
                 group_rows: int = ROW_GROUP_VIDEOS, bytes_column: str = C.VIDEO_BYTES) -> None:
        self._split = path.rsplit("/", 2)[-2]
        self._schema, self._group_rows, self._bytes_column = schema, group_rows, bytes_column
        self._stream = fs.open_output_stream(path)
        self._writer = pq.ParquetWriter(self._stream, schema)
        self._buffer: list[dict[str, Any]] = []
        self._buffered = 0
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        _check_row(row, self._split, self._schema)
        self._buffer.append(row)
        self._buffered += len(row[self._bytes_column])
        self.rows += 1
        if self._buffered >= _ROW_GROUP_BYTES or len(self._buffer) >= self._group_rows:
            self._flush()

    def close(self) -> None:
        if self._buffer or not self.rows:  # an empty part still holds the schema for readers
            self._flush()
        self._writer.close()
        self._stream.close()

    def _flush(self) -> None:
        self._writer.write_table(pa.Table.from_pylist(self._buffer, schema=self._schema))
        self._buffer.clear()
        self._buffered = 0


def _check_row(row: dict[str, Any], split: str, schema: pa.Schema) -> None:
    name = repr(row.get(C.VIDEO_ID, row.get(C.IMAGE_ID)))
    if row.keys() != set(schema.names):
        missing = sorted(set(schema.names) - row.keys())
        extra = sorted(row.keys() - set(schema.names))
        raise ValueError(f"shard row {name}: missing {missing}, extra {extra}")
    if row[C.SPLIT] != split:
        raise ValueError(f"shard row {name}: split {row[C.SPLIT]!r} given under {split!r}")
    if C.LABELS in row and (not row[C.LABELS] or row[C.LABELS][0] != row[C.LABEL]):
        raise ValueError(f"shard row {name}: label {row[C.LABEL]} must be the first of labels "
                         f"{row[C.LABELS]}")


def write_json(out: str | Path, name: str, obj: Any) -> None:
    """Write `name` (a path relative to `out`) as JSON so readers see the old file or the new
    one, never half: locally a temp file and a rename; on an object store a single PUT is
    already atomic."""
    fs, base = filesystem(out)
    path = join(base, name)
    text = json.dumps(obj, indent=2) + "\n"
    if isinstance(fs, pafs.LocalFileSystem):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(path + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # the bytes must be on disk before the rename shows them
        os.replace(tmp, path)
    else:
        with fs.open_output_stream(path) as f:
            f.write(text.encode())


class DatasetKind(enum.StrEnum):
    """What one shard row holds; manifest["kind"] says which (absent: a video dataset)."""

    VIDEO = "video"
    IMAGE = "image"


def dataset_kind(manifest: dict[str, Any]) -> DatasetKind:
    try:
        return DatasetKind(manifest.get("kind", DatasetKind.VIDEO))
    except ValueError:
        known = ", ".join(k.value for k in DatasetKind)
        raise ConfigError(f"manifest kind {manifest['kind']!r}: expected one of {known}") from None



def read_json(out: str | Path, name: str) -> Any:
    """The JSON object `name` under `out`, or None when there is no such file."""
    fs, base = filesystem(out)
    try:
        with fs.open_input_stream(join(base, name)) as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None


def write_manifest(out: str | Path, manifest: dict[str, Any]) -> None:
    """Write out/manifest.json atomically (see write_json)."""
    write_json(out, C.MANIFEST, manifest)


def read_manifest(shards_dir: str | Path) -> dict[str, Any]:
    """The manifest of a shards directory, checked for the keys every reader relies on."""
    fs, base = filesystem(shards_dir)
    path = join(base, C.MANIFEST)
    expected = f"{path}: expected a manifest.json written by `raylab ingest`"
    try:
        with fs.open_input_stream(path) as f:
            manifest = json.loads(f.read())
    except FileNotFoundError:
        raise ConfigError(f"{expected} (no such file)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{expected} ({type(err).__name__}: {err})") from None
    if not isinstance(manifest, dict):
        raise ConfigError(f"{expected} (top level is not an object)")
    missing = [k for k in ("classes", "counts", "files", "schema_version") if k not in manifest]
    if missing:
        raise ConfigError(f"{expected} (missing keys: {', '.join(missing)})")
    if manifest["schema_version"] != SCHEMA_VERSION:
        raise ConfigError(f"{expected} (schema_version {manifest['schema_version']!r}, this "
                          f"raylab reads {SCHEMA_VERSION}); rerun `raylab ingest`")
    return manifest
