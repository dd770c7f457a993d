"""Two-stage fine-tuning through Ray Train: one parent MLflow run, two stage runs, and stage 1
really trains only the new head (pre-trained layers unchanged) while stage 2 trains them all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from raylab.config import (
    DataConfig,
    ExperimentConfig,
    FinetuneDepth,
    ModelConfig,
    ModelName,
    OptimConfig,
    ScaleConfig,
    TrackConfig,
    TransferConfig,
)
from raylab.models.build import build_model
from raylab.track import mlflow as track
from raylab.train import checkpoint as ckpt
from raylab.train.optim import make_optimizer
from raylab.train.pretrained import load_state, resolve
from raylab.train.stages import fit_experiment, stage_configs

pytestmark = pytest.mark.slow
MODEL = ModelConfig(name=ModelName.SINGLE_FRAME, width_mult=0.125)


def _pretrained(directory: Path) -> dict:
    """A raylab checkpoint of the same net with a 6-class head (the source task's classes)."""
    torch.manual_seed(9)
    source = build_model(MODEL, num_classes=6, crop_px=32)
    ckpt.save(directory, source, make_optimizer(source, OptimConfig()), ckpt.TrainState())
    return source.state_dict()


def test_two_stage_runs_both_fits_under_one_parent_run(ray_session, tiny_shards, tmp_path):
    source = _pretrained(tmp_path / "source_checkpoint")
    cfg = ExperimentConfig(
        name="two-stage", workdir=str(tmp_path),
        data=DataConfig(shards_dir=str(tiny_shards), resize_px=40, crop_px=32, flip_p=0.0,
                        train_clips_per_video=2, eval_clips_per_video=2, batch_size=4,
                        pixel_scale=64.0),
        model=MODEL, optim=OptimConfig(lr=0.01, num_epochs=1),
        scale=ScaleConfig(num_workers=2, decode_cpus=1, max_failures=0),
        track=TrackConfig(experiment="two-stage"),
        transfer=TransferConfig(init_from=str(tmp_path / "source_checkpoint"),
                                depth=FinetuneDepth.ALL, pretrained_lr_mult=0.1,
                                stage1_epochs=1),
    )
    result = fit_experiment(cfg, fresh=True)
    uri = result.tracking_uri
    exp = track.ensure_experiment(uri, "two-stage", tmp_path)
    assert track.run_status(uri, result.run_id) == "FINISHED"
    children = track.child_runs(uri, exp, result.run_id)
    params = {track.run_data(uri, c)[0]["transfer.depth"]: c for c in children}
    assert set(params) == {"last_layer", "all"} and len(children) == 2
    for run_id in children:
        assert track.run_status(uri, run_id) == "FINISHED"
        assert "per_class_accuracy.json" in track.list_artifacts(uri, run_id)
    _, stage2 = stage_configs(cfg)
    assert track.run_data(uri, params["all"])[0]["transfer.init_from"] == (
        stage2.transfer.init_from)
    _, parent_metrics, _ = track.run_data(uri, result.run_id)
    assert parent_metrics["val/video_hit1"] == result.metrics["val/video_hit1"]
    assert 0 <= parent_metrics["val/mean_class_acc"] <= 1

    def trained(name: str) -> dict:
        return load_state(resolve(str(tmp_path / "ray_results" / name), tracking_uri=uri,
                                  download_dir=tmp_path))

    after1, after2 = trained("two-stage-stage1"), trained("two-stage-stage2")
    body = [k for k in source if not k.startswith("classifier")]
    # stage 1: pre-trained layers frozen (bit for bit), the new 4-class head trained
    assert all(torch.equal(after1[k], source[k]) for k in body)
    assert after1["classifier.weight"].shape == (4, source["classifier.weight"].shape[1])
    # stage 2 starts from stage 1 and moves the pre-trained layers too
    assert not torch.equal(after2["convs.conv1.0.0.weight"], source["convs.conv1.0.0.weight"])
    assert not torch.equal(after2["classifier.weight"], after1["classifier.weight"])
    per_class = json.loads((Path(track.download(
        uri, f"runs:/{params['all']}/per_class_accuracy.json", tmp_path / "pc"))).read_text())
    assert sorted(per_class) == sorted(json.loads(
        (tiny_shards / "manifest.json").read_text())["classes"])
