"""Checkpoints as a directory: model and optimiser state (torch, weights_only) plus JSON state.

JSON for the small state (epoch, metrics) keeps it readable; `torch.load(weights_only=True)`
refuses pickled code, so loading a checkpoint from elsewhere cannot run arbitrary code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

MODEL_FILE = "model.pt"
OPTIM_FILE = "optimizer.pt"
STATE_FILE = "state.json"


@dataclass
class TrainState:
    """Where training stands: the next epoch to run and the best validation score so far."""

    next_epoch: int = 0
    best_metric: float = float("-inf")
    metrics: dict[str, float] = field(default_factory=dict)


def save(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
         state: TrainState) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), directory / MODEL_FILE)
    torch.save(optimizer.state_dict(), directory / OPTIM_FILE)
    (directory / STATE_FILE).write_text(json.dumps(state.__dict__, indent=1))
    return directory


def load(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None) -> TrainState:
    model.load_state_dict(torch.load(directory / MODEL_FILE, map_location="cpu", weights_only=True))
    if optimizer is not None:
        optimizer.load_state_dict(
            torch.load(directory / OPTIM_FILE, map_location="cpu", weights_only=True))
    return TrainState(**json.loads((directory / STATE_FILE).read_text()))
