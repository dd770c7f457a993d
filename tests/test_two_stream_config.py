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
