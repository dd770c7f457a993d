"""Late fusion of two streams' video scores: averaging math, id alignment, the linear SVM."""

import numpy as np
import pytest

from raylab.config import ConfigError
from raylab.eval.aggregate import ClipScores
from raylab.eval.fusion import SvmFusion, VideoScores, average, l2_normalised


def _scores(ids, labels, probs) -> VideoScores:
    return VideoScores(list(ids), np.asarray(labels), np.asarray(probs, dtype=np.float64))


def test_average_is_the_mean_softmax_of_each_video_matched_by_id():
    spatial = _scores(["a", "b"], [0, 1], [[0.6, 0.4], [0.7, 0.3]])
    temporal = _scores(["b", "a"], [1, 0], [[0.1, 0.9], [0.8, 0.2]])  # other order
    fused = average(spatial, temporal)
    assert fused.video_ids == ["a", "b"]
    np.testing.assert_allclose(fused.probs, [[0.7, 0.3], [0.4, 0.6]])
    assert fused.accuracy() == 1.0
    assert spatial.accuracy() == 0.5  # spatial alone gets "b" wrong


def test_video_scores_average_every_view_of_a_video():
    views = ClipScores(["v", "w", "v", "v"], np.array([1, 0, 1, 1]),
                       np.array([[0.2, 0.8], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]]))
    scores = VideoScores.from_views(views)
    assert scores.video_ids == ["v", "w"]
    np.testing.assert_allclose(scores.probs, [[0.4, 0.6], [0.9, 0.1]])


def test_a_video_scored_by_one_stream_only_is_an_error():
    spatial = _scores(["a", "b"], [0, 1], [[1, 0], [0, 1]])
    temporal = _scores(["a"], [0], [[1, 0]])
    with pytest.raises(ConfigError, match="one stream only.*'b'"):
        average(spatial, temporal)


def test_l2_normalised_rows_have_unit_length():
    out = l2_normalised(np.array([[3.0, 4.0], [0.0, 2.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 1.0]])


def _two_streams(rng, n_per_class: int, num_classes: int = 4):
    """Spatial: weakly right. Temporal: confident, but always names the *next* class, a
    systematic confusion averaging cannot undo and a linear map on the scores can."""
    labels = np.repeat(np.arange(num_classes), n_per_class)
    ids = [f"v{i:03d}" for i in range(len(labels))]
    spatial = rng.dirichlet(np.ones(num_classes), size=len(labels)) * 0.6
    spatial[np.arange(len(labels)), labels] += 0.4 * rng.uniform(0.2, 1.0, len(labels))
    temporal = np.full((len(labels), num_classes), 0.02)
    temporal[np.arange(len(labels)), (labels + 1) % num_classes] = 1 - 0.02 * (num_classes - 1)
    norm = spatial.sum(1, keepdims=True)
    return _scores(ids, labels, spatial / norm), _scores(ids, labels, temporal)


def test_svm_fitted_on_train_scores_beats_averaging_on_test_scores():
    rng = np.random.default_rng(0)
    train = _two_streams(rng, 30)
    test = _two_streams(rng, 20)
    svm = SvmFusion.fit(*train, c=1.0)
    svm_acc = svm.predict(*test).accuracy()
    avg_acc = average(*test).accuracy()
    assert svm_acc == 1.0
    assert avg_acc < 0.5 and svm_acc >= avg_acc


def test_svm_equals_averaging_when_both_streams_are_already_right():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 10)
    probs = np.full((30, 3), 0.1)
    probs[np.arange(30), labels] = 0.8
    a = _scores([f"v{i}" for i in range(30)], labels, probs)
    b = _scores(a.video_ids, labels, probs[:, :] + rng.uniform(0, 0.05, probs.shape))
    assert SvmFusion.fit(a, b, c=1.0).predict(a, b).accuracy() == average(a, b).accuracy() == 1


def test_svm_keeps_every_class_column_with_two_training_classes():
    a = _scores(["x", "y", "z"], [0, 2, 2], [[0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0, 0.2, 0.8]])
    fused = SvmFusion.fit(a, a, c=1.0).predict(a, a)
    assert fused.probs.shape == (3, 3) and np.isneginf(fused.probs[:, 1]).all()
    assert fused.accuracy() == 1.0
