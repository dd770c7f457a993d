"""Video aggregation by id, checked against numbers worked out by hand."""

import numpy as np
import pytest

from raylab.eval.aggregate import ClipScores, confusion, hit_at_k, summarize


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
