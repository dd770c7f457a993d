"""SGD with momentum and weight decay, and the learning rate as a pure function of the epoch."""

from __future__ import annotations

import torch
from torch import nn

from raylab.config import OptimConfig


def make_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.SGD:
    """SGD, momentum 0.9, weight decay 5e-4 (Krizhevsky et al. 2012 sec. 5)."""
    return torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def lr_at(epoch: int, cfg: OptimConfig) -> float:
    """Step decay: lr times lr_decay_factor for every decay epoch already reached."""
    drops = sum(1 for e in cfg.lr_decay_epochs if epoch >= e)
    return cfg.lr * cfg.lr_decay_factor**drops


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
