"""The 25 x 10-view scorer on a flow batch, without Ray: 10 view rows per sample carrying its
ids, one softmax per row, and for a multi-task net one softmax per head."""

import numpy as np
import pytest
import torch

from raylab.config import ModelConfig, ModelName, to_dict
from raylab.data import columns as C
from raylab.eval.aggregate import ClipScores, task_scores
from raylab.eval.score import ScorerSpec, ViewScorer
from raylab.models.build import build_model

MODEL = ModelConfig(name=ModelName.CNN_M_2048_TEMPORAL, width_mult=0.0625, dropout=0.0)


def _scorer(tmp_path, task_classes: tuple[int, ...]) -> ViewScorer:
    torch.manual_seed(0)
    num_classes = sum(task_classes) if task_classes else 5
    net = build_model(MODEL, num_classes=num_classes, crop_px=41, stack_length=2,
                      task_classes=task_classes)
    torch.save(net.state_dict(), tmp_path / "model.pt")
    return ViewScorer(ScorerSpec(model=to_dict(MODEL), weights_path=str(tmp_path / "model.pt"),
                                 num_classes=num_classes, crop_px=41, stack_length=2,
                                 pixel_mean=0.0, pixel_scale=1.0, task_classes=task_classes))


def _batch(labels) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = len(labels)
    return {C.VIDEO_ID: np.asarray([f"v{i}" for i in range(n)], dtype=object),
            C.LABEL: np.asarray(labels), C.FRAME_INDEX: np.arange(n) * 3,
            C.DECODE_OK: np.ones(n, bool),
            C.FRAMES: rng.normal(0, 2, (n, 4, 48, 48)).astype(np.float16)}


def test_single_task_gives_ten_softmax_rows_per_sample_with_its_ids(tmp_path):
    out = _scorer(tmp_path, ())(_batch([1, 4]))
    assert out[C.PROBS].shape == (20, 5)
    np.testing.assert_allclose(out[C.PROBS].sum(1), 1.0, rtol=1e-5)
    assert list(out[C.VIDEO_ID]) == ["v0"] * 10 + ["v1"] * 10
    assert list(out[C.VIEW_INDEX]) == list(range(10)) * 2
    assert set(out[C.FRAME_INDEX][10:]) == {3}


def test_multi_task_scores_each_head_with_its_own_softmax(tmp_path):
    scorer = _scorer(tmp_path, (3, 2))
    batch = _batch([0, 4])  # joint labels: a first-dataset and a second-dataset video
    out = scorer(batch)
    probs = out[C.PROBS]
    assert probs.shape == (20, 5)
    np.testing.assert_allclose(probs[:, :3].sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(probs[:, 3:].sum(1), 1.0, rtol=1e-5)
    with torch.no_grad():
        logits = scorer.model(scorer.views(torch.from_numpy(batch[C.FRAMES])))
    np.testing.assert_allclose(probs[:, 3:], torch.softmax(logits[:, 3:], 1).numpy(), rtol=1e-4)
    # Split per dataset: each video on its own head's columns, labels from 0.
    first, second = task_scores(
        ClipScores(list(out[C.VIDEO_ID]), out[C.LABEL], probs), (3, 2))
    assert set(first.video_ids) == {"v0"} and first.probs.shape == (10, 3)
    assert set(second.video_ids) == {"v1"} and list(second.labels) == [1] * 10
    assert second.probs.sum(1) == pytest.approx(np.ones(10), rel=1e-5)
