"""Clip scores -> video predictions -> hit@k, by the video ids carried with the data.

Never by position: clips of one video may arrive on different workers and in any order. A video's
score is the mean softmax over its clips (Karpathy et al. 2014 sec. 4.1; torchvision's reference
does the same). Hit@k counts a hit when the true label is among the k highest scores.
Images are scored the same way with the image id in place of the video id and views in place of
clips; `EVALUATIONS` says which summary and target metric each dataset kind uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from raylab.data.shards import DatasetKind


@dataclass(frozen=True)
class ClipScores:
    """Softmax scores of evaluated clips with the ids that tie them to videos."""

    video_ids: list[str]
    labels: np.ndarray   # (N,) int
    probs: np.ndarray    # (N, num_classes) float

    @staticmethod
    def concat(parts: Sequence[ClipScores]) -> ClipScores:
        parts = [p for p in parts if len(p.video_ids)]
        if not parts:
            return ClipScores([], np.zeros(0, np.int64), np.zeros((0, 0), np.float32))
        return ClipScores(
            [v for p in parts for v in p.video_ids],
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.probs for p in parts]),
        )


def hit_at_k(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the k highest scores."""
    if len(labels) == 0:
        return 0.0
    k = min(k, probs.shape[1])
    topk = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float((topk == labels[:, None]).any(axis=1).mean())


def video_level(scores: ClipScores) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(video ids sorted, labels, mean clip softmax per video)."""
    order = sorted(set(scores.video_ids))
    index = {v: i for i, v in enumerate(order)}
    rows = np.fromiter((index[v] for v in scores.video_ids), dtype=np.int64)
    sums = np.zeros((len(order), scores.probs.shape[1]))
    np.add.at(sums, rows, scores.probs)
    counts = np.bincount(rows, minlength=len(order))[:, None]
    labels = np.zeros(len(order), np.int64)
    labels[rows] = scores.labels
    return order, labels, sums / counts


def summarize(scores: ClipScores) -> dict[str, float]:
    """clip hit@1, video hit@1 and video hit@5 (the Sports-1M table's columns)."""
    _, labels, video_probs = video_level(scores)
    return {
        "clip_hit1": hit_at_k(scores.probs, scores.labels, 1),
        "video_hit1": hit_at_k(video_probs, labels, 1),
        "video_hit5": hit_at_k(video_probs, labels, 5),
        "num_videos": float(len(labels)),
        "num_clips": float(len(scores.labels)),
    }


def confusion(scores: ClipScores, num_classes: int) -> np.ndarray:
    """Video-level confusion counts, rows = true class, columns = predicted."""
    _, labels, video_probs = video_level(scores)
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, video_probs.argmax(axis=1)), 1)
    return matrix


def top_k_error(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is NOT among the k highest scores (ILSVRC's top-k error)."""
    return 1.0 - hit_at_k(probs, labels, k)


def summarize_images(scores: ClipScores) -> dict[str, float]:
    """Top-1/top-5 error per image after averaging its views' softmax (Krizhevsky et al. 2012
    Table 2's columns), and the top-1 error of single views for comparison."""
    _, labels, image_probs = video_level(scores)
    return {
        "top1_err": top_k_error(image_probs, labels, 1),
        "top5_err": top_k_error(image_probs, labels, 5),
        "view_top1_err": top_k_error(scores.probs, scores.labels, 1),
        "num_images": float(len(labels)),
        "num_views": float(len(scores.labels)),
    }


@dataclass(frozen=True)
class Evaluation:
    """How one dataset kind is scored: its summary, the metric that picks the best checkpoint
    (and drives ASHA), and what one epoch's progress line shows."""

    summarize: Callable[[ClipScores], dict[str, float]]
    target: str
    """Key of `summarize`'s output, logged as val/<target>."""
    mode: str
    """"max" or "min" (Ray's checkpoint_score_order / Tune mode)."""
    headline: tuple[tuple[str, str], ...]
    """(key of summarize's output, label) shown per epoch."""

    @property
    def metric(self) -> str:
        return f"val/{self.target}"

    def score(self, metrics: dict[str, float]) -> float:
        """The target as a higher-is-better number (errors negated)."""
        value = metrics[self.metric]
        return value if self.mode == "max" else -value

    def line(self, metrics: dict[str, float]) -> str:
        return "  ".join(f"{label} {metrics.get(f'val/{key}', float('nan')):.3f}"
                         for key, label in self.headline)


EVALUATIONS: dict[DatasetKind, Evaluation] = {
    DatasetKind.VIDEO: Evaluation(
        summarize, "video_hit1", "max",
        (("clip_hit1", "val clip hit@1"), ("video_hit1", "video hit@1"),
         ("video_hit5", "hit@5"))),
    DatasetKind.IMAGE: Evaluation(
        summarize_images, "top1_err", "min",
        (("top1_err", "val top-1 err"), ("top5_err", "top-5 err"),
         ("view_top1_err", "single-view top-1 err"))),
}
