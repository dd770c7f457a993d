"""Sweep grid points, trial names and when ASHA is used (no Ray cluster needed)."""

import dataclasses

from raylab.config import ExperimentConfig, OptimConfig, SweepConfig
from raylab.tune.run import _scheduler
from raylab.tune.space import grid_points, trial_name


def test_grid_is_the_cross_product_and_names_are_stable():
    cfg = ExperimentConfig(sweep=SweepConfig(grid=(
        ("model.name", ("single_frame", "slow_fusion")), ("model.dropout", (0.5, 0.9)))))
    points = grid_points(cfg)
    assert len(points) == 4
    assert {"model.name": "slow_fusion", "model.dropout": 0.9} in points
    names = [trial_name("exp", p) for p in points]
    assert len(set(names)) == 4 and all("/" not in n for n in names)
    assert trial_name("exp", points[0]) == trial_name("exp", dict(reversed(points[0].items())))


def test_asha_only_when_there_are_epochs_to_save():
    cfg = ExperimentConfig(sweep=SweepConfig(grace_period_epochs=2))
    assert _scheduler(dataclasses.replace(cfg, optim=OptimConfig(num_epochs=2))) is None
    asha = _scheduler(dataclasses.replace(cfg, optim=OptimConfig(num_epochs=8)))
    assert asha is not None
    # rungs strictly before the last epoch, so no trial is killed as it finishes
    rungs = [milestone for milestone, _ in asha._brackets[0]._rungs]  # Ray internals, 2.60
    assert rungs and max(rungs) < 8
