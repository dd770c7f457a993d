"""SGD with momentum and weight decay, and the learning rate as a pure function of the step.

`lr_at(step, steps_per_epoch, cfg)` is the whole schedule: no scheduler object carries state,
so a resumed run gets the same rates from the step count alone. Parameter groups may carry an
`lr_mult` (fine-tuning: frozen layers are absent, pre-trained ones slower); `set_lr` applies it.
"""

from __future__ import annotations

import torch
from torch import nn

from raylab.config import LrSchedule, OptimConfig
from raylab.models.finetune import LR_MULT

PAPER_DROP = 0.1  # every paper schedule divides by 10 at each drop

# Drop points as fractions of the run. AlexNet (PAPERS.md 1.4) divided by 10 "when the
# validation error stopped improving", three times in ~90 epochs; when the plateaus came is not
# reported, so a fixed-length run drops at equally spaced quarters [U]. Two-stream (PAPERS.md
# 4.4): from scratch 1e-2 -> 1e-3 at 50K -> 1e-4 at 70K, stop at 80K; fine-tuning -> 1e-3 at 14K,
# stop at 20K. Scaling by the run's length keeps the proportions on shorter runs.
PAPER_DROPS: dict[LrSchedule, tuple[float, ...]] = {
    LrSchedule.ALEXNET: (1 / 4, 2 / 4, 3 / 4),
    LrSchedule.TWO_STREAM_SCRATCH: (50 / 80, 70 / 80),
    LrSchedule.TWO_STREAM_FINETUNE: (14 / 20,),
}


def make_optimizer(model: nn.Module, cfg: OptimConfig, *, groups: list[dict] | None = None
                   ) -> torch.optim.SGD:
    """SGD, momentum 0.9, weight decay 5e-4 (Krizhevsky et al. 2012 sec. 5).

    `groups` (from `raylab.models.finetune.param_groups`) replaces the default single group
    of every parameter."""
    params = groups if groups is not None else [{"params": list(model.parameters())}]
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def lr_at(step: int, steps_per_epoch: int, cfg: OptimConfig) -> float:
    """The learning rate of optimiser step `step` (0-based, counted over the whole run)."""
    epoch = step / steps_per_epoch  # epochs completed before this step, fractional
    if cfg.schedule == LrSchedule.STEP:
        drops = sum(1 for e in cfg.lr_decay_epochs if epoch >= e)
        lr = cfg.lr * cfg.lr_decay_factor**drops
    else:
        drops = sum(1 for f in PAPER_DROPS[cfg.schedule] if epoch >= f * cfg.num_epochs)
        lr = cfg.lr * PAPER_DROP**drops
    if cfg.warmup_epochs > 0:
        # (step + 1): the first step already moves, at 1/warmup_steps of the rate
        lr *= min(1.0, (step + 1) / (cfg.warmup_epochs * steps_per_epoch))
    return lr


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Every group at `lr` times its own multiplier (1 when it has none)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get(LR_MULT, 1.0)
