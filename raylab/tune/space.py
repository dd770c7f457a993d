"""The points of a sweep: the cross product of the experiment's `sweep.grid`, as overrides."""

from __future__ import annotations

import itertools
import re

from raylab.config import ExperimentConfig


def grid_points(cfg: ExperimentConfig) -> list[dict[str, object]]:
    """[{"model.name": "single_frame"}, ...]; one empty point when the grid is empty."""
    keys = [k for k, _ in cfg.sweep.grid]
    values = [v for _, v in cfg.sweep.grid]
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def trial_name(base: str, point: dict[str, object]) -> str:
    """Deterministic, path-safe: rerunning a sweep finds the same trial runs again."""
    parts = [f"{k.split('.')[-1]}={v}" for k, v in sorted(point.items())]
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", "-".join([base, *parts]))
