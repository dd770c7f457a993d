"""`raylab flow`: flow shards whose motion matches each synthetic class, resume skips finished
parts, a broken video is a reject with a reason, a rerun with other settings is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from raylab.cli import main
from raylab.config import ConfigError, FlowConfig, FlowMethod
from raylab.data import columns as C
from raylab.data.flow_job import compute_part, plan_parts, run_flow
from raylab.data.flow_shards import dequantise, read_flow_manifest, read_flow_rows
from raylab.data.optical_flow import FlowEstimator
from raylab.data.shards import (
    SCHEMA_VERSION,
    ShardWriter,
    filesystem,
    join,
    read_manifest,
    write_manifest,
)
from raylab.data.sources.synthetic import DIRECTIONS, SyntheticSpec

SIZE = 64  # flow at 64x85: the synthetic 320x240 frames scaled by 64/240
CFG = FlowConfig(method=FlowMethod.DIS, size_px=SIZE)


def _mtimes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.glob("*/*.parquet")}


@pytest.fixture()
def small_shards(tiny_shards: Path, tmp_path: Path) -> Path:
    """5 videos of the tiny dataset (3 train, 2 test) in their own shards, one of them cut short
    so that it cannot be decoded."""
    manifest = read_manifest(tiny_shards)
    train = pq.read_table(tiny_shards / manifest["files"]["train"][0]).to_pylist()[:3]
    test = pq.read_table(tiny_shards / manifest["files"]["test"][0]).to_pylist()[:2]
    train[1][C.VIDEO_BYTES] = train[1][C.VIDEO_BYTES][:2000]
    out = tmp_path / "shards"
    fs, base = filesystem(out)
    files = {}
    for split, rows in (("train", train), ("test", test)):
        files[split] = [f"{split}/part-00000.parquet"]
        fs.create_dir(join(base, split), recursive=True)
        writer = ShardWriter(fs, join(base, files[split][0]))
        for row in rows:
            writer.write(row)
        writer.close()
    write_manifest(out, {"dataset": "ucf101", "split": 1, "classes": manifest["classes"],
                         "counts": {"train": 3, "test": 2}, "rejected": [], "files": files,
                         "schema_version": SCHEMA_VERSION})
    return out


def test_resume_skips_finished_parts_and_records_rejects(small_shards: Path, tmp_path: Path):
    out = tmp_path / "flow"
    items = plan_parts(small_shards, read_manifest(small_shards))
    estimator = FlowEstimator(CFG.method)
    # Every part computed beforehand, outside Ray: the job must find them and compute nothing.
    summaries = [compute_part(item, estimator, CFG, out) for item in items]
    assert sum(s["rejects"] for s in summaries) == 1
    before = _mtimes(out)
    lines: list[str] = []
    run = run_flow(small_shards, out, CFG, workers=1, progress=lines.append)
    assert (run.parts_computed, run.parts_skipped, run.pairs_computed) == (0, len(items), 0)
    assert _mtimes(out) == before  # nothing rewritten
    assert f"{len(items)} already done, 0 to compute" in lines[0]
    manifest = read_flow_manifest(out)
    assert manifest["splits"] == {"train": 2, "test": 2}
    assert [r["video_id"] for r in manifest["rejects"]] == [
        v for v in pq.read_table(small_shards / "train/part-00000.parquet")[C.VIDEO_ID]
        .to_pylist()[1:2]]
    reason = manifest["rejects"][0]["reason"]
    assert reason.startswith("decode failed: ") and "\n" not in reason
    assert (manifest["method"], manifest["bound"], manifest["size"]) == ("dis", 20.0, SIZE)
    assert manifest["source_shards"] == str(small_shards.resolve())
    assert sorted(manifest["files"]["train"] + manifest["files"]["test"]) == sorted(before)


def test_other_settings_are_refused_unless_fresh(small_shards: Path, tmp_path: Path):
    out = tmp_path / "flow"
    items = plan_parts(small_shards, read_manifest(small_shards))
    estimator = FlowEstimator(CFG.method)
    for item in items:
        compute_part(item, estimator, CFG, out)
    run_flow(small_shards, out, CFG, progress=lambda _: None)
    other = FlowConfig(method=FlowMethod.DIS, size_px=SIZE, bound_px=10.0)
    with pytest.raises(ConfigError, match=r"other settings \(bound_px differ\); pass --fresh"):
        run_flow(small_shards, out, other, progress=lambda _: None)
    assert read_flow_manifest(out)["bound"] == 20.0  # the refused run touched nothing
    with pytest.raises(ConfigError, match="workers: expected >= 1"):
        run_flow(small_shards, out, other, workers=0, fresh=True, progress=lambda _: None)
    assert len(_mtimes(out)) == len(items)  # a bad call fails before discarding anything


@pytest.mark.slow
def test_fresh_recomputes_everything_with_the_new_settings(
    small_shards: Path, tmp_path: Path, ray_session,
):
    out = tmp_path / "flow"
    first = run_flow(small_shards, out, CFG, workers=2, progress=lambda _: None)
    other = FlowConfig(method=FlowMethod.FARNEBACK, size_px=SIZE, bound_px=10.0)
    again = run_flow(small_shards, out, other, workers=2, fresh=True, progress=lambda _: None)
    assert again.parts_computed == first.parts_computed == len(_mtimes(out)) == 2
    assert again.pairs_computed == first.pairs_computed > 0
    manifest = read_flow_manifest(out)
    assert (manifest["method"], manifest["bound"]) == ("farneback", 10.0)


def _expected_motion(class_name: str) -> np.ndarray:
    """The class's velocity in flow px per frame: 5 px/frame at 240 px, scaled to SIZE."""
    direction = next(d for d in DIRECTIONS if class_name.endswith(d))
    # tiny_shards keeps the default speed; 20 frames leave room, so no video is slowed down.
    return np.asarray(DIRECTIONS[direction]) * SyntheticSpec.speed_px_per_frame * SIZE / 240


