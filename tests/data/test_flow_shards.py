"""Flow quantisation (clip, rescale, JPEG) round trips; flow shard writer, reader, manifest."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from raylab.config import ConfigError
from raylab.data import columns as C
from raylab.data.flow_shards import (
    FLOW_SCHEMA,
    dequantise,
    from_levels,
    part_rows,
    quantise,
    read_flow_manifest,
    read_flow_rows,
    read_part_rejects,
    to_levels,
    write_flow_part,
    write_flow_shards,
)

BOUND = 20.0


def _smooth_flow(seed: int, h: int = 96, w: int = 128, peak: float = 15.0) -> np.ndarray:
    """A smooth random field, like flow inside moving regions (Gaussian-blurred noise)."""
    noise = np.random.default_rng(seed).normal(size=(h, w, 2)).astype(np.float32)
    flow = np.stack([cv2.GaussianBlur(noise[..., i], (0, 0), 8) for i in range(2)], axis=-1)
    return flow / np.abs(flow).max() * peak


def _object_flow(h: int = 96, w: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Background drifting one way, a disc moving another; and a mask of pixels >= 12 px (more
    than a JPEG 8x8 block) away from the disc's edge, where no ringing reaches."""
    flow = np.empty((h, w, 2), np.float32)
    flow[...] = (-1.5, 0.5)
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - h / 2, xx - w / 2)
    flow[r < h / 4] = (7.3, -4.1)
    return flow, np.abs(r - h / 4) > 12


def test_levels_round_trip_within_half_a_step() -> None:
    # Without JPEG, the only loss is rounding to a level: at most half a level, bound/255 px.
    flow = np.random.default_rng(0).uniform(-BOUND, BOUND, (40, 50, 2)).astype(np.float32)
    back = from_levels(to_levels(flow, BOUND), BOUND)
    assert back.dtype == np.float32
    assert np.abs(back - flow).max() <= BOUND / 255 + 1e-5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jpeg_round_trip_error_on_smooth_flow(seed: int) -> None:
    # Measured at quality 95 on such fields: max 3.1 levels, mean 0.64 levels (0.05 px at 20).
    flow = _smooth_flow(seed)
    back = dequantise(*quantise(flow, BOUND), BOUND)
    assert back.shape == flow.shape and back.dtype == np.float32
    level = 2 * BOUND / 255
    err = np.abs(back - flow)
    assert err.max() <= BOUND / 255 + 5 * level
    assert err.mean() <= BOUND / 255


def test_jpeg_round_trip_error_on_moving_object() -> None:
    # Ringing at the motion edge reaches ~8 levels (measured); away from it the field is as
    # good as the rounding alone plus one level.
    flow, far = _object_flow()
    err = np.abs(dequantise(*quantise(flow, BOUND), BOUND) - flow)
    level = 2 * BOUND / 255
    assert err[far].max() <= BOUND / 255 + level
    assert err.max() <= 12 * level
    assert err.mean() <= BOUND / 255


def test_clipping_to_the_bound() -> None:
    flow = np.zeros((16, 24, 2), np.float32)
    flow[:, :12, 0], flow[:, 12:, 0] = 55.0, -31.0  # beyond the bound both ways
    flow[..., 1] = 3.0
    levels = to_levels(flow, BOUND)
    assert (levels[:, :12, 0] == 255).all() and (levels[:, 12:, 0] == 0).all()
    back = dequantise(*quantise(flow, BOUND), BOUND)
    level = 2 * BOUND / 255
    assert np.abs(back[:, :4, 0] - BOUND).max() <= level  # 8 px from the step: no ringing
    assert np.abs(back[:, -4:, 0] + BOUND).max() <= level
    assert np.abs(back[..., 1] - 3.0).max() <= BOUND / 255 + 1e-5  # a constant field is exact


def test_flip_is_255_minus_levels() -> None:
    # A mirrored x field is stored as 255 - q: the level of -d, so flips need no dequantise.
    flow = np.random.default_rng(3).uniform(-30, 30, (8, 8, 2)).astype(np.float32)
    assert np.array_equal(255 - to_levels(flow, BOUND), to_levels(-flow, BOUND))


