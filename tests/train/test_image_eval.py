"""Evaluation with ten views per image (no Ray): every view is scored under its image's id."""

import numpy as np
import torch
from torch import nn

from raylab.config import Precision
from raylab.data.augment import VIEWS_PER_IMAGE, TenCropView
from raylab.eval.aggregate import summarize_images
from raylab.train.loop import evaluate
from raylab.train.precision import compute_for


class _LeftBright(nn.Module):
    """Class 1 when the left half of a view is brighter than the right half, else class 0."""

    def forward(self, x):
        half = x.shape[-1] // 2
        diff = x[..., :half].mean(dim=(1, 2, 3, 4)) - x[..., half:].mean(dim=(1, 2, 3, 4))
        return torch.stack([-diff, diff], dim=1) * 10


def test_ten_views_are_scored_per_image_and_averaged_by_id():
    frames = torch.zeros(3, 1, 8, 8, 3, dtype=torch.uint8)
    frames[0, :, :, :4] = 200  # left bright: class 1 in every unmirrored view, 0 mirrored
    frames[1, :, :, 4:] = 200
    frames[2, :, :, :4] = 200
    batch = {"video_id": ["img0", "img1", "img2"], "label": torch.tensor([1, 0, 1]),
             "frames": frames, "decode_ok": torch.tensor([True, True, False])}
    view = TenCropView(crop_px=6, mean=torch.zeros(1, 1, 1), pixel_scale=1.0)
    cpu = torch.device("cpu")
    scores, failures = evaluate(_LeftBright(), [batch], view=view, device=cpu,
                                compute=compute_for(cpu, Precision.FP32, channels_last=False))
    assert failures == 1
    assert scores.video_ids == ["img0"] * VIEWS_PER_IMAGE + ["img1"] * VIEWS_PER_IMAGE
    assert scores.labels.tolist() == [1] * VIEWS_PER_IMAGE + [0] * VIEWS_PER_IMAGE
    predicted = scores.probs.argmax(1).reshape(2, VIEWS_PER_IMAGE)
    # unmirrored views see the truth, mirrored views (5..9) the opposite
    assert predicted[0].tolist() == [1] * 5 + [0] * 5
    assert predicted[1].tolist() == [0] * 5 + [1] * 5
    out = summarize_images(scores)
    assert out["view_top1_err"] == 0.5
    assert out["num_images"] == 2
    np.testing.assert_allclose(scores.probs.sum(1), 1, rtol=1e-5)