@pytest.mark.slow
def test_flow_job_end_to_end_on_ray(tiny_shards: Path, tmp_path: Path, ray_session, capsys):
    out = tmp_path / "flow"
    argv = ["flow", "--shards", str(tiny_shards), "--out", str(out), "--method", "dis",
            "--size", str(SIZE), "--workers", "2"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "flow: 1/" in printed and "pairs/s overall" in printed  # progress per part
    manifest = read_flow_manifest(out)
    source = read_manifest(tiny_shards)
    frames = {r[C.VIDEO_ID]: r[C.NUM_FRAMES]
              for s in C.SHARD_SPLITS for f in source["files"].get(s, [])
              for r in pq.read_table(tiny_shards / f, columns=[C.VIDEO_ID, C.NUM_FRAMES])
              .to_pylist()}
    assert manifest["splits"] == source["counts"] and manifest["rejects"] == []
    assert manifest["classes"] == source["classes"]
    for rel in manifest["files"]["train"] + manifest["files"]["test"]:
        rows = read_flow_rows(out / rel)
        for i, class_name in enumerate(rows[C.CLASS_NAME]):
            assert rows[C.NUM_FLOWS][i] == frames[rows[C.VIDEO_ID][i]] - 1
            assert (rows[C.HEIGHT][i], rows[C.WIDTH][i]) == (SIZE, 85)
            flows = np.stack([dequantise(x, y, manifest["bound"])
                              for x, y in zip(rows[C.FLOW_X][i], rows[C.FLOW_Y][i])])
            # The moving object is where the flow is large; its median displacement must point
            # the class's way (x right, y down through decode, resize, flow and quantisation).
            want = _expected_motion(class_name)
            moving = np.hypot(flows[..., 0], flows[..., 1]) > np.hypot(*want) / 2
            median = np.median(flows[moving], axis=0)
            assert np.all(np.sign(np.round(median / np.hypot(*want))) == np.sign(want)), \
                f"{rows[C.VIDEO_ID][i]}: median flow {median}, class moves {want}"
            assert np.abs(median - want).max() < 0.5 * np.hypot(*want)

    # Resume: lose one part, rerun; only that part is computed, the others stay untouched.
    before = _mtimes(out)
    lost = manifest["files"]["test"][0]
    (out / lost).unlink()
    assert main(argv) == 0
    after = _mtimes(out)
    assert {k for k in after if after[k] != before[k]} == {lost}
    assert "1 to compute" in capsys.readouterr().out
    assert read_flow_manifest(out) == manifest