@pytest.mark.parametrize("flow, match", [
    (np.zeros((4, 4, 3), np.float32), r"float \(H, W, 2\)"),
    (np.zeros((4, 4, 2), np.uint8), r"float \(H, W, 2\)"),
    (np.zeros((4, 2), np.float32), r"float \(H, W, 2\)"),
])
def test_quantise_rejects_bad_arrays(flow: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        quantise(flow, BOUND)


def test_bad_bound_and_bad_bytes() -> None:
    with pytest.raises(ValueError, match="bound: expected a positive"):
        quantise(np.zeros((4, 4, 2), np.float32), 0.0)
    with pytest.raises(ValueError, match="not a JPEG"):
        dequantise(b"nope", b"nope", BOUND)
    x, _ = quantise(np.zeros((4, 4, 2), np.float32), BOUND)
    _, y = quantise(np.zeros((4, 6, 2), np.float32), BOUND)
    with pytest.raises(ValueError, match="x field is"):
        dequantise(x, y, BOUND)


def _row(video_id: str, split: str, flows: list[np.ndarray]) -> dict:
    fields = [quantise(f, BOUND) for f in flows]
    h, w = flows[0].shape[:2]
    return {C.VIDEO_ID: video_id, C.LABEL: 1, C.CLASS_NAME: "A", C.SPLIT: split, C.GROUP: 8,
            C.NUM_FLOWS: len(flows), C.HEIGHT: h, C.WIDTH: w,
            C.FLOW_X: [x for x, _ in fields], C.FLOW_Y: [y for _, y in fields]}


def test_write_and_read_flow_shards(tmp_path: Path) -> None:
    flows = [_smooth_flow(s, 24, 32) for s in range(3)]
    rows = [_row("A/a", "train", flows), _row("A/b", "test", flows[:2])]
    manifest = write_flow_shards(rows, tmp_path, {
        "method": "tvl1", "bound": BOUND, "size": 24, "classes": ["A"],
        "source_shards": "/data/shards", "rejects": [{"video_id": "A/c", "reason": "x"}]})
    assert manifest["splits"] == {"train": 1, "test": 1}
    assert read_flow_manifest(tmp_path) == manifest
    assert json.loads((tmp_path / C.MANIFEST).read_text())["kind"] == "flow"
    got = read_flow_rows(tmp_path / manifest["files"]["train"][0])
    assert got[C.VIDEO_ID] == ["A/a"] and got[C.NUM_FLOWS] == [3]
    assert (got[C.HEIGHT], got[C.WIDTH]) == ([24], [32])
    for i, flow in enumerate(flows):
        back = dequantise(got[C.FLOW_X][0][i], got[C.FLOW_Y][0][i], BOUND)
        assert np.abs(back - flow).max() <= BOUND / 255 + 5 * 2 * BOUND / 255
    only = read_flow_rows(tmp_path / manifest["files"]["test"][0], columns=[C.NUM_FLOWS])
    assert only == {C.NUM_FLOWS: [2]}
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_write_part_is_atomic_and_checks_rows(tmp_path: Path) -> None:
    row = _row("A/a", "train", [_smooth_flow(0, 8, 8)])
    with pytest.raises(ValueError, match="num_flows 2 but 1 x"):
        write_flow_part([{**row, C.NUM_FLOWS: 2}], tmp_path / "p.parquet")
    assert not (tmp_path / "p.parquet").exists()  # a failed write leaves no finished-looking part
    with pytest.raises(ValueError, match=r"missing \['group'\]"):
        write_flow_part([{k: v for k, v in row.items() if k != C.GROUP}], tmp_path / "p.parquet")
    assert write_flow_part([], tmp_path / "empty.parquet") == 0
    assert read_flow_rows(tmp_path / "empty.parquet")[C.VIDEO_ID] == []
    rejects = [{"video_id": "A/z", "reason": "cannot decode"}]
    assert write_flow_part([row] * 10, tmp_path / "p.parquet", rejects=rejects) == 10
    f = pq.ParquetFile(tmp_path / "p.parquet")
    assert f.schema_arrow.equals(FLOW_SCHEMA) and f.num_row_groups == 2
    assert read_part_rejects(tmp_path / "p.parquet") == rejects
    assert read_part_rejects(tmp_path / "empty.parquet") == []
    assert part_rows(tmp_path / "p.parquet") == 10
    second = read_flow_rows(tmp_path / "p.parquet", row_group=1, columns=[C.VIDEO_ID])
    assert second == {C.VIDEO_ID: ["A/a", "A/a"]}  # groups of 8 videos: 8 + 2


def test_flow_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="written by `raylab flow` \\(no such file\\)"):
        read_flow_manifest(tmp_path)
    (tmp_path / C.MANIFEST).write_text(json.dumps({"classes": [], "counts": {}}))
    with pytest.raises(ConfigError, match="is it a video manifest"):
        read_flow_manifest(tmp_path)
    (tmp_path / C.MANIFEST).write_text(json.dumps({"kind": "flow", "method": "tvl1"}))
    with pytest.raises(ConfigError, match="missing keys: bound, size"):
        read_flow_manifest(tmp_path)
