"""Probe reasons on broken inputs, shard roll-over, and the manifest's atomic write and checks."""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from raylab.config import ConfigError
from raylab.data import columns as C
from raylab.data.shards import (
    ROW_GROUP_VIDEOS,
    SHARD_SCHEMA,
    BadVideo,
    ShardWriter,
    as_uri,
    filesystem,
    join_uri,
    probe_video,
    read_manifest,
    write_manifest,
)


def _avi(num_frames: int) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for t in range(num_frames):
            image = np.full((48, 64, 3), 8 * t % 256, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return buffer.getvalue()


def _wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    return buffer.getvalue()


def test_probe_reads_every_frame_timestamp() -> None:
    probe = probe_video(_avi(30))
    assert probe.num_frames == 30 and probe.frame_pts == list(range(30))
    assert probe.time_base == pytest.approx(1 / 25) and probe.fps == pytest.approx(25)
    assert (probe.width, probe.height, probe.codec) == (64, 48, "mpeg4")


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (b"just some text\n", "not a video container"),
    (_wav(), "no video stream"),
    (_avi(1), "fewer than 2 frames"),
    (_avi(30)[: len(_avi(30)) * 2 // 3], "truncated"),  # opens, but frames are missing
    (_avi(30)[:300], "truncated"),  # cut inside the header: FFmpeg cannot open it
])
def test_probe_rejects_with_a_short_reason(data: bytes, reason: str) -> None:
    with pytest.raises(BadVideo) as info:
        probe_video(data)
    assert info.value.reason.startswith(reason)


def _rows(split: str, n: int, size: int) -> list[dict]:
    return [{
        C.VIDEO_ID: f"{split}{i}", C.SEGMENT: 0, C.LABEL: i % 3, C.LABELS: [i % 3, 5],
        C.CLASS_NAME: "A", C.SPLIT: split, C.GROUP: 1, C.VIDEO_BYTES: bytes([i]) * size,
        C.NUM_FRAMES: 2, C.FRAME_PTS: [0, 1], C.TIME_BASE: 0.04, C.FPS: 25.0, C.WIDTH: 320,
        C.HEIGHT: 240, C.CODEC: "mpeg4", C.SOURCE_PATH: f"A/{split}{i}.avi",
    } for i in range(n)]


def _write(path: Path, rows: list[dict]) -> int:
    fs, inner = filesystem(path)
    writer = ShardWriter(fs, inner)
    for row in rows:
        writer.write(row)
    writer.close()
    return writer.rows


def test_shard_writer_keeps_order_in_row_groups(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    path = tmp_path / "train" / "part-00000.parquet"
    assert _write(path, _rows("train", 2 * ROW_GROUP_VIDEOS + 1, 10)) == 2 * ROW_GROUP_VIDEOS + 1
    shard = pq.ParquetFile(path)
    assert shard.num_row_groups == 3
    assert shard.read()[C.VIDEO_ID].to_pylist() == [f"train{i}" for i in range(17)]
    assert shard.read()[C.LABELS].to_pylist()[1] == [1, 5]
    (tmp_path / "test").mkdir()
    assert _write(tmp_path / "test" / "part-00000.parquet", []) == 0
    empty = pq.read_table(tmp_path / "test" / "part-00000.parquet")
    assert empty.num_rows == 0 and empty.schema == SHARD_SCHEMA  # readers still find the schema


def test_shard_writer_writes_image_rows_in_row_groups_of_their_own(tmp_path: Path) -> None:
    from raylab.data.image_shards import IMAGE_SCHEMA, ROW_GROUP_IMAGES

    (tmp_path / "train").mkdir()
    fs, inner = filesystem(tmp_path / "train" / "part-00000.parquet")
    writer = ShardWriter(fs, inner, schema=IMAGE_SCHEMA, group_rows=ROW_GROUP_IMAGES,
                         bytes_column=C.IMAGE_BYTES)
    rows = [{C.IMAGE_ID: f"train/n0/n0_{i}", C.LABEL: 0, C.CLASS_NAME: "n0", C.SPLIT: "train",
             C.IMAGE_BYTES: bytes([i % 256]) * 3, C.WIDTH: 4, C.HEIGHT: 3,
             C.SOURCE_PATH: f"train/n0/n0_{i}.JPEG"} for i in range(ROW_GROUP_IMAGES + 1)]
    for row in rows:
        writer.write(row)
    with pytest.raises(ValueError, match=r"shard row 'x': missing \['height'"):
        writer.write({k: v for k, v in {**rows[0], C.IMAGE_ID: "x"}.items() if k != C.HEIGHT})
    writer.close()
    shard = pq.ParquetFile(tmp_path / "train" / "part-00000.parquet")
    assert shard.num_row_groups == 2 and shard.schema_arrow == IMAGE_SCHEMA
    assert shard.read().to_pylist() == rows


def test_shard_writer_refuses_bad_rows(tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    row = _rows("train", 1, 1)[0]
    with pytest.raises(ValueError, match="split 'train' given under 'test'"):
        _write(tmp_path / "test" / "p.parquet", [row])
    with pytest.raises(ValueError, match=r"label 0 must be the first of labels \[5\]"):
        _write(tmp_path / "test" / "p.parquet", [{**row, C.SPLIT: "test", C.LABELS: [5]}])
    del row[C.FPS]
    with pytest.raises(ValueError, match=r"missing \['fps'\]"):
        _write(tmp_path / "test" / "p.parquet", [row])


def test_manifest_round_trip_and_errors(tmp_path: Path) -> None:
    expected = "expected a manifest.json written by `raylab ingest`"
    with pytest.raises(ConfigError, match=expected):
        read_manifest(tmp_path)
    manifest = {"dataset": "ucf101", "split": 1, "classes": ["A"], "counts": {"train": 1},
                "rejected": [], "files": {"train": []}, "schema_version": 2}
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    assert [p.name for p in tmp_path.iterdir()] == [C.MANIFEST]  # no temporary file left
    (tmp_path / C.MANIFEST).write_text("{not json")
    with pytest.raises(ConfigError, match=expected):
        read_manifest(tmp_path)
    (tmp_path / C.MANIFEST).write_text(json.dumps({**manifest, "schema_version": 1}))
    with pytest.raises(ConfigError, match="schema_version 1"):
        read_manifest(tmp_path)


def test_join_uri_keeps_the_kind_the_query_and_odd_file_names(tmp_path: Path) -> None:
    name = "#122_Tips_&_Tricks (1) 100%?.avi"  # HMDB-51-like: '#', '?', '%' end a URI's path
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / name).write_bytes(b"video")
    assert join_uri(str(tmp_path), "videos", name) == f"{tmp_path}/videos/{name}"  # a path
    for location in (tmp_path, tmp_path.as_uri(), as_uri(tmp_path)):
        fs, path = filesystem(join_uri(location, "videos", name))
        with fs.open_input_stream(path) as f:
            assert f.read() == b"video"
    # s3 options such as the region stay in the query, after the joined path.
    uri = join_uri("s3://bucket/raw/?region=eu-west-1", "a b#1.avi")
    assert uri == "s3://bucket/raw/a%20b%231.avi?region=eu-west-1"
    fs, path = filesystem(uri)
    assert (path, fs.region) == ("bucket/raw/a b#1.avi", "eu-west-1")
