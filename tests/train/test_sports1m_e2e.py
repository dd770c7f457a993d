"""Sports-1M end to end: its layout -> segment shards -> Ray Train -> multi-label video hit@k."""

from pathlib import Path

import pytest

from raylab.config import (
    DataConfig,
    ExperimentConfig,
    IngestConfig,
    ModelConfig,
    ModelName,
    OptimConfig,
    ScaleConfig,
    TrackConfig,
)
from raylab.data.ingest import ingest_sports1m
from raylab.data.sources.synthetic import SyntheticSpec, write_sports1m
from raylab.train.trainer import fit

pytestmark = pytest.mark.slow

# 5 classes x 4 groups of 2 s videos: group 3 (5 videos) is the test partition, and video 19, the
# last of them, has two labels (write_sports1m: every 10th video, every 4th group, 7th absent).
SPEC = SyntheticSpec(shapes=("Disc", "Box", "Triangle", "Cross", "Ring"), directions=("Left",),
                     num_groups=4, num_frames=50, seed=5)


def _downloaded_test_labels(root: Path) -> dict[str, list[int]]:
    """{YouTube id: labels} of the test partition's videos that are in videos/."""
    have = {p.stem for p in (root / "videos").iterdir()}
    out = {}
    for line in (root / "test_partition.txt").read_text().splitlines():
        url, labels = line.split()
        video_id = url.split("v=")[1]
        if video_id in have:
            out[video_id] = [int(x) for x in labels.split(",")]
    return out


def test_sports1m_trains_and_reports_multi_label_hits(ray_session, tmp_path):
    root = tmp_path / "sports1m"
    classes = write_sports1m(root, SPEC)
    manifest = ingest_sports1m(root, tmp_path / "shards",
                               cfg=IngestConfig(segment_s=1.0, val_fraction=0.2,
                                                shard_target_mb=0.1),
                               progress=lambda _: None)
    test_labels = _downloaded_test_labels(root)
    multi = [v for v, labels in test_labels.items() if len(labels) > 1]
    assert len(multi) == 1 and manifest["counts"]["test"] > len(test_labels)  # segment rows

    cfg = ExperimentConfig(
        name="sports1m-e2e", workdir=str(tmp_path),
        data=DataConfig(shards_dir=str(tmp_path / "shards"), resize_px=40, crop_px=32,
                        flip_p=0.0, train_clips_per_video=2, eval_clips_per_video=2,
                        batch_size=4, pixel_scale=64.0),
        model=ModelConfig(name=ModelName.SINGLE_FRAME, width_mult=0.125),
        optim=OptimConfig(lr=0.01, num_epochs=1),
        scale=ScaleConfig(num_workers=2, decode_cpus=1, max_failures=0),
        track=TrackConfig(experiment="sports1m-e2e"),
    )
    metrics = fit(cfg, fresh=True).metrics
    # Segments pooled into their source video, across both workers' shards of the test rows.
    assert metrics["val/num_videos"] == len(test_labels)
    # The label sets reached the metric: the two-label video is known to be one.
    assert metrics["val/num_multi_label_videos"] == 1
    assert 0.0 <= metrics["val/video_hit1"] <= 1.0
    assert metrics["val/video_hit5"] == 1.0  # 5 classes: every true label is in the top 5
    assert len(classes) == 5
