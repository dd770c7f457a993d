"""Simonyan & Zisserman 2014, Tables 1b and 3 in miniature on synthetic motion (8 classes).

The two_stream experiment (spatial CNN-M-2048 on single frames, temporal on L = 10 stacked TV-L1
flow fields with mean subtraction, 25 x 10-view test, averaging and SVM fusion) plus Table 1b's
other temporal inputs, each trained, scored with 25 x 10 views and averaged with the spatial
stream (Table 3's "+ averaging" column): L = 1 and 5; L = 10 without mean subtraction;
trajectory stacking with and without it; bi-directional flow stacking.

Run:      raylab two-stream two_stream_table
Expected: spatial ~0.25 (it cannot see the direction); temporal streams above it; fusion at
          least as good as the better stream. Not yet measured: 8 trainings did not fit the
          2-core budget (see two_stream.py for the measured two-stream rows).
"""

import dataclasses
import importlib.util
from pathlib import Path

from raylab.config import ExperimentConfig, TrackConfig

VARIANTS = (
    (("temporal.stack_length", 1),),
    (("temporal.stack_length", 5),),
    (("temporal.mean_subtraction", False),),
    (("temporal.stacking", "trajectory"),),
    (("temporal.stacking", "trajectory"), ("temporal.mean_subtraction", False)),
    (("temporal.bidirectional", True),),
)


def _two_stream():
    # The recipe lives in two_stream.py; loaded by path (experiments are files, not a package).
    path = Path(__file__).with_name("two_stream.py")
    spec = importlib.util.spec_from_file_location("two_stream_experiment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(cfg: ExperimentConfig, name: str, variants) -> ExperimentConfig:
    return dataclasses.replace(
        cfg, name=name, track=TrackConfig(experiment=name),
        two_stream=dataclasses.replace(cfg.two_stream, temporal_variants=variants))


def config() -> ExperimentConfig:
    return _table(_two_stream().config(), "two_stream_table", VARIANTS)


def smoke() -> ExperimentConfig:
    # One variant of each kind of change keeps the smoke short.
    return _table(_two_stream().smoke(), "two_stream_table_smoke", VARIANTS[3:4])
