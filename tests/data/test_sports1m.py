"""Sports-1M: partition parsing, absent downloads, seeded val split, segment rows cut without
re-encoding, multi-label rows (a small synthetic download in the real layout)."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from raylab.config import ConfigError, IngestConfig
from raylab.data import columns as C
from raylab.data.decode import decode_clip
from raylab.data.ingest import ingest_sports1m
from raylab.data.sources.sports1m import read_sports1m
from raylab.data.sources.synthetic import SyntheticSpec, write_sports1m

# 4 classes x 6 videos of 3 s (a keyframe every second): 1 s segments -> 3 rows per video.
SPEC = SyntheticSpec(directions=("Left", "Right"), num_groups=6, num_frames=75, seed=4)
CFG = IngestConfig(segment_s=1.0, val_fraction=0.3, shard_target_mb=0.2)


def _partition(root: Path, kind: str) -> dict[str, list[int]]:
    lines = (root / f"{kind}_partition.txt").read_text().splitlines()
    return {url.split("v=")[1]: [int(x) for x in labels.split(",")]
            for url, labels in (line.split() for line in lines)}


@pytest.fixture(scope="module")
def ingested(ray_session, tmp_path_factory):
    root = tmp_path_factory.mktemp("sports1m")
    classes = write_sports1m(root, SPEC)
    out = tmp_path_factory.mktemp("shards")
    manifest = ingest_sports1m(root, out, cfg=CFG, progress=lambda _: None)
    rows = {s: [r for f in files for r in pq.read_table(out / f).to_pylist()]
            for s, files in manifest["files"].items()}
    return root, classes, out, manifest, rows


def test_absent_videos_are_counted_not_rejected(ingested) -> None:
    root, _, _, manifest, rows = ingested
    listed = {**_partition(root, "train"), **_partition(root, "test")}
    on_disk = {p.stem for p in (root / "videos").iterdir()}
    assert manifest["absent"]["count"] == len(set(listed) - on_disk) > 0
    assert manifest["rejected"] == []
    got = {r[C.VIDEO_ID] for split_rows in rows.values() for r in split_rows}
    assert got == on_disk


def test_val_is_a_seeded_part_of_train(ingested) -> None:
    root, _, _, manifest, rows = ingested
    train_ids, test_ids = set(_partition(root, "train")), set(_partition(root, "test"))
    ids = {s: {r[C.VIDEO_ID] for r in split_rows} for s, split_rows in rows.items()}
    assert set(manifest["files"]) == {"train", "val", "test"}
    assert ids["val"] and ids["val"] <= train_ids and ids["train"] <= train_ids
    assert not ids["val"] & ids["train"] and ids["test"] <= test_ids
    again, _ = read_sports1m(root, val_fraction=0.3, seed=CFG.seed)
    assert {i.video_id for i in again.items if i.split == "val"} == ids["val"]
    other, _ = read_sports1m(root, val_fraction=0.3, seed=CFG.seed + 1)
    assert {i.video_id for i in other.items if i.split == "val"} != ids["val"]


def test_rows_are_keyframe_segments_with_every_label(ingested) -> None:
    root, classes, _, manifest, rows = ingested
    listed = {**_partition(root, "train"), **_partition(root, "test")}
    by_video: dict[str, list[dict]] = {}
    for split_rows in rows.values():
        for r in split_rows:
            by_video.setdefault(r[C.VIDEO_ID], []).append(r)
    assert any(len(labels) > 1 for labels in listed.values())
    for video_id, segs in by_video.items():
        segs.sort(key=lambda r: r[C.SEGMENT])
        assert [r[C.SEGMENT] for r in segs] == [0, 1, 2]
        assert sum(r[C.NUM_FRAMES] for r in segs) == SPEC.num_frames
        for r in segs:
            assert r[C.LABELS] == listed[video_id] and r[C.LABEL] == r[C.LABELS][0]
            assert r[C.CLASS_NAME] == classes[r[C.LABEL]] and r[C.CODEC] == "h264"
            with av.open(io.BytesIO(r[C.VIDEO_BYTES])) as c:
                first = next(c.demux(video=0))
            assert first.is_keyframe  # every segment decodes on its own
    assert manifest["counts"]["train"] == 3 * manifest["videos"]["train"]


def test_segment_frames_are_the_source_frames(ingested) -> None:
    # Remuxed, not re-encoded: frame i of segment 1 is frame 25 + i of the source, bit for bit.
    root, _, _, _, rows = ingested
    segs = sorted((r for r in rows["train"] if r[C.VIDEO_ID] == rows["train"][0][C.VIDEO_ID]),
                  key=lambda r: r[C.SEGMENT])
    source = (root / "videos" / segs[0][C.SOURCE_PATH]).read_bytes()
    with av.open(io.BytesIO(source)) as c:
        source_pts = sorted(p.pts for p in c.demux(video=0) if p.pts is not None)
    offset = segs[0][C.NUM_FRAMES]
    picks = [0, 3, 10, segs[1][C.NUM_FRAMES] - 1]
    from_segment = decode_clip(segs[1][C.VIDEO_BYTES], segs[1][C.FRAME_PTS], picks, size_px=64)
    from_source = decode_clip(source, source_pts, [offset + i for i in picks], size_px=64)
    np.testing.assert_array_equal(from_segment, from_source)


def test_partition_errors_and_bad_labels(tmp_path: Path) -> None:
    (tmp_path / "videos").mkdir()
    (tmp_path / "labels.txt").write_text("a\nb\n")
    (tmp_path / "test_partition.txt").write_text("")
    url = "https://www.youtube.com/watch?v="
    (tmp_path / "train_partition.txt").write_text(
        f"{url}AAAAAAAAAAA 0,1\n{url}BBBBBBBBBBB 7\n{url}AAAAAAAAAAA 0\n")
    (tmp_path / "videos" / "AAAAAAAAAAA.webm").write_bytes(b"x")
    listing, videos = read_sports1m(tmp_path, val_fraction=0.0)
    assert [(i.video_id, i.rel_path, i.labels) for i in listing.items] == [
        ("AAAAAAAAAAA", "AAAAAAAAAAA.webm", (0, 1))]
    assert listing.invalid[0][0] == "BBBBBBBBBBB" and "label 7 not in labels.txt" in \
        listing.invalid[0][1]
    assert listing.duplicates[0][0] == "AAAAAAAAAAA" and listing.absent == []
    # Through pyarrow's filesystem layer, as for s3:// or gs:// roots: the same listing.
    by_uri, videos_uri = read_sports1m(tmp_path.as_uri(), val_fraction=0.0)
    assert by_uri == listing and videos_uri == f"{tmp_path.as_uri()}/videos"
    (tmp_path / "train_partition.txt").write_text("\nnot-a-url 3\n")
    with pytest.raises(ConfigError, match=r"train_partition\.txt:2: expected '<YouTube URL> "):
        read_sports1m(tmp_path)
    with pytest.raises(ConfigError, match="expected a Sports-1M root directory"):
        read_sports1m(tmp_path / "nowhere")
