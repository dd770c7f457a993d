"""The training and evaluation loops in plain PyTorch: no Ray, no config branches.

Batches are dicts from the pipeline (uint8 frames, labels, ids, decode_ok). Clips that failed to
decode get zero loss weight instead of being dropped, so every DDP rank still runs the same
forward/backward and gradients stay in sync; they are counted in `decode_failures`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from raylab.data import columns as C
from raylab.eval.aggregate import ClipScores

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
) -> EpochStats:
    """`num_steps` SGD steps over `batches` (fewer if they run out)."""
    model.train()
    loss_sum, correct, seen, failures = 0.0, 0, 0, 0
    start = time.perf_counter()
    for _, batch in zip(range(num_steps), batches):
        ok = batch[C.DECODE_OK].to(device)
        labels = batch[C.LABEL].to(device)
        logits = model(augment(batch[C.FRAMES].to(device)))
        per_clip = nn.functional.cross_entropy(logits, labels, reduction="none")
        loss = (per_clip * ok).sum() / ok.sum().clamp(min=1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n_ok = int(ok.sum())
        loss_sum += float(loss.detach()) * n_ok
        correct += int(((logits.argmax(1) == labels) & ok).sum())
        seen += n_ok
        failures += len(ok) - n_ok
    return EpochStats(
        loss=loss_sum / max(seen, 1), clip_acc=correct / max(seen, 1), clips=seen,
        seconds=time.perf_counter() - start, decode_failures=failures,
    )


@torch.no_grad()
def evaluate(
    model: nn.Module, batches: Iterable[Batch], *, view: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device,
) -> tuple[ClipScores, int]:
    """Softmax scores of every decodable clip with its video id, and the decode-failure count.

    A multi-view `view` (augment.TenCropView) returns each clip's views consecutively; every
    view is scored under its clip's id, so aggregation by id averages the views."""
    model.eval()
    parts, failures = [], 0
    for batch in batches:
        ok = batch[C.DECODE_OK].numpy()
        failures += int((~ok).sum())
        inputs = view(batch[C.FRAMES].to(device))
        views = inputs.shape[0] // len(ok)
        probs = torch.softmax(model(inputs), dim=1).cpu().numpy()
        keep = np.repeat(ok, views)
        ids = [v for v, good in zip(batch[C.VIDEO_ID], ok) if good for _ in range(views)]
        labels = np.repeat(batch[C.LABEL].numpy(), views)[keep]
        parts.append(ClipScores(ids, labels, probs[keep].astype(np.float32)))
    return ClipScores.concat(parts), failures
