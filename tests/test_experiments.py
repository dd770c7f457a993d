"""Every experiment file loads, in full and smoke form, into a valid config of known models."""

import pytest

from raylab import experiments
from raylab.config import ExperimentConfig
from raylab.models.build import MODELS
from raylab.tune.space import grid_points


@pytest.mark.parametrize("name", experiments.available())
@pytest.mark.parametrize("smoke", [False, True])
def test_experiment_loads(name, smoke):
    cfg = experiments.load(name, smoke=smoke)
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.model.name in MODELS
    for point in grid_points(cfg):
        assert experiments.load(name, smoke=smoke, overrides={
            k: str(v) for k, v in point.items()}).model.name in MODELS


def test_experiments_are_found():
    assert {"karpathy_fusion", "karpathy_table", "karpathy_transfer", "alexnet_digits"} <= set(
        experiments.available())
