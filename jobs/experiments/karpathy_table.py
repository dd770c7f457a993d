"""Karpathy et al. 2014, Table 1's models side by side on synthetic motion (8 classes).

Same data and recipe as karpathy_fusion (shape x direction; one frame shows only the shape),
one trial per temporal-connectivity variant: single frame, early fusion (10 frames fused at
conv1), late fusion (2 frames 15 apart, fused at fc6), slow fusion, and the multiresolution
single-frame net (fovea + context streams).

Run:      raylab sweep karpathy_table              (5 trials, one nested MLflow run each)
Expected: the nets that see motion (early, late, slow) far above the frame-only ones (single,
          multires), whose ceiling is 0.25 video hit@1 (chance 0.125). Measured on 2 CPU cores
          (10 min): video hit@1 single 0.25, early 1.00, late 1.00, slow 1.00, multires 0.25.
"""

import dataclasses
from pathlib import Path

from raylab import experiments
from raylab.config import ExperimentConfig, SweepConfig, TrackConfig

MODELS = ("single_frame", "early_fusion", "late_fusion", "slow_fusion", "multires")


# The recipe lives in karpathy_fusion.py, loaded by path like any experiment file, so both
# tables always share it.
RECIPE = str(Path(__file__).with_name("karpathy_fusion.py"))


def _table(cfg: ExperimentConfig, name: str) -> ExperimentConfig:
    return dataclasses.replace(
        cfg, name=name, track=TrackConfig(experiment=name),
        # grace = all epochs: no early stopping, every variant gets the full table row
        sweep=SweepConfig(grid=(("model.name", MODELS),),
                          grace_period_epochs=cfg.optim.num_epochs),
    )


def config() -> ExperimentConfig:
    return _table(experiments.load(RECIPE), "karpathy_table")


def smoke() -> ExperimentConfig:
    return _table(experiments.load(RECIPE, smoke=True), "karpathy_table_smoke")
