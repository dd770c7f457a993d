"""Images end to end on a local Ray: tiny digits in ILSVRC layout -> image pipeline -> Ray Train
(2 workers) with the per-pixel mean, PCA lighting and 10-view testing -> top-k error in MLflow."""

import dataclasses

import pytest

from raylab.config import (
    ConfigError,
    DataConfig,
    DecodeSite,
    ExperimentConfig,
    MeanRemoval,
    ModelConfig,
    ModelName,
    OptimConfig,
    ScaleConfig,
    TrackConfig,
)
from raylab.data import columns as C
from raylab.data.pipeline import image_eval_dataset, image_train_dataset
from raylab.data.shards import read_manifest
from raylab.track import mlflow as track
from raylab.train.trainer import fit

pytestmark = pytest.mark.slow


def _files(shards, split):
    return [str(shards / f) for f in read_manifest(shards)["files"][split]]


def test_image_datasets_emit_clip_shaped_rows(ray_session, tiny_digits):
    counts = read_manifest(tiny_digits)["counts"]
    train = image_train_dataset(_files(tiny_digits, "train"), size_px=40, copies_per_image=2,
                                seed=0, epochs=range(0, 2)).take_all()
    assert len(train) == 2 * 2 * counts["train"]
    assert train[0][C.FRAMES].shape == (1, 40, 40, 3)
    assert sorted({r[C.CLIP_INDEX] for r in train}) == [0, 1]
    assert all(r[C.DECODE_OK] for r in train)
    test = image_eval_dataset(_files(tiny_digits, "test"), size_px=40).take_all()
    ids = [r[C.VIDEO_ID] for r in test]
    assert len(ids) == len(set(ids)) == counts["test"]  # one row per image: views come later


def _cfg(shards, workdir, **data) -> ExperimentConfig:
    return ExperimentConfig(
        name="img-e2e", workdir=str(workdir),
        data=DataConfig(shards_dir=str(shards), resize_px=72, crop_px=64, batch_size=4,
                        pixel_scale=64.0, mean_removal=MeanRemoval.PER_PIXEL,
                        pca_lighting_std=0.1, **data),
        model=ModelConfig(name=ModelName.ALEXNET, width_mult=0.125),
        optim=OptimConfig(lr=0.01, num_epochs=2),
        scale=ScaleConfig(num_workers=2, decode_cpus=1, max_failures=0),
        track=TrackConfig(experiment="img-e2e"),
    )


def test_alexnet_trains_on_digits_and_logs_top_k_error(ray_session, tiny_digits, tmp_path):
    # stats were computed at 40 px: the mean image is resampled to the 72 px training resize
    result = fit(_cfg(tiny_digits, tmp_path), fresh=True)
    assert result.dataset_kind == "image"
    uri = result.tracking_uri
    assert track.run_status(uri, result.run_id) == "FINISHED"
    _, metrics, _ = track.run_data(uri, result.run_id)
    for key in ("val/top1_err", "val/top5_err", "val/view_top1_err", "train/loss"):
        assert [s for s, _ in track.metric_history(uri, result.run_id, key)] == [0, 1], key
    assert "val/video_hit1" not in metrics
    assert metrics["val/num_images"] == 20  # every val image, across both workers
    assert metrics["val/num_views"] == 200  # ten views each
    assert 0.0 <= metrics["val/top5_err"] <= metrics["val/top1_err"] <= 1.0
    assert metrics["data/decode_failures"] == 0
    assert "val top-1 err" in result.summary()


def test_jpegs_decoded_on_the_worker_train_and_score_every_image(ray_session, tiny_digits,
                                                                 tmp_path):
    cfg = _cfg(tiny_digits, tmp_path, decode_on=DecodeSite.WORKER)
    result = fit(dataclasses.replace(cfg, optim=OptimConfig(lr=0.01, num_epochs=1)), fresh=True)
    _, metrics, _ = track.run_data(result.tracking_uri, result.run_id)
    assert metrics["val/num_images"] == 20 and metrics["val/num_views"] == 200
    assert metrics["data/decode_failures"] == 0
    assert metrics["throughput/clips_per_s"] > 0


def test_video_datasets_refuse_image_statistics(tiny_shards, tmp_path):
    with pytest.raises(ConfigError, match="data.mean_removal=per_pixel.*video dataset"):
        fit(_cfg(tiny_shards, tmp_path), fresh=True)
