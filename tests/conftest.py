"""Shared fixtures: one local Ray for the whole test run and one small synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylab.data.ingest import ingest_ucf101
from raylab.data.sources.synthetic import SyntheticSpec, write_ucf101

# 9 groups: split 1 tests on g01-g07 and trains on g08-g09; 2 shapes x 2 directions.
TINY_SPEC = SyntheticSpec(directions=("Left", "Right"), num_groups=9, clips_per_group=2,
                          num_frames=20, seed=3)


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


@pytest.fixture(scope="session")
def tiny_digits(tmp_path_factory) -> Path:
    """Shards of 6 digits per class in ILSVRC-2012 layout (flat val/), stats at 40 px."""
    from raylab.data.image_ingest import ingest_imagenet
    from raylab.data.sources.synthetic_images import DigitsSpec, write_digits_imagenet

    root = tmp_path_factory.mktemp("tiny_digits")
    write_digits_imagenet(root / "raw", DigitsSpec(height_px=32, per_class=6, val_fraction=0.34))
    ingest_imagenet(root / "raw", root / "shards", resize_px=40, progress=lambda _: None)
    return root / "shards"
