"""Video aggregation by id, checked against numbers worked out by hand."""

import numpy as np
import pytest

from raylab.eval.aggregate import (
    ClipScores,
    confusion,
    hit_at_k,
    per_class_accuracy,
    summarize,
)


def test_hit_at_k():
    probs = np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1]])
    labels = np.array([2, 0])
    assert hit_at_k(probs, labels, 1) == 0.5
    assert hit_at_k(probs, labels, 2) == 1.0


def test_video_level_averages_clips_of_the_same_id_in_any_order():
    # video a: clips say class 1 (0.6) and class 0 (0.9) -> mean favours class 0 (0.55 vs 0.35)
    # video b: both clips say class 2 -> correct; clip order interleaved on purpose.
    scores = ClipScores(
        ["a", "b", "a", "b"], np.array([0, 2, 0, 2]),
        np.array([[0.2, 0.6, 0.2], [0.1, 0.1, 0.8], [0.9, 0.1, 0.0], [0.0, 0.3, 0.7]]),
    )
    m = summarize(scores)
    assert m["clip_hit1"] == pytest.approx(0.75)
    assert m["video_hit1"] == pytest.approx(1.0)
    assert m["num_videos"] == 2
    matrix = confusion(scores, 3)
    assert matrix[0, 0] == 1 and matrix[2, 2] == 1 and matrix.sum() == 2


def test_concat_keeps_ids_with_their_rows():
    a = ClipScores(["x"], np.array([1]), np.array([[0.0, 1.0]]))
    b = ClipScores(["y"], np.array([0]), np.array([[1.0, 0.0]]))
    both = ClipScores.concat([a, ClipScores.concat([]), b])
    assert both.video_ids == ["x", "y"]
    assert summarize(both)["video_hit1"] == 1.0


def test_per_class_accuracy_is_video_level_and_nan_for_absent_classes():
    # class 0: videos a (clips average to class 0: right) and b (class 1: wrong) -> 1/2;
    # class 1: video c, a single clip that says class 1 -> 1/1; class 2: no test video -> NaN.
    # Clip level class 0 would be 2/4 right for other reasons; video level must decide.
    scores = ClipScores(
        ["a", "a", "b", "c"], np.array([0, 0, 0, 1]),
        np.array([[0.9, 0.1, 0.0], [0.4, 0.6, 0.0], [0.3, 0.7, 0.0], [0.1, 0.8, 0.1]]),
    )
    acc = per_class_accuracy(scores, 3)
    assert acc[0] == pytest.approx(0.5) and acc[1] == pytest.approx(1.0)
    assert np.isnan(acc[2])


def test_multi_label_hit_counts_any_true_label():
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    # row 0: top-1 is 0, true {1, 0} -> hit; row 1: top-1 is 2, true {0, 1} -> miss at 1,
    # hit at 2 (class 1 is second); row 2: true {2} -> miss at 1 and 2, hit at 3.
    truth = [(1, 0), (0, 1), (2,)]
    assert hit_at_k(probs, truth, 1) == pytest.approx(1 / 3)
    assert hit_at_k(probs, truth, 2) == pytest.approx(2 / 3)
    assert hit_at_k(probs, truth, 3) == 1.0
    # One label per row gives the single-label answer.
    assert hit_at_k(probs, [(0,), (2,), (1,)], 1) == hit_at_k(probs, np.array([0, 2, 1]), 1)


def test_video_level_pools_segments_and_clips_with_multi_labels():
    # Video "v" (labels 2 and 0) has two segments, each with clips; their rows interleave with
    # video "w" (label 1). v's mean softmax: class 0 = (0.6 + 0.5 + 0.2) / 3 = 0.43, class 1 =
    # (0.3 + 0.1 + 0.2) / 3 = 0.2, class 2 = (0.1 + 0.4 + 0.6) / 3 = 0.37 -> top-1 is class 0,
    # a hit because 0 is one of v's labels; a single-label reading (label 2 only) misses.
    v = (2, 0)
    scores = ClipScores(
        ["v", "w", "v", "v"], np.array([2, 1, 2, 2]),
        np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.1, 0.4], [0.2, 0.2, 0.6]]),
        [v, (1,), v, v],
    )
    m = summarize(scores)
    assert m["video_hit1"] == 1.0 and m["num_videos"] == 2 and m["num_clips"] == 4
    assert m["num_multi_label_videos"] == 1  # v, counted once for its three clips
    assert m["clip_hit1"] == pytest.approx(1.0)  # clip 3's top-1 is 2, clip 0's is 0: both true
    single = summarize(ClipScores(scores.video_ids, scores.labels, scores.probs))
    assert single["video_hit1"] == 0.5
    both = ClipScores.concat([scores, ClipScores(["x"], np.array([1]), np.array([[0, 1.0, 0]]))])
    assert both.truth()[-1] == (1,) and summarize(both)["video_hit1"] == 1.0


def test_top_k_error_and_image_summary_average_views_by_id():
    from raylab.data.shards import DatasetKind
    from raylab.eval.aggregate import EVALUATIONS, summarize_images, top_k_error

    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
    labels = np.array([0, 0, 1])  # top-1: hit, miss, miss; top-2: hit, miss, hit
    assert top_k_error(probs, labels, 1) == pytest.approx(2 / 3)
    assert top_k_error(probs, labels, 2) == pytest.approx(1 / 3)
    assert top_k_error(probs, labels, 5) == 0.0
    # image "a": two views, wrong alone in one of them, right on average; "b": wrong
    scores = ClipScores(["a", "b", "a"], np.array([1, 0, 1]),
                        np.array([[0.6, 0.4], [0.3, 0.7], [0.1, 0.9]]))
    out = summarize_images(scores)
    assert out["top1_err"] == pytest.approx(0.5)
    assert out["view_top1_err"] == pytest.approx(2 / 3)
    assert (out["num_images"], out["num_views"]) == (2, 3)
    image = EVALUATIONS[DatasetKind.IMAGE]
    assert image.metric == "val/top1_err" and image.mode == "min"
    assert image.score({"val/top1_err": 0.1}) > image.score({"val/top1_err": 0.2})
