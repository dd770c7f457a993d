"""The training and evaluation loops in plain PyTorch: no Ray, no config branches.

Batches are dicts from the pipeline (uint8 frames, labels, ids, decode_ok). Clips that failed to
decode get zero loss weight instead of being dropped, so every DDP rank still runs the same
forward/backward and gradients stay in sync; they are counted in `decode_failures`. The learning
rate is set before every step from a pure function of the global step; precision and memory
layout come in as one `Compute` chosen before the loop.
Training is softmax cross-entropy on each clip's first label, as Karpathy et al. 2014 train their
Sports-1M nets with a softmax over the 487 classes; a video with several labels (~5% there)
trains on its first only (no multi-hot target, no extra loss term). Evaluation scores every true
label: a video counts as a hit when any of its labels is in the top k (their hit@k).
A model with a step constraint (`StepConstrained`, e.g. ZF-Net's filter RMS clamp) has it
re-applied after every step.
"""

from __future__ import annotations

import functools
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
from raylab.models.two_stream import MultiTaskNet, task_losses, task_predict, task_softmax
from raylab.train.optim import set_lr
from raylab.train.precision import Compute

Batch = dict


@dataclass(frozen=True)
class Objective:
    """What a batch's logits are scored with: one softmax over every class, or for a multi-task
    net (models/two_stream.py) one per dataset, each sample on its own dataset's head."""

    losses: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    """(logits, labels, 0/1 weights) -> (num_tasks,) mean losses; the step minimises their sum."""
    predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    """(logits, labels) -> predicted labels (a sample's label says which head predicts it)."""
    probs: Callable[[torch.Tensor], torch.Tensor]
    """logits -> the scores evaluation averages per video."""


def _weighted_ce(logits: torch.Tensor, labels: torch.Tensor,
                 weights: torch.Tensor) -> torch.Tensor:
    per_clip = nn.functional.cross_entropy(logits, labels, reduction="none")
    return ((per_clip * weights).sum() / weights.sum().clamp(min=1)).reshape(1)


SINGLE_TASK = Objective(losses=_weighted_ce,
                        predict=lambda logits, labels: logits.argmax(1),
                        probs=lambda logits: torch.softmax(logits, dim=1))


def multitask_objective(net: MultiTaskNet) -> Objective:
    """Per-sample head selection: each sample's loss, prediction and scores on its dataset's head;
    the step minimises the sum of the datasets' mean losses (Simonyan & Zisserman 2014 sec. 5)."""
    return Objective(losses=functools.partial(task_losses, net),
                     predict=functools.partial(task_predict, net),
                     probs=functools.partial(task_softmax, net))


@dataclass(frozen=True)
class EpochStats:
    loss: float
    """Mean over steps of the minimised loss (multi-task: the sum of task_losses)."""
    clip_acc: float
    clips: int
    seconds: float
    decode_failures: int
    task_losses: tuple[float, ...] = ()
    """Mean over steps of each task's loss term (a step without a task's samples adds 0)."""

    @property
    def clips_per_s(self) -> float:
        return self.clips / max(self.seconds, 1e-9)


def train_epoch(
    model: nn.Module, batches: Iterable[Batch], *, augment: Callable[[torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer, device: torch.device, num_steps: int,
    lr_at_step: Callable[[int], float], first_step: int, compute: Compute,
    objective: Objective = SINGLE_TASK,
) -> EpochStats:
    """`num_steps` SGD steps over `batches` (fewer if they run out); step i of this epoch is
    global step `first_step + i` of the schedule `lr_at_step`."""
    model.train()
    constrain = _step_constraint(model)
    task_sums: torch.Tensor | None = None
    correct, seen, failures, steps = 0, 0, 0, 0
    start = time.perf_counter()
    for i, batch in zip(range(num_steps), batches):
        set_lr(optimizer, lr_at_step(first_step + i))
        ok = batch[C.DECODE_OK].to(device)
        labels = batch[C.LABEL].to(device)
        with compute.autocast():
            logits = model(compute.layout(augment(batch[C.FRAMES].to(device))))
        losses = objective.losses(logits.float(), labels, ok.float())
        optimizer.zero_grad(set_to_none=True)
        compute.backward_step(losses.sum(), optimizer)
        constrain()
        losses = losses.detach().cpu()
        task_sums = losses if task_sums is None else task_sums + losses
        steps += 1
        correct += int(((objective.predict(logits.detach(), labels) == labels) & ok).sum())
        seen += int(ok.sum())
        failures += len(ok) - int(ok.sum())
    means = (task_sums / steps).tolist() if task_sums is not None else [0.0]
    return EpochStats(
        loss=float(sum(means)), clip_acc=correct / max(seen, 1), clips=seen,
        seconds=time.perf_counter() - start, decode_failures=failures,
        task_losses=tuple(means),
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
    device: torch.device, compute: Compute, objective: Objective = SINGLE_TASK,
) -> tuple[ClipScores, int]:
    """Softmax scores of every decodable clip with its video id and true labels (every label
    where batches carry label sets, C.LABELS), and the decode-failure count.

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
        probs = objective.probs(logits.float()).cpu().numpy()
        keep = np.repeat(ok, views)
        ids = [v for v, good in zip(batch[C.VIDEO_ID], ok) if good for _ in range(views)]
        labels = np.repeat(batch[C.LABEL].numpy(), views)[keep]
        label_sets = None
        if C.LABELS in batch:
            label_sets = [t for t, good in zip(batch[C.LABELS], ok) if good for _ in range(views)]
        parts.append(ClipScores(ids, labels, probs[keep].astype(np.float32), label_sets))
    return ClipScores.concat(parts), failures
