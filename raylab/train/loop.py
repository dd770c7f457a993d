"""The training and evaluation loops in plain PyTorch: no Ray, no config branches.

Batches are dicts from the pipeline (uint8 frames, labels, ids, decode_ok). Clips that failed to
decode get zero loss weight instead of being dropped, so every DDP rank still runs the same
forward/backward and gradients stay in sync; they are counted in `decode_failures`. The learning
rate is set before every step from a pure function of the global step; precision and memory
layout come in as one `Compute` chosen before the loop. A model with a step constraint
(`StepConstrained`, e.g. ZF-Net's filter RMS clamp) has it re-applied after every step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from raylab.data import columns as C
from raylab.eval.aggregate import ClipScores
from raylab.models.layers import StepConstrained
from raylab.train.optim import set_lr
from raylab.train.precision import Compute

Batch = dict


@dataclass(frozen=True)
class EpochStats:
    loss: float
    clip_acc: float
    clips: int
    seconds: float
    decode_failures: int

    @property
    def clips_per_s(self) -> float:
        return self.clips / max(self.seconds, 1e-9)


def train_epoch(
    model: nn.Module, batches: Iterable[Batch], *, augment: Callable[[torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer, device: torch.device, num_steps: int,
    lr_at_step: Callable[[int], float], first_step: int, compute: Compute,
) -> EpochStats:
    """`num_steps` SGD steps over `batches` (fewer if they run out); step i of this epoch is
    global step `first_step + i` of the schedule `lr_at_step`."""
    model.train()
    constrain = _step_constraint(model)
    loss_sum, correct, seen, failures = 0.0, 0, 0, 0
    start = time.perf_counter()
    for i, batch in zip(range(num_steps), batches):
        set_lr(optimizer, lr_at_step(first_step + i))
        ok = batch[C.DECODE_OK].to(device)
        labels = batch[C.LABEL].to(device)
        with compute.autocast():
            logits = model(compute.layout(augment(batch[C.FRAMES].to(device))))
            per_clip = nn.functional.cross_entropy(logits.float(), labels, reduction="none")
        loss = (per_clip * ok).sum() / ok.sum().clamp(min=1)
        optimizer.zero_grad(set_to_none=True)
        compute.backward_step(loss, optimizer)
        constrain()
        n_ok = int(ok.sum())
        loss_sum += float(loss.detach()) * n_ok
        correct += int(((logits.argmax(1) == labels) & ok).sum())
        seen += n_ok
        failures += len(ok) - n_ok
    return EpochStats(
        loss=loss_sum / max(seen, 1), clip_acc=correct / max(seen, 1), clips=seen,
        seconds=time.perf_counter() - start, decode_failures=failures,
    )


def _step_constraint(model: nn.Module) -> Callable[[], None]:
    """What to call after each step: the model's `constrain_` (looked through a DDP wrapper;
    every rank holds the same weights after the step, so the constraint keeps them equal), or
    nothing."""
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    return inner.constrain_ if isinstance(inner, StepConstrained) else lambda: None


@torch.no_grad()
def evaluate(
    model: nn.Module, batches: Iterable[Batch], *, view: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device, compute: Compute,
) -> tuple[ClipScores, int]:
    """Softmax scores of every decodable clip with its video id, and the decode-failure count.

    A multi-view `view` (augment.TenCropView) returns each clip's views consecutively; every
    view is scored under its clip's id, so aggregation by id averages the views."""
    model.eval()
    parts, failures = [], 0
    for batch in batches:
        ok = batch[C.DECODE_OK].numpy()
        failures += int((~ok).sum())
        with compute.autocast():
            inputs = compute.layout(view(batch[C.FRAMES].to(device)))
            logits = model(inputs)
        views = inputs.shape[0] // len(ok)  # a multi-view (10-crop) view returns views per clip
        probs = torch.softmax(logits.float(), dim=1).cpu().numpy()
        keep = np.repeat(ok, views)
        ids = [v for v, good in zip(batch[C.VIDEO_ID], ok) if good for _ in range(views)]
        labels = np.repeat(batch[C.LABEL].numpy(), views)[keep]
        parts.append(ClipScores(ids, labels, probs[keep].astype(np.float32)))
    return ClipScores.concat(parts), failures
