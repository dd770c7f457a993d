"""Config round-trip, dotted overrides and the one-line errors for bad ones."""

import json

import pytest

from raylab.config import (
    ConfigError,
    ExperimentConfig,
    ModelName,
    apply_overrides,
    flatten,
    from_dict,
    parse_overrides,
    to_dict,
)


def test_round_trip_through_json_is_identity():
    cfg = apply_overrides(ExperimentConfig(),
                          {"optim.lr_decay_epochs": "3,6", "model.dropout": "0.9"})
    again = from_dict(ExperimentConfig, json.loads(json.dumps(to_dict(cfg))))
    assert again == cfg
    assert again.optim.lr_decay_epochs == (3, 6)


def test_overrides_are_typed():
    cfg = apply_overrides(ExperimentConfig(), parse_overrides(
        ["model.name=slow_fusion", "data.batch_size=8", "optim.lr=0.05", "scale.use_gpu=true"]))
    assert cfg.model.name is ModelName.SLOW_FUSION
    assert cfg.data.batch_size == 8 and isinstance(cfg.data.batch_size, int)
    assert cfg.optim.lr == pytest.approx(0.05)
    assert cfg.scale.use_gpu is True


@pytest.mark.parametrize("override, fragment", [
    ({"optim.lrr": "1"}, "optim.lrr: unknown config key"),
    ({"nope.lr": "1"}, "nope: unknown config key"),
    ({"model.name": "resnet"}, "model.name: expected one of"),
    ({"data.batch_size": "many"}, "data.batch_size: expected int"),
    ({"data.crop_px": "500"}, "data.crop_px: expected a positive pixel count <= data.resize_px"),
    ({"model.dropout": "1.5"}, "model.dropout: expected a ratio in [0, 1)"),
    ({"optim": "3"}, "optim: is a section"),
    ({"data.colour_jitter.hue": "0.6"}, "data.colour_jitter.hue: expected a fraction of a turn"),
    ({"data.colour_jitter.brightness": "-0.1"}, "data.colour_jitter.brightness: expected >= 0"),
    ({"data.colour_jitter.p": "2"}, "data.colour_jitter.p: expected a probability"),
])
def test_bad_overrides_name_the_key(override, fragment):
    with pytest.raises(ConfigError) as err:
        apply_overrides(ExperimentConfig(), override)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_set_without_equals_is_rejected():
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_overrides(["optim.lr"])


def test_sweep_grid_values_are_validated_up_front():
    with pytest.raises(ConfigError, match="model.name"):
        apply_overrides(ExperimentConfig(), {"sweep.grid": [["model.name", ["alexnet9000"]]]})


def test_flatten_gives_dotted_keys_for_every_leaf():
    flat = flatten(ExperimentConfig())
    assert flat["optim.lr"] == ExperimentConfig().optim.lr
    assert flat["model.name"] == "single_frame"
    assert not any(isinstance(v, dict) for v in flat.values())


def test_colour_jitter_is_off_by_default_and_set_by_any_strength():
    cfg = ExperimentConfig()
    assert not cfg.data.colour_jitter.enabled
    on = apply_overrides(cfg, {"data.colour_jitter.brightness": "0.4",
                               "data.colour_jitter.hue": "0.1"})
    assert on.data.colour_jitter.enabled and on.data.colour_jitter.p == 1.0
    assert from_dict(ExperimentConfig, json.loads(json.dumps(to_dict(on)))) == on
    assert flatten(on)["data.colour_jitter.hue"] == 0.1
    assert not apply_overrides(on, {"data.colour_jitter.p": "0"}).data.colour_jitter.enabled
