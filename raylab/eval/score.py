"""The two-stream test protocol for one trained stream (PAPERS.md 4.5): 25 equally spaced frames
per video, 10 views of each (4 corners + centre, and their mirrors), softmax per view.

A Ray Data actor holds the model (weights load once, on a GPU when there is one) and turns each
sample row into 10 view rows, each carrying (video_id, frame index, view index); the driver
gathers them into `ClipScores`, whose per-video mean is the average over all 250 views. A
multi-task net's scores are each head's softmax side by side (split per dataset by task_scores).
Training and checkpoint writing are not here: the weights come as a path to a state dict.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from raylab.config import ModelConfig, from_dict
from raylab.data import columns as C
from raylab.data.flow_augment import TEN_CROP_VIEWS, mirror, mirror_flow, ten_crop
from raylab.eval.aggregate import ClipScores
from raylab.models.build import StreamInput, build_model, stream_input
from raylab.models.two_stream import task_softmax


@dataclass(frozen=True)
class ScorerSpec:
    """Everything the scoring actor needs to rebuild the trained model (plain, picklable)."""

    model: dict
    """ModelConfig as a dict (to_dict)."""
    weights_path: str
    """A model state dict saved by torch.save (a checkpoint's model.pt)."""
    num_classes: int
    crop_px: int
    stack_length: int
    pixel_mean: float
    pixel_scale: float
    task_classes: tuple[int, ...] = ()
    """A multi-task net's class count per dataset (summing to num_classes); () = one head."""


class ViewScorer:
    """Callable for Ray Data map_batches: sample rows -> 10 view rows with softmax scores."""

    def __init__(self, spec: ScorerSpec) -> None:
        cfg: ModelConfig = from_dict(ModelConfig, spec.model)
        self.spec = spec
        self.flow = stream_input(cfg.name) is StreamInput.FLOW
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model = build_model(cfg, num_classes=spec.num_classes, crop_px=spec.crop_px,
                            stack_length=spec.stack_length, task_classes=spec.task_classes)
        model.load_state_dict(torch.load(spec.weights_path, map_location="cpu",
                                         weights_only=True))
        self.model = model.to(self.device).eval()
        # Chosen once: one softmax over every class, or one per head of a multi-task net.
        self.softmax = (functools.partial(task_softmax, model) if spec.task_classes
                        else functools.partial(torch.softmax, dim=1))

    def views(self, frames: torch.Tensor) -> torch.Tensor:
        """Sample inputs -> (B * 10, C, 1, crop, crop) model inputs, view-major per sample."""
        if self.flow:  # (B, 2L, H, W) float stacks: mirrored views negate x
            views = ten_crop(frames.float(), self.spec.crop_px, mirror_flow)
        else:  # (B, 1, H, W, 3) uint8 frames
            rgb = frames[:, 0].permute(0, 3, 1, 2).float()
            views = (ten_crop(rgb, self.spec.crop_px, mirror) - self.spec.pixel_mean
                     ) / self.spec.pixel_scale
        return views.flatten(0, 1).unsqueeze(2)

    @torch.no_grad()
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # Samples that failed to decode are scored too (zeros, cheap) and dropped by `gather`,
        # which counts them: the batch keeps one shape and nothing is lost silently.
        n, v = len(batch[C.LABEL]), len(TEN_CROP_VIEWS)
        frames = torch.from_numpy(np.array(batch[C.FRAMES])).to(self.device)
        probs = self.softmax(self.model(self.views(frames)))
        return {
            C.VIDEO_ID: np.repeat(np.asarray(batch[C.VIDEO_ID], dtype=object), v),
            C.LABEL: np.repeat(np.asarray(batch[C.LABEL]), v),
            C.FRAME_INDEX: np.repeat(np.asarray(batch[C.FRAME_INDEX]), v),
            C.VIEW_INDEX: np.tile(np.arange(v), n),
            C.DECODE_OK: np.repeat(np.asarray(batch[C.DECODE_OK], dtype=bool), v),
            C.PROBS: probs.cpu().numpy().astype(np.float32),
        }


@dataclass(frozen=True)
class ViewScores:
    scores: ClipScores
    """One row per view; ClipScores.video_ids ties each to its video."""
    frame_index: np.ndarray
    view_index: np.ndarray
    failed_samples: int
    """Samples (frames or stacks) that did not decode, each missing its 10 views."""


def gather(batches: Iterable[dict[str, np.ndarray]]) -> ViewScores:
    """Collect scored view batches (any order, any worker) into one ViewScores."""
    ids: list[str] = []
    labels, probs, frames, views = [], [], [], []
    failed_views = 0
    for b in batches:
        ok = np.asarray(b[C.DECODE_OK], dtype=bool)
        failed_views += int((~ok).sum())
        ids += [str(v) for v, good in zip(b[C.VIDEO_ID], ok) if good]
        labels.append(np.asarray(b[C.LABEL])[ok])
        probs.append(np.asarray(b[C.PROBS])[ok])
        frames.append(np.asarray(b[C.FRAME_INDEX])[ok])
        views.append(np.asarray(b[C.VIEW_INDEX])[ok])
    if not ids:
        raise ValueError("no test view was scored: every sample failed to decode")
    return ViewScores(ClipScores(ids, np.concatenate(labels), np.concatenate(probs)),
                      np.concatenate(frames), np.concatenate(views),
                      failed_views // len(TEN_CROP_VIEWS))
