"""AlexNet's input transforms: PCA lighting, mean removal, random crops, the 10 test views."""

import numpy as np
import pytest
import torch

from raylab.config import MeanRemoval
from raylab.data.augment import (
    VIEWS_PER_IMAGE,
    PcaLighting,
    TenCropView,
    TrainImageAugment,
    pixel_mean_tensor,
    ten_crop_boxes,
)

EIGVAL = [9000.0, 500.0, 40.0]
_Q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
EIGVEC = _Q.T.tolist()  # rows are orthonormal eigenvectors


def test_pca_lighting_offset_is_the_eigenbasis_sum():
    light = PcaLighting(std=0.1, eigval=EIGVAL, eigvec=EIGVEC)
    alpha = torch.tensor([[0.1, -0.2, 0.05], [0.0, 0.0, 0.0]])
    expected = sum(alpha[0, i].item() * EIGVAL[i] / 255 * np.asarray(EIGVEC[i])
                   for i in range(3))
    got = light.offsets(alpha)
    np.testing.assert_allclose(got[0].numpy(), expected, rtol=1e-5)
    assert torch.equal(got[1], torch.zeros(3))


def test_pca_lighting_adds_one_colour_per_clip_with_the_asked_spread():
    torch.manual_seed(0)
    light = PcaLighting(std=0.1, eigval=EIGVAL, eigvec=EIGVEC)
    clips = torch.rand(4000, 2, 3, 5, 5) * 255
    shift = light(clips) - clips
    # the same offset on every pixel and frame of a clip
    assert torch.allclose(shift, shift[:, :1, :, :1, :1].expand_as(shift), atol=1e-3)
    # projected on eigenvector i, the offsets have std 0.1 * lambda_i / 255
    coeffs = shift[:, 0, :, 0, 0] @ torch.tensor(EIGVEC).T
    expected = 0.1 * np.asarray(EIGVAL) / 255
    np.testing.assert_allclose(coeffs.std(0).numpy(), expected, rtol=0.06)
    np.testing.assert_allclose(coeffs.mean(0).numpy(), 0, atol=0.1 * expected[0])


def test_mean_tensors_broadcast_over_frames():
    stats = {"mean_rgb": [10.0, 20.0, 30.0],
             "mean_image": np.arange(4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)}
    rgb = pixel_mean_tensor(MeanRemoval.RGB, pixel_mean=0, stats=stats, resize_px=4)
    assert rgb.shape == (3, 1, 1) and rgb.flatten().tolist() == [10, 20, 30]
    image = pixel_mean_tensor(MeanRemoval.PER_PIXEL, pixel_mean=0, stats=stats, resize_px=4)
    assert image.shape == (3, 4, 4) and image[2, 1, 3] == stats["mean_image"][1, 3, 2]
    assert pixel_mean_tensor(MeanRemoval.PER_PIXEL, pixel_mean=0, stats=stats,
                             resize_px=8).shape == (3, 8, 8)
    assert pixel_mean_tensor(MeanRemoval.CONSTANT, pixel_mean=117.0, stats=None,
                             resize_px=4).item() == 117.0


def test_ten_crop_geometry_and_mirrors():
    size, crop = 7, 4
    frames = torch.arange(size * size, dtype=torch.uint8).view(1, 1, size, size, 1)
    frames = frames.expand(2, 1, size, size, 3).clone()
    frames[1] += 100  # a second image: its views must follow the first one's ten
    out = TenCropView(crop_px=crop, mean=torch.zeros(1, 1, 1), pixel_scale=1.0)(frames)
    assert out.shape == (2 * VIEWS_PER_IMAGE, 3, 1, crop, crop)
    assert ten_crop_boxes(size, crop) == [(0, 0), (0, 3), (3, 0), (3, 3), (1, 1)]
    plane = frames[0, 0, :, :, 0].float()
    for v, (top, left) in enumerate(ten_crop_boxes(size, crop)):
        window = plane[top : top + crop, left : left + crop]
        assert torch.equal(out[v, 0, 0], window)
        assert torch.equal(out[v + 5, 0, 0], window.flip(-1))  # mirrored: columns reversed
        assert torch.equal(out[VIEWS_PER_IMAGE + v, 0, 0], window + 100)


def test_ten_crop_removes_the_mean_image_where_the_pixel_came_from():
    mean = torch.arange(6 * 6, dtype=torch.float32).view(1, 6, 6).expand(3, 6, 6)
    frames = mean.permute(1, 2, 0).to(torch.uint8)[None, None]  # the image equals its mean
    out = TenCropView(crop_px=4, mean=mean.clone(), pixel_scale=1.0)(frames)
    assert torch.count_nonzero(out) == 0


def test_train_augment_crops_and_normalises():
    torch.manual_seed(1)
    aug = TrainImageAugment(crop_px=4, flip_p=0.5, mean=torch.full((1, 1, 1), 100.0),
                            pixel_scale=50.0, lighting=None)
    frames = torch.full((8, 1, 6, 6, 3), 200, dtype=torch.uint8)
    out = aug(frames)
    assert out.shape == (8, 3, 1, 4, 4)
    assert torch.allclose(out, torch.full_like(out, 2.0))  # (200 - 100) / 50


@pytest.mark.parametrize("std", [0.0, 0.1])
def test_train_augment_applies_lighting_only_when_given(std):
    torch.manual_seed(2)
    lighting = PcaLighting(std=std, eigval=EIGVAL, eigvec=EIGVEC) if std else None
    aug = TrainImageAugment(crop_px=6, flip_p=0.0, mean=torch.zeros(1, 1, 1),
                            pixel_scale=1.0, lighting=lighting)
    frames = torch.full((4, 1, 6, 6, 3), 128, dtype=torch.uint8)
    changed = not torch.allclose(aug(frames), torch.full((4, 3, 1, 6, 6), 128.0))
    assert changed == bool(std)
