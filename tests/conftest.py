"""Shared fixtures: one local Ray for the whole test run and one small synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylab.data.ingest import ingest_hmdb51, ingest_ucf101
from raylab.data.sources.synthetic import SyntheticSpec, write_hmdb51, write_ucf101

# 9 groups: split 1 tests on g01-g07 and trains on g08-g09; 2 shapes x 2 directions.
TINY_SPEC = SyntheticSpec(directions=("Left", "Right"), num_groups=9, clips_per_group=2,
                          num_frames=20, seed=3)
# HMDB-51 layout, other motions than TINY_SPEC's: 2 shapes x up/down, one source video per group.
TINY_HMDB_SPEC = SyntheticSpec(directions=("Up", "Down"), num_groups=5, clips_per_group=1,
                               num_frames=20, seed=4)


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray on 127.0.0.1 shared by every test that needs one (started once: ~10 s)."""
    import ray

    # 4 logical CPUs on 2 cores: 2 train workers + 1 decode CPU + 1 Tune trial driver.
    ray.init(num_cpus=4, dashboard_host="127.0.0.1", include_dashboard=True,
             log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory) -> Path:
    """Shards of a 4-class synthetic UCF-101-layout dataset (split 1)."""
    root = tmp_path_factory.mktemp("tiny_ucf101")
    write_ucf101(root, TINY_SPEC)
    out = root / "shards"
    ingest_ucf101(root, 1, out, progress=lambda _: None)
    return out


def write_motion_flow(shards: Path, out: Path, *, size_px: int = 32, speed_px: float = 2.0,
                      bound: float = 8.0) -> dict:
    """Flow shards for the videos of `shards` from known motion, no flow estimation: a square
    object of the class's direction ("...Left" moves left) over a still background."""
    import numpy as np
    import pyarrow.parquet as pq

    from raylab.data import columns as C
    from raylab.data.flow_shards import quantise, write_flow_shards
    from raylab.data.shards import read_manifest
    from raylab.data.sources.synthetic import DIRECTIONS

    manifest = read_manifest(shards)
    rows = []
    for split in C.SHARD_SPLITS:
        for rel in manifest["files"].get(split, []):
            table = pq.read_table(shards / rel, columns=[
                C.VIDEO_ID, C.LABEL, C.CLASS_NAME, C.SPLIT, C.GROUP, C.NUM_FRAMES]).to_pylist()
            for video in table:
                name = video[C.CLASS_NAME].lower()  # UCF-101 "DiscLeft", HMDB-51 "disc_left"
                dx, dy = DIRECTIONS[next(d for d in DIRECTIONS if name.endswith(d.lower()))]
                fields = []
                for t in range(video[C.NUM_FRAMES] - 1):
                    field = np.zeros((size_px, size_px, 2), np.float32)
                    c = size_px // 2 + int(round((t - video[C.NUM_FRAMES] / 2) * 0.3))
                    field[c - 5:c + 5, c - 5:c + 5] = (dx * speed_px, dy * speed_px)
                    fields.append(quantise(field, bound))
                rows.append({
                    C.VIDEO_ID: video[C.VIDEO_ID], C.LABEL: video[C.LABEL],
                    C.CLASS_NAME: video[C.CLASS_NAME], C.SPLIT: video[C.SPLIT],
                    C.GROUP: video[C.GROUP], C.NUM_FLOWS: len(fields),
                    C.HEIGHT: size_px, C.WIDTH: size_px,
                    C.FLOW_X: [x for x, _ in fields], C.FLOW_Y: [y for _, y in fields]})
    return write_flow_shards(rows, out, {
        "method": "known-motion", "bound": bound, "size": size_px,
        "classes": manifest["classes"], "source_shards": str(shards), "rejects": []})


@pytest.fixture(scope="session")
def tiny_flow_shards(tiny_shards, tmp_path_factory) -> Path:
    """Flow shards of `tiny_shards` from the classes' known motion (see write_motion_flow)."""
    out = tmp_path_factory.mktemp("tiny_flow")
    write_motion_flow(tiny_shards, out)
    return out


@pytest.fixture(scope="session")
def tiny_hmdb_flow_shards(tmp_path_factory) -> Path:
    """Flow shards of a 4-class synthetic HMDB-51-layout dataset (split 1) from known motion."""
    root = tmp_path_factory.mktemp("tiny_hmdb51")
    write_hmdb51(root / "raw", TINY_HMDB_SPEC)
    ingest_hmdb51(root / "raw", 1, root / "shards", progress=lambda _: None)
    write_motion_flow(root / "shards", root / "flow")
    return root / "flow"


@pytest.fixture(scope="session")
def tiny_digits(ray_session, tmp_path_factory) -> Path:
    """Shards of 6 digits per class in ILSVRC-2012 layout (flat val/), stats at 40 px."""
    from raylab.data.image_ingest import ingest_imagenet
    from raylab.data.sources.synthetic_images import DigitsSpec, write_digits_imagenet

    root = tmp_path_factory.mktemp("tiny_digits")
    write_digits_imagenet(root / "raw", DigitsSpec(height_px=32, per_class=6, val_fraction=0.34))
    ingest_imagenet(root / "raw", root / "shards", resize_px=40, progress=lambda _: None)
    return root / "shards"
