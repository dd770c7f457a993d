"""Clip scores -> video predictions -> hit@k, by the video ids carried with the data.

Never by position: clips of one video may arrive on different workers and in any order, and the
segments of a long video (Sports-1M rows) share its id. A video's score is the mean softmax over
all its clips, whatever segment they come from (Karpathy et al. 2014 sec. 4.1; torchvision's
reference does the same). Hit@k counts a hit when a true label is among the k highest scores; with
several true labels (Sports-1M, ~5% of videos) any one of them counts, as in Karpathy et al.
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
    labels: np.ndarray   # (N,) int, the first label of each clip's video
    probs: np.ndarray    # (N, num_classes) float
    label_sets: list[tuple[int, ...]] | None = None
    """Every true label per clip for multi-label data (labels[i] first); None: just labels."""

    def truth(self) -> list[tuple[int, ...]]:
        """The true labels of each clip."""
        if self.label_sets is not None:
            return self.label_sets
        return [(int(label),) for label in self.labels]

    @staticmethod
    def concat(parts: Sequence[ClipScores]) -> ClipScores:
        parts = [p for p in parts if len(p.video_ids)]
        if not parts:
            return ClipScores([], np.zeros(0, np.int64), np.zeros((0, 0), np.float32))
        multi = any(p.label_sets is not None for p in parts)
        return ClipScores(
            [v for p in parts for v in p.video_ids],
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.probs for p in parts]),
            [t for p in parts for t in p.truth()] if multi else None,
        )


def task_scores(scores: ClipScores, task_classes: Sequence[int]) -> list[ClipScores]:
    """A multi-task run's scores (one joint label space, dataset k's columns after those of
    datasets 0..k-1) split into each dataset's own: its clips, its columns, labels from 0."""
    offsets = np.cumsum([0, *task_classes])
    out = []
    for lo, hi in zip(offsets[:-1], offsets[1:]):
        rows = np.flatnonzero((scores.labels >= lo) & (scores.labels < hi))
        sets = (None if scores.label_sets is None
                else [tuple(t - lo for t in scores.label_sets[i]) for i in rows])
        out.append(ClipScores([scores.video_ids[i] for i in rows], scores.labels[rows] - lo,
                              scores.probs[rows, lo:hi], sets))
    return out


def hit_at_k(
    probs: np.ndarray, labels: np.ndarray | Sequence[Sequence[int]], k: int,
) -> float:
    """Fraction of rows with a true label among the k highest scores. `labels` is one int per
    row, or a sequence of true labels per row (multi-label: a hit when any is in the top k)."""
    if len(labels) == 0:
        return 0.0
    k = min(k, probs.shape[1])
    topk = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    truth = np.zeros(probs.shape, dtype=bool)
    for row, true in enumerate(labels):
        truth[row, np.atleast_1d(np.asarray(true, dtype=np.int64))] = True
    return float(np.take_along_axis(truth, topk, axis=1).any(axis=1).mean())


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


def video_truth(scores: ClipScores) -> list[tuple[int, ...]]:
    """The true labels of each video, in video_level's order (sorted ids)."""
    first: dict[str, tuple[int, ...]] = {}
    for video_id, true in zip(scores.video_ids, scores.truth(), strict=True):
        first.setdefault(video_id, true)
    return [first[v] for v in sorted(first)]


def summarize(scores: ClipScores) -> dict[str, float]:
    """clip hit@1, video hit@1 and video hit@5 (the Sports-1M table's columns); a hit is any
    true label of a multi-label video, and num_multi_label_videos says how many had several."""
    _, labels, video_probs = video_level(scores)
    truth = video_truth(scores)
    return {
        "clip_hit1": hit_at_k(scores.probs, scores.truth(), 1),
        "video_hit1": hit_at_k(video_probs, truth, 1),
        "video_hit5": hit_at_k(video_probs, truth, 5),
        "num_videos": float(len(labels)),
        "num_multi_label_videos": float(sum(len(t) > 1 for t in truth)),
        "num_clips": float(len(scores.labels)),
    }


def confusion(scores: ClipScores, num_classes: int) -> np.ndarray:
    """Video-level confusion counts, rows = true class, columns = predicted."""
    _, labels, video_probs = video_level(scores)
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, video_probs.argmax(axis=1)), 1)
    return matrix


def per_class_accuracy(scores: ClipScores, num_classes: int) -> np.ndarray:
    """Video-level hit@1 of each true class, (num_classes,); NaN for a class with no test video
    (0 would read as "always wrong"). Their mean is the mean per-class accuracy that Zeiler &
    Fergus report on Caltech (PAPERS.md 2.8), which weighs every class equally."""
    matrix = confusion(scores, num_classes)
    videos = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(videos > 0, np.diag(matrix) / videos, np.nan)


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
