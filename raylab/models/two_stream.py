"""Multi-task learning of the temporal stream (Simonyan & Zisserman 2014, sec. 5; PAPERS.md 4.7).

One trunk (CNN-M-2048 up to full7) and one softmax layer per dataset (UCF-101, HMDB-51). Labels
live in one joint space: dataset k's classes follow those of datasets 0..k-1, so a sample's
dataset is read off its label and batches mixing both datasets need no extra column (the
pipeline adds each dataset's label offset, raylab.data.pipeline.FlowSource). The loss
is the sum over datasets of the mean cross-entropy of that dataset's samples under that
dataset's head only (each loss sees only its own samples). Two-stream fusion is in eval/fusion.py.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from raylab.models.fusion import FusionNet


class MultiTaskNet(nn.Module):
    """A FusionNet trunk with one linear classifier per task; logits are concatenated in task
    order (B, sum(num_classes)); `task_logits` gives one task's columns."""

    def __init__(self, trunk: FusionNet, num_classes: tuple[int, ...]) -> None:
        super().__init__()
        if len(num_classes) < 2 or min(num_classes) < 1:
            raise ValueError(f"MultiTaskNet: expected >= 2 tasks of >= 1 class, got {num_classes}")
        self.trunk = trunk
        width = trunk.classifier.in_features
        self.heads = nn.ModuleList(nn.Linear(width, k) for k in num_classes)
        for head in self.heads:
            nn.init.normal_(head.weight, std=0.01)
            nn.init.zeros_(head.bias)
        self.trunk.classifier = nn.Identity()  # the heads replace the single-task layer
        offsets = torch.tensor([0, *num_classes]).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.num_classes = num_classes

    def forward(self, x: Tensor) -> Tensor:
        fc7 = self.trunk(x)  # full7 after dropout: the trunk's classifier is the identity
        return torch.cat([head(fc7) for head in self.heads], dim=1)

    def task_logits(self, logits: Tensor, task: int) -> Tensor:
        return logits[:, int(self.offsets[task]):int(self.offsets[task + 1])]

    def layer_blocks(self) -> dict[str, tuple[nn.Module, ...]]:
        """The trunk's layers with the heads as its classifier block (what fine-tuning and the
        optimiser's LR groups count in)."""
        return {**self.trunk.layer_blocks(), "classifier": tuple(self.heads)}


def task_softmax(model: MultiTaskNet, logits: Tensor) -> Tensor:
    """Each head's softmax over its own classes, concatenated (B, sum(num_classes)): a dataset's
    scores are its columns, comparable only with each other."""
    return torch.cat([torch.softmax(model.task_logits(logits, t), dim=1)
                      for t in range(len(model.num_classes))], dim=1)


def task_predict(model: MultiTaskNet, logits: Tensor, labels: Tensor) -> Tensor:
    """Each sample's predicted joint label, from the head of the sample's own dataset."""
    tasks = task_of(labels, model.offsets)
    masked = torch.full_like(logits, float("-inf"))
    for t in range(len(model.num_classes)):
        lo, hi = int(model.offsets[t]), int(model.offsets[t + 1])
        rows = tasks == t
        masked[rows, lo:hi] = logits[rows, lo:hi]
    return masked.argmax(1)


def task_of(labels: Tensor, offsets: Tensor) -> Tensor:
    """Which task each joint label belongs to (offsets = [0, K0, K0+K1, ...])."""
    return torch.bucketize(labels, offsets[1:], right=True)


def multitask_loss(model: MultiTaskNet, logits: Tensor, labels: Tensor,
                   weights: Tensor | None = None) -> Tensor:
    """Sum over tasks of the mean cross-entropy of the task's samples on the task's head.

    `weights` (0/1 per sample) drops samples, e.g. ones that failed to decode; a task with no
    sample in the batch adds nothing (its head gets no gradient from this batch)."""
    return task_losses(model, logits, labels, weights).sum()


def task_losses(model: MultiTaskNet, logits: Tensor, labels: Tensor,
                weights: Tensor | None = None) -> Tensor:
    """(num_tasks,): each task's mean cross-entropy over its samples (0 for a task without any),
    the terms `multitask_loss` sums."""
    weights = torch.ones_like(labels, dtype=logits.dtype) if weights is None else weights
    tasks = task_of(labels, model.offsets)
    terms = []
    for t in range(len(model.num_classes)):
        mask = (tasks == t) & (weights > 0)
        if mask.any():
            local = labels[mask] - model.offsets[t]
            terms.append(nn.functional.cross_entropy(model.task_logits(logits[mask], t), local))
        else:
            terms.append(logits.new_zeros(()))
    return torch.stack(terms)
