"""The two-stream config sections: validation, overrides, dict round trip, CLI errors."""

import pytest

from raylab.cli import main
from raylab.config import (
    ConfigError,
    ExperimentConfig,
    StackKind,
    TemporalConfig,
    TwoStreamConfig,
    apply_overrides,
    from_dict,
    to_dict,
)


def test_bidirectional_stacks_need_an_even_length():
    with pytest.raises(ConfigError, match="temporal.stack_length: expected an even number"):
        TemporalConfig(stack_length=5, bidirectional=True)
    assert TemporalConfig(stack_length=10, bidirectional=True).stack_length == 10


def test_stream_overrides_and_variants_round_trip_and_are_validated():
    cfg = ExperimentConfig(two_stream=TwoStreamConfig(
        temporal_variants=((("temporal.stacking", "trajectory"),),)))
    assert from_dict(ExperimentConfig, to_dict(cfg)) == cfg
    changed = apply_overrides(cfg, {"temporal.stacking": "trajectory",
                                    "temporal.stack_length": "4"})
    assert changed.temporal.stacking is StackKind.TRAJECTORY and changed.temporal.stack_length == 4
    with pytest.raises(ConfigError, match="temporal.stacking: expected one of flow, trajectory"):
        ExperimentConfig(two_stream=TwoStreamConfig(
            temporal_variants=((("temporal.stacking", "zigzag"),),)))
    with pytest.raises(ConfigError, match="model.nme: unknown config key"):
        ExperimentConfig(two_stream=TwoStreamConfig(spatial=(("model.nme", "x"),)))


def test_cli_two_stream_bad_override_is_one_line_exit_2(capsys):
    assert main(["two-stream", "two_stream", "--set", "temporal.stack_length=0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "temporal.stack_length" in err


def test_every_table_variant_builds_its_stream_config():
    # Variants are applied one at a time on the temporal stream: L=1 must not be checked
    # against the bi-directional variant (which needs an even L).
    from raylab import experiments
    from raylab.config import StackKind
    from raylab.two_stream import stream_config

    cfg = experiments.load("two_stream_table")
    temporal = stream_config(cfg, "temporal", cfg.two_stream.temporal)
    built = [stream_config(temporal, f"variant{i}", v).temporal
             for i, v in enumerate(cfg.two_stream.temporal_variants)]
    assert [t.stack_length for t in built][:2] == [1, 5]
    assert any(t.bidirectional for t in built) and any(
        t.stacking == StackKind.TRAJECTORY for t in built)
    assert temporal.two_stream.test_frames == cfg.two_stream.test_frames


def _flow_dir(path):
    path.mkdir(parents=True)
    (path / "manifest.json").write_text("{}")  # ensure_flow checks only that it exists
    return str(path)


def test_multitask_variant_gets_the_second_dataset_and_the_spatial_stream_may_not(tmp_path):
    from raylab import experiments
    from raylab.two_stream import plan_streams, variant_name

    cfg = experiments.load("two_stream_multitask", overrides={
        "workdir": str(tmp_path), "temporal.flow_shards_dir": _flow_dir(tmp_path / "ucf"),
        "multitask.flow_shards_dir": _flow_dir(tmp_path / "hmdb")})
    spatial, temporal, (variant,) = plan_streams(cfg, progress=lambda _: None)
    assert not spatial.multitask.enabled and not temporal.multitask.enabled
    assert variant.multitask.enabled and variant.multitask.flow_shards_dir.endswith("hmdb")
    assert variant.temporal == temporal.temporal and variant.name.endswith("-variant0")
    assert cfg.two_stream.variant_svm
    assert variant_name(cfg.two_stream.temporal_variants[0]) == "multitask.enabled=True"
    with pytest.raises(ConfigError, match="multitask.enabled: expected false for "
                                          "two_stream_multitask-spatial"):
        plan_streams(apply_overrides(cfg, {"multitask.enabled": "true"}))


def test_synthetic_hmdb51_is_only_made_beside_the_demo_flow(tmp_path):
    from raylab import experiments
    from raylab.two_stream import plan_streams

    cfg = experiments.load("two_stream_multitask", overrides={
        "workdir": str(tmp_path), "temporal.flow_shards_dir": _flow_dir(tmp_path / "ucf")})
    with pytest.raises(ConfigError, match="multitask.flow_shards_dir: empty, and temporal"):
        plan_streams(cfg, progress=lambda _: None)
    with pytest.raises(ConfigError, match="multitask.flow_shards_dir: .*nowhere has no manif"):
        plan_streams(apply_overrides(cfg, {"multitask.flow_shards_dir": "nowhere"}))
