"""The two-stream protocol end to end on a local Ray: both streams, 25x10-style test, fusions."""

import pytest

from raylab import experiments
from raylab.config import apply_overrides
from raylab.track import mlflow as track
from raylab.two_stream import run_two_stream

pytestmark = pytest.mark.slow


def test_two_stream_smoke_logs_both_streams_and_fusions_under_one_parent(
        ray_session, tiny_shards, tiny_flow_shards, tmp_path):
    cfg = experiments.load("two_stream", smoke=True, overrides={
        "workdir": str(tmp_path), "data.shards_dir": str(tiny_shards),
        "temporal.flow_shards_dir": str(tiny_flow_shards), "scale.max_failures": "0",
        "temporal.stacking": "trajectory",
    })
    result = run_two_stream(cfg)
    uri = result.tracking_uri
    assert track.run_status(uri, result.parent_run_id) == "FINISHED"
    exp = track.ensure_experiment(uri, cfg.track.experiment, tmp_path)
    children = track.child_runs(uri, exp, result.parent_run_id)
    assert len(children) == 2  # spatial, temporal
    names = {track.run_data(uri, c)[0]["model.name"] for c in children}
    assert names == {"cnn_m_2048", "cnn_m_2048_temporal"}
    for child in children:
        assert track.run_status(uri, child) == "FINISHED"
        assert 0 <= track.run_data(uri, child)[1]["test/hit1_25x10"] <= 1
    _, parent_metrics, _ = track.run_data(uri, result.parent_run_id)
    for key in ("test/spatial_hit1", "test/temporal_hit1", "test/fused_average_hit1",
                "test/fused_svm_hit1"):
        assert 0.0 <= parent_metrics[key] <= 1.0, key
    assert parent_metrics["test/num_videos"] == 56  # every test video, fused by id
    # every test video was scored by both streams on both splits
    assert len(result.spatial.test.video_ids) == len(result.temporal.test.video_ids) == 56
    assert result.temporal.train is not None and len(result.temporal.train.video_ids) == 16
    assert "linear SVM" in result.table()


def test_multitask_smoke_scores_both_heads_and_fuses_the_first_with_the_spatial_stream(
        ray_session, tiny_shards, tiny_flow_shards, tiny_hmdb_flow_shards, tmp_path):
    cfg = experiments.load("two_stream_multitask", smoke=True, overrides={
        "workdir": str(tmp_path), "data.shards_dir": str(tiny_shards),
        "temporal.flow_shards_dir": str(tiny_flow_shards),
        "multitask.flow_shards_dir": str(tiny_hmdb_flow_shards), "scale.max_failures": "0",
        "model.width_mult": "0.0625", "two_stream.test_frames": "1"})
    result = run_two_stream(cfg)
    uri = result.tracking_uri
    assert track.run_status(uri, result.parent_run_id) == "FINISHED"
    exp = track.ensure_experiment(uri, cfg.track.experiment, tmp_path)
    children = {track.run_data(uri, c)[0]["name"].removeprefix(f"{cfg.name}-"): c
                for c in track.child_runs(uri, exp, result.parent_run_id)}
    assert set(children) == {"spatial", "temporal", "temporal-variant0"}
    params, child_metrics, _ = track.run_data(uri, children["temporal-variant0"])
    assert params["multitask.enabled"] == "True"
    assert params["multitask.flow_shards_dir"] == str(tiny_hmdb_flow_shards)
    # UCF-101's 56 test videos on its head (the fused ones), HMDB-51's 8 on its own.
    assert child_metrics["test/num_videos"] == 56 and child_metrics["test/hmdb51/num_videos"] == 8
    variant = result.variants[0]
    assert variant.stream.test.probs.shape == (56, 4)
    assert variant.stream.other_tests["hmdb51"].probs.shape == (8, 4)
    assert variant.stream.train is not None and len(variant.stream.train.video_ids) == 16
    assert result.temporal.other_tests == {}
    _, m, _ = track.run_data(uri, result.parent_run_id)
    assert m["test/variant0_hmdb51_hit1"] == child_metrics["test/hmdb51/hit1_25x10"]
    for key in ("test/fused_svm_hit1", "test/variant0_temporal_hit1",
                "test/variant0_fused_average_hit1", "test/variant0_fused_svm_hit1"):
        assert 0.0 <= m[key] <= 1.0, key
    assert "test/temporal_hmdb51_hit1" not in m  # the single-task stream has one head
    assert "hmdb51 test on its own head" in result.table()


def test_stream_overrides_are_checked_when_the_experiment_loads():
    cfg = experiments.load("two_stream", smoke=True)
    with pytest.raises(Exception, match="temporal.stack_length"):
        apply_overrides(cfg, {"two_stream.temporal_variants": [[["temporal.stack_length", 0]]]})
