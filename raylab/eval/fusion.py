"""Late fusion of the two streams' per-video softmax scores (Simonyan & Zisserman 2014, 4.6).

(a) averaging: the mean of the two softmax vectors; (b) a multi-class linear SVM
(Crammer-Singer, scikit-learn's LinearSVC) on the concatenation of the two L2-normalised softmax
vectors. The paper does not say which data fits the SVM [U]; here it is the train split's scores
(the same 25 x 10-view protocol run on training videos), never the test scores it is judged on.
Videos are matched by id, never by position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.svm import LinearSVC

from raylab.config import ConfigError
from raylab.eval.aggregate import ClipScores, hit_at_k, video_level


@dataclass(frozen=True)
class VideoScores:
    """One softmax vector per video, rows in `video_ids` order."""

    video_ids: list[str]
    labels: np.ndarray  # (N,) int
    probs: np.ndarray  # (N, num_classes) float

    @staticmethod
    def from_views(scores: ClipScores) -> VideoScores:
        """The mean over every scored view of each video (all 250 at test, PAPERS.md 4.5)."""
        ids, labels, probs = video_level(scores)
        return VideoScores(ids, labels, probs)

    def accuracy(self) -> float:
        return hit_at_k(self.probs, self.labels, 1)


def aligned(spatial: VideoScores, temporal: VideoScores) -> tuple[VideoScores, VideoScores]:
    """Both streams' scores on the videos they share, in one order; a video scored by one
    stream only is an error (the fused number would silently cover fewer videos)."""
    only = sorted(set(spatial.video_ids) ^ set(temporal.video_ids))
    if only:
        raise ConfigError(f"fusion: {len(only)} videos scored by one stream only, e.g. "
                          f"{only[0]!r}; expected the same videos in both (same source shards)")
    order = sorted(spatial.video_ids)
    s = _take(spatial, order)
    t = _take(temporal, order)
    if not np.array_equal(s.labels, t.labels):
        raise ConfigError("fusion: the streams disagree on video labels; expected flow shards "
                          "made from the same video shards")
    return s, t


def _take(scores: VideoScores, order: list[str]) -> VideoScores:
    index = {v: i for i, v in enumerate(scores.video_ids)}
    rows = [index[v] for v in order]
    return VideoScores(order, scores.labels[rows], scores.probs[rows])


def average(spatial: VideoScores, temporal: VideoScores) -> VideoScores:
    """Fusion by averaging the two softmax vectors of each video."""
    s, t = aligned(spatial, temporal)
    return VideoScores(s.video_ids, s.labels, (s.probs + t.probs) / 2)


def l2_normalised(probs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(probs, axis=1, keepdims=True)
    return probs / np.maximum(norms, 1e-12)


def svm_features(spatial: VideoScores, temporal: VideoScores) -> tuple[VideoScores, np.ndarray]:
    """(aligned spatial scores, [L2(spatial) | L2(temporal)] per video)."""
    s, t = aligned(spatial, temporal)
    return s, np.concatenate([l2_normalised(s.probs), l2_normalised(t.probs)], axis=1)


@dataclass(frozen=True)
class SvmFusion:
    """A linear SVM fitted on the train split's two-stream scores."""

    svm: LinearSVC
    num_classes: int

    @staticmethod
    def fit(spatial: VideoScores, temporal: VideoScores, *, c: float, seed: int = 0
            ) -> SvmFusion:
        s, features = svm_features(spatial, temporal)
        if len(np.unique(s.labels)) < 2:
            raise ConfigError("fusion: the SVM needs training videos of at least 2 classes")
        svm = LinearSVC(C=c, multi_class="crammer_singer", random_state=seed, max_iter=10_000)
        svm.fit(features, s.labels)
        return SvmFusion(svm, spatial.probs.shape[1])

    def predict(self, spatial: VideoScores, temporal: VideoScores) -> VideoScores:
        """SVM decision values as scores (argmax = the SVM's class), in every class's column
        even when a class had no training video."""
        s, features = svm_features(spatial, temporal)
        decision = self.svm.decision_function(features)
        if decision.ndim == 1:  # two classes: one signed margin, positive = classes_[1]
            decision = np.stack([-decision, decision], axis=1)
        scores = np.full((len(s.video_ids), self.num_classes), -np.inf)
        scores[:, self.svm.classes_] = decision
        return VideoScores(s.video_ids, s.labels, scores)
