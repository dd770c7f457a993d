"""End to end on a local Ray: Ray Train with 2 workers and MLflow; a 2-trial Tune sweep."""

import dataclasses
from pathlib import Path

import pytest

from raylab.config import (
    ColourJitter,
    ConfigError,
    DataConfig,
    DecodeSite,
    ExperimentConfig,
    ModelConfig,
    ModelName,
    OptimConfig,
    ScaleConfig,
    SweepConfig,
    TrackConfig,
    flatten,
)
from raylab.track import mlflow as track
from raylab.train.trainer import fit
from raylab.tune.run import run_sweep

pytestmark = pytest.mark.slow


def _cfg(shards: Path, workdir: Path, **kw) -> ExperimentConfig:
    base = ExperimentConfig(
        name="e2e", workdir=str(workdir),
        data=DataConfig(shards_dir=str(shards), resize_px=40, crop_px=32, flip_p=0.0,
                        train_clips_per_video=2, eval_clips_per_video=2, batch_size=4,
                        pixel_scale=64.0),
        model=ModelConfig(name=ModelName.SLOW_FUSION, width_mult=0.125),
        optim=OptimConfig(lr=0.01, num_epochs=2),
        scale=ScaleConfig(num_workers=2, decode_cpus=1, max_failures=0),
        track=TrackConfig(experiment="e2e"),
    )
    return dataclasses.replace(base, **kw)


def test_train_two_workers_logs_a_complete_mlflow_run(ray_session, tiny_shards, tmp_path):
    cfg = _cfg(tiny_shards, tmp_path)
    result = fit(cfg, fresh=True)
    uri = result.tracking_uri
    assert uri.startswith("sqlite:///") and str(tmp_path) in uri
    assert track.run_status(uri, result.run_id) == "FINISHED"
    params, metrics, _ = track.run_data(uri, result.run_id)
    expected = {k: str(v) for k, v in flatten(cfg).items()}
    assert {k: params[k] for k in expected} == expected
    for key in ("val/video_hit1", "val/video_hit5", "val/clip_hit1", "train/loss",
                "throughput/clips_per_s", "data/decode_failures"):
        assert [s for s, _ in track.metric_history(uri, result.run_id, key)] == [0, 1], key
    assert metrics["data/decode_failures"] == 0
    assert 0.0 <= metrics["val/video_hit1"] <= 1.0
    assert metrics["val/num_videos"] == 56  # every test video scored, across both workers
    artifacts = track.list_artifacts(uri, result.run_id)
    assert "confusion_matrix.png" in artifacts
    assert set(track.list_artifacts(uri, result.run_id, "best_checkpoint")) >= {
        "best_checkpoint/model.pt", "best_checkpoint/state.json"}
    assert result.metrics["epoch"] == 1.0


def test_clips_decoded_on_the_worker_score_every_test_video(ray_session, tiny_shards, tmp_path):
    base = _cfg(tiny_shards, tmp_path, optim=OptimConfig(lr=0.01, num_epochs=1))
    cfg = dataclasses.replace(base, data=dataclasses.replace(base.data,
                                                             decode_on=DecodeSite.WORKER))
    result = fit(cfg, fresh=True)
    _, metrics, _ = track.run_data(result.tracking_uri, result.run_id)
    assert metrics["val/num_videos"] == 56 and metrics["data/decode_failures"] == 0
    assert 0.0 <= metrics["val/video_hit1"] <= 1.0


def test_failed_training_marks_the_run_failed(ray_session, tiny_shards, tmp_path):
    broken = tmp_path / "broken_shards"
    broken.mkdir()
    (broken / "manifest.json").write_text((tiny_shards / "manifest.json").read_text())
    # the manifest names shard files that are not there: reading them fails inside Ray
    cfg = _cfg(broken, tmp_path, name="e2e-broken")
    with pytest.raises(Exception):  # noqa: B017 - whatever Ray wraps the read error in
        fit(cfg, fresh=True)
    uri = track.tracking_uri("", tmp_path)
    exp = track.ensure_experiment(uri, "e2e", tmp_path)
    assert track.run_statuses(uri, exp, run_key="e2e-broken") == ["FAILED"]


def test_sweep_runs_two_trials_as_nested_runs(ray_session, tiny_shards, tmp_path):
    cfg = _cfg(tiny_shards, tmp_path, name="sweep-e2e",
               optim=OptimConfig(lr=0.01, num_epochs=1),
               sweep=SweepConfig(grid=(("model.name", ("single_frame", "slow_fusion")),)))
    summary = run_sweep(cfg)
    assert len(summary.rows) == 2 and not any(r["error"] for r in summary.rows)
    assert all("val/video_hit1" in r for r in summary.rows)
    # the loopback server is gone; read the same store directly
    uri = track.tracking_uri("", tmp_path)
    exp = track.ensure_experiment(uri, "e2e", tmp_path)
    children = track.child_runs(uri, exp, summary.parent_run_id)
    assert len(children) == 2
    names = set()
    for run_id in children:
        assert track.run_status(uri, run_id) == "FINISHED"
        params, _, _ = track.run_data(uri, run_id)
        names.add(params["model.name"])
    assert names == {"single_frame", "slow_fusion"}
    assert track.run_status(uri, summary.parent_run_id) == "FINISHED"
    assert "single_frame" in summary.table() and "slow_fusion" in summary.table()


def test_rerun_resumes_from_the_last_checkpoint(ray_session, tiny_shards, tmp_path):
    cfg = _cfg(tiny_shards, tmp_path, name="e2e-resume",
               model=ModelConfig(name=ModelName.SINGLE_FRAME, width_mult=0.125),
               optim=OptimConfig(lr=0.01, num_epochs=1))
    first = fit(cfg, fresh=True)
    with pytest.raises(ConfigError, match="already trained"):
        fit(cfg)
    longer = dataclasses.replace(cfg, optim=OptimConfig(lr=0.01, num_epochs=2))
    second = fit(longer)
    assert second.metrics["epoch"] == 1.0
    # only the new epoch was trained and logged in the continuing run
    assert [s for s, _ in track.metric_history(
        second.tracking_uri, second.run_id, "train/loss")] == [1]
    assert first.run_id != second.run_id  # the first run had FINISHED; a new run continues it


def test_multires_with_colour_jitter_trains_through_ray(ray_session, tiny_shards, tmp_path):
    """The worker cuts the multires net's fovea and context views after a jittered crop."""
    cfg = _cfg(tiny_shards, tmp_path, name="e2e-multires",
               model=ModelConfig(name=ModelName.MULTIRES, width_mult=0.125),
               optim=OptimConfig(lr=0.01, num_epochs=1),
               scale=ScaleConfig(num_workers=1, decode_cpus=1, max_failures=0))
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, resize_px=56, crop_px=48, colour_jitter=ColourJitter(brightness=0.4, hue=0.1)))
    result = fit(cfg, fresh=True)
    assert track.run_status(result.tracking_uri, result.run_id) == "FINISHED"
    assert result.metrics["val/num_videos"] == 56 and result.metrics["train/loss"] > 0
