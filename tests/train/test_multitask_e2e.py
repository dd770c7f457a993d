"""Multi-task temporal net end to end on a local Ray: UCF-101 + HMDB-51 layouts in one stream,
one head per dataset, loss = sum of both, each dataset validated on its own test set."""

from pathlib import Path

import pytest
import torch

from raylab.config import (
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    ModelName,
    MultiTaskConfig,
    OptimConfig,
    ScaleConfig,
    TemporalConfig,
    TrackConfig,
)
from raylab.track import mlflow as track
from raylab.train.checkpoint import MODEL_FILE
from raylab.train.trainer import fit

pytestmark = pytest.mark.slow


def test_multitask_run_reports_both_datasets_and_sums_their_losses(
        ray_session, tiny_flow_shards, tiny_hmdb_flow_shards, tmp_path):
    cfg = ExperimentConfig(
        name="multitask", workdir=str(tmp_path),
        data=DataConfig(resize_px=48, crop_px=41, flip_p=0.0, train_clips_per_video=2,
                        eval_clips_per_video=2, batch_size=4),
        model=ModelConfig(name=ModelName.CNN_M_2048_TEMPORAL, width_mult=0.0625, dropout=0.0),
        optim=OptimConfig(lr=0.01, num_epochs=2),
        scale=ScaleConfig(num_workers=2, decode_cpus=1, max_failures=0),
        track=TrackConfig(experiment="multitask"),
        temporal=TemporalConfig(flow_shards_dir=str(tiny_flow_shards), stack_length=4),
        multitask=MultiTaskConfig(enabled=True,
                                  flow_shards_dir=str(tiny_hmdb_flow_shards)),
    )
    result = fit(cfg, fresh=True)
    uri = result.tracking_uri
    assert track.run_status(uri, result.run_id) == "FINISHED"
    _, metrics, _ = track.run_data(uri, result.run_id)
    for name in ("ucf101", "hmdb51"):
        for key in (f"val/{name}/video_hit1", f"val/{name}/clip_hit1", f"train/{name}/loss"):
            assert [s for s, _ in track.metric_history(uri, result.run_id, key)] == [0, 1], key
        assert 0.0 <= metrics[f"val/{name}/video_hit1"] <= 1.0
        assert metrics[f"train/{name}/loss"] > 0  # every epoch had samples of both datasets
    # every test video of each dataset, scored on its own head, across both workers
    assert metrics["val/ucf101/num_videos"] == 56
    assert metrics["val/hmdb51/num_videos"] == 8
    assert metrics["val/video_hit1"] == metrics["val/ucf101/video_hit1"]  # the headline
    assert metrics["train/loss"] == pytest.approx(
        metrics["train/ucf101/loss"] + metrics["train/hmdb51/loss"], rel=1e-5)
    state = torch.load(Path(result.checkpoint_dir) / MODEL_FILE, map_location="cpu")
    assert state["heads.0.weight"].shape[0] == 4 and state["heads.1.weight"].shape[0] == 4
    assert not any(k.startswith("trunk.classifier") for k in state)
